#include "procs/netsim.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace harness {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------ the proxy

struct ImpairmentProxy::Impl : std::enable_shared_from_this<ImpairmentProxy::Impl> {
    struct Segment {
        std::shared_ptr<std::vector<char>> data;
        Clock::time_point read, due;
    };
    struct Conn;
    // One direction of one connection: reads from `from`, delays, writes to `to`.
    struct Pipe {
        std::deque<Segment> queue;
        std::size_t queued_bytes = 0;
        Clock::time_point last_due{}, link_free{};
        Clock::time_point stalled_until{};
        bool reading = false, writing = false, eof = false;
        std::array<char, 16384> buf;
    };
    struct Conn : std::enable_shared_from_this<Conn> {
        std::uint64_t id;
        tcp::socket client, server;
        net::steady_timer timer[2];
        Pipe pipe[2];
        bool dead = false;
        Conn(net::io_context& ioc, std::uint64_t i, tcp::socket c)
            : id(i),
              client(std::move(c)),
              server(ioc),
              timer{net::steady_timer(ioc), net::steady_timer(ioc)} {}
        tcp::socket& src(int dir) { return dir == 0 ? client : server; }
        tcp::socket& dst(int dir) { return dir == 0 ? server : client; }
    };

    ImpairmentSettings s;
    net::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    net::steady_timer reset_timer{ioc}, stall_timer{ioc};
    std::thread thread;
    std::mt19937_64 rng;
    std::string up_host;
    std::uint16_t up_port;
    tcp::endpoint upstream;
    std::unordered_map<std::uint64_t, std::weak_ptr<Conn>> conns;
    std::uint64_t next_id = 1;
    Clock::time_point t0 = Clock::now();
    bool record;
    mutable std::mutex mu;  // stats and events (read from other threads)
    ProxyStats st;
    std::vector<ProxyEvent> ev;
    std::atomic<std::size_t> open{0};

    Impl(std::string host, std::uint16_t port, ImpairmentSettings settings, bool rec)
        : s(settings), rng(settings.seed), up_host(std::move(host)), up_port(port), record(rec) {}

