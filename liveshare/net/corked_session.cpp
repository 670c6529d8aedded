#include "net/corked_session.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "log.hpp"
#include "net/session.hpp"
#include "protocol/codec.hpp"
#include "protocol/ws_frame.hpp"

namespace liveshare {

namespace net = boost::asio;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxWriteBatch = 256 * 1024;  // queued bytes taken per write
constexpr auto kCloseGrace = std::chrono::seconds(5);

// Bytes with parse padding behind them, in one block that starts with their count and its
// capacity: one pointer in the session, and no allocation at all while empty.
class ByteBuf {
  public:
    ByteBuf() = default;
    ByteBuf(const ByteBuf&) = delete;
    ByteBuf& operator=(const ByteBuf&) = delete;
    ~ByteBuf() { release(); }
    char* data() { return p_ ? p_ + kHead : nullptr; }
    std::size_t size() const { return p_ ? head().n : 0; }
    bool empty() const { return size() == 0; }
    void append(const char* d, std::size_t k) {
        const std::size_t n = size();
        reserve(n + k);
        std::memcpy(data() + n, d, k);
        head().n = n + k;
    }
    void consume(std::size_t k) {
        const std::size_t n = size();
        if (k >= n) return release();
        std::memmove(data(), data() + k, n - k);
        head().n = n - k;
    }
    void release() {
        delete[] p_;
        p_ = nullptr;
    }

  private:
    struct Head {
        std::size_t n, cap;
    };
    static constexpr std::size_t kHead = sizeof(Head);
    Head& head() const { return *std::launder(reinterpret_cast<Head*>(p_)); }
    void reserve(std::size_t want) {
        const std::size_t cap = p_ ? head().cap : 0;
        if (want <= cap) return;
        const std::size_t n = size(), grown = std::max(want, cap * 2);
        char* q = new char[kHead + grown + kParsePadding];  // aligned for Head
        if (n) std::memcpy(q + kHead, data(), n);
        delete[] p_;
        p_ = q;
        new (p_) Head{n, grown};
    }
    char* p_ = nullptr;
};

// read(2) and write(2) straight to the kernel: libc's wrappers are cancellation points, which
// in a multi-threaded process cost two atomic operations a call; the server never cancels a
// thread. Still read and write (not recv and send), so /proc/PID/io counts them.
ssize_t raw_read(int fd, void* buf, std::size_t n) {
    return static_cast<ssize_t>(::syscall(SYS_read, fd, buf, n));
}
ssize_t raw_write(int fd, const void* buf, std::size_t n) {
    return static_cast<ssize_t>(::syscall(SYS_write, fd, buf, n));
}

struct ThreadBuffers {
    char read[kReadChunk + kParsePadding];
    std::string out;
    std::vector<OutFrame> frames;
};
ThreadBuffers& tls() {
    static thread_local auto b = std::make_unique<ThreadBuffers>();
    return *b;
}

class CorkedSession final : public Session, public Poller::Target {
  public:
    CorkedSession(int fd, Context& ctx, Loop& loop, std::string room_id, bool wants_seq, bool batch)
        : Session(ctx, loop, std::move(room_id), wants_seq, batch),
          fd_(fd),
          reader_(true, ctx.cfg.max_frame_bytes, false, ctx.cfg.profile.utf8_check) {}
    ~CorkedSession() override {
        if (fd_ >= 0) ::close(fd_);
    }

    void start(std::string response, std::string early) {
        // Refused here, the connection is closed before its 101 (the client sees the upgrade
        // fail), and the log says why.
        const int flags = ::fcntl(fd_, F_GETFL);
        if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0)
            return log::line(std::string("upgrade dropped: fcntl: ") + std::strerror(errno));
        // The loop's poller names this object in its events: it lives while the socket is open.
        if (!loop_.poller.add(fd_, this))
            return log::line(std::string("upgrade dropped: epoll_ctl: ") + std::strerror(errno));
        self_ = std::static_pointer_cast<CorkedSession>(shared_from_this());
        touch();
        opened();
        if (!early.empty()) pending_.append(early.data(), early.size());
        if (!write_out(response)) return;
        on_readable();  // whatever arrived already (drains the socket before waiting)
    }

    // On the session's loop (the sweep runs on loop 0 and posts to the others): the queue and
    // the clocks below are the loop's alone.
    void check_idle(Clock::time_point now) override {
        if (Loop::current() != &loop_)
            return net::post(ex(), [self = shared_from_this(), now] { self->check_idle(now); });
        if (gone()) return;
        queue_.trim();  // a quiet connection gives its queue's memory back
        const auto idle = std::chrono::milliseconds(ctx_.cfg.idle_timeout_ms);
        const bool overdue = closing_started_ && now - closing_at_ > kCloseGrace;
        if (!overdue && now - last_rx_ < idle / 2) return;
        if (overdue || now - last_rx_ >= idle) {
            if (!overdue) ctx_.metrics.idle_timeouts.fetch_add(1);
            return teardown();
        }
        if (!ping_sent_ && !closing()) {
            // Keep-alive: any frame back (the pong) proves the peer is there.
            ping_sent_ = true;
            ws::append_frame(ctl(), ws::Opcode::Ping, "");
            pump();
        }
    }

