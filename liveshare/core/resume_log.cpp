#include "resume_log.hpp"

namespace liveshare {

void ResumeLog::keep(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2) {
    log_.push_back({seq, {std::move(v2), type, Delivery::Durable, 0, false}});
    while (log_.size() > capacity_) log_.pop_front();
}

void ResumeLog::publish(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2) {
    keep(seq, type, std::move(v2));
    published_ = seq;
}

void ResumeLog::reset(std::uint64_t seq) {
    assigned_ = published_ = seq;
    log_.clear();  // a cluster node reloading a room logs the stream's entries again
}

}  // namespace liveshare
