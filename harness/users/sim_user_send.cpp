// A simulated user's schedule and write path: joined, the planned leave, the open-model timer,
// the outbox flushed in one write, what the socket did not take, and the close.
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "users/sim_user_conn.hpp"

namespace harness {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using liveshare::MsgType;
namespace ws = liveshare::ws;

void SimUser::mark_joined() {
    if (joined) return;
    joined = true;
    metrics.join_time.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - connect_started_)
            .count()));
    sh_.joined.fetch_add(1);
    sh_.room_joined[room].fetch_add(1);
    if (plan_ && plan_->join_us > 0) window_from = sh_.now_us();
    join_done.store(true, std::memory_order_release);
}

// Whether a message of `sender` is owed to this user: sent while it was in the room.
bool SimUser::in_window(std::size_t sender, std::uint64_t seq) const {
    const std::int64_t at = sh_.sent_time(sender, seq);
    return at > 0 && at >= window_from && at < window_to;
}

// A planned leave: the user closes its connection at t_us (after its last message).
void SimUser::leave_at(std::int64_t t_us) {
    timer_.expires_at(sh_.epoch() + std::chrono::microseconds(t_us));
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || closed || closing_) return;
        left = true;
        sh_.left.fetch_add(1);
        close();
    });
}

void SimUser::start_schedule() {
    if (closed) return;
    if (plan_ && plan_->join_us > 0) {
        // A later arrival: it connects at its time; what it sends meanwhile waits for its join.
        retry_timer_.expires_at(sh_.epoch() + std::chrono::microseconds(plan_->join_us));
        retry_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec && !closed) connect();
        });
    }
    schedule_next();
}

void SimUser::schedule_next() {
    has_next_ = script_->next(next_);
    if (!has_next_) {
        if (!schedule_done) {
            schedule_done = true;
            sh_.done.fetch_add(1);
        }
        if (plan_ && plan_->leave_us != kNever) leave_at(plan_->leave_us);
        return;
    }
    timer_.expires_at(sh_.epoch() + std::chrono::microseconds(next_.t_us));
    timer_.async_wait([this](boost::system::error_code ec) { on_timer(ec); });
}

void SimUser::on_timer(boost::system::error_code ec) {
    if (ec || closed) return;
    const auto now = sh_.now_us();
    metrics.send_lag.record(
        static_cast<std::uint64_t>(std::max<std::int64_t>(now - next_.t_us, 0)));
    if (sh_.first_send_wall_us.load(std::memory_order_relaxed) == 0) {
        std::int64_t unset = 0;
        if (sh_.first_send_wall_us.compare_exchange_strong(
                unset, std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()))
            sh_.first_send_planned_us.store(next_.t_us);
    }
    if (next_.durable) {
        ++metrics.sent_durable;
        sh_.room_accepted[room].fetch_add(1);
    }
    auto frame = std::make_shared<const std::string>(std::move(next_.frame));
    enqueue(std::move(frame), next_.type,
            next_.durable ? static_cast<std::int64_t>(next_.seq) : -1);
    flush();
    schedule_next();
}

void SimUser::enqueue(std::shared_ptr<const std::string> frame, MsgType type,
                      std::int64_t durable_seq) {
    outbox_.push_back({std::move(frame), type, durable_seq});
}

void SimUser::send_control(std::string frame, MsgType type) {
    control_.push_back({std::make_shared<const std::string>(std::move(frame)), type, -1});
}

// Everything ready to send in one write: control frames, then (joined and not resuming) the
// workload's messages, in order.
void SimUser::flush() {
    Conn* c = c_.get();
    if (!c || c->phase != Phase::Open || c->write_armed || closed) return;
    const bool workload = stage_ != Stage::Connecting && !resuming() && !closing_;
    if (c->ctl.empty() && control_.empty() && (!workload || outbox_.empty())) return;
    std::string out = std::move(c->ctl);
    c->ctl.clear();
    auto take = [&](Out& o, bool control) {
        mask_state_ ^= mask_state_ << 13, mask_state_ ^= mask_state_ >> 7,
            mask_state_ ^= mask_state_ << 17;
        const std::size_t before = out.size();
        ws::append_masked_frame(out, ws::Opcode::Text, *o.data,
                                static_cast<std::uint32_t>(mask_state_));
        const std::size_t bytes = out.size() - before;
        if (o.durable_seq >= 0) {
            // The actual write start: the uncorrected latency counts from here.
            if (static_cast<std::uint64_t>(o.durable_seq) < sh_.sent_at_cap[index_])
                sh_.sent_at[index_][static_cast<std::size_t>(o.durable_seq)].store(
                    sh_.now_us(), std::memory_order_release);
            if (sh_.cfg.reconnect.enabled) unacked_[static_cast<std::uint64_t>(o.durable_seq)] = o;
        }
        metrics.bytes_out += bytes;
        metrics.bytes_out_by_type[liveshare::index_of(o.type)] += o.data->size();
        ++metrics.msgs_out_by_type[liveshare::index_of(o.type)];
        if (o.type != MsgType::Auth && !control) {
            ++metrics.sent;
            sh_.sent.fetch_add(1, std::memory_order_relaxed);
        }
    };
    for (auto& o : control_) take(o, true);
    control_.clear();
    if (workload) {
        for (auto& o : outbox_) take(o, false);
        outbox_.clear();
    }
    put(c, out);
    write_pending(c);
}

// Writes what the socket takes; the rest waits until it can take more.
void SimUser::write_pending(Conn* c) {
    std::size_t off = 0;
    while (off < c->unsent.size()) {
        const ssize_t w = ::send(c->sock.native_handle(), c->unsent.data() + off,
                                 c->unsent.size() - off, MSG_NOSIGNAL);
        sh_.socket_writes.fetch_add(1, std::memory_order_relaxed);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            c->unsent.clear();
            boost::system::error_code ignored;
            c->sock.shutdown(tcp::socket::shutdown_both, ignored);  // the read side reports it
            return;
        }
        off += static_cast<std::size_t>(w);
    }
    c->unsent.erase(0, off);
    if (c->unsent.empty()) return;
    c->write_armed = true;
    c->sock.async_wait(tcp::socket::wait_write, [this, c](boost::system::error_code ec) {
        c->write_armed = false;
        if (ec || c != c_.get()) return;
        write_pending(c);
        if (c->unsent.empty()) flush();
    });
}

void SimUser::close() {
    timer_.cancel();
    retry_timer_.cancel();
    if (closed || closing_) return;
    closing_ = true;
    if (!c_ || c_->phase != Phase::Open) return now_closed();
    // A normal close: our close frame, then the server's answers it (or its end of stream).
    std::string payload = {static_cast<char>(ws::kCloseNormal >> 8),
                           static_cast<char>(ws::kCloseNormal & 0xFF)};
    ws::append_masked_frame(c_->ctl, ws::Opcode::Close, payload, 0x3c3c3c3c);
    put(c_.get(), c_->ctl);
    c_->ctl.clear();
    if (!c_->write_armed) write_pending(c_.get());
}

}  // namespace harness
