#include "procs/cpu_profiler.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "procs/subprocess.hpp"

namespace harness {

namespace {

std::string perf_path() {
    return find_executable("LIVESHARE_PERF", "perf", "linux-perf");
}

}  // namespace

std::string CpuProfiler::unavailable() {
    try {
        if (const auto p = perf_path(); ::access(p.c_str(), X_OK) != 0)
            return p + " cannot be run (apt-get install linux-perf)";
    } catch (const std::exception& e) {
        return e.what();
    }
    std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
    int level = 2;
    if (!(in >> level)) return "perf_event_paranoid cannot be read (no perf events here)";
    if (level > 1 && geteuid() != 0)
        return "perf_event_paranoid is " + std::to_string(level) +
               " and this is not root (sysctl kernel.perf_event_paranoid=1, or run as root)";
    return "";
}

CpuProfiler::CpuProfiler(pid_t pid, std::string data_path) : data_path_(std::move(data_path)) {
    const auto s = spawn({perf_path(), "record", "-e", "cpu-clock", "-F", "999", "-g", "-q", "-p",
                          std::to_string(pid), "-o", data_path_});
    perf_ = s.pid, out_fd_ = s.stdout_fd, err_fd_ = s.stderr_fd;
}

CpuProfiler::~CpuProfiler() {
    if (perf_ > 0) stop_child(perf_);
    for (int fd : {out_fd_, err_fd_})
        if (fd >= 0) ::close(fd);
    std::error_code ec;
    std::filesystem::remove(data_path_, ec);
}

std::string CpuProfiler::stop(std::string& why) {
    if (perf_ <= 0) {
        why = "perf was not running";
        return "";
    }
    // SIGINT: perf record writes its data file out and exits.
    ::kill(perf_, SIGINT);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    pid_t got = 0;
    while ((got = ::waitpid(perf_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (got != perf_) {
        stop_child(perf_);
        why = "perf record did not stop within 10 s";
        return "";
    }
    perf_ = -1;
    // perf record writes its file out on SIGINT, then ends by the same signal.
    const bool ok = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                    (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    if (!ok) {
        std::string err;
        char buf[512];
        ssize_t n = 0;
        while (err_fd_ >= 0 && (n = ::read(err_fd_, buf, sizeof buf)) > 0) err.append(buf, n);
        why =
            "perf record failed: " + (err.empty() ? std::string("status ") + std::to_string(status)
                                                  : err.substr(0, err.find('\n')));
        return "";
    }
    std::error_code ec;
    if (!std::filesystem::exists(data_path_, ec)) {
        why = "the measured window closed before perf had started (too short to profile)";
        return "";
    }
    std::string out;
    if (run_command({perf_path(), "script", "-F", "period,ip,sym,dso", "-i", data_path_}, out) !=
        0) {
        why = "perf script failed: " + out.substr(0, out.find('\n'));
        return "";
    }
    return out;
}

}  // namespace harness