    // `at`: when it happened, if not now (a write is logged when it completes, dated when it
    // began).
    void event(ProxyEvent::Kind k, std::uint64_t conn, int dir, std::uint64_t bytes,
               Clock::time_point due = {}, Clock::duration held = {}, Clock::time_point at = {}) {
        if (!record) return;
        std::lock_guard lock(mu);
        if (ev.size() >= 200000) return;
        auto us = [&](Clock::time_point t) {
            return std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count();
        };
        ev.push_back({k, conn, dir, us(at == Clock::time_point{} ? Clock::now() : at), bytes,
                      due == Clock::time_point{} ? 0 : us(due),
                      std::chrono::duration_cast<std::chrono::microseconds>(held).count()});
    }
    double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng); }
    Clock::duration ms(double v) {
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double, std::milli>(v));
    }

    void resolve_upstream() {
        tcp::resolver r(ioc);
        upstream = *r.resolve(up_host, std::to_string(up_port)).begin();
    }

    void start() {
        resolve_upstream();
        tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(1024);
        do_accept();
        schedule_fault(reset_timer, true);
        schedule_fault(stall_timer, false);
        thread = std::thread([this] { ioc.run(); });
    }

    void do_accept() {
        acceptor.async_accept(
            [self = shared_from_this()](boost::system::error_code ec, tcp::socket sock) {
                if (ec) {
                    if (ec != net::error::operation_aborted) self->do_accept();
                    return;
                }
                auto c = std::make_shared<Conn>(self->ioc, self->next_id++, std::move(sock));
                self->conns[c->id] = c;
                self->open.fetch_add(1);
                {
                    std::lock_guard lock(self->mu);
                    ++self->st.connections;
                }
                self->event(ProxyEvent::Accepted, c->id, 0, 0);
                boost::system::error_code ignored;
                c->client.set_option(tcp::no_delay(true), ignored);
                c->server.async_connect(self->upstream, [self, c](boost::system::error_code ec) {
                    if (ec) {
                        {
                            std::lock_guard lock(self->mu);
                            ++self->st.upstream_failures;
                        }
                        return self->kill(c, true);
                    }
                    boost::system::error_code ignored2;
                    c->server.set_option(tcp::no_delay(true), ignored2);
                    self->read(c, 0);
                    self->read(c, 1);
                });
                self->do_accept();
            });
    }

    // Poisson arrivals: exponential gaps with mean 60 / per_min seconds.
    void schedule_fault(net::steady_timer& t, bool reset) {
        const double per_min = reset ? s.resets_per_min : (s.stall_ms > 0 ? s.stalls_per_min : 0);
        if (per_min <= 0) return;
        const double gap_s = -std::log(1.0 - uniform()) * 60.0 / per_min;
        t.expires_after(ms(gap_s * 1000));
        t.async_wait([self = shared_from_this(), &t, reset](boost::system::error_code ec) {
            if (ec) return;
            std::vector<std::shared_ptr<Conn>> live;
            for (auto& [id, w] : self->conns)
                if (auto c = w.lock(); c && !c->dead) live.push_back(c);
            std::sort(live.begin(), live.end(), [](auto& a, auto& b) { return a->id < b->id; });
            if (!live.empty()) {
                auto& c =
                    live[std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(self->rng)];
                if (reset) {
                    self->event(ProxyEvent::Reset, c->id, 0, 0);
                    {
                        std::lock_guard lock(self->mu);
                        ++self->st.resets;
                    }
                    self->kill(c, true);
                } else {
                    const int dir = static_cast<int>(self->rng() & 1);
                    c->pipe[dir].stalled_until = Clock::now() + self->ms(self->s.stall_ms);
                    self->event(ProxyEvent::Stalled, c->id, dir, 0);
                    {
                        std::lock_guard lock(self->mu);
                        ++self->st.stalls;
                    }
                }
            }
            self->schedule_fault(t, reset);
        });
    }

    // Closes both sides; with rst the peers see a reset (SO_LINGER 0), not an orderly close.
    void kill(const std::shared_ptr<Conn>& c, bool rst) {
        if (c->dead) return;
        c->dead = true;
        // Counted closed before the peers can see it, so whoever saw the close sees the count.
        conns.erase(c->id);
        open.fetch_sub(1);
        event(ProxyEvent::Closed, c->id, 0, 0);
        boost::system::error_code ec;
        for (tcp::socket* sock : {&c->client, &c->server}) {
            if (rst && sock->is_open()) sock->set_option(net::socket_base::linger(true, 0), ec);
            sock->close(ec);
        }
        c->timer[0].cancel();
        c->timer[1].cancel();
    }

    void read(const std::shared_ptr<Conn>& c, int dir) {
        Pipe& p = c->pipe[dir];
        if (c->dead || p.reading || p.eof || p.queued_bytes >= s.max_buffered_bytes) return;
        p.reading = true;
        c->src(dir).async_read_some(
            net::buffer(p.buf),
            [self = shared_from_this(), c, dir](boost::system::error_code ec, std::size_t n) {
                Pipe& p = c->pipe[dir];
                p.reading = false;
                if (c->dead) return;
                if (ec) {
                    if (ec == net::error::eof) {
                        p.eof = true;
                        self->pump(c, dir);  // shuts the other side down once the queue drained
                    } else {
                        self->kill(c, true);  // a reset on one side resets the other
                    }
                    return;
                }
                self->event(ProxyEvent::Read, c->id, dir, n);
                self->enqueue(c, dir, n);
                self->read(c, dir);
            });
    }

    void enqueue(const std::shared_ptr<Conn>& c, int dir, std::size_t n) {
        Pipe& p = c->pipe[dir];
        const auto now = Clock::now();
        std::uint64_t lost = 0, segs = 0;
        for (std::size_t off = 0; off < n; off += s.segment_bytes) {
            const std::size_t len = std::min(s.segment_bytes, n - off);
            ++segs;
            Clock::time_point due = now;
            if (s.bandwidth_mbps > 0) {
                p.link_free = std::max(p.link_free, now) +
                              ms(static_cast<double>(len) * 8 / (s.bandwidth_mbps * 1000));
                due = p.link_free;
            }
            double delay = s.latency_ms;
            if (s.jitter_ms > 0) delay += (uniform() * 2 - 1) * s.jitter_ms;
            due += ms(std::max(delay, 0.0));
            // The model of loss: each lost transmission costs a timeout, doubling (backoff).
            for (double rto = s.rto_ms;
                 s.loss_pct > 0 && uniform() * 100 < s.loss_pct && rto < 60000; rto *= 2) {
                due += ms(rto);
                ++lost;
            }
            due = std::max(due, p.last_due);  // in order: nothing overtakes a held segment
            p.last_due = due;
            p.queue.push_back({std::make_shared<std::vector<char>>(
                                   p.buf.begin() + static_cast<std::ptrdiff_t>(off),
                                   p.buf.begin() + static_cast<std::ptrdiff_t>(off + len)),
                               now, due});
            p.queued_bytes += len;
        }
        {
            std::lock_guard lock(mu);
            st.segments += segs;
            st.segments_lost += lost;
        }
        pump(c, dir);
    }

    // Writes the head segment once it is due (and the direction is not stalled).
    void pump(const std::shared_ptr<Conn>& c, int dir) {
        Pipe& p = c->pipe[dir];
        if (c->dead || p.writing) return;
        if (p.queue.empty()) {
            if (p.eof) {
                boost::system::error_code ec;
                c->dst(dir).shutdown(tcp::socket::shutdown_send, ec);
                if (c->pipe[1 - dir].eof && c->pipe[1 - dir].queue.empty()) kill(c, false);
            }
            return;
        }
        const auto due = std::max(p.queue.front().due, p.stalled_until);
        if (due > Clock::now()) {
            p.writing = true;  // the timer owns the head
            c->timer[dir].expires_at(due);
            c->timer[dir].async_wait(
                [self = shared_from_this(), c, dir](boost::system::error_code ec) {
                    c->pipe[dir].writing = false;
                    if (!ec) self->pump(c, dir);
                });
            return;
        }
        // Everything due goes out in one write.
        std::vector<net::const_buffer> bufs;
        std::vector<std::shared_ptr<std::vector<char>>> keep;
        std::size_t bytes = 0;
        const auto now = Clock::now();
        const auto head_due = p.queue.front().due;
        Clock::duration held{};  // the longest any segment of this write was held
        while (!p.queue.empty() && std::max(p.queue.front().due, p.stalled_until) <= now &&
               bufs.size() < 64) {
            held = std::max(held, p.queue.front().due - p.queue.front().read);
            bufs.push_back(net::buffer(*p.queue.front().data));
            bytes += p.queue.front().data->size();
            keep.push_back(std::move(p.queue.front().data));
            p.queue.pop_front();
        }
        p.writing = true;
        net::async_write(
            c->dst(dir), bufs,
            [self = shared_from_this(), c, dir, keep, bytes, head_due, held, now](
                boost::system::error_code ec, std::size_t) {
                Pipe& p = c->pipe[dir];
                p.writing = false;
                if (c->dead) return;
                if (ec) return self->kill(c, true);
                self->event(ProxyEvent::Forwarded, c->id, dir, bytes, head_due, held, now);
                {
                    std::lock_guard lock(self->mu);
                    (dir == 0 ? self->st.bytes_to_server : self->st.bytes_to_client) += bytes;
                }
                p.queued_bytes -= bytes;
                self->read(c, dir);  // room again below the buffer bound
                self->pump(c, dir);
            });
    }
};

