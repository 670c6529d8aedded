// Server configuration: every limit, rate and throttle of the server, settable by flag.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profile.hpp"

namespace liveshare {

struct TokenBucketConfig {
    double burst = 0;
    double per_second = 0;  // 0 disables the limit
};

struct ServerConfig {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: pick a free port; the bound port is the first stdout line
    unsigned threads = 2;
    std::string db_path = "liveshare.db";  // "" disables persistence
    bool durable = false;                  // --durability=group: op log committed before fan-out
    std::string cluster;                   // --cluster=redis://HOST:PORT ("": one node)
    // Cluster: Redis silent this long with a command outstanding counts as lost (a hung Redis);
    // an outage longer than --cluster-outage-max-ms closes every client (4008) and exits 1
    // (0: the node rides through an outage of any length).
    std::uint32_t cluster_timeout_ms = 3000;
    std::uint32_t cluster_outage_max_ms = 0;
    // Cluster: an op is acknowledged (echoed) only once this many replicas have it (WAIT), or
    // after --cluster-wait-timeout-ms without them (counted). 0: as soon as the master has it.
    unsigned cluster_wait_replicas = 0;
    std::uint32_t cluster_wait_timeout_ms = 1000;
    bool require_rest_create = false;     // rooms must be created with POST /room/{id}
    std::size_t max_users_per_room = 50;  // the original's cap
    std::size_t max_rooms = 10000;
    std::size_t max_connections = 20000;
    std::size_t max_frame_bytes = 1 << 20;          // larger frames: close 1009
    std::size_t send_queue_soft_bytes = 256 << 10;  // above: volatile messages are dropped
    std::size_t send_queue_hard_bytes = 8 << 20;    // above: close 4008 (resync required)
    std::size_t seq_log_entries = 4096;             // per-room durable log for resume
    std::uint32_t handshake_timeout_ms = 10000;
    std::uint32_t idle_timeout_ms = 60000;  // websocket ping/pong keep-alive
    std::uint32_t snapshot_interval_ms = 25000;
    std::size_t snapshots_kept = 10;
    unsigned kdf_threads = 1;
    unsigned bcrypt_cost =
        12;  // the original's cost  // password hashing runs here, never on the I/O threads
    // Rate limits (token buckets per connection, checked before auth as the original does).
    TokenBucketConfig rate_volatile{120, 60};
    TokenBucketConfig rate_low{60, 30};
    TokenBucketConfig rate_critical{20, 10};
    // Throttles of the original: cursor at most one per 20 ms and >= 1 px; graph ops one per
    // 150 ms (ours rejects the excess with an Error instead of dropping it silently).
    std::uint32_t cursor_min_interval_ms = 20;
    double cursor_min_distance_px = 1.0;
    std::uint32_t graphop_min_interval_ms = 150;
    std::size_t graphop_queue = 16;  // graph ops held per connection for their throttle slot
    // For checking profiles only: each message a joined user sends first spends this long in
    // liveshare::planted_hot_spot (a known cost that a profile must find). 0: never.
    std::uint32_t planted_hot_spot_ns = 0;
    Profile profile = optimized_profile();  // --profile
    bool quiet = false;
    bool check = false;  // --check: validate the flags and exit
    // --record: a trace of what the rooms carry (core/trace_recorder.hpp); "": none.
    std::string record_path;
    std::uint64_t record_max_bytes = 256ull << 20;
    std::size_t record_buffer = 1 << 16;
};

// The configuration argv asks for, or why it cannot be used (nothing printed, no exit).
struct ParsedArgs {
    ServerConfig cfg;
    bool help = false;  // --help: print server_usage()
    std::string error;  // empty when every flag was understood
};
ParsedArgs parse_server_args(int argc, const char* const* argv);
// --cluster's "redis://HOST[:PORT]" (port 6379 when absent); false with `error` set otherwise.
bool parse_redis_url(std::string_view url, std::string& host, int& port, std::string& error);
// --cluster: redis://HOST[:PORT], or sentinel://HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME
// (Sentinel's port 26379 when absent): the node asks the Sentinels for the master's address.
struct ClusterUrl {
    std::string host;  // redis://
    int port = 6379;
    std::vector<std::pair<std::string, int>> sentinels;  // sentinel://
    std::string master;
    bool via_sentinel() const { return !sentinels.empty(); }
};
bool parse_cluster_url(std::string_view url, ClusterUrl& out, std::string& error);
std::string server_usage();

}  // namespace liveshare
