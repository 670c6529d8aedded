#include "send_queue.hpp"

namespace liveshare {

SendQueue::PushResult SendQueue::push(OutFrame f) {
    std::lock_guard lock(mu_);
    const std::size_t size = f.data->size();
    if (f.delivery == Delivery::Volatile) {
        if (f.coalesce_key != 0) {
            auto it = coalesce_.find(f.coalesce_key);
            if (it != coalesce_.end() && it->second >= front_id_) {
                // Latest wins: replace the queued, not yet written frame in place.
                OutFrame& slot = q_[it->second - front_id_];
                const auto delta = static_cast<std::int64_t>(size) - static_cast<std::int64_t>(slot.data->size());
                bytes_ = bytes_ - slot.data->size() + size;
                slot = std::move(f);
                return {Result::Coalesced, false, delta};
            }
        }
        if (bytes_ + size > soft_) return {Result::Dropped, false};
        if (f.coalesce_key != 0) coalesce_[f.coalesce_key] = front_id_ + q_.size();
    } else if (bytes_ + size > hard_) {
        return {Result::Overflow, false};
    }
    bytes_ += size;
    q_.push_back(std::move(f));
    bool start = !writing_;
    writing_ = true;
    return {Result::Queued, start, static_cast<std::int64_t>(size)};
}

bool SendQueue::pop(OutFrame& f) {
    std::lock_guard lock(mu_);
    if (q_.empty()) {
        writing_ = false;
        return false;
    }
    f = std::move(q_.front());
    q_.pop_front();
    if (f.coalesce_key != 0) {
        auto it = coalesce_.find(f.coalesce_key);
        if (it != coalesce_.end() && it->second == front_id_) coalesce_.erase(it);
    }
    ++front_id_;
    inflight_ = f.data->size();
    return true;
}

bool SendQueue::pop_batch(std::vector<OutFrame>& out, std::size_t max_bytes) {
    std::lock_guard lock(mu_);
    out.clear();
    if (q_.empty()) {
        writing_ = false;
        return false;
    }
    std::size_t bytes = 0;
    while (!q_.empty() && (out.empty() || bytes + q_.front().data->size() <= max_bytes)) {
        OutFrame& f = q_.front();
        if (f.coalesce_key != 0) {
            auto it = coalesce_.find(f.coalesce_key);
            if (it != coalesce_.end() && it->second == front_id_) coalesce_.erase(it);
        }
        bytes += f.data->size();
        out.push_back(std::move(f));
        q_.pop_front();
        ++front_id_;
    }
    inflight_ = bytes;
    return true;
}

void SendQueue::write_done() {
    std::lock_guard lock(mu_);
    bytes_ -= inflight_;
    inflight_ = 0;
}

std::size_t SendQueue::bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
}

std::size_t SendQueue::frames() const {
    std::lock_guard lock(mu_);
    return q_.size();
}

}  // namespace liveshare
