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

RedisProcess::RedisProcess() {
    char tmpl[] = "/tmp/liveshare-redis-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string bin =
        find_executable("LIVESHARE_REDIS_SERVER", "redis-server", "redis-server");
    std::string why;
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
        const std::uint16_t port = free_loopback_port();
        // Nothing on disk: no RDB saves, no AOF (the cluster benchmark measures the nodes).
        const Spawned child = spawn({bin, "--port", std::to_string(port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir_, "--logfile",
                                     dir_ + "/redis.log", "--daemonize", "no"});
        close(child.stdout_fd);
        close(child.stderr_fd);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (roundtrip(port, "PING\r\n", std::chrono::milliseconds(200)).rfind("+PONG", 0) ==
                0) {
                pid_ = child.pid;
                port_ = port;
                break;
            }
            int status = 0;
            if (waitpid(child.pid, &status, WNOHANG) == child.pid) break;  // exited: port taken?
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (port_ == 0) {
            kill(child.pid, SIGKILL);
            waitpid(child.pid, nullptr, 0);
            why = "redis-server did not answer PING on port " + std::to_string(port);
        }
    }
    if (port_ == 0) {
        std::filesystem::remove_all(dir_);
        throw std::runtime_error(why);
    }
}

RedisProcess::~RedisProcess() {
    stop();
}

void RedisProcess::stop() {
    stop_child(pid_);
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

std::string RedisProcess::command(const std::string& inline_command) const {
    return roundtrip(port_, inline_command + "\r\n", std::chrono::milliseconds(2000));
}

LocalCluster::LocalCluster(const std::string& server_binary, std::size_t nodes,
                           const std::vector<std::string>& node_args)
    : redis_(std::make_unique<RedisProcess>()) {
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
