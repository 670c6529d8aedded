// A room: its members and their fan-out (room_members.hpp), the sequencing and resume log
// (resume_log.hpp), the authoritative schema state (room_state.hpp), and the three ways a
// durable message is published: at once (plain), after its commit (durability mode, the op
// log), or in the cluster's order (a RoomBus). Every fan-out happens under the room lock, so
// all members see durable messages in seq order; with one event loop per room (net/loops.hpp)
// that lock is uncontended on the message path.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "hot_paths.hpp"
#include "metrics.hpp"
#include "participant.hpp"
#include "protocol/codec.hpp"
#include "protocol/schema_state.hpp"
#include "resume_log.hpp"
#include "room_bus.hpp"
#include "room_members.hpp"
#include "room_state.hpp"

namespace liveshare {

struct RoomSettings {
    std::string id, name, owner_id, password_hash, created_at;
    std::size_t max_users = 0;  // 0: the server's --max-users
    std::size_t log_entries = 4096;
};

class DurableLog;

class Room : public std::enable_shared_from_this<Room>, private RoomBusInbound {
  public:
    Room(RoomSettings s, Metrics& metrics, HotPaths paths);
    enum class JoinResult { Ok, Full };
    // Adds the participant (replacing one with the same user_id), queues AuthResult, the
    // state or the missed log entries, and SnapshotRecovery; tells the others.
    JoinResult join(const std::shared_ptr<Participant>& p, std::optional<std::uint64_t> last_seq);
    // Removes p if it is still the member for its user_id; returns true if the room is empty.
    bool leave(const Participant* p);
    // Relays a parsed client message. Durable ones are sequenced, applied and echoed.
    void relay(Participant& from, const ClientMessage& m);
    void relay_binary_update(Participant& from, std::span<const std::uint8_t> update);
    // RequestGraphState. A liveshare.v2 client gets the state with its seq. Others get the
    // original's flow: the state addressed to them when it has tables; otherwise one other
    // member (not all: the original's O(N^2) join sync) is asked for its diagram.
    void request_state(Participant& requester);
    // A member's GraphStateResponse goes to its target only, as GraphState (the original
    // broadcast it to everyone).
    void forward_state(const ClientMessage& response);

    // Durability mode: durable messages wait for their commit before fan-out.
    void attach_durable_log(DurableLog* log) { durable_ = log; }
    // The op log committed everything up to seq: apply, log and fan out those messages.
    void publish_committed(std::uint64_t upto_seq);
    // The op log (or the cluster) gave up on everything up to seq: those messages are dropped
    // unapplied and every member is closed for a resync (told `why`).
    void abandon_uncommitted(std::uint64_t upto_seq, const std::string& why);
    // At start: a committed message from the op log, applied on top of the snapshot.
    void replay_committed(std::uint64_t seq, const Message& m,
                          std::shared_ptr<const std::string> frame);

    // Cluster mode: durable messages are ordered by the bus and come back through the
    // returned side (on every node); the cap and room_info count every node's members.
    RoomBusInbound& attach_bus(RoomBus* bus);
    // The room's settings as the cluster stored them when it was created (name, password,
    // owner, cap), or a POST /room's: they replace this node's defaults.
    void adopt_settings(const RoomSettings& s);

    std::optional<RoomSnapshot> take_snapshot_if_dirty();
    void restore(SchemaState state, std::uint64_t seq, std::optional<SnapshotInfo> snap);
    void set_last_snapshot(SnapshotInfo info);
    void mark_dirty();
    void clear_members();  // at shutdown, so sessions die before the I/O context
    // The id never changes; every other setting can (the first joiner becomes the owner, a
    // cluster adopts the stored settings), so other threads read them as a copy, under the lock.
    const std::string& id() const { return id_; }
    RoomSettings settings_copy() const;
    bool is_protected() const;
    std::size_t member_count() const;
    std::uint64_t seq() const;
    std::string state_json() const;

  private:
    // RoomBusInbound (room_cluster.cpp)
    void apply_ordered(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> frame,
                       const GraphOp* op) override;
    void log_ordered(std::uint64_t seq, MsgType type, const std::string& frame) override;
    void deliver_remote_volatile(MsgType type, const std::string& user_id,
                                 std::shared_ptr<const std::string> frame) override;
    void remote_joined(const std::string& user_id, const std::string& username) override;
    void remote_left(const std::string& user_id) override;
    void set_remote_members(std::map<std::string, std::string> users) override;
    void refuse(const Participant* sender, MsgType type, const std::string& why) override;
    void remote_state_request(const std::string& requester, const std::string& asked) override;
    void deliver_state(const std::string& target,
                       std::shared_ptr<const std::string> frame) override;

    // Sequences, logs and fans out a durable message; `encode(out, seq)` writes it with or
    // without seq. A form nobody needs is never built. `from`: the sender (a local member).
    template <typename Encode>
    void durable_locked(const Participant& from, MsgType type, const Encode& encode,
                        bool per_recipient, const GraphOp* op, std::size_t size_hint);
    // Applied, logged and delivered: `v2` with seq, `v1` without (null when no member needs it).
    void publish_locked(std::uint64_t seq, MsgType type, const GraphOp* op,
                        std::shared_ptr<const std::string> v1,
                        std::shared_ptr<const std::string> v2);
    // What a joiner gets after its AuthResult: the missed log entries, or the state.
    void send_state_on_join_locked(Participant& p, std::optional<std::uint64_t> last_seq);
    RoomInfo room_info_locked() const;

    const std::string id_;
    RoomSettings settings_;  // under mu_
    Metrics& metrics_;
    HotPaths paths_;
    mutable std::mutex mu_;
    RoomMembers members_;  // under mu_
    ResumeLog log_;        // under mu_
    RoomState state_;      // under mu_
    DurableLog* durable_ = nullptr;
    RoomBus* bus_ = nullptr;
    struct Held {  // durability mode: sequenced, waiting for its commit
        std::uint64_t seq;
        MsgType type;
        std::shared_ptr<const std::string> v1, v2;
        std::optional<GraphOp> op;
    };
    std::deque<Held> held_;
};

std::string now_rfc3339();
std::int64_t now_unix_ms();

// One frame, shared by every recipient; `size_hint` saves the string's regrowth.
template <typename Encode>
std::shared_ptr<const std::string> make_frame(Encode&& enc, std::size_t size_hint = 0) {
    auto s = std::make_shared<std::string>();
    if (size_hint) s->reserve(size_hint);
    enc(*s);
    return s;
}

}  // namespace liveshare
