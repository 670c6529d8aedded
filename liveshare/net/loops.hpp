// The server's event loops: one io_context per I/O thread, each run by that thread alone, so
// what lives on a loop is touched by one thread without a strand. A room's connections all
// live on the loop its id picks (for_room), so a room's fan-out stays on one thread; other
// threads (the KDF pool, the cluster, the sweep) reach a connection by posting to its loop.
//
// End of the turn: a connection that gets frames while its writer is idle is marked once; the
// loop starts every marked writer in one handler queued behind the work it is doing now (the
// reads of this wake-up), so each connection writes once for everything that turn gave it,
// with one hand-off per loop turn instead of one per recipient. With a cork window (the
// profile's `cork:<us>`) that handler waits the window out first, one timer per loop: frames
// queued meanwhile, for any of the loop's connections, go out in the same writes.
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace liveshare {

class Metrics;
class Session;

// Readiness of a loop's WebSocket sockets (the corked transport's) without Asio's reactor state
// per socket and an operation per wait: one epoll instance per loop, each socket in it once,
// edge-triggered for input and output space, and the instance itself one descriptor the loop's
// io_context waits on. What an idle connection costs is its own object, not 168 B of reactor
// state and a 208 B pending wait.
class Poller {
  public:
    struct Target {
        // On the loop: events for the socket (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR).
        virtual void on_ready(std::uint32_t events) = 0;

      protected:
        ~Target() = default;
    };
    explicit Poller(boost::asio::io_context& ioc);
    // On the loop: t hears of fd's readiness until fd is closed. t must stay alive until the end
    // of the loop turn in which fd is closed (events of that turn may still name it). False
    // (errno set) if epoll refused it.
    bool add(int fd, Target* t);
    // On the loop: fd leaves (to be watched elsewhere); its target hears of it no more.
    void remove(int fd);

  private:
    void arm();
    void drain();
    boost::asio::posix::stream_descriptor epoll_;  // owns the epoll instance
    bool armed_ = false;
};

// Things that end a fixed time after they start unless they finish first (a new connection's
// wait for its request): one timer per loop for all of them, the soonest first. An item costs
// two pointers and a time, not a timer and a pending wait each.
class Expiries {
  public:
    using Clock = std::chrono::steady_clock;
    class Item {
      public:
        virtual ~Item() = default;
        // On the loop, at the item's time, once; the item is out of the list by then.
        virtual void expire() = 0;

      private:
        friend class Expiries;
        Item *prev_ = nullptr, *next_ = nullptr;
        Clock::time_point at_{};
    };
    explicit Expiries(boost::asio::io_context& ioc) : timer_(ioc) {}
    // The loop has stopped: what still waits is deleted.
    ~Expiries();
    Expiries(const Expiries&) = delete;
    Expiries& operator=(const Expiries&) = delete;
    // On the loop: `it` expires at `at` (taken as no earlier than the last item's: the items
    // share one timeout) unless removed first.
    void add(Item* it, Clock::time_point at);
    void remove(Item* it);

  private:
    void arm();
    void fire();
    boost::asio::steady_timer timer_;
    Item *head_ = nullptr, *tail_ = nullptr;
    bool armed_ = false;
};

class Loop {
  public:
    boost::asio::io_context ioc{1};
    Poller poller{ioc};
    Expiries expiries{ioc};
    // The loop the calling thread runs, or nullptr off the loops.
    static Loop* current() { return t_current; }
    // On this loop's thread: start s's writer at the end of the current turn (or window).
    void write_at_end_of_turn(std::shared_ptr<Session> s);
    // Before the loop runs: the end-of-turn writes wait `window` (0: none).
    void set_cork(std::chrono::microseconds window) { cork_ = window; }
    // On this loop's thread: holds `frame` until the end-of-turn writes are done (one reference
    // for consecutive pins of one frame: a fan-out's recipients); the address stays valid.
    const std::shared_ptr<const std::string>* pin(const std::shared_ptr<const std::string>& frame) {
        if (pins_.empty() || pins_.back().get() != frame.get()) pins_.push_back(frame);
        return &pins_.back();
    }
    // Runs the loop on the calling thread; with `m`, the thread counts into a shard of m's.
    void run(Metrics* m = nullptr);

  private:
    static inline thread_local Loop* t_current = nullptr;
    void flush();
    std::vector<std::shared_ptr<Session>> ready_, flushing_;
    // Pinned frames: this turn's, and during flush() the previous turn's (a deque: pinning
    // never moves a pinned reference).
    std::deque<std::shared_ptr<const std::string>> pins_, flushing_pins_;
    bool flush_queued_ = false;
    std::chrono::microseconds cork_{0};
    boost::asio::steady_timer cork_timer_{ioc};
};

class Loops {
  public:
    explicit Loops(unsigned n);
    std::size_t size() const { return loops_.size(); }
    Loop& at(std::size_t i) { return *loops_[i]; }
    Loop& for_room(std::string_view room_id);
    Loop& next();  // round robin, for new HTTP connections
    // Runs loops 1..n-1 on threads of their own and loop 0 on the caller's; returns when every
    // loop has stopped. With `m`, each loop counts into a shard of its own.
    void run(Metrics* m = nullptr);
    void stop();

  private:
    std::vector<std::unique_ptr<Loop>> loops_;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
    std::size_t next_ = 0;
};

}  // namespace liveshare
