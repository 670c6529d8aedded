// What a room needs from a connected client; the WebSocket session implements it.
#pragma once
#include <memory>
#include <string>

#include "send_queue.hpp"

namespace liveshare {

class Participant {
  public:
    virtual ~Participant() = default;
    virtual const std::string& user_id() const = 0;
    virtual const std::string& username() const = 0;
    // Negotiated the liveshare.v2 subprotocol: wants "seq" on durable messages.
    virtual bool wants_seq() const = 0;
    // Queues a frame; never blocks. On overflow the participant closes itself (4008).
    virtual void deliver(OutFrame frame) = 0;
    // The same, for a frame shared with other recipients of one fan-out: a participant that
    // can hold it without a reference of its own (until its writer has run) overrides this.
    virtual void deliver_shared(const std::shared_ptr<const std::string>& frame, MsgType type,
                                Delivery d, std::uint64_t coalesce_key) {
        deliver({frame, type, d, coalesce_key, false});
    }
    // The same user_id joined from another connection: close this one (4001).
    virtual void close_replaced() = 0;
    // The room lost state this client may hold (the op log gave up): close it with 4008 so it
    // reconnects, takes the room's state and resends what was never echoed.
    virtual void close_for_resync(const std::string& why) = 0;
};

}  // namespace liveshare
