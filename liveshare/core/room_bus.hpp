// What a room needs from a cluster (liveshare/cluster/): one order for the durable messages
// of every node's members, a channel for the volatile ones, and cluster-wide presence. A room
// without a bus is the single-node server, unchanged.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "protocol/messages.hpp"

namespace liveshare {

class Participant;
struct RoomSettings;
struct GraphOp;

// The other direction: what the cluster hands a room. Room implements it; Room::attach_bus
// returns it, and the cluster reaches a room's cluster side through it only (the room's own
// interface is what every node needs).
class RoomBusInbound {
  public:
    // The durable message with the cluster's seq (`frame` without seq, `op` for GraphOp):
    // applied, logged for resume and delivered to this node's members (the sender's echo too).
    virtual void apply_ordered(std::uint64_t seq, MsgType type,
                               std::shared_ptr<const std::string> frame, const GraphOp* op) = 0;
    // Loading a room: a message older than the snapshot, kept for resume only.
    virtual void log_ordered(std::uint64_t seq, MsgType type, const std::string& frame) = 0;
    // Another node's member's volatile message, for this node's members.
    virtual void deliver_remote_volatile(MsgType type, const std::string& user_id,
                                         std::shared_ptr<const std::string> frame) = 0;
    // Presence on other nodes. A user joining elsewhere replaces its connection here (4001).
    virtual void remote_joined(const std::string& user_id, const std::string& username) = 0;
    virtual void remote_left(const std::string& user_id) = 0;
    // The other nodes' members as the cluster's presence lists them now; this node's members
    // are told who joined and who left since the last list (after an outage of the cluster).
    virtual void set_remote_members(std::map<std::string, std::string> users) = 0;
    // A durable message of local member `sender` that the cluster could not order: the sender
    // is told (Error, reason "unavailable", the refused type) if it is still a member here.
    virtual void refuse(const Participant* sender, MsgType type, const std::string& why) = 0;
    // Another node's requester wants the diagram of `asked` (a member here), or a GraphState
    // for `target` (a member here) arrived from another node.
    virtual void remote_state_request(const std::string& requester, const std::string& asked) = 0;
    virtual void deliver_state(const std::string& target,
                               std::shared_ptr<const std::string> frame) = 0;

  protected:
    ~RoomBusInbound() = default;
};

class RoomBus {
  public:
    virtual ~RoomBus() = default;
    // A durable message of local member `sender`, encoded without seq: the cluster gives it its
    // seq and hands it back to every node holding the room (this one included) through
    // RoomBusInbound::apply_ordered, or refuses it through RoomBusInbound::refuse.
    virtual void publish_durable(const std::string& room_id, MsgType type,
                                 std::shared_ptr<const std::string> frame,
                                 const Participant* sender) = 0;
    // A volatile message already delivered to this node's members: the other nodes' get it.
    virtual void publish_volatile(const std::string& room_id, MsgType type,
                                  const std::string& user_id,
                                  std::shared_ptr<const std::string> frame) = 0;
    // A member of this node left the room (after Room::leave).
    virtual void member_left(const std::string& room_id, const Participant* p) = 0;
    // The original's state flow across nodes: ask `asked` (a member on another node) for its
    // diagram on behalf of `requester`; hand a GraphState to `target` on whichever node.
    virtual void request_state(const std::string& room_id, const std::string& requester,
                               const std::string& asked) = 0;
    virtual void forward_state(const std::string& room_id, const std::string& target,
                               std::shared_ptr<const std::string> frame) = 0;
};

}  // namespace liveshare
