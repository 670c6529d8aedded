// LoadTestConfig: what one load run does. Defaults are the original load test's
// (10 users, 100 messages per user, 100 ms interval, 60 s); the builder changes them.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "clients/tls.hpp"
#include "measure/load_metrics.hpp"
#include "traffic/workload.hpp"

namespace harness {

class TrafficPlan;

// Client behaviour when a connection breaks: reconnect with exponential backoff (with
// jitter) and resume from the last seen seq (liveshare.v2), resending own durable messages
// that were written but never echoed.
struct ReconnectPolicy {
    bool enabled = false;
    std::chrono::milliseconds initial_backoff{50}, max_backoff{2000};
    unsigned max_attempts = 40;  // consecutive failures before the user gives up
};

// What happened outside the run while it ran (the bench restarted a server, say), for its time
// series. Any thread may mark; the run takes the marks.
class EventLog {
  public:
    using Clock = std::chrono::steady_clock;
    void mark(std::string what) {
        std::lock_guard lock(mu_);
        marks_.emplace_back(Clock::now(), std::move(what));
    }
    std::vector<std::pair<Clock::time_point, std::string>> take() {
        std::lock_guard lock(mu_);
        return std::exchange(marks_, {});
    }

  private:
    std::mutex mu_;
    std::vector<std::pair<Clock::time_point, std::string>> marks_;
};

struct LoadTestConfig {
    std::size_t users = 10;
    std::size_t room_size = 0;                // users per room; 0: all users in one room
    std::chrono::milliseconds interval{100};  // per-user send interval (seed workload)
    std::size_t messages_per_user = 100;      // 0: unbounded, duration decides
    std::chrono::milliseconds duration{60000};
    std::chrono::milliseconds warmup{0};    // samples sent before this are discarded
    std::chrono::milliseconds drain{2000};  // wait for late deliveries at most this long
    std::chrono::milliseconds join_timeout{15000};
    Workload workload = Workload::Seed;
    std::size_t payload_bytes = 512;  // approximate client frame size (seed)
    // A pause of every generator thread (as a GC pause or a descheduled process would do) at
    // stall_at after the epoch, for stall_for: what coordinated-omission correction is for.
    std::chrono::milliseconds stall_at{0}, stall_for{0};
    std::size_t burst_size = 8;  // Burst: ops per burst
    std::chrono::milliseconds burst_every{2000};
    ReconnectPolicy reconnect;
    std::uint64_t seed = 42;
    // Host and port; rooms are /room/{uuid}. A comma-separated list is a cluster's nodes:
    // user i connects to node i % N first and, after a lost connection, to the next node.
    std::string target = "ws://127.0.0.1:8080";
    TlsOptions tls;  // for wss:// targets: whom to trust, or no check at all
    // "HOST:PORT": every user's TCP connection goes there (an impairment proxy in front of a
    // wss:// target) while the Host header, SNI and the certificate's name stay the target's.
    std::string connect_to;
    // Other processes to measure over the sending window (name, pid): a cluster's nodes and
    // its engine. Their CPU and RSS go to LoadTestMetrics::watched.
    std::vector<std::pair<std::string, int>> watch;
    unsigned generator_threads = 1;
    bool negotiate_seq = true;  // offer the liveshare.v2 subprotocol
    // Rooms that already exist on the target (users are spread over them in order); empty:
    // the run creates its own over REST (POST /room/{uuid}), with rest_header if set.
    std::vector<std::string> rooms;
    std::string rest_header;  // e.g. "Authorization: Bearer ..."
    // "Name: value" headers added to every WebSocket upgrade (parse_upgrade_header's rules).
    std::vector<std::string> ws_headers;
    bool offer_batch = true;     // offer liveshare.v2+batch (array frames) as well
    bool offer_deflate = false;  // offer permessage-deflate
    bool progress = false;       // progress line on stderr (when it is a terminal)
    // Traffic as data (a scenario file or a replayed trace): each user's room, join and leave
    // times and script; users is its size. Null: the workload above, everyone from the start.
    std::shared_ptr<const TrafficPlan> plan;
    // Over the sending window, one SeriesPoint per interval (0: none).
    std::chrono::milliseconds series_interval{0};
    // Each point also counts the server's open descriptors (/proc, a started server) and
    // reads its rooms and connections (/metrics: one scrape from the run's main thread).
    bool series_server_gauges = false;
    std::shared_ptr<EventLog> events;  // marks from outside the run, for the series
    bool check_convergence = true;
    // Validation by sample: the first user of each room (in this process) parses every
    // message in full and keeps the room's state; the others find a delivery's markers by a
    // scan and parse 1 in validate_every in full, checked against the scan. 1: every user
    // parses everything and keeps the state. On the original protocol every user does.
    unsigned validate_every = 64;
    // Sharded generation (several generator processes or machines, one run): this process
    // runs the users whose index % shard_count == shard_index, with the identities and rooms
    // every shard derives from the same seed; all shards' schedules count from
    // start_at_unix_ms (wall clock, ms; 0: 50 ms after this process's joins).
    unsigned shard_index = 0, shard_count = 1;
    std::int64_t start_at_unix_ms = 0;
    // A reference clock (redis://HOST:PORT, its TIME) for start_at_unix_ms: each shard
    // measures its offset against it before the start (and after the run, for the drift) and
    // counts the start from the reference's time, so latencies across shards on different
    // machines mix no two clocks. Empty: this process's own wall clock (trust NTP).
    std::string clock_ref;
    std::int64_t clock_skew_us = 0;  // added to this process's wall clock (tests inject it)
    // Rooms are created with POST /room/{id} and this password first; users send it in Auth.
    std::string room_password;
    // After everyone joined, hold the connections idle this long (conn/idle benchmarks).
    std::chrono::milliseconds idle_hold{0};
    // Called once the sending phase ends, before the drain and the convergence check (e.g.
    // to stop injected faults so the check sees a quiet network).
    std::function<void()> before_drain;
    // Called once from the run's main thread as the measured (sending) window opens, after
    // its first sample (e.g. to start a profiler that before_drain stops).
    std::function<void()> on_window_open;
    // Coordinated shards (run/coordinator.hpp): called once this process's users have joined;
    // blocks until every shard is ready and returns the common start (Unix ms in the
    // reference clock, cfg.clock_ref), or throws with why the run cannot start. Its argument:
    // how many of this process's users joined.
    std::function<std::int64_t(std::size_t)> await_start;
    // Reads the reference clock (µs) in place of a fresh connection to clock_ref.
    std::function<std::int64_t()> clock_reader;
    // Each recorded interval (series_interval), as it closes: for a stream. It must not block.
    std::function<void(const SeriesPoint&)> on_interval;
    // Fired once each, from the run's main thread, when the messages sent (all users) reach
    // after_sent: faults at a point of the run's progress rather than after a sleep. Any not
    // fired when sending ends fire then, so nothing waiting on one can hang. Keep them short.
    struct Trigger {
        std::uint64_t after_sent = 0;
        std::function<void()> fire;
        std::string what = "fault";  // the event's name in the time series
    };
    std::vector<Trigger> triggers;
};

class LoadTestConfigBuilder {
  public:
    LoadTestConfigBuilder& users(std::size_t n) {
        c_.users = n;
        return *this;
    }
    LoadTestConfigBuilder& room_size(std::size_t n) {
        c_.room_size = n;
        return *this;
    }
    LoadTestConfigBuilder& burst_size(std::size_t n) {
        c_.burst_size = n;
        return *this;
    }
    LoadTestConfigBuilder& trigger(std::uint64_t after_sent, std::function<void()> fire,
                                   std::string what = "fault") {
        c_.triggers.push_back({after_sent, std::move(fire), std::move(what)});
        return *this;
    }
    LoadTestConfigBuilder& stall_generator(std::chrono::milliseconds at,
                                           std::chrono::milliseconds d) {
        c_.stall_at = at;
        c_.stall_for = d;
        return *this;
    }
    LoadTestConfigBuilder& interval(std::chrono::milliseconds i) {
        c_.interval = i;
        return *this;
    }
    LoadTestConfigBuilder& rate_per_user(double hz) {
        c_.interval = std::chrono::milliseconds(static_cast<long>(1000.0 / hz));
        return *this;
    }
    LoadTestConfigBuilder& messages_per_user(std::size_t n) {
        c_.messages_per_user = n;
        return *this;
    }
    LoadTestConfigBuilder& duration(std::chrono::milliseconds d) {
        c_.duration = d;
        return *this;
    }
    LoadTestConfigBuilder& warmup(std::chrono::milliseconds d) {
        c_.warmup = d;
        return *this;
    }
    LoadTestConfigBuilder& drain(std::chrono::milliseconds d) {
        c_.drain = d;
        return *this;
    }
    LoadTestConfigBuilder& workload(Workload w) {
        c_.workload = w;
        return *this;
    }
    LoadTestConfigBuilder& payload_bytes(std::size_t n) {
        c_.payload_bytes = n;
        return *this;
    }
    LoadTestConfigBuilder& reconnect(bool on) {
        c_.reconnect.enabled = on;
        return *this;
    }
    LoadTestConfigBuilder& seed(std::uint64_t s) {
        c_.seed = s;
        return *this;
    }
    LoadTestConfigBuilder& shard(unsigned index, unsigned count, std::int64_t start_at_unix_ms) {
        c_.shard_index = index;
        c_.shard_count = count ? count : 1;
        c_.start_at_unix_ms = start_at_unix_ms;
        return *this;
    }
    LoadTestConfigBuilder& tls(TlsOptions t) {
        c_.tls = std::move(t);
        return *this;
    }
    LoadTestConfigBuilder& target(std::string t) {
        c_.target = std::move(t);
        return *this;
    }
    LoadTestConfigBuilder& generator_threads(unsigned n) {
        c_.generator_threads = n ? n : 1;
        return *this;
    }
    LoadTestConfigBuilder& negotiate_seq(bool b) {
        c_.negotiate_seq = b;
        return *this;
    }
    LoadTestConfigBuilder& join_timeout(std::chrono::milliseconds t) {
        c_.join_timeout = t;
        return *this;
    }
    LoadTestConfigBuilder& offer_batch(bool b) {
        c_.offer_batch = b;
        return *this;
    }
    LoadTestConfigBuilder& offer_deflate(bool b) {
        c_.offer_deflate = b;
        return *this;
    }
    LoadTestConfigBuilder& series_interval(std::chrono::milliseconds i) {
        c_.series_interval = i;
        return *this;
    }
    LoadTestConfigBuilder& series_server_gauges(bool on) {
        c_.series_server_gauges = on;
        return *this;
    }
    LoadTestConfigBuilder& progress(bool b) {
        c_.progress = b;
        return *this;
    }
    LoadTestConfigBuilder& clock(std::string ref, std::int64_t skew_us = 0) {
        c_.clock_ref = std::move(ref);
        c_.clock_skew_us = skew_us;
        return *this;
    }
    LoadTestConfigBuilder& validate_every(unsigned n) {
        c_.validate_every = n;
        return *this;
    }
    LoadTestConfigBuilder& check_convergence(bool b) {
        c_.check_convergence = b;
        return *this;
    }
    LoadTestConfigBuilder& room_password(std::string p) {
        c_.room_password = std::move(p);
        return *this;
    }
    LoadTestConfigBuilder& ws_headers(std::vector<std::string> h) {
        c_.ws_headers = std::move(h);
        return *this;
    }
    LoadTestConfigBuilder& idle_hold(std::chrono::milliseconds d) {
        c_.idle_hold = d;
        return *this;
    }
    LoadTestConfigBuilder& plan(std::shared_ptr<const TrafficPlan> p) {
        c_.plan = std::move(p);
        return *this;
    }
    LoadTestConfigBuilder& rooms(std::vector<std::string> ids) {
        c_.rooms = std::move(ids);
        return *this;
    }
    LoadTestConfigBuilder& rest_header(std::string h) {
        c_.rest_header = std::move(h);
        return *this;
    }
    LoadTestConfigBuilder& connect_to(std::string host_port) {
        c_.connect_to = std::move(host_port);
        return *this;
    }
    // One more process to measure over the sending window (a node, Redis, a proxy).
    LoadTestConfigBuilder& watch(std::string name, int pid) {
        c_.watch.emplace_back(std::move(name), pid);
        return *this;
    }
    LoadTestConfigBuilder& before_drain(std::function<void()> f) {
        c_.before_drain = std::move(f);
        return *this;
    }
    LoadTestConfigBuilder& clock_reader(std::function<std::int64_t()> f) {
        c_.clock_reader = std::move(f);
        return *this;
    }
    LoadTestConfigBuilder& await_start(std::function<std::int64_t(std::size_t)> f) {
        c_.await_start = std::move(f);
        return *this;
    }
    LoadTestConfigBuilder& on_interval(std::function<void(const SeriesPoint&)> f) {
        c_.on_interval = std::move(f);
        return *this;
    }
    LoadTestConfigBuilder& on_window_open(std::function<void()> f) {
        c_.on_window_open = std::move(f);
        return *this;
    }
    LoadTestConfigBuilder& events(std::shared_ptr<EventLog> log) {
        c_.events = std::move(log);
        return *this;
    }
    // What is set so far (to size a server for the run, say).
    const LoadTestConfig& config() const { return c_; }
    LoadTestConfig build() const { return c_; }

  private:
    LoadTestConfig c_;
};

}  // namespace harness
