// The simulated users of a load run. Each user is one WebSocket connection framed by the
// harness itself (protocol/ws_frame.hpp): reads take whatever the socket has into one buffer
// and every message in it is parsed once, in place; everything a user has to send goes out in
// one write. Users run many to a generator thread, each thread its own io_context.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "clients/client.hpp"
#include "clients/tls.hpp"
#include "measure/histogram.hpp"
#include "measure/load_metrics.hpp"
#include "protocol/codec.hpp"
#include "protocol/ws_frame.hpp"
#include "traffic/load_config.hpp"
#include "traffic/traffic_plan.hpp"
#include "traffic/workload.hpp"
#include "users/delivery_scan.hpp"

namespace harness {

using Clock = std::chrono::steady_clock;

// What every user of one run shares: identities, rooms, the time origin, progress counters.
struct Shared {
    const LoadTestConfig& cfg;
    Endpoint ep;  // the first target (REST, probes, the convergence observer)
    boost::asio::ip::tcp::endpoint address;
    // Every target (one, or a cluster's nodes) and the node each user is connected to now.
    std::vector<Endpoint> eps;
    std::vector<boost::asio::ip::tcp::endpoint> addresses;
    std::unique_ptr<std::atomic<int>[]> node_of;
    std::vector<std::string> user_ids, table_uuids, room_ids;
    // The graph node of each user's table (a user who took over another's table has its node).
    std::vector<liveshare::NodeId> node_ids;
    // Found by a std::string_view (a scanned sender) without building a string.
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view v) const {
            return std::hash<std::string_view>{}(v);
        }
    };
    std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> index_of;
    std::vector<std::size_t> room_of;
    std::vector<std::uint32_t> member_of;     // a user's place among its room's members
    std::vector<std::uint32_t> room_members;  // per room
    // Users come and go (LoadTestConfig::plan): a delivery is expected of a user only for a
    // message sent while it was in the room (sent_at within its window).
    bool windowed = false;
    // Actual write start per sender and durable seq, for the uncorrected latency; room for
    // sent_at_cap[sender] of them (a planned run's user: what its script sends, and a margin).
    std::vector<std::unique_ptr<std::atomic<std::int64_t>[]>> sent_at;
    std::vector<std::size_t> sent_at_cap;
    // When `sender` wrote its durable message `seq` (0: not written, or beyond the room kept).
    std::int64_t sent_time(std::size_t sender, std::uint64_t seq) const {
        return seq < sent_at_cap[sender] ? sent_at[sender][seq].load(std::memory_order_acquire) : 0;
    }
    // The run's time origin; the main thread moves it (join, then schedule) while user
    // threads read it, so it is an atomic count of steady-clock ticks.
    std::atomic<Clock::rep> epoch_ticks{0};
    Clock::time_point epoch() const {
        return Clock::time_point(Clock::duration(epoch_ticks.load(std::memory_order_acquire)));
    }
    void set_epoch(Clock::time_point t) {
        epoch_ticks.store(t.time_since_epoch().count(), std::memory_order_release);
    }
    std::int64_t warmup_us = 0;
    std::atomic<std::size_t> joined{0}, join_failed{0}, done{0}, closed{0};
    // This process's first scheduled send, Unix µs of its own wall clock (0: none yet).
    // and when its script planned it (µs after the epoch): their difference is the epoch.
    std::atomic<std::int64_t> first_send_wall_us{0}, first_send_planned_us{0};
    std::atomic<std::size_t> left{0};  // planned leaves done (users that come and go)
    std::atomic<std::uint64_t> durable_received{0}, volatile_received{0}, sent{0};
    // The same events as the users' metrics, counted live for the time series.
    std::atomic<std::uint64_t> errors{0}, disconnects{0}, reconnects{0}, resumes{0};
    // The generator's own socket calls (reads and writes), for its syscalls per delivery.
    std::atomic<std::uint64_t> socket_reads{0}, socket_writes{0};
    std::vector<std::atomic<std::uint64_t>> live_hist;  // progress only
    // Per room: durable messages sent and not rejected, and members joined (for the drain).
    std::unique_ptr<std::atomic<std::int64_t>[]> room_accepted;
    std::unique_ptr<std::atomic<std::int64_t>[]> room_joined;

    std::size_t room_size = 0;  // users per room (the last may hold fewer)

    // Everything a run's users share, made from its config: deterministic identities, rooms
    // and tables from `rng` (the run's seed), every user's room and place in it, and the
    // per-room and per-user counters sized. The targets (eps, addresses, ep) are the run's
    // to resolve. Throws std::invalid_argument for a plan that cannot be run as configured.
    Shared(const LoadTestConfig& c, std::mt19937_64& rng);
    // User i's script, with its identity and table.
    std::unique_ptr<Script> script(std::size_t i) const;
    std::int64_t now_us() const {
        return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - epoch())
            .count();
    }
};

// Durable deliveries from one sender as one receiver saw them.
struct SeqTracker {
    std::vector<bool> seen;
    std::uint64_t max_seen = 0;
    bool any = false;
};

