// Bounded per-session outbound queue: one write in flight, a byte budget, and an explicit
// policy: volatile frames coalesce to the latest per key, then drop above the soft limit;
// durable frames are never dropped, and above the hard limit the session must be closed.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/messages.hpp"

namespace liveshare {

struct OutFrame {
    std::shared_ptr<const std::string> data;
    MsgType type = MsgType::Pong;
    Delivery delivery = Delivery::Control;
    std::uint64_t coalesce_key = 0;  // volatile only; 0: never coalesce
    bool binary = false;
};

class SendQueue {
public:
    enum class Result { Queued, Coalesced, Dropped, Overflow };
    struct PushResult {
        Result result;
        bool start_writer;  // the caller must start the write loop (it was idle)
        std::int64_t bytes_delta = 0;  // change of the queued bytes
    };

    SendQueue(std::size_t soft_bytes, std::size_t hard_bytes) : soft_(soft_bytes), hard_(hard_bytes) {}

    PushResult push(OutFrame f);
    // Moves the next frame into `f` and marks it in flight; false (and the writer idle) if empty.
    bool pop(OutFrame& f);
    // Moves up to max_bytes of queued frames (at least one) into `out`, all in flight as one
    // write; false (and the writer idle) if empty.
    bool pop_batch(std::vector<OutFrame>& out, std::size_t max_bytes);
    // The in-flight write finished.
    void write_done();
    std::size_t bytes() const;
    std::size_t frames() const;

private:
    mutable std::mutex mu_;
    std::size_t soft_, hard_;
    std::deque<OutFrame> q_;
    std::uint64_t front_id_ = 0;  // id of q_.front(); ids let the coalesce map survive pops
    std::unordered_map<std::uint64_t, std::uint64_t> coalesce_;  // key -> frame id
    std::size_t bytes_ = 0;       // queued plus in flight
    std::size_t inflight_ = 0;
    bool writing_ = false;
};

}  // namespace liveshare
