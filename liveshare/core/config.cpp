#include "config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

#include "cli.hpp"

namespace liveshare {

namespace {

// Each setter returns "" or what was wrong with the value.
using Setter = std::function<std::string(ServerConfig&, std::string_view)>;

template <typename T>
std::string to_number(std::string_view flag, std::string_view v, T& out) {
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
        return "bad value '" + std::string(v) + "' for --" + std::string(flag);
    return "";
}

template <typename T>
Setter number(const char* flag, T ServerConfig::*field) {
    return
        [flag, field](ServerConfig& c, std::string_view v) { return to_number(flag, v, c.*field); };
}

// A number in [lo, hi]: anything else is refused with the range, never clamped.
template <typename T>
Setter ranged(const char* flag, T ServerConfig::*field, T lo, T hi) {
    return [flag, field, lo, hi](ServerConfig& c, std::string_view v) {
        T x{};
        if (auto e = to_number(flag, v, x); !e.empty() || x < lo || x > hi) {
            std::ostringstream r;
            r << "--" << flag << " wants a number from " << lo << " to " << hi << ", got '" << v
              << "'";
            return r.str();
        }
        c.*field = x;
        return std::string();
    };
}

// A count of threads: 1 to 1024.
Setter threads(const char* flag, unsigned ServerConfig::*field) {
    return ranged(flag, field, 1u, 1024u);
}

Setter boolean(bool ServerConfig::*field) {
    return [field](ServerConfig& c, std::string_view v) {
        c.*field = v == "1";
        return std::string();
    };
}

std::string parse_bucket(std::string_view flag, std::string_view v, TokenBucketConfig& b) {
    auto slash = v.find('/');
    if (slash == std::string_view::npos)
        return "--" + std::string(flag) + " wants BURST/PER_SECOND";
    TokenBucketConfig x;
    if (to_number(flag, v.substr(0, slash), x.burst).size() ||
        to_number(flag, v.substr(slash + 1), x.per_second).size() || !(x.burst >= 0) ||
        !(x.per_second >= 0) || x.burst > 1e9 || x.per_second > 1e9)
        return "--" + std::string(flag) + " wants BURST/PER_SECOND, each from 0 to 1e9, got '" +
               std::string(v) + "'";
    b = x;
    return std::string();
}

struct Flag {
    const char* help;
    Setter set;
    bool is_boolean = false;
};

using FlagTable = std::map<std::string, Flag, std::less<>>;

// The profile, the trace and the log's flags (the rest are in flags() below).
FlagTable operation_flags() {
    // clang-format off
    return {
        {"profile", {"optimization profile: baseline | optimized | a list such as serialize:dom,fanout:copy,cursor:forward,compress:deflate,batch:250 (default optimized)",
                     [](auto& c, auto v) {
                         std::string err;
                         if (!parse_profile(std::string(v), c.profile, err)) return "--profile: " + err;
                         return std::string();
                     }}},
        {"record", {"write a trace of what the rooms carry to FILE: per message the time, hashed room and user, type, op and size; joins and leaves; no content (docs/scenarios.md)",
                    [](auto& c, auto v) { c.record_path = v; if (v.empty()) return std::string("--record wants a file"); return std::string(); }}},
        {"record-max-bytes", {"the trace file's cap; past it the file becomes FILE.1 and a fresh one begins (default 268435456)",
                              number("record-max-bytes", &ServerConfig::record_max_bytes)}},
        {"record-buffer", {"trace records waiting for the writer; past it records are dropped and counted, never waited for (default 65536)",
                           number("record-buffer", &ServerConfig::record_buffer)}},
        {"quiet", {"no log lines on stderr (a switch); only a fatal error is printed", boolean(&ServerConfig::quiet), true}},
        {"check", {"check the other flags and exit: 0 and the profile on stdout when the server would start with them, 2 and the reason when not (a switch)", boolean(&ServerConfig::check), true}},
    };
    // clang-format on
}

// Cluster mode's flags.
FlagTable cluster_flags() {
    // clang-format off
    return {
        {"cluster", {"redis://HOST:PORT, or sentinel://HOST:PORT[,HOST:PORT]/MASTER (the node asks Sentinel for the master and follows a failover): share rooms with the other nodes on this Redis (streams for order and resume, pub/sub for volatile messages, cluster-wide presence); rooms then live in Redis, not in --db (default: none, one node)",
                     [](auto& c, auto v) {
                         ClusterUrl url;
                         std::string err;
                         if (!parse_cluster_url(v, url, err)) return err;
                         c.cluster = v;
                         return std::string();
                     }}},
        {"cluster-timeout-ms", {"cluster: Redis silent this long with a command outstanding counts as an outage (default 3000)",
                                ranged("cluster-timeout-ms", &ServerConfig::cluster_timeout_ms, std::uint32_t{100}, std::uint32_t{600000})}},
        {"cluster-wait-replicas", {"cluster: acknowledge a durable message only once this many replicas have it (Redis WAIT), so a failover loses nothing acknowledged (default 0: once the master has it)",
                                   ranged("cluster-wait-replicas", &ServerConfig::cluster_wait_replicas, 0u, 16u)}},
        {"cluster-wait-timeout-ms", {"cluster: with --cluster-wait-replicas, acknowledge what was stored after this long without the replicas (counted), and refuse new durable messages until they are back (default 1000)",
                                     ranged("cluster-wait-timeout-ms", &ServerConfig::cluster_wait_timeout_ms, std::uint32_t{1}, std::uint32_t{600000})}},
        {"cluster-outage-max-ms", {"cluster: after an outage of Redis this long, close every client (4008) and exit 1; 0 rides through any outage, refusing durable messages meanwhile (default 0)",
                                   ranged("cluster-outage-max-ms", &ServerConfig::cluster_outage_max_ms, std::uint32_t{0}, std::uint32_t{86400000})}},
    };
    // clang-format on
}

// The flags: a table, one flag per entry, kept as written (clang-format off inside).
const FlagTable& flags() {
    // clang-format off
    static const FlagTable f = [] {
        FlagTable t = operation_flags();
        const FlagTable cluster = cluster_flags();
        t.insert(cluster.begin(), cluster.end());
        t.insert({
        {"address", {"listen address (default 127.0.0.1)", [](auto& c, auto v) { c.address = v; return std::string(); }}},
        {"port", {"listen port; 0 picks a free one (default 8080)",
                  number("port", &ServerConfig::port)}},
        {"threads", {"I/O threads (default 2)",
                     threads("threads", &ServerConfig::threads)}},
        {"db", {"SQLite snapshot file; empty disables persistence (default liveshare.db)",
                [](auto& c, auto v) { c.db_path = v; return std::string(); }}},
        {"require-rest-create", {"rooms must be created with POST /room/{id} first (a switch)",
                                 boolean(&ServerConfig::require_rest_create), true}},
        {"max-users", {"users per room (default 50)",
                       ranged("max-users", &ServerConfig::max_users_per_room, std::size_t{1}, std::size_t{100000})}},
        {"max-rooms", {"rooms (default 10000)",
                       ranged("max-rooms", &ServerConfig::max_rooms, std::size_t{1}, std::size_t{10000000})}},
        {"max-connections", {"open connections (default 20000)",
                             ranged("max-connections", &ServerConfig::max_connections, std::size_t{1}, std::size_t{10000000})}},
        {"max-frame-bytes", {"largest accepted frame; larger closes with 1009 (default 1 MiB)",
                             ranged("max-frame-bytes", &ServerConfig::max_frame_bytes, std::size_t{125}, std::size_t{1} << 30)}},
        {"send-queue-soft-bytes", {"queued bytes above which volatile messages drop (default 256 KiB)",
                                   number("send-queue-soft-bytes", &ServerConfig::send_queue_soft_bytes)}},
        {"send-queue-hard-bytes", {"queued bytes above which the client is closed with 4008 (default 8 MiB)",
                                   number("send-queue-hard-bytes", &ServerConfig::send_queue_hard_bytes)}},
        {"seq-log", {"durable messages kept per room for resume (default 4096)",
                     ranged("seq-log", &ServerConfig::seq_log_entries, std::size_t{1}, std::size_t{1} << 24)}},
        {"handshake-timeout-ms", {"time allowed for the HTTP/WebSocket handshake (default 10000)",
                                  ranged("handshake-timeout-ms", &ServerConfig::handshake_timeout_ms, std::uint32_t{1}, std::uint32_t{3600000})}},
        {"idle-timeout-ms", {"idle time before a ping; no pong closes (default 60000)",
                             ranged("idle-timeout-ms", &ServerConfig::idle_timeout_ms, std::uint32_t{1}, std::uint32_t{86400000})}},
        {"snapshot-interval-ms", {"periodic snapshot interval (default 25000)",
                                  ranged("snapshot-interval-ms", &ServerConfig::snapshot_interval_ms, std::uint32_t{1}, std::uint32_t{86400000})}},
        {"kdf-threads", {"threads for password hashing (default 1)",
                         threads("kdf-threads", &ServerConfig::kdf_threads)}},
        {"bcrypt-cost", {"bcrypt cost for room passwords, 4-31 (default 12, as the original)",
                         ranged("bcrypt-cost", &ServerConfig::bcrypt_cost, 4u, 31u)}},
        {"rate-volatile", {"BURST/PER_S for cursor, awareness, drags; 0/0 disables (default 120/60)",
                           [](auto& c, auto v) { return parse_bucket("rate-volatile", v, c.rate_volatile); }}},
        {"rate-low", {"BURST/PER_S for idle, viewport, ping (default 60/30)",
                      [](auto& c, auto v) { return parse_bucket("rate-low", v, c.rate_low); }}},
        {"rate-critical", {"BURST/PER_S for auth, graph ops, sync (default 20/10)",
                           [](auto& c, auto v) { return parse_bucket("rate-critical", v, c.rate_critical); }}},
        {"cursor-interval-ms", {"minimum interval between relayed cursor moves (default 20)",
                                number("cursor-interval-ms", &ServerConfig::cursor_min_interval_ms)}},
        {"cursor-min-px", {"minimum cursor movement relayed (default 1)",
                           ranged("cursor-min-px", &ServerConfig::cursor_min_distance_px, 0.0, 1e6)}},
        {"graphop-interval-ms", {"minimum interval between graph ops per connection; an early op waits for its slot (default 150)",
                                 number("graphop-interval-ms", &ServerConfig::graphop_min_interval_ms)}},
        {"planted-hot-spot-ns", {"for checking profiles only: spend this long in liveshare::planted_hot_spot for each message a joined user sends (default 0: never)",
                                 ranged("planted-hot-spot-ns", &ServerConfig::planted_hot_spot_ns, std::uint32_t{0}, std::uint32_t{10000000})}},
        {"graphop-queue", {"graph ops held per connection for their throttle slot; beyond it an op gets an Error (default 16)",
                           ranged("graphop-queue", &ServerConfig::graphop_queue, std::size_t{0}, std::size_t{1} << 20)}},
        {"durability", {"none | group: commit every durable message to the op log (in --db) before fan-out, group-committed, so kill -9 loses nothing a client received (default none)",
                        [](auto& c, auto v) {
                            if (v == "none") c.durable = false;
                            else if (v == "group") c.durable = true;
                            else return "--durability must be none or group, got '" + std::string(v) + "'";
                            return std::string();
                        }}},
        });
        return t;
    }();
    // clang-format on
    return f;
}

}  // namespace

std::string server_usage() {
    std::string s = "usage: liveshare-server [--flag value | --flag=value | --switch ...]\n\n";
    for (const auto& [name, f] : flags()) {
        s += "  --" + name;
        s.append(name.size() < 24 ? 24 - name.size() : 1, ' ');
        s += f.help;
        s += '\n';
    }
    return s;
}

ParsedArgs parse_server_args(int argc, const char* const* argv) {
    ParsedArgs out;
    std::vector<cli::FlagSpec> known;
    for (const auto& [name, f] : flags()) known.push_back({name, f.is_boolean});
    auto split = cli::split_args(argc, argv, known);
    out.help = split.help;
    if (!split.error.empty()) return out.error = split.error, out;
    for (const auto& f : split.flags)
        if (auto e = flags().find(f.name)->second.set(out.cfg, f.value); !e.empty())
            return out.error = e, out;
    if (!out.cfg.cluster.empty() && out.cfg.durable)
        out.error =
            "--durability=group and --cluster do not go together: in a cluster the room's Redis "
            "stream is the log";
    if (out.cfg.record_max_bytes < 4096) out.error = "--record-max-bytes must be at least 4096";
    if (out.cfg.record_buffer < 1 || out.cfg.record_buffer > (1u << 24))
        out.error = "--record-buffer must be from 1 to 16777216";
    if (out.cfg.durable && out.cfg.db_path.empty())
        out.error = "--durability=group needs a database (--db=PATH)";
    return out;
}

namespace {
// "HOST[:PORT]" of a --cluster URL; `url` for the messages.
bool parse_host_port(std::string_view rest, std::string_view url, std::string& host, int& port,
                     std::string& error) {
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
        std::string_view p = rest.substr(colon + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
        if (ec != std::errc() || end != p.data() + p.size() || port <= 0 || port > 65535) {
            error = "--cluster: bad port in '" + std::string(url) + "'";
            return false;
        }
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) {
        error = "--cluster: no host in '" + std::string(url) + "'";
        return false;
    }
    host = std::string(rest);
    return true;
}
}  // namespace

bool parse_redis_url(std::string_view url, std::string& host, int& port, std::string& error) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme) {
        error = "--cluster must be redis://HOST:PORT or sentinel://HOST:PORT/MASTER, got '" +
                std::string(url) + "'";
        return false;
    }
    std::string_view rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    port = 6379;
    return parse_host_port(rest, url, host, port, error);
}

bool parse_cluster_url(std::string_view url, ClusterUrl& out, std::string& error) {
    out = {};
    constexpr std::string_view scheme = "sentinel://";
    if (url.substr(0, scheme.size()) != scheme)
        return parse_redis_url(url, out.host, out.port, error);
    std::string_view rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        error = "--cluster: no master name in '" + std::string(url) +
                "' (sentinel://HOST:PORT/MASTER_NAME)";
        return false;
    }
    out.master = std::string(rest.substr(slash + 1));
    if (out.master.find_first_of("/ ") != std::string::npos) {
        error = "--cluster: bad master name in '" + std::string(url) + "'";
        return false;
    }
    rest = rest.substr(0, slash);
    while (true) {
        const auto comma = rest.find(',');
        std::string host;
        int port = 26379;
        if (!parse_host_port(rest.substr(0, comma), url, host, port, error)) return false;
        out.sentinels.emplace_back(host, port);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    return true;
}

}  // namespace liveshare
