#include "net/loops.hpp"

#include <boost/asio/post.hpp>
#include <functional>
#include <thread>

#include "metrics.hpp"
#include "net/session.hpp"

namespace liveshare {

void Loop::write_at_end_of_turn(std::shared_ptr<Session> s) {
    ready_.push_back(std::move(s));
    if (flush_queued_) return;
    flush_queued_ = true;
    boost::asio::post(ioc, [this] { flush(); });
}

void Loop::flush() {
    flush_queued_ = false;
    // A writer may make frames for others (a failed write leaves the room): they go to the
    // next turn's list.
    std::swap(ready_, flushing_);
    std::swap(pins_, flushing_pins_);
    for (auto& s : flushing_) s->start_writer_now();
    flushing_.clear();
    // Every frame borrowed from these pins is written or owns itself by now. Frames pinned
    // during this flush went to writers of this list (done too) or of the next turn's.
    flushing_pins_.clear();
    if (ready_.empty()) pins_.clear();
}

void Loop::run(Metrics* m) {
    // Unbound however run() ends (an exception included): the thread outlives this Metrics.
    struct Bound {
        Bound(Loop* l, Metrics* m) {
            t_current = l;
            if (m) m->bind_thread();
        }
        ~Bound() {
            Metrics::unbind_thread();
            t_current = nullptr;
        }
    } bound(this, m);
    ioc.run();
}

Loops::Loops(unsigned n) {
    for (unsigned i = 0; i < std::max(1u, n); ++i) {
        loops_.push_back(std::make_unique<Loop>());
        guards_.push_back(boost::asio::make_work_guard(loops_.back()->ioc));
    }
}

Loop& Loops::for_room(std::string_view room_id) {
    return *loops_[std::hash<std::string_view>{}(room_id) % loops_.size()];
}

Loop& Loops::next() {
    Loop& l = *loops_[next_];
    next_ = (next_ + 1) % loops_.size();
    return l;
}

void Loops::run(Metrics* m) {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < loops_.size(); ++i)
        threads.emplace_back([l = loops_[i].get(), m] { l->run(m); });
    loops_[0]->run(m);
    for (auto& t : threads) t.join();
}

void Loops::stop() {
    guards_.clear();
    for (auto& l : loops_) l->ioc.stop();
}

}  // namespace liveshare
