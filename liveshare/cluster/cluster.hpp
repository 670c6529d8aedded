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
// One strand runs both Redis connections (commands, subscriptions) and all of this state.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
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
    // reached. `on_lost` runs (on the strand) if Redis goes away later: the node cannot keep
    // one order without it, so the server closes its clients (they reconnect elsewhere).
    Cluster(boost::asio::any_io_executor ex, const ServerConfig& cfg, Metrics& metrics,
            std::function<void(std::string)> on_lost);
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
    void ready(std::shared_ptr<Room> room, std::function<void(bool created)> done);
    // POST /room/{id}: records the room's settings unless another node created it first.
    // `done` runs on the strand: Created, Exists (409), or Failed (Redis did not answer).
    enum class CreateResult { Created, Exists, Failed };
    void create_room(const RoomSettings& s, std::function<void(CreateResult)> done);

    // RoomBus
    void publish_durable(const std::string& room_id, MsgType type,
                         std::shared_ptr<const std::string> frame) override;
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
        std::string id, channel, k_log, k_seq, k_members, k_snap, k_meta;
        // Failed: the load's reply was an error; the next join or ready() loads again.
        enum class State { Subscribing, Loading, Ready, Failed } state = State::Subscribing;
        std::vector<std::function<void(bool)>> waiting;  // ready() callers
        bool created = false;                            // the cluster holds its settings
        std::uint64_t applied = 0, max_seen = 0;
        bool fetching = false;
        std::vector<Pending> pending;
        struct Conn {
            std::string user_id, tag;  // tag: "node|conn|"
        };
        std::unordered_map<const Participant*, Conn> conns;
    };
    Link& link(const std::shared_ptr<Room>& room);
    void load(Link& l);
    void loaded(Link& l, redisReply* r);
    void admit(Link& l, Pending p);
    void on_message(std::string_view channel, std::string_view payload);
    void on_durable(Link& l, std::uint64_t seq, MsgType type, std::string_view frame);
    void apply(Link& l, std::uint64_t seq, MsgType type, std::string_view frame);
    void fetch(Link& l);
    void tick();
    void snapshot();
    void arm(boost::asio::steady_timer& t, std::chrono::milliseconds every, void (Cluster::*fn)());

    const ServerConfig& cfg_;
    Metrics& metrics_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;
    std::string node_, node_key_;
    std::uint64_t next_conn_ = 0;
    std::unique_ptr<RedisConn> cmd_, sub_;
    std::unordered_map<std::string, Link> links_;              // by room id
    std::unordered_map<std::string, std::string> by_channel_;  // channel -> room id
    boost::asio::steady_timer tick_timer_, snap_timer_;
    bool stopped_ = false;
};

}  // namespace liveshare::cluster
