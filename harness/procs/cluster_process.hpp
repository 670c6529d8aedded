// A cluster on this machine for benchmarks and tests: a redis-server on a free port in a
// temporary directory (nothing saved to disk), and N liveshare-server nodes joined to it.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "procs/server_process.hpp"

namespace harness {

class RedisProcess {
  public:
    // Starts `redis-server` ($LIVESHARE_REDIS_SERVER, else from PATH) on a free loopback
    // port and waits until it answers PING. Throws std::runtime_error with the reason.
    RedisProcess();
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;
    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    // One command in Redis's inline form ("DBSIZE"); the raw reply (tests look inside).
    std::string command(const std::string& inline_command) const;
    void stop();

  private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string dir_;
};

class LocalCluster {
  public:
    // Redis, then `nodes` servers with --cluster=<redis> and `node_args` (after the port).
    LocalCluster(const std::string& server_binary, std::size_t nodes,
                 const std::vector<std::string>& node_args);
    RedisProcess& redis() { return *redis_; }
    std::vector<std::unique_ptr<ServerProcess>>& nodes() { return nodes_; }
    // "ws://127.0.0.1:P1,ws://127.0.0.1:P2,...": LoadTestConfig::target for every node.
    std::string targets() const;

  private:
    std::unique_ptr<RedisProcess> redis_;
    std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

}  // namespace harness
