// A room: its members, its authoritative schema state, and the sequenced durable log.
// Every fan-out happens under the room lock so all members see durable messages in seq order.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hot_paths.hpp"
#include "metrics.hpp"
#include "participant.hpp"
#include "protocol/codec.hpp"
#include "protocol/schema_state.hpp"
#include "room_bus.hpp"

namespace liveshare {

struct RoomSettings {
    std::string id, name, owner_id, password_hash, created_at;
    std::size_t max_users = 0;  // 0: the server's --max-users
    std::size_t log_entries = 4096;
};

struct SnapshotInfo {
    std::int64_t id = 0;
    std::string state_json, created_at;
    std::uint64_t element_count = 0;
};

struct RoomSnapshot {
    std::string state_json;
    std::uint64_t seq = 0, element_count = 0;
};

class DurableLog;

class Room : public std::enable_shared_from_this<Room> {
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
    // The op log gave up on everything up to seq: those messages are dropped unapplied and
    // every member is closed for a resync (told `why`).
    void abandon_uncommitted(std::uint64_t upto_seq, const std::string& why);
    // At start: a committed message from the op log, applied on top of the snapshot.
    void replay_committed(std::uint64_t seq, const Message& m,
                          std::shared_ptr<const std::string> frame);

    // Cluster mode (a RoomBus): durable messages are ordered by the cluster and come back
    // through apply_ordered on every node; the cap and room_info count every node's members.
    void attach_bus(RoomBus* bus);
    // The durable message with the cluster's seq (`frame` without seq, `op` for GraphOp):
    // applied, logged for resume and delivered to this node's members (the sender's echo too).
    void apply_ordered(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> frame,
                       const GraphOp* op);
    // Loading a room: a message older than the snapshot, kept for resume only.
    void log_ordered(std::uint64_t seq, MsgType type, const std::string& frame);
    // Another node's member's volatile message, for this node's members.
    void deliver_remote_volatile(MsgType type, const std::string& user_id,
                                 std::shared_ptr<const std::string> frame);
    // Presence on other nodes. A user joining elsewhere replaces its connection here (4001).
    void remote_joined(const std::string& user_id, const std::string& username);
    void remote_left(const std::string& user_id);
    void set_remote_members(std::map<std::string, std::string> users);
    // The room's settings as the cluster stored them when it was created (name, password,
    // owner, cap): they replace this node's defaults.
    void adopt_settings(const RoomSettings& s);
    // Another node's requester wants the diagram of `asked` (a member here), or a GraphState
    // for `target` (a member here) arrived from another node.
    void remote_state_request(const std::string& requester, const std::string& asked);
    void deliver_state(const std::string& target, std::shared_ptr<const std::string> frame);

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
    struct Member {
        std::shared_ptr<Participant> p;
        bool v2 = false;  // p->wants_seq(), asked once at join
    };
    struct LogEntry {
        std::uint64_t seq;
        OutFrame frame;  // the v2 form, with "seq"
    };
    // Hands each member but `exclude` the frame `source(v2)` gives for it (v2: it negotiated
    // seq numbers); counted once per fan-out.
    template <typename Source>
    void fan_out_locked(const Participant* exclude, MsgType type, Delivery d, std::uint64_t key,
                        Source&& source);
    // Sequences, logs and fans out a durable message; `encode(out, seq)` writes it with or
    // without seq. A form nobody needs is never built.
    template <typename Encode>
    void durable_locked(MsgType type, const Encode& encode, bool per_recipient, const GraphOp* op,
                        std::size_t size_hint);
    void erase_member_locked(std::vector<Member>::iterator it);
    void log_locked(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2);
    RoomInfo room_info_locked() const;

    const std::string id_;
    RoomSettings settings_;  // under mu_
    Metrics& metrics_;
    HotPaths paths_;
    mutable std::mutex mu_;
    std::vector<Member> members_;
    std::size_t v1_members_ = 0;  // members without seq numbers (the original's clients)
    SchemaState state_;
    std::uint64_t seq_ = 0;            // last seq assigned
    std::uint64_t published_seq_ = 0;  // last seq applied and sent (= seq_ unless durable_)
    bool dirty_ = true;                // a new room is worth one snapshot, even empty
    std::deque<LogEntry> log_;
    std::optional<SnapshotInfo> last_snapshot_;
    DurableLog* durable_ = nullptr;
    RoomBus* bus_ = nullptr;
    std::map<std::string, std::string> remote_;  // cluster: user_id -> username on other nodes
    struct Held {                                // sequenced, waiting for its commit
        std::uint64_t seq;
        MsgType type;
        std::shared_ptr<const std::string> v1, v2;
        std::optional<GraphOp> op;
    };
    std::deque<Held> held_;
};

std::string now_rfc3339();
std::int64_t now_unix_ms();

}  // namespace liveshare
