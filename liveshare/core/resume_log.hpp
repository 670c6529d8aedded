// A room's sequencing and resume log: the last seq assigned, the last one applied and sent,
// and the newest durable messages in their liveshare.v2 form (with seq), so a client that
// reconnects with last_seq gets what it missed instead of the whole state. Not synchronized:
// the room's lock guards it.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "send_queue.hpp"

namespace liveshare {

class ResumeLog {
  public:
    explicit ResumeLog(std::size_t capacity) : capacity_(capacity) {}

    std::uint64_t next_seq() { return ++assigned_; }
    std::uint64_t published() const { return published_; }
    // The message with `seq` was applied and sent: kept for resume, the oldest dropped past
    // the capacity.
    void publish(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2);
    // Loading a room: an entry older than its snapshot, kept for resume only.
    void keep(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2);
    // The room's state is at `seq` (a snapshot, a replay, another node's order).
    void reset(std::uint64_t seq);
    void advance_to(std::uint64_t seq) { assigned_ = seq; }

    // Hands `to` every entry after `last_seq` if the log still holds all of them; false (and
    // nothing handed) when it does not or last_seq is ahead of the room.
    template <typename Deliver>
    bool resume_after(std::uint64_t last_seq, Deliver&& to) const {
        if (last_seq > published_) return false;
        const std::uint64_t oldest = log_.empty() ? published_ + 1 : log_.front().seq;
        if (last_seq + 1 < oldest) return false;
        for (const auto& e : log_)
            if (e.seq > last_seq) to(e.frame);
        return true;
    }

  private:
    struct Entry {
        std::uint64_t seq;
        OutFrame frame;
    };
    std::size_t capacity_;
    std::uint64_t assigned_ = 0;   // last seq assigned
    std::uint64_t published_ = 0;  // last seq applied and sent (= assigned_ unless durable)
    std::deque<Entry> log_;
};

}  // namespace liveshare
