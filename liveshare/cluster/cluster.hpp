// Cluster mode (--cluster=redis://HOST:PORT): the members of one room may be connected to
// different nodes and see one room, through Redis (docs/design.md, "Cluster mode"):
//  - order: every durable message goes through one Lua script that takes the room's next seq
//    (INCR) and appends the message to the room's stream under the id 0-<seq> (XADD), then
//    publishes it on the room's channel. Every node holding the room applies the channel's
//    messages in seq order; a gap (a message it did not see) is read back from the stream.
//  - volatile messages: published on the same channel, never stored.
//  - presence: one hash per room (user_id -> node, connection, name); the cap is checked in
//    the same script that adds a member, so it counts every node's members. A node refreshes
//    a key with a 3 s expiry every second; members of a node whose key expired are removed.
//  - state: a node that takes a room's first member loads the room's last snapshot (written
//    by the nodes every --snapshot-interval-ms) and the stream after it.
//  - outages: a node that loses Redis keeps its clients. While it cannot order, it refuses
//    durable messages (Error "unavailable": not applied, send again) and joins, delivers
//    volatile ones to its own members only, and reconnects with backoff; then, room by room,
//    it resubscribes, moves the room's fence to its new epoch (nothing from the connection it
//    gave up on can land after), applies what the stream holds beyond what it applied, tells
//    each sender whose message was in flight whether Redis holds it (delivered) or not
//    (refused), and makes the presence its own again. A stream that no longer reaches back
//    (Redis came back with less than the node applied) sends the room's members to resync
//    (4008) from what Redis holds.
//  - failover (sentinel://...): the node asks Sentinel for the master, takes a replica's
//    READONLY as an outage, and reconnects to whichever master Sentinel names; with
//    --cluster-wait-replicas an op is echoed only once the replicas have it (WAIT).
// One strand runs both Redis connections (commands, subscriptions) and all of this state.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "metrics.hpp"
#include "participant.hpp"
#include "redis_conn.hpp"
#include "room.hpp"
#include "room_bus.hpp"

namespace liveshare::cluster {

class Cluster : public RoomBus {
  public:
    // Connects both Redis connections; throws with a clear message when Redis cannot be
    // reached. `give_up` runs (on the strand) when an outage outlasts --cluster-outage-max-ms
    // (when that is set): the server then closes its clients (they reconnect elsewhere).
    Cluster(boost::asio::any_io_executor ex, const ServerConfig& cfg, Metrics& metrics,
            std::function<void(std::string)> give_up);
    ~Cluster() override;
    void start();  // heartbeat, sweep of dead nodes, snapshots
    void stop();

    // Joins p to room once the room is loaded here and the cluster's presence admitted it.
    // `done` runs on the strand with nullptr, or why it was refused ("Room is full", or that
    // the cluster could not answer).
    using JoinDone = std::function<void(const char* refused)>;
    void join(std::shared_ptr<Room> room, std::shared_ptr<Participant> p,
              std::optional<std::uint64_t> last_seq, JoinDone done);
    // `done` (on the strand) once the room is loaded here: its settings are the cluster's;
    // `created` says whether some node created it with POST /room (--require-rest-create).
    // `refused`: why it could not be loaded (Redis out of reach), else nullptr.
    using ReadyDone = std::function<void(const char* refused, bool created)>;
    void ready(std::shared_ptr<Room> room, ReadyDone done);
    // POST /room/{id}: records the room's settings unless another node created it first.
    // `done` runs on the strand: Created, Exists (409), or Failed (Redis did not answer).
    enum class CreateResult { Created, Exists, Failed };
    void create_room(const RoomSettings& s, std::function<void(CreateResult)> done);

    // RoomBus
    void publish_durable(const std::string& room_id, MsgType type,
                         std::shared_ptr<const std::string> frame,
                         const Participant* sender) override;
    void publish_volatile(const std::string& room_id, MsgType type, const std::string& user_id,
                          std::shared_ptr<const std::string> frame) override;
    void member_left(const std::string& room_id, const Participant* p) override;
    void request_state(const std::string& room_id, const std::string& requester,
                       const std::string& asked) override;
    void forward_state(const std::string& room_id, const std::string& target,
                       std::shared_ptr<const std::string> frame) override;

    const std::string& node_id() const { return node_; }

