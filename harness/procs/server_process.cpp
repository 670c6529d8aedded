#include "procs/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "procs/subprocess.hpp"

namespace harness {

namespace {
const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
const double kPageMb = static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}  // namespace

bool read_proc(pid_t pid, ProcSample& out) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    // The command name may contain spaces: fields start after the last ')'.
    auto close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    long long rss_pages = 0;
    for (int i = 3; i <= 24 && in >> field; ++i) {
        if (i == 3 && field == "Z") return false;  // zombie: gone
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
        if (i == 24) rss_pages = std::stoll(field);
    }
    out.cpu_seconds = static_cast<double>(utime + stime) / kTicks;
    out.user_seconds = static_cast<double>(utime) / kTicks;
    out.sys_seconds = static_cast<double>(stime) / kTicks;
    out.rss_mb = static_cast<double>(rss_pages) * kPageMb;
    return true;
}

bool read_proc_io(pid_t pid, std::uint64_t& syscalls) {
    std::ifstream io("/proc/" + std::to_string(pid) + "/io");
    std::string key;
    std::uint64_t value = 0, sum = 0;
    int found = 0;
    while (io >> key >> value)
        if (key == "syscr:" || key == "syscw:") sum += value, ++found;
    syscalls = sum;
    return found == 2;
}

CpuSplit self_cpu_split() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return {tv(ru.ru_utime), tv(ru.ru_stime)};
}

double self_cpu_seconds() {
    const auto s = self_cpu_split();
    return s.user_seconds + s.sys_seconds;
}

double thread_cpu_seconds(std::thread& t) {
    clockid_t id;
    timespec ts{};
    if (pthread_getcpuclockid(t.native_handle(), &id) != 0 || clock_gettime(id, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

MachineCpu machine_cpu() {
    // "cpu  user nice system idle iowait irq softirq steal ..."
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;
    MachineCpu m;
    double v[8] = {};
    for (int i = 0; i < 8 && in >> v[i]; ++i) m.total += v[i];
    m.busy = m.total - v[3] - v[4];
    return m;
}

double machine_busy_pct(const MachineCpu& a, const MachineCpu& b) {
    const double total = b.total - a.total;
    return total > 0 ? 100.0 * (b.busy - a.busy) / total : 0;
}

double loopback_tx_bytes() {
    std::ifstream in("/sys/class/net/lo/statistics/tx_bytes");
    double v = 0;
    in >> v;
    return v;
}

void ProcessSampler::start(std::chrono::milliseconds period) {
    stop_ = false;
    {
        std::lock_guard lock(mu_);
        samples_.clear();
    }
    started_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this, period] {
        const auto t0 = started_;
        for (int i = 0; i < 36000 && !stop_; ++i) {  // bounded: one hour at 10 Hz
            ProcSample s;
            if (!read_proc(pid_, s)) break;
            double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            {
                std::lock_guard lock(mu_);
                samples_.emplace_back(t, s);
            }
            std::this_thread::sleep_for(period);
        }
    });
}

void ProcessSampler::stop() {
    stop_ = true;
    if (!thread_.joinable()) return;
    thread_.join();
    // A closing sample, so even a run shorter than one period has a start and an end.
    ProcSample s;
    std::lock_guard lock(mu_);
    if (!samples_.empty() && read_proc(pid_, s)) {
        double t =
            samples_.front().first +
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        samples_.emplace_back(t, s);
    }
}

ProcessSampler::Summary ProcessSampler::summary() const {
    std::lock_guard lock(mu_);
    Summary s;
    s.samples = samples_.size();
    if (samples_.size() < 2) return s;
    const auto& first = samples_.front();
    const auto& last = samples_.back();
    double wall = last.first - first.first;
    if (wall > 0) s.cpu_pct = 100.0 * (last.second.cpu_seconds - first.second.cpu_seconds) / wall;
    double rss_sum = 0;
    for (std::size_t i = 0; i < samples_.size(); ++i) {
        rss_sum += samples_[i].second.rss_mb;
        s.rss_peak_mb = std::max(s.rss_peak_mb, samples_[i].second.rss_mb);
        if (i == 0) continue;
        // Peak over windows of at least ~0.5 s: single 100 ms windows are tick-quantized.
        std::size_t j = i;
        while (j > 0 && samples_[i].first - samples_[j].first < 0.5) --j;
        double dt = samples_[i].first - samples_[j].first;
        if (dt > 0)
            s.cpu_peak_pct = std::max(
                s.cpu_peak_pct,
                100.0 * (samples_[i].second.cpu_seconds - samples_[j].second.cpu_seconds) / dt);
    }
    s.rss_mb = rss_sum / static_cast<double>(samples_.size());
    return s;
}

ServerProcess::ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                             std::chrono::milliseconds start_timeout, const ServerLaunch& launch)
    : address_(launch.address) {
    std::vector<std::string> argv_s = launch.prefix;
    argv_s.insert(argv_s.end(),
                  {binary, "--port=" + std::to_string(launch.port), "--address=" + launch.address});
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    const Spawned child = spawn(argv_s);
    pid_ = child.pid;
    stdout_fd_ = child.stdout_fd;
    int err_fd = child.stderr_fd;
    // The first stdout line is the bound port.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + start_timeout;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{stdout_fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[64];
        ssize_t n = read(stdout_fd_, buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    if (line.find('\n') != std::string::npos)
        port_ = static_cast<std::uint16_t>(std::atoi(line.c_str()));
    if (port_ == 0) {
        std::string err;
        fcntl(err_fd, F_SETFL, O_NONBLOCK);
        char buf[4096];
        ssize_t n = read(err_fd, buf, sizeof buf);
        if (n > 0) err.assign(buf, static_cast<std::size_t>(n));
        close(err_fd);
        stop(std::chrono::milliseconds(1000));
        throw std::runtime_error("liveshare-server did not start: " + err);
    }
    // Keep draining stderr so a chatty server never blocks on a full pipe; with
    // LIVESHARE_SERVER_STDERR=1 it is passed through (a failing test's server log).
    std::thread([err_fd, pass = std::getenv("LIVESHARE_SERVER_STDERR") != nullptr] {
        char buf[4096];
        ssize_t n;
        while ((n = read(err_fd, buf, sizeof buf)) > 0)
            if (pass && write(STDERR_FILENO, buf, static_cast<std::size_t>(n)) < 0) break;
        close(err_fd);
    }).detach();
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) stop();
}

int ServerProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + grace;
    pid_t r = 0;
    while ((r = waitpid(pid_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (r == 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (stdout_fd_ >= 0) close(stdout_fd_);
    stdout_fd_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void ServerProcess::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string find_server_binary() {
    if (const char* env = std::getenv("LIVESHARE_SERVER")) return env;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (auto dir = self.parent_path(); !dir.empty() && dir != dir.root_path();
             dir = dir.parent_path()) {
            for (auto rel : {"liveshare/liveshare-server", "liveshare-server"}) {
                auto p = dir / rel;
                if (std::filesystem::exists(p, ec)) return p.string();
            }
        }
    }
    return "liveshare-server";
}

}  // namespace harness
