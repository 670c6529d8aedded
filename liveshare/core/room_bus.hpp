// What a room needs from a cluster (liveshare/cluster/): one order for the durable messages
// of every node's members, a channel for the volatile ones, and cluster-wide presence. A room
// without a bus is the single-node server, unchanged.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/messages.hpp"

namespace liveshare {

class Participant;

class RoomBus {
public:
    virtual ~RoomBus() = default;
    // A durable message, encoded without seq: the cluster gives it its seq and hands it back
    // to every node holding the room (this one included) through Room::apply_ordered.
    virtual void publish_durable(const std::string& room_id, MsgType type, std::shared_ptr<const std::string> frame) = 0;
    // A volatile message already delivered to this node's members: the other nodes' get it.
    virtual void publish_volatile(const std::string& room_id, MsgType type, const std::string& user_id,
                                  std::shared_ptr<const std::string> frame) = 0;
    // A member of this node left the room (after Room::leave).
    virtual void member_left(const std::string& room_id, const Participant* p) = 0;
    // The original's state flow across nodes: ask `asked` (a member on another node) for its
    // diagram on behalf of `requester`; hand a GraphState to `target` on whichever node.
    virtual void request_state(const std::string& room_id, const std::string& requester, const std::string& asked) = 0;
    virtual void forward_state(const std::string& room_id, const std::string& target,
                               std::shared_ptr<const std::string> frame) = 0;
};

}  // namespace liveshare