class SimUser {
  public:
    SimUser(boost::asio::io_context& ioc, Shared& sh, std::size_t index);
    ~SimUser();
    void connect();
    void start_schedule();
    void close();
    std::size_t index() const { return index_; }
    UserMetrics metrics;
    liveshare::SchemaState state;
    bool joined = false, schedule_done = false, closed = false;
    bool left = false;  // left the room before the end, as its plan said
    // The messages it is owed (windowed runs): those sent in [window_from, window_to).
    std::int64_t window_from = INT64_MIN, window_to = INT64_MAX;
    // Set last when the join completes (release): the drain, on another thread, may then read
    // window_from (written once, before it).
    std::atomic<bool> join_done{false};
    std::size_t room = 0;
    // Holds the room's whole state and parses every message in full (the convergence check
    // compares these); the others scan deliveries for their markers and parse a sample
    // (LoadTestConfig::validate_every). Set before connect().
    bool full_state = true;
    // Whether this user keeps the state (a full-state user, or any on the original protocol,
    // where the server may ask a member for it).
    bool holds_state() const { return !lean(); }

  private:
    // Where the connection is. A reconnect makes a new Conn and keeps the old one until the
    // end, so its cancelled operations complete safely (and are ignored as stale).
    enum class Phase { Connecting, Upgrading, Open, Closing };
    struct Conn;
    struct Out {
        std::shared_ptr<const std::string> data;
        liveshare::MsgType type;
        std::int64_t durable_seq;  // -1: not a measured durable message
    };

    void on_connect(Conn* c, boost::system::error_code ec);
    void read_more(Conn* c);
    void put(Conn* c, std::string_view plain);
    std::ptrdiff_t decrypt(Conn* c, std::size_t n);
    void on_read(Conn* c, boost::system::error_code ec, std::size_t n);
    bool on_upgrade_response(Conn* c);
    bool on_frame(Conn* c, liveshare::ws::Event& ev);
    void on_text(char* data, std::size_t n);
    void handle(const char* data, std::size_t n);
    // The full parse's handlers of one message type each (msg_ holds the message).
    void on_auth_result();
    void on_pong();
    void on_graph_state();
    void on_error_message();
    bool lean() const { return !full_state && v2_ && sh_.cfg.validate_every > 1; }
    bool scan_matches_parse(const char* data, std::size_t n);
    void on_graph_op(std::optional<std::uint64_t> seq, std::string_view sender,
                     const std::optional<Marker>& mark);
    void on_volatile(const std::optional<Marker>& mark);
    void opened();
    void schedule_next();
    void on_timer(boost::system::error_code ec);
    void enqueue(std::shared_ptr<const std::string> frame, liveshare::MsgType type,
                 std::int64_t durable_seq = -1);
    void send_control(std::string frame, liveshare::MsgType type);
    void flush();
    void write_pending(Conn* c);
    void fail(const std::string& kind);
    // An error or a fault event, in this user's metrics and in the run's live tally.
    void error(const std::string& kind);
    void count(std::uint64_t UserMetrics::*field, std::atomic<std::uint64_t> Shared::*live);
    void lost_connection(const std::string& why);
    void schedule_reconnect(const std::string& why);
    void retire();
    // The connection is closed: counted once; after a planned leave, what only a present user
    // needs is given back (a long run holds thousands of users that left).
    void now_closed();
    void mark_joined();
    bool in_window(std::size_t sender, std::uint64_t seq) const;
    void record_phase(std::int64_t sent_us, std::uint64_t lat);
    void leave_at(std::int64_t t_us);

    Shared& sh_;
    std::size_t index_;
    boost::asio::io_context& ioc_;
    std::unique_ptr<Conn> c_;
    std::vector<std::unique_ptr<Conn>> old_;
    boost::asio::steady_timer timer_, retry_timer_;
    liveshare::Parser parser_;
    liveshare::ServerMessage msg_;
    DeliveryScan scan_;
    std::uint32_t until_check_ = 0;  // scanned deliveries until the next full parse
    std::unique_ptr<Script> script_;
    const UserPlan* plan_ = nullptr;  // when the run has a plan
    Planned next_;
    bool has_next_ = false;
    std::deque<Out> control_;  // Auth, Ping, answers: before anything else, on this connection
    std::deque<Out> outbox_;   // the workload's messages, held while (re)joining
    // Where the join stands: Connecting until AuthResult; Syncing while the original's flow
    // waits for the diagram (the Pong behind RequestGraphState); Resuming while a liveshare.v2
    // reconnect waits for its replay; Live after. reconnecting_ marks a join after a lost
    // connection (its Syncing or Resuming is a resume), resynced_ that it got the whole state.
    enum class Stage { Connecting, Syncing, Resuming, Live };
    Stage stage_ = Stage::Connecting;
    bool resuming() const {
        return stage_ == Stage::Resuming || (stage_ == Stage::Syncing && reconnecting_);
    }
    bool closing_ = false;  // close() was called: the end of the run, not a lost connection
    bool reconnecting_ = false, resynced_ = false;
    // Without liveshare.v2 the original's join flow: RequestGraphState, then the first
    // GraphState addressed to us is the diagram; a Ping behind the request marks its answer.
    bool v2_ = false;
    unsigned attempts_ = 0;
    std::size_t node_ = 0;                   // which of sh_.addresses this user connects to
    std::optional<std::uint64_t> last_seq_;  // highest room seq seen (liveshare.v2)
    // Own durable messages written and not yet echoed: resent after a resume if the server
    // never got them (the echo is the acknowledgement).
    std::map<std::uint64_t, Out> unacked_;
    Clock::time_point connect_started_;
    std::vector<SeqTracker> trackers_;  // per member of the room, by index in it
    std::vector<std::string_view> parts_;
    std::uint64_t mask_state_;          // xorshift for the client frames' mask keys
    ssl_session_st* resume_ = nullptr;  // wss://: the last connection's TLS session
};

}  // namespace harness
