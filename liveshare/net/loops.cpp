#include "net/loops.hpp"

#include <sys/epoll.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "metrics.hpp"
#include "net/session.hpp"

namespace liveshare {

namespace {
int new_epoll() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    return fd;
}
constexpr int kEventsPerCall = 64;
constexpr int kCallsPerTurn = 4;
}  // namespace

Poller::Poller(boost::asio::io_context& ioc) : epoll_(ioc, new_epoll()) {}

bool Poller::add(int fd, Target* t) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = t;
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
    if (!armed_) arm();
    return true;
}

void Poller::remove(int fd) {
    epoll_event ev{};  // ignored, but kernels before 2.6.9 wanted one
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, &ev);
}

// armed_ stays set while the wait's drain runs: a socket added by one of its handlers (an
// upgrade finished on this loop) must not start a second wait beside the one drain() starts.
void Poller::arm() {
    armed_ = true;
    epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                          if (ec) {
                              armed_ = false;
                              return;
                          }
                          drain();
                      });
}

// Every ready socket's handler, then the wait again. The instance is edge-triggered in the
// io_context's epoll: it is read until it has no more events (or, after a full turn's worth,
// again in a later turn, so a flood cannot starve the loop's other work).
void Poller::drain() {
    epoll_event evs[kEventsPerCall];
    for (int call = 0; call < kCallsPerTurn; ++call) {
        const int n = ::epoll_wait(epoll_.native_handle(), evs, kEventsPerCall, 0);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; ++i) static_cast<Target*>(evs[i].data.ptr)->on_ready(evs[i].events);
        if (n < kEventsPerCall) return arm();
    }
    boost::asio::post(epoll_.get_executor(), [this] { drain(); });
}

Expiries::~Expiries() {
    while (head_) {
        Item* it = head_;
        head_ = it->next_;
        delete it;
    }
}

void Expiries::add(Item* it, Clock::time_point at) {
    it->at_ = tail_ && at < tail_->at_ ? tail_->at_ : at;
    it->prev_ = tail_;
    it->next_ = nullptr;
    (tail_ ? tail_->next_ : head_) = it;
    tail_ = it;
    if (!armed_) arm();
}

void Expiries::remove(Item* it) {
    (it->prev_ ? it->prev_->next_ : head_) = it->next_;
    (it->next_ ? it->next_->prev_ : tail_) = it->prev_;
    it->prev_ = it->next_ = nullptr;
}

// The timer stays set for an item that left early: it fires, finds a later head, and waits on.
void Expiries::arm() {
    armed_ = true;
    timer_.expires_at(head_->at_);
    timer_.async_wait([this](boost::system::error_code ec) {
        armed_ = false;
        if (!ec) fire();
    });
}

void Expiries::fire() {
    const auto now = Clock::now();
    while (head_ && head_->at_ <= now) {
        Item* it = head_;
        remove(it);
        it->expire();
    }
    if (head_) arm();
}

void Loop::write_at_end_of_turn(std::shared_ptr<Session> s) {
    ready_.push_back(std::move(s));
    if (flush_queued_) return;
    flush_queued_ = true;
    if (cork_.count() == 0) return boost::asio::post(ioc, [this] { flush(); });
    cork_timer_.expires_after(cork_);
    cork_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) flush();  // (cancelled only when the loop goes away)
    });
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