ImpairmentProxy::ImpairmentProxy(std::string upstream_host, std::uint16_t upstream_port,
                                 ImpairmentSettings s, bool record_events)
    : impl_(std::make_shared<Impl>(std::move(upstream_host), upstream_port, s, record_events)) {
    impl_->start();
}

ImpairmentProxy::~ImpairmentProxy() {
    Impl* impl = impl_.get();
    auto close_all = [impl] {
        boost::system::error_code ec;
        impl->acceptor.close(ec);
        impl->reset_timer.cancel();
        impl->stall_timer.cancel();
        std::vector<std::shared_ptr<Impl::Conn>> live;
        for (auto& [id, w] : impl->conns)
            if (auto c = w.lock()) live.push_back(c);
        for (auto& c : live) impl->kill(c, true);
    };
    std::atomic<bool> closed{false};
    net::post(impl->ioc, [&] {
        close_all();
        closed = true;
    });
    for (int i = 0; i < 400 && (!closed || impl->open.load() > 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    impl->ioc.stop();
    if (impl->thread.joinable()) impl->thread.join();
    if (!closed) close_all();  // the loop is stopped: safe on this thread
    // Pending handlers hold references to Impl (it owns the io_context that holds them):
    // run the cancelled ones so they let go, or Impl would never be freed.
    impl->ioc.restart();
    impl->ioc.poll();
}

std::uint16_t ImpairmentProxy::port() const {
    return impl_->acceptor.local_endpoint().port();
}

void ImpairmentProxy::set_upstream(std::string host, std::uint16_t port) {
    std::atomic<bool> done{false};
    net::post(impl_->ioc, [&] {
        impl_->up_host = std::move(host);
        impl_->up_port = port;
        impl_->resolve_upstream();
        done = true;
    });
    for (int i = 0; i < 2000 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void ImpairmentProxy::set_fault_rates(double resets_per_min, double stalls_per_min) {
    std::atomic<bool> done{false};
    net::post(impl_->ioc, [&] {
        impl_->s.resets_per_min = resets_per_min;
        impl_->s.stalls_per_min = stalls_per_min;
        impl_->reset_timer.cancel();  // the cancelled wait does not reschedule
        impl_->stall_timer.cancel();
        impl_->schedule_fault(impl_->reset_timer, true);
        impl_->schedule_fault(impl_->stall_timer, false);
        done = true;
    });
    for (int i = 0; i < 2000 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void ImpairmentProxy::reset_all() {
    std::atomic<bool> done{false};
    net::post(impl_->ioc, [&] {
        std::vector<std::shared_ptr<Impl::Conn>> live;
        for (auto& [id, w] : impl_->conns)
            if (auto c = w.lock()) live.push_back(c);
        for (auto& c : live) {
            impl_->event(ProxyEvent::Reset, c->id, 0, 0);
            {
                std::lock_guard lock(impl_->mu);
                ++impl_->st.resets;
            }
            impl_->kill(c, true);
        }
        done = true;
    });
    for (int i = 0; i < 2000 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::size_t ImpairmentProxy::open_connections() const {
    return impl_->open.load();
}

ProxyStats ImpairmentProxy::stats() const {
    std::lock_guard lock(impl_->mu);
    return impl_->st;
}

std::vector<ProxyEvent> ImpairmentProxy::events() const {
    std::lock_guard lock(impl_->mu);
    return impl_->ev;
}

}  // namespace harness
