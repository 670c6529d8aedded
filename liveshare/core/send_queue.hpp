// Bounded per-session outbound queue: one write in flight, a byte budget, and an explicit
// policy: volatile frames coalesce to the latest per key, then drop above the soft limit;
// durable frames are never dropped, and above the hard limit the session must be closed.
// No heap work per frame: the frames sit in a ring that keeps its capacity while the
// connection has frames queued and goes back to its thread's spare rings when the queue
// drains; the coalescing index is a small flat list (a queue holds few distinct keys) that
// trim() gives back when the connection goes quiet. An empty queue that was
// never used holds no heap memory.
// Not thread-safe, and it needs no lock: a server's queue belongs to its connection's event
// loop, and producers on other threads post their frames to that loop (Session::deliver).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/messages.hpp"

namespace liveshare {

struct OutFrame {
    std::shared_ptr<const std::string> data;  // the frame (empty while it is borrowed)
    MsgType type = MsgType::Pong;
    Delivery delivery = Delivery::Control;
    std::uint64_t coalesce_key = 0;  // volatile only; 0: never coalesce
    bool binary = false;
    // Borrowed: a reference someone else holds (the connection's loop, until the end of the
    // turn: Loop::pin), so a fan-out takes one reference, not one per recipient.
    const std::shared_ptr<const std::string>* pin = nullptr;

    const std::string& text() const { return pin ? **pin : *data; }
    // Takes a reference of its own: before the frame outlives what it borrows from.
    void own() {
        if (!pin) return;
        data = *pin;
        pin = nullptr;
    }
};

class SendQueue {
  public:
    enum class Result { Queued, Coalesced, Dropped, Overflow };
    struct PushResult {
        Result result;
        bool start_writer;             // the caller must start the write loop (it was idle)
        std::int64_t bytes_delta = 0;  // change of the queued bytes
        std::size_t depth = 0;         // queued plus in-flight bytes after the push
    };

    SendQueue(std::size_t soft_bytes, std::size_t hard_bytes)
        : soft_(soft_bytes), hard_(hard_bytes) {}

    PushResult push(OutFrame f);
    // Moves the next frame into `f` and marks it in flight; false (and the writer idle) if empty.
    bool pop(OutFrame& f);
    // Moves up to max_bytes of queued frames (at least one) into `out`, all in flight as one
    // write; false (and the writer idle) if empty.
    bool pop_batch(std::vector<OutFrame>& out, std::size_t max_bytes);
    // The in-flight write finished; returns the bytes it released.
    std::size_t write_done();
    // Nothing queued or in flight: the ring and the index give their memory back.
    void trim();
    // Every queued frame takes its own reference (OutFrame::own).
    void own_borrowed();
    // The writer is running or due (frames were queued since it last found the queue empty).
    bool writing() const { return writing_; }
    std::size_t bytes() const;
    std::size_t frames() const;

  private:
    struct Keyed {
        std::uint64_t key, id;  // the queued frame with this coalesce key has this id
    };
    OutFrame& at(std::uint64_t id) {
        return ring_[(head_ + (id - front_id_)) & (ring_.size() - 1)];
    }
    void push_back(OutFrame&& f);
    // The queue is empty: its ring goes back to the thread's spares (or is freed).
    void release_ring();
    OutFrame take_front();
    void forget_key(std::uint64_t key, std::uint64_t id);

    std::size_t soft_, hard_;
    std::vector<OutFrame> ring_;  // capacity a power of two (or 0); count_ frames from head_
    std::size_t head_ = 0, count_ = 0;
    std::uint64_t front_id_ = 0;  // id of the front frame; ids let the index survive pops
    std::vector<Keyed> keyed_;    // one entry per queued frame that has a coalesce key
    std::size_t bytes_ = 0;       // queued plus in flight
    std::size_t inflight_ = 0;
    bool writing_ = false;
};

}  // namespace liveshare
