#include "send_queue.hpp"

#include <utility>

namespace liveshare {

namespace {

constexpr std::size_t kFirstRing = 8;
constexpr std::size_t kSpareRings = 256;

// Rings of the first size that queues on this thread gave back when they drained: a queue that
// gets frames takes one, so a loop holds rings for the connections busy in a turn, not for
// every connection that was busy once (a join storm would otherwise leave one per connection
// until the idle sweep, then free them between the objects that stay).
std::vector<std::vector<OutFrame>>& spare_rings() {
    static thread_local std::vector<std::vector<OutFrame>> rings;
    return rings;
}

}  // namespace

void SendQueue::release_ring() {
    if (ring_.size() == kFirstRing && spare_rings().size() < kSpareRings)
        spare_rings().push_back(std::move(ring_));
    std::vector<OutFrame>().swap(ring_);  // a moved-from or unwanted ring frees its block
    head_ = 0;
}

void SendQueue::push_back(OutFrame&& f) {
    if (ring_.empty() && !spare_rings().empty()) {
        ring_ = std::move(spare_rings().back());
        spare_rings().pop_back();
    }
    if (count_ == ring_.size()) {
        // Grow to the next power of two, the frames in order from index 0.
        std::vector<OutFrame> bigger(ring_.empty() ? kFirstRing : ring_.size() * 2);
        for (std::size_t i = 0; i < count_; ++i)
            bigger[i] = std::move(ring_[(head_ + i) & (ring_.size() - 1)]);
        ring_ = std::move(bigger);
        head_ = 0;
    }
    ring_[(head_ + count_) & (ring_.size() - 1)] = std::move(f);
    ++count_;
}

void SendQueue::forget_key(std::uint64_t key, std::uint64_t id) {
    for (std::size_t i = 0; i < keyed_.size(); ++i)
        if (keyed_[i].key == key && keyed_[i].id == id) {
            keyed_[i] = keyed_.back();
            keyed_.pop_back();
            return;
        }
}

OutFrame SendQueue::take_front() {
    OutFrame& slot = ring_[head_];
    if (slot.coalesce_key != 0) forget_key(slot.coalesce_key, front_id_);
    OutFrame f = std::move(slot);
    slot = OutFrame{};  // the ring keeps no reference to a frame it gave away
    head_ = (head_ + 1) & (ring_.size() - 1);
    --count_;
    ++front_id_;
    return f;
}

SendQueue::PushResult SendQueue::push(OutFrame f) {
    const std::size_t size = f.text().size();
    if (f.delivery == Delivery::Volatile) {
        if (f.coalesce_key != 0) {
            for (const Keyed& k : keyed_) {
                if (k.key != f.coalesce_key) continue;
                // Latest wins: replace the queued, not yet written frame in place.
                OutFrame& slot = at(k.id);
                const auto delta =
                    static_cast<std::int64_t>(size) - static_cast<std::int64_t>(slot.text().size());
                bytes_ = bytes_ - slot.text().size() + size;
                slot = std::move(f);
                return {Result::Coalesced, false, delta, bytes_};
            }
        }
        if (bytes_ + size > soft_) return {Result::Dropped, false, 0, bytes_};
        if (f.coalesce_key != 0) keyed_.push_back({f.coalesce_key, front_id_ + count_});
    } else if (bytes_ + size > hard_) {
        return {Result::Overflow, false, 0, bytes_};
    }
    bytes_ += size;
    push_back(std::move(f));
    bool start = !writing_;
    writing_ = true;
    return {Result::Queued, start, static_cast<std::int64_t>(size), bytes_};
}

bool SendQueue::pop(OutFrame& f) {
    if (count_ == 0) {
        writing_ = false;
        release_ring();
        return false;
    }
    f = take_front();
    inflight_ = f.text().size();
    return true;
}

bool SendQueue::pop_batch(std::vector<OutFrame>& out, std::size_t max_bytes) {
    out.clear();
    if (count_ == 0) {
        writing_ = false;
        release_ring();
        return false;
    }
    std::size_t bytes = 0;
    while (count_ != 0 && (out.empty() || bytes + ring_[head_].text().size() <= max_bytes)) {
        bytes += ring_[head_].text().size();
        out.push_back(take_front());
    }
    inflight_ = bytes;
    return true;
}

std::size_t SendQueue::write_done() {
    const std::size_t released = inflight_;
    bytes_ -= inflight_;
    inflight_ = 0;
    return released;
}

void SendQueue::trim() {
    if (count_ != 0 || inflight_ != 0 || writing_) return;
    release_ring();
    std::vector<Keyed>().swap(keyed_);
}

void SendQueue::own_borrowed() {
    for (std::size_t i = 0; i < count_; ++i) ring_[(head_ + i) & (ring_.size() - 1)].own();
}

std::size_t SendQueue::bytes() const {
    return bytes_;
}

std::size_t SendQueue::frames() const {
    return count_;
}

}  // namespace liveshare
