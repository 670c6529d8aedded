#include "config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string_view>

namespace liveshare {

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "liveshare-server: %s\n(see --help)\n", msg.c_str());
    std::exit(2);
}

template <typename T>
T to_number(std::string_view flag, std::string_view v) {
    T out{};
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
        die("bad value '" + std::string(v) + "' for --" + std::string(flag));
    return out;
}

void parse_bucket(std::string_view flag, std::string_view v, TokenBucketConfig& b) {
    auto slash = v.find('/');
    if (slash == std::string_view::npos) die("--" + std::string(flag) + " wants BURST/PER_SECOND");
    b.burst = to_number<double>(flag, v.substr(0, slash));
    b.per_second = to_number<double>(flag, v.substr(slash + 1));
}

struct Flag {
    const char* help;
    std::function<void(ServerConfig&, std::string_view)> set;
};

const std::map<std::string, Flag, std::less<>>& flags() {
    static const std::map<std::string, Flag, std::less<>> f = {
        {"address", {"listen address (default 127.0.0.1)", [](auto& c, auto v) { c.address = v; }}},
        {"port", {"listen port; 0 picks a free one (default 8080)",
                  [](auto& c, auto v) { c.port = to_number<std::uint16_t>("port", v); }}},
        {"threads", {"I/O threads (default 2)",
                     [](auto& c, auto v) { c.threads = std::max(1u, to_number<unsigned>("threads", v)); }}},
        {"db", {"SQLite snapshot file; empty disables persistence (default liveshare.db)",
                [](auto& c, auto v) { c.db_path = v; }}},
        {"require-rest-create", {"rooms must be created with POST /room/{id} first (0|1)",
                                 [](auto& c, auto v) { c.require_rest_create = to_number<int>("require-rest-create", v) != 0; }}},
        {"max-users", {"users per room (default 50)",
                       [](auto& c, auto v) { c.max_users_per_room = to_number<std::size_t>("max-users", v); }}},
        {"max-rooms", {"rooms (default 10000)",
                       [](auto& c, auto v) { c.max_rooms = to_number<std::size_t>("max-rooms", v); }}},
        {"max-connections", {"open connections (default 20000)",
                             [](auto& c, auto v) { c.max_connections = to_number<std::size_t>("max-connections", v); }}},
        {"max-frame-bytes", {"largest accepted frame; larger closes with 1009 (default 1 MiB)",
                             [](auto& c, auto v) { c.max_frame_bytes = to_number<std::size_t>("max-frame-bytes", v); }}},
        {"send-queue-soft-bytes", {"queued bytes above which volatile messages drop (default 256 KiB)",
                                   [](auto& c, auto v) { c.send_queue_soft_bytes = to_number<std::size_t>("send-queue-soft-bytes", v); }}},
        {"send-queue-hard-bytes", {"queued bytes above which the client is closed with 4008 (default 8 MiB)",
                                   [](auto& c, auto v) { c.send_queue_hard_bytes = to_number<std::size_t>("send-queue-hard-bytes", v); }}},
        {"seq-log", {"durable messages kept per room for resume (default 4096)",
                     [](auto& c, auto v) { c.seq_log_entries = to_number<std::size_t>("seq-log", v); }}},
        {"handshake-timeout-ms", {"time allowed for the HTTP/WebSocket handshake (default 10000)",
                                  [](auto& c, auto v) { c.handshake_timeout_ms = to_number<std::uint32_t>("handshake-timeout-ms", v); }}},
        {"idle-timeout-ms", {"idle time before a ping; no pong closes (default 60000)",
                             [](auto& c, auto v) { c.idle_timeout_ms = to_number<std::uint32_t>("idle-timeout-ms", v); }}},
        {"snapshot-interval-ms", {"periodic snapshot interval (default 25000)",
                                  [](auto& c, auto v) { c.snapshot_interval_ms = to_number<std::uint32_t>("snapshot-interval-ms", v); }}},
        {"kdf-threads", {"threads for password hashing (default 1)",
                         [](auto& c, auto v) { c.kdf_threads = std::max(1u, to_number<unsigned>("kdf-threads", v)); }}},
        {"bcrypt-cost", {"bcrypt cost for room passwords, 4-31 (default 12, as the original)",
                         [](auto& c, auto v) { c.bcrypt_cost = std::clamp(to_number<unsigned>("bcrypt-cost", v), 4u, 31u); }}},
        {"rate-volatile", {"BURST/PER_S for cursor, awareness, drags; 0/0 disables (default 120/60)",
                           [](auto& c, auto v) { parse_bucket("rate-volatile", v, c.rate_volatile); }}},
        {"rate-low", {"BURST/PER_S for idle, viewport, ping (default 60/30)",
                      [](auto& c, auto v) { parse_bucket("rate-low", v, c.rate_low); }}},
        {"rate-critical", {"BURST/PER_S for auth, graph ops, sync (default 20/10)",
                           [](auto& c, auto v) { parse_bucket("rate-critical", v, c.rate_critical); }}},
        {"cursor-interval-ms", {"minimum interval between relayed cursor moves (default 20)",
                                [](auto& c, auto v) { c.cursor_min_interval_ms = to_number<std::uint32_t>("cursor-interval-ms", v); }}},
        {"cursor-min-px", {"minimum cursor movement relayed (default 1)",
                           [](auto& c, auto v) { c.cursor_min_distance_px = to_number<double>("cursor-min-px", v); }}},
        {"graphop-interval-ms", {"minimum interval between graph ops per connection; an early op waits for its slot (default 150)",
                                 [](auto& c, auto v) { c.graphop_min_interval_ms = to_number<std::uint32_t>("graphop-interval-ms", v); }}},
        {"graphop-queue", {"graph ops held per connection for their throttle slot; beyond it an op gets an Error (default 16)",
                           [](auto& c, auto v) { c.graphop_queue = to_number<std::size_t>("graphop-queue", v); }}},
        {"durability", {"none | group: commit every durable message to the op log (in --db) before fan-out, group-committed, so kill -9 loses nothing a client received (default none)",
                        [](auto& c, auto v) {
                            if (v == "none") c.durable = false;
                            else if (v == "group") c.durable = true;
                            else die("--durability must be none or group, got '" + std::string(v) + "'");
                        }}},
        {"profile", {"optimization profile: baseline | optimized | a list such as serialize:dom,fanout:copy,cursor:forward,compress:deflate,batch:250 (default optimized)",
                     [](auto& c, auto v) {
                         std::string err;
                         if (!parse_profile(std::string(v), c.profile, err)) die(err);
                     }}},
        {"quiet", {"no log lines on stderr (0|1)",
                   [](auto& c, auto v) { c.quiet = to_number<int>("quiet", v) != 0; }}},
    };
    return f;
}

}  // namespace

std::string server_usage() {
    std::string s = "usage: liveshare-server [--flag=value ...]\n\n";
    for (const auto& [name, f] : flags()) {
        s += "  --" + name;
        s.append(name.size() < 24 ? 24 - name.size() : 1, ' ');
        s += f.help;
        s += '\n';
    }
    return s;
}

ServerConfig parse_server_args(int argc, char** argv) {
    ServerConfig c;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(server_usage().c_str(), stdout);
            std::exit(0);
        }
        if (!a.starts_with("--")) die("unexpected argument '" + std::string(a) + "'");
        a.remove_prefix(2);
        std::string_view name = a, value;
        if (auto eq = a.find('='); eq != std::string_view::npos) {
            name = a.substr(0, eq);
            value = a.substr(eq + 1);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            die("--" + std::string(name) + " needs a value");
        }
        auto it = flags().find(name);
        if (it == flags().end()) die("unknown flag --" + std::string(name));
        it->second.set(c, value);
    }
    if (c.durable && c.db_path.empty()) die("--durability=group needs a database (--db=PATH)");
    return c;
}

}  // namespace liveshare
