#include "procs/cluster_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "procs/subprocess.hpp"

namespace harness {

namespace {

// One request, one reply (up to 1 s of silence after the first bytes), over a fresh socket.
std::string roundtrip(std::uint16_t port, const std::string& request,
                      std::chrono::milliseconds timeout) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    std::string out;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, out.empty() ? 50 : 20) <= 0) {
                if (!out.empty()) break;
                continue;
            }
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    close(fd);
    return out;
}

}  // namespace

const char* to_string(RedisPersistence p) {
    switch (p) {
        case RedisPersistence::None:
            return "none";
        case RedisPersistence::AofEverySec:
            return "everysec";
        case RedisPersistence::AofAlways:
            return "always";
    }
    return "none";
}

bool parse_redis_persistence(const std::string& s, RedisPersistence& out) {
    for (auto p :
         {RedisPersistence::None, RedisPersistence::AofEverySec, RedisPersistence::AofAlways})
        if (s == to_string(p)) {
            out = p;
            return true;
        }
    return false;
}

RedisProcess::RedisProcess(RedisPersistence persistence, std::vector<std::string> extra_args)
    : persistence_(persistence), extra_args_(std::move(extra_args)) {
    char tmpl[] = "/tmp/liveshare-redis-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::string why;
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
        const std::uint16_t port = free_loopback_port();
        if (launch(port, why)) port_ = port;
    }
    if (port_ == 0) {
        std::filesystem::remove_all(dir_);
        throw std::runtime_error(why);
    }
}

// redis-server on `port` with this directory; true once it answers PING (sets pid_).
bool RedisProcess::launch(std::uint16_t port, std::string& why) {
    const std::string bin =
        find_executable("LIVESHARE_REDIS_SERVER", "redis-server", "redis-server");
    // No RDB saves ever; an AOF only when asked (the cluster benchmark measures the nodes).
    std::vector<std::string> argv = {
        bin,  "--port",    std::to_string(port), "--bind",      "127.0.0.1", "--save", "", "--dir",
        dir_, "--logfile", dir_ + "/redis.log",  "--daemonize", "no"};
    if (persistence_ == RedisPersistence::None) {
        argv.insert(argv.end(), {"--appendonly", "no"});
    } else {
        argv.insert(argv.end(),
                    {"--appendonly", "yes", "--appendfsync",
                     persistence_ == RedisPersistence::AofAlways ? "always" : "everysec"});
    }
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    const Spawned child = spawn(argv);
    close(child.stdout_fd);
    close(child.stderr_fd);
    // Loading a large AOF takes time: up to 30 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (roundtrip(port, "PING\r\n", std::chrono::milliseconds(200)).rfind("+PONG", 0) == 0) {
            pid_ = child.pid;
            return true;
        }
        int status = 0;
        if (waitpid(child.pid, &status, WNOHANG) == child.pid) {  // exited: port taken?
            why = "redis-server exited at start on port " + std::to_string(port) + " (see " + dir_ +
                  "/redis.log)";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    why = "redis-server did not answer PING on port " + std::to_string(port);
    return false;
}

RedisProcess::~RedisProcess() {
    stop();
}

void RedisProcess::stop() {
    thaw();
    stop_child(pid_);
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

void RedisProcess::terminate() {
    thaw();
    stop_child(pid_, std::chrono::milliseconds(10000));
}

void RedisProcess::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void RedisProcess::start_again() {
    if (pid_ > 0) return;
    std::string why;
    if (!launch(port_, why)) throw std::runtime_error("starting Redis again: " + why);
}

void RedisProcess::restart() {
    terminate();
    start_again();
}

void RedisProcess::freeze() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisProcess::thaw() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisProcess::command(const std::string& inline_command) const {
    return roundtrip(port_, inline_command + "\r\n", std::chrono::milliseconds(2000));
}

SentinelProcess::SentinelProcess(std::uint16_t master_port, std::size_t replicas) {
    char tmpl[] = "/tmp/liveshare-sentinel-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string bin =
        find_executable("LIVESHARE_REDIS_SENTINEL", "redis-sentinel", "redis-sentinel");
    const std::uint16_t port = free_loopback_port();
    {
        // Sentinel rewrites its configuration file: it must be its own and writable.
        std::ofstream conf(dir_ + "/sentinel.conf");
        conf << "port " << port << "\nbind 127.0.0.1\ndir " << dir_ << "\nlogfile " << dir_
             << "/sentinel.log\nsentinel monitor " << kMaster << " 127.0.0.1 " << master_port
             << " 1\nsentinel down-after-milliseconds " << kMaster
             << " 500\nsentinel failover-timeout " << kMaster << " 3000\nsentinel parallel-syncs "
             << kMaster << " 1\n";
    }
    const Spawned child = spawn({bin, dir_ + "/sentinel.conf"});
    close(child.stdout_fd);
    close(child.stderr_fd);
    pid_ = child.pid;
    port_ = port;
    // Up, and it has found the replicas (from the master's INFO): a failover needs them.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::string ask = std::string("SENTINEL REPLICAS ") + kMaster + "\r\n";
    while (std::chrono::steady_clock::now() < deadline) {
        const std::string r = roundtrip(port, ask, std::chrono::milliseconds(200));
        std::size_t n = 0;
        if (r.rfind('*', 0) == 0) n = static_cast<std::size_t>(std::atoi(r.c_str() + 1));
        if (n >= replicas) return;
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string log = dir_ + "/sentinel.log";
    stop_child(pid_);
    throw std::runtime_error("redis-sentinel did not find the master's replicas in 20 s (see " +
                             log + ")");
}

SentinelProcess::~SentinelProcess() {
    stop_child(pid_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::uint16_t SentinelProcess::master_port() const {
    // *2 $9 127.0.0.1 $4 6380, each line ending in CRLF: the port is the last line.
    const std::string r =
        roundtrip(port_, std::string("SENTINEL GET-MASTER-ADDR-BY-NAME ") + kMaster + "\r\n",
                  std::chrono::milliseconds(500));
    if (r.rfind("*2", 0) != 0 || r.size() < 4) return 0;
    const auto end = r.size() - 2;
    const auto start = r.rfind("\r\n", end - 1);
    if (start == std::string::npos) return 0;
    return static_cast<std::uint16_t>(std::atoi(r.c_str() + start + 2));
}

LocalCluster::LocalCluster(const std::string& server_binary, std::size_t nodes,
                           const std::vector<std::string>& node_args, RedisPersistence persistence,
                           bool sentinel)
    : redis_(std::make_unique<RedisProcess>(persistence)) {
    std::vector<std::string> args = node_args;
    if (sentinel) {
        replica_ = std::make_unique<RedisProcess>(
            persistence,
            std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(redis_->port())});
        // In sync before anyone writes: a failover then promotes a replica that has it all.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (replica_->command("INFO replication").find("master_link_status:up") ==
               std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("the Redis replica did not sync with its master in 20 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        sentinel_ = std::make_unique<SentinelProcess>(redis_->port(), 1);
        args.push_back("--cluster=" + sentinel_->url());
    } else {
        args.push_back("--cluster=" + redis_->url());
    }
    for (std::size_t i = 0; i < nodes; ++i)
        nodes_.push_back(std::make_unique<ServerProcess>(server_binary, args));
}

std::string LocalCluster::targets() const {
    std::string out;
    for (const auto& n : nodes_) {
        if (!n->running()) continue;
        out += (out.empty() ? "" : ",") + n->url();
    }
    return out;
}

}  // namespace harness
