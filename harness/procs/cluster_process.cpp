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

RedisProcess::RedisProcess(RedisPersistence persistence) : persistence_(persistence) {
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

LocalCluster::LocalCluster(const std::string& server_binary, std::size_t nodes,
                           const std::vector<std::string>& node_args, RedisPersistence persistence)
    : redis_(std::make_unique<RedisProcess>(persistence)) {
    std::vector<std::string> args = node_args;
    args.push_back("--cluster=" + redis_->url());
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
