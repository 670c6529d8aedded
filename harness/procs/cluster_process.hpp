// A cluster on this machine for benchmarks and tests: a redis-server on a free port in a
// temporary directory, and N liveshare-server nodes joined to it. Redis keeps nothing on disk
// unless asked (an append-only file, fsync'd always or every second); it can be restarted,
// killed and started again on the same port with the same files (the fault benchmarks).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "procs/server_process.hpp"

namespace harness {

// What Redis keeps on disk: nothing (no RDB, no AOF), or an append-only file fsync'd after
// every write or once a second.
enum class RedisPersistence { None, AofEverySec, AofAlways };
const char* to_string(RedisPersistence p);  // "none", "everysec", "always"
// "none" | "everysec" | "always"; false otherwise.
bool parse_redis_persistence(const std::string& s, RedisPersistence& out);

class RedisProcess {
  public:
    // Starts `redis-server` ($LIVESHARE_REDIS_SERVER, else from PATH) on a free loopback
    // port and waits until it answers PING. Throws std::runtime_error with the reason.
    explicit RedisProcess(RedisPersistence persistence = RedisPersistence::None,
                          std::vector<std::string> extra_args = {});
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;
    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    // One command in Redis's inline form ("DBSIZE"); the raw reply (tests look inside).
    std::string command(const std::string& inline_command) const;
    // Gone for good: the process ends, its directory is removed.
    void stop();
    // Faults. `terminate`: SIGTERM (Redis's graceful shutdown: the AOF is flushed and
    // fsync'd); `kill_hard`: SIGKILL (what the fsync policy did not write is lost). Both wait
    // for the exit and keep the port and the files; `start_again` starts it on them (it loads
    // the AOF) and waits for PING; throws if it does not answer. `restart`: both.
    void terminate();
    void kill_hard();
    void start_again();
    void restart();
    // SIGSTOP / SIGCONT: a Redis that holds its connections and answers nothing.
    void freeze();
    void thaw();
    RedisPersistence persistence() const { return persistence_; }

  private:
    bool launch(std::uint16_t port, std::string& why);
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string dir_;
    RedisPersistence persistence_;
    std::vector<std::string> extra_args_;
};

// A redis-sentinel on a free loopback port watching one master ("liveshare", quorum 1, down
// after 500 ms, failover timeout 3 s). Starting waits until it knows `replicas` replicas.
class SentinelProcess {
  public:
    SentinelProcess(std::uint16_t master_port, std::size_t replicas);
    ~SentinelProcess();
    SentinelProcess(const SentinelProcess&) = delete;
    SentinelProcess& operator=(const SentinelProcess&) = delete;
    std::uint16_t port() const { return port_; }
    static constexpr const char* kMaster = "liveshare";
    std::string url() const {
        return "sentinel://127.0.0.1:" + std::to_string(port_) + "/" + kMaster;
    }
    // The port of the master it names now (0 if it names none).
    std::uint16_t master_port() const;
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string dir_;
};

class LocalCluster {
  public:
    // Redis, then `nodes` servers with --cluster=<redis> and `node_args` (after the port).
    // With `sentinel`: a replica of Redis and a Sentinel too, and the nodes are given
    // --cluster=sentinel://... (they follow a failover).
    LocalCluster(const std::string& server_binary, std::size_t nodes,
                 const std::vector<std::string>& node_args,
                 RedisPersistence persistence = RedisPersistence::None, bool sentinel = false);
    RedisProcess& redis() { return *redis_; }  // the first master
    RedisProcess& replica() { return *replica_; }
    SentinelProcess& sentinel() { return *sentinel_; }
    bool has_sentinel() const { return sentinel_ != nullptr; }
    std::vector<std::unique_ptr<ServerProcess>>& nodes() { return nodes_; }
    // "ws://127.0.0.1:P1,ws://127.0.0.1:P2,...": LoadTestConfig::target for every node.
    std::string targets() const;

  private:
    std::unique_ptr<RedisProcess> redis_, replica_;
    std::unique_ptr<SentinelProcess> sentinel_;
    std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

}  // namespace harness