    // The socket is readable, writable again, or at its end (edge-triggered: each edge once).
    void on_ready(std::uint32_t events) override {
        if (gone()) return;
        if (write_armed_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            write_armed_ = false;
            pump();
        }
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable();
    }

    // The loops have stopped with the connection still open (the server is exiting).
    void abandon() override {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        self_.reset();
    }

  private:
    std::string& ctl() {
        if (!ctl_) ctl_ = std::make_unique<std::string>();
        return *ctl_;
    }

    void touch() {
        last_rx_ = Clock::now();
        ping_sent_ = false;
    }

    // ---- reading

    // Reads until the socket is empty (the poller is edge-triggered), handling every message.
    // Paused (a password check is running), it reads nothing: resume_reading() reads on.
    void on_readable() {
        if (gone() || paused_) return;
        if (!pending_.empty() && !handle_pending()) return;
        bool drained = false;
        for (int round = 0; round < 16 && !gone() && !paused_; ++round) {
            char* buf = tls().read;
            const ssize_t r = raw_read(fd_, buf, kReadChunk);
            ctx_.metrics.add(&Metrics::Shard::ws_reads, 1);
            if (r == 0) return teardown();  // EOF
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    drained = true;
                    break;
                }
                return teardown();
            }
            touch();
            ctx_.metrics.add(&Metrics::Shard::bytes_in, static_cast<std::uint64_t>(r));
            const auto n = static_cast<std::size_t>(r);
            if (!pending_.empty()) {
                pending_.append(buf, n);
                if (!handle_pending()) return;
            } else {
                const std::size_t used = feed(buf, n);
                if (used < n) pending_.append(buf + used, n - used);
            }
            if (n < kReadChunk) {
                drained = true;  // a short read emptied the socket
                break;
            }
        }
        if (gone() || paused_) return;
        if (!drained) {
            // 1 MiB in one go: give other sessions a turn, then read on (the poller is
            // edge-triggered: it will not tell again of bytes that are there already).
            net::post(ex(), [self = std::static_pointer_cast<CorkedSession>(shared_from_this())] {
                self->on_readable();
            });
        }
    }

    // Handles complete messages in pending_; false when the session is done or paused.
    bool handle_pending() {
        const std::size_t used = feed(pending_.data(), pending_.size());
        pending_.consume(used);
        return !gone() && !paused_;
    }

    std::size_t feed(char* buf, std::size_t n) {
        return reader_.feed(buf, n, [this](ws::Event& ev) { return on_event(ev); });
    }

    bool on_event(ws::Event& ev) {
        using K = ws::Event::Kind;
        if (gone()) return false;
        switch (ev.kind) {
            case K::Text:
                if (on_text(ev.data, ev.len) == Step::Later) {
                    paused_ = true;  // a password check is running
                    return false;
                }
                return !gone();
            case K::Binary:
                on_binary(reinterpret_cast<const std::uint8_t*>(ev.data), ev.len);
                return !gone();
            case K::Ping:
                if (!closing()) {
                    ws::append_frame(ctl(), ws::Opcode::Pong, std::string_view(ev.data, ev.len));
                    pump();
                }
                return true;
            case K::Pong:
                return true;
            case K::Close:
                if (!closing()) {
                    // The peer closes: echo its code, then wait for its end of the TCP stream.
                    begin_close(ev.code == 1005 ? 0 : ev.code, "");
                }
                return true;
            case K::Error:
                if (ev.code == ws::kCloseTooBig) on_too_big();
                begin_close(ev.code, ev.error);
                return false;
        }
        return true;
    }

    void resume_reading() override {
        paused_ = false;
        on_readable();
    }

    // ---- writing

    // From the loop's end-of-turn writes (after its cork window, if any); control frames
    // never wait for them.
    void start_writer() override { pump(); }

    // Writes control frames, then everything queued (up to 256 KiB a write), until the queue is
    // empty or the socket is full (then the rest waits for it to drain).
    void pump() {
        if (gone() || write_armed_) return;
        for (;;) {
            if (!unsent_.empty()) {
                std::string& out = tls().out;
                out.assign(unsent_.data(), unsent_.size());
                unsent_.release();
                if (!write_out(out)) return;
                if (batch_inflight_) {
                    batch_inflight_ = false;
                    finish_batch();
                }
            }
            std::string& out = tls().out;
            out.clear();
            if (ctl_) {  // control frames first
                out.assign(*ctl_);
                ctl_.reset();
            }
            std::size_t msgs = 0;
            if (!closing()) msgs = take_frames(out);
            if (out.empty()) {
                if (close_sent_pending_) finish_close_write();
                return;
            }
            if (msgs) batch_inflight_ = true;
            ctx_.metrics.add(&Metrics::Shard::ws_messages_out, msgs);
            if (!write_out(out)) return;
            if (batch_inflight_) {
                batch_inflight_ = false;
                finish_batch();
            }
        }
    }

    // Frames everything the queue holds (up to kMaxWriteBatch bytes) into out; messages taken.
    std::size_t take_frames(std::string& out) {
        auto& frames = tls().frames;
        if (!queue_.pop_batch(frames, kMaxWriteBatch)) return 0;
        const std::size_t n = frames.size();
        if (batch_ && n > 1) {
            // One text frame [m1,m2,...] (protocol/batch.hpp), framed in place: the header for
            // the length the array will have, then the messages copied once.
            std::size_t body = n + 1;  // the brackets and n - 1 commas
            for (const auto& f : frames) body += f.text().size();
            const std::size_t at = out.size();
            out.resize(at + ws::header_size(body, false));
            ws::write_header(out.data() + at, ws::Opcode::Text, body);
            out.reserve(out.size() + body);
            out.push_back('[');
            for (std::size_t i = 0; i < n; ++i) {
                if (i) out.push_back(',');
                out.append(frames[i].text());
            }
            out.push_back(']');
        } else {
            for (auto& f : frames)
                ws::append_frame(out, f.binary ? ws::Opcode::Binary : ws::Opcode::Text, f.text());
        }
        frames.clear();
        return n;
    }

    void finish_batch() {
        ctx_.metrics.queue_bytes_changed(-static_cast<std::int64_t>(queue_.write_done()), 0);
    }

    // One write of `out`; what the socket does not take waits in unsent_. False when the rest
    // must wait (or the connection is gone).
    bool write_out(const std::string& out) {
        std::size_t off = 0;
        while (off < out.size()) {
            // write(2), not send(2): /proc/PID/io counts it (SIGPIPE is ignored by the server).
            const ssize_t w = raw_write(fd_, out.data() + off, out.size() - off);
            ctx_.metrics.add(&Metrics::Shard::ws_writes, 1);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                teardown();
                return false;
            }
            off += static_cast<std::size_t>(w);
            ctx_.metrics.add(&Metrics::Shard::bytes_out, static_cast<std::uint64_t>(w));
        }
        if (off == out.size()) return true;
        unsent_.append(out.data() + off, out.size() - off);
        write_armed_ = true;  // the poller's next EPOLLOUT edge pumps on
        return false;
    }

    // ---- closing

    void close_now(std::uint16_t code, const std::string& reason) override {
        begin_close(code, reason);
    }

    void begin_close(std::uint16_t code, const std::string& reason) {
        if (!begin_closing()) return;
        // 7.4.1: codes that must never be sent (1005, 1006, 1015, unassigned) become 1011.
        if (code && !ws::valid_close_code(code)) code = 1011;
        closing_at_ = Clock::now();
        closing_started_ = true;
        std::string payload;
        if (code) {
            payload.push_back(static_cast<char>(code >> 8));
            payload.push_back(static_cast<char>(code & 0xFF));
            payload.append(reason.substr(0, 123));
        }
        ws::append_frame(ctl(), ws::Opcode::Close, payload);
        close_sent_pending_ = true;
        pump();
    }

    // The close frame is out: no more data from us; the peer's FIN ends the session.
    void finish_close_write() {
        close_sent_pending_ = false;
        ::shutdown(fd_, SHUT_WR);
    }

    void teardown() {
        if (gone()) return;
        on_disconnect();
        ::close(fd_);  // out of the poller too
        fd_ = -1;
        // Released after this turn: the poller's events of this turn may still name this object.
        net::post(ex(), [self = std::move(self_)] {});
        pending_.release();
        unsent_.release();
        ctl_.reset();
    }

    int fd_;
    bool closing_started_ = false, paused_ = false, write_armed_ = false;
    bool batch_inflight_ = false, close_sent_pending_ = false, ping_sent_ = false;
    std::shared_ptr<CorkedSession> self_;  // while the socket is open
    ws::Reader reader_;
    ByteBuf pending_;  // received bytes of an incomplete frame (or behind a paused message)
    ByteBuf unsent_;   // bytes the socket did not take yet
    std::unique_ptr<std::string> ctl_;  // control frames waiting for the writer (made for them)
    Clock::time_point last_rx_{}, closing_at_{};
};

}  // namespace

void start_corked_session(int fd, Context& ctx, Loop& loop, std::string room_id, bool wants_seq,
                          bool batch, std::string handshake_response, std::string early_bytes) {
    auto s = std::make_shared<CorkedSession>(fd, ctx, loop, std::move(room_id), wants_seq, batch);
    s->start(std::move(handshake_response), std::move(early_bytes));
}

}  // namespace liveshare