  private:
    struct Pending {
        std::shared_ptr<Participant> p;
        std::optional<std::uint64_t> last_seq;
        JoinDone done;
    };
    struct Link {
        std::shared_ptr<Room> room;
        RoomBusInbound* in = nullptr;  // the room's cluster side
        std::string id, channel, k_log, k_seq, k_members, k_snap, k_meta, k_fence;
        // Failed: the load's reply was an error; the next join or ready() loads again.
        enum class State { Subscribing, Loading, Ready, Failed } state = State::Subscribing;
        std::vector<ReadyDone> waiting;  // ready() callers
        bool created = false;            // the cluster holds its settings
        bool loaded = false;             // applied once: after an outage it resumes, not loads
        std::uint64_t applied = 0, max_seen = 0;
        bool fetching = false;
        // This node's durable messages sent to Redis and not answered yet: an outage leaves
        // them in doubt until the stream says whether it holds them (by their append id).
        struct InFlight {
            std::uint64_t n;
            const Participant* sender;
            MsgType type;
        };
        std::deque<InFlight> inflight;
        std::vector<Pending> pending;
        struct Conn {
            std::string user_id, tag, username;  // tag: "node|conn|"
        };
        std::unordered_map<const Participant*, Conn> conns;
    };
    Link& link(const std::shared_ptr<Room>& room);
    void load(Link& l);
    void loaded(Link& l, redisReply* r);
    void admit(Link& l, Pending p);
    void refuse_waiting(Link& l);
    void on_message(std::string_view channel, std::string_view payload);
    void on_durable(Link& l, std::uint64_t seq, MsgType type, std::string_view frame);
    void apply(Link& l, std::uint64_t seq, MsgType type, std::string_view frame);
    void fetch(Link& l);
    void tick();
    void snapshot();
    // Outages: `open` makes both connections (throws when it cannot), `lost` ends them and
    // starts the retries, `reconnect` is one attempt, `resume` brings one room back.
    void open();
    void lost(std::uint64_t generation, const std::string& why);
    void retry_later();
    void reconnect();
    void when_ready(std::uint64_t generation);
    void back();
    void resume(Link& l);
    void resync(Link& l, const std::string& why);
    // Sentinel: the master's address from the first Sentinel that answers (blocking, 300 ms
    // per Sentinel); false with why.
    bool ask_sentinels(std::string& why);
    // A write refused because this Redis is a replica now (READONLY: a failover): an outage.
    bool demoted(const redisReply* r);
    // --cluster-wait-replicas: one WAIT for every store sent so far, then their announcement.
    void send_wait();
    void announce(std::uint64_t covers, bool replicated);
    void settle(Link& l, std::uint64_t n, const redisReply* r, bool acknowledging);
    void refuse_inflight(Link& l, const char* why);
    bool down() const { return !cmd_ || down_since_.has_value(); }
    void arm(boost::asio::steady_timer& t, std::chrono::milliseconds every, void (Cluster::*fn)());

    using Clock = std::chrono::steady_clock;
    const ServerConfig& cfg_;
    Metrics& metrics_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;
    ClusterUrl url_;
    std::string host_;  // the master: --cluster's, or the Sentinels' answer
    int port_ = 0;
    std::function<void(std::string)> give_up_;
    std::string node_, node_key_;
    std::uint64_t next_conn_ = 0, next_append_ = 0;
    // The connections' generation (a loss of an older one is old news) and the epoch the
    // rooms' fences hold for this node (one per connection made).
    std::uint64_t generation_ = 0, epoch_ = 0;
    std::unique_ptr<RedisConn> cmd_, sub_;
    std::unordered_map<std::string, Link> links_;              // by room id
    std::unordered_map<std::string, std::string> by_channel_;  // channel -> room id
    boost::asio::steady_timer tick_timer_, snap_timer_, retry_timer_, give_up_timer_;
    std::optional<Clock::time_point> down_since_;  // in an outage since
    std::optional<Clock::time_point> asked_at_;    // the heartbeat not answered yet, sent at
    Clock::time_point sweep_from_{};               // no sweep before (others re-announce)
    std::chrono::milliseconds backoff_{0};
    bool stopped_ = false;
    // --cluster-wait-replicas: stores answered and not yet covered by a WAIT's reply (room,
    // append n, seq), how many stores were sent, how many the outstanding WAIT covers, and
    // whether the last WAIT found fewer replicas than asked (new messages are refused then).
    struct Stored {
        Link* link;
        std::uint64_t n, seq, index;
    };
    std::deque<Stored> stored_;
    std::uint64_t stores_sent_ = 0;
    std::optional<std::uint64_t> wait_covers_;
    bool replicas_short_ = false;
};

}  // namespace liveshare::cluster
