#include "net/session.hpp"

#include <boost/asio/post.hpp>
#include <cmath>
#include <mutex>

#include "log.hpp"
#include "password.hpp"
#include "protocol/codec.hpp"

namespace liveshare {

namespace net = boost::asio;

namespace {
// One parser and one message per I/O thread: a message is parsed and handled in one go, so
// they need not live in every session (idle connections cost less memory). The message is
// fetched once per input and passed on from there.
Parser& thread_parser() {
    static thread_local Parser p;
    return p;
}
ClientMessage& thread_message() {
    static thread_local ClientMessage m;
    return m;
}
}  // namespace

Session::Session(Context& ctx, Loop& loop, std::string room_id, bool wants_seq, bool batch)
    : ctx_(ctx),
      loop_(loop),
      queue_(ctx.cfg.send_queue_soft_bytes, ctx.cfg.send_queue_hard_bytes),
      batch_(batch),
      room_id_(std::move(room_id)),
      bucket_volatile_(ctx.cfg.rate_volatile),
      bucket_low_(ctx.cfg.rate_low),
      bucket_critical_(ctx.cfg.rate_critical),
      wants_seq_(wants_seq) {}

Session::~Session() = default;

void Session::deliver(OutFrame f) {
    // The queue is the loop's alone: a frame from another thread (the cluster's strand on
    // another loop, the op log's writer, a join completing there) goes into the inbox now,
    // while that thread still holds the room's lock, so it keeps its place in the room's
    // order; the loop moves it to the queue before anything queued after it.
    if (Loop::current() != &loop_) {
        bool first;
        {
            std::lock_guard lock(inbox_lock_);
            inbox_.push_back(std::move(f));
            first = !inbox_waiting_.load(std::memory_order_relaxed);
            inbox_waiting_.store(true, std::memory_order_relaxed);
        }
        if (first) net::post(ex(), [self = shared_from_this()] { self->take_inbox(); });
        return;
    }
    queue_frame(std::move(f));
}

void Session::take_inbox() {
    std::vector<OutFrame> frames;
    {
        std::lock_guard lock(inbox_lock_);
        frames.swap(inbox_);
        inbox_waiting_.store(false, std::memory_order_relaxed);
    }
    for (auto& f : frames) push_frame(std::move(f));
}

void Session::deliver_shared(const std::shared_ptr<const std::string>& frame, MsgType type,
                             Delivery d, std::uint64_t coalesce_key) {
    // Borrowed when the writer runs at the end of this turn (it is due, or this push makes it
    // so): the loop holds one reference for the whole fan-out until then.
    if (Loop::current() == &loop_ && (in_turn_ || !queue_.writing())) {
        OutFrame f{nullptr, type, d, coalesce_key, false};
        f.pin = loop_.pin(frame);
        return queue_frame(std::move(f));
    }
    deliver({frame, type, d, coalesce_key, false});
}

void Session::queue_frame(OutFrame f) {
    // Frames handed over from other threads first (one load when there are none).
    if (inbox_waiting_.load(std::memory_order_acquire)) take_inbox();
    push_frame(std::move(f));
}

void Session::push_frame(OutFrame f) {
    if (gone()) return;  // out of its room already; nothing will write it
    auto r = queue_.push(std::move(f));
    if (r.bytes_delta != 0) ctx_.metrics.queue_bytes_changed(r.bytes_delta, r.depth);
    switch (r.result) {
        case SendQueue::Result::Queued:
            break;
        case SendQueue::Result::Coalesced:
            ctx_.metrics.drop(DropReason::Coalesced);
            break;
        case SendQueue::Result::Dropped:
            ctx_.metrics.drop(DropReason::VolatileQueueFull);
            break;
        case SendQueue::Result::Overflow:
            // Too far behind to catch up: close so the client reconnects and resyncs.
            ctx_.metrics.slow_consumer_closes.fetch_add(1);
            close_soon(kCloseResyncRequired, "send queue full: resync required");
            return;
    }
    // Everything queued for this session until its writer runs goes out together, at the end
    // of this loop turn.
    if (!r.start_writer) return;
    in_turn_ = true;
    loop_.write_at_end_of_turn(shared_from_this());
}

void Session::close_replaced() {
    close_soon(kCloseReplaced, "replaced by a newer connection");
}
void Session::close_for_resync(const std::string& why) {
    close_soon(kCloseResyncRequired, why);
}

void Session::close_soon(std::uint16_t code, std::string reason) {
    net::post(ex(), [self = shared_from_this(), code, reason = std::move(reason)] {
        self->close_now(code, reason);
    });
}

void Session::opened() {
    phase_ = Phase::Open;
    ctx_.metrics.connections.fetch_add(1);
    ctx_.metrics.connections_total.fetch_add(1);
    std::lock_guard lock(ctx_.sessions_mu);
    ctx_.sessions.insert(weak_from_this());
}

void Session::on_binary(const std::uint8_t* data, std::size_t n) {
    // A binary frame is a raw Yjs update: relayed as an Update with the sender's user_id.
    if (closing()) return;
    if (phase_ != Phase::Joined) return reject_unauthenticated();
    if (!bucket_critical_.try_take(ctx_.cfg.rate_critical)) return reject_rate(MsgType::Update);
    ctx_.metrics.count_in(MsgType::Update);
    room_->relay_binary_update(*this, {data, n});
}

void Session::on_too_big() {
    ctx_.metrics.drop(DropReason::FrameTooLarge);
}

Session::Step Session::on_text(const char* data, std::size_t n) {
    if (closing()) return Step::Done;  // closing: data is read and dropped
    ClientMessage& msg = thread_message();
    std::string err;
    if (!thread_parser().parse_client(data, n, msg, err)) {
        ctx_.metrics.drop(DropReason::InvalidMessage);
        reject(ErrorKind::Validation, err);
        return Step::Done;
    }
    ctx_.metrics.count_in(msg.type);
    if (!take_token(msg.type)) {
        reject_rate(msg.type);
        return Step::Done;
    }
    if (ctx_.recorder && phase_ == Phase::Joined && msg.type != MsgType::Ping)
        ctx_.recorder->record(
            TraceRecorder::Event::Msg, trace_room_, trace_user_, msg.type,
            msg.type == MsgType::GraphOp ? std::optional(msg.op.type) : std::nullopt, n);
    // Nothing a client sends may take an I/O thread down: a failure is this message's Error.
    try {
        return dispatch(msg, data, n);
    } catch (const std::exception& e) {
        log::line(std::string("message failed: ") + e.what());
        reject(ErrorKind::Failed,
               std::string(to_string(msg.type)) + " failed on the server; not applied", msg.type);
        return Step::Done;
    }
}

// A known cost for profiles to find (--planted-hot-spot-ns): busy for ns, in a frame of its own.
// It looks at the clock only every 4096 steps, so its samples land in this frame.
[[gnu::noinline]] void planted_hot_spot(std::uint32_t ns) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
    volatile std::uint64_t x = 0;
    do {
        for (int i = 0; i < 4096; ++i) x = x + 1;
    } while (std::chrono::steady_clock::now() < until);
}

Session::Step Session::dispatch(const ClientMessage& msg, const char* data, std::size_t n) {
    if (msg.type == MsgType::Auth) return handle_auth(msg);
    // Ping is answered before Auth too, as by the original.
    if (msg.type == MsgType::Ping) {
        send_control(MsgType::Pong, [](std::string& s) { encode_pong(s); });
        return Step::Done;
    }
    if (phase_ != Phase::Joined) {
        reject_unauthenticated();
        return Step::Done;
    }
    if (ctx_.cfg.planted_hot_spot_ns) planted_hot_spot(ctx_.cfg.planted_hot_spot_ns);
    const auto now = Clock::now();
    switch (msg.type) {
        case MsgType::RequestGraphState:
            room_->request_state(*this);
            break;
        case MsgType::GraphStateResponse:
            room_->forward_state(msg);
            break;
        case MsgType::CursorMove: {
            // The original's throttle: at most one move per interval, and only real moves.
            const double dist =
                std::hypot(msg.position.x - last_cursor_.x, msg.position.y - last_cursor_.y);
            if (now - last_cursor_at_ <
                    std::chrono::milliseconds(ctx_.cfg.cursor_min_interval_ms) ||
                dist < ctx_.cfg.cursor_min_distance_px) {
                ctx_.metrics.drop(DropReason::CursorThrottle);
                break;
            }
            last_cursor_at_ = now;
            last_cursor_ = msg.position;
            room_->relay(*this, msg);
            break;
        }
        case MsgType::GraphOp: {
            const auto slot =
                last_graphop_at_ + std::chrono::milliseconds(ctx_.cfg.graphop_min_interval_ms);
            if (held_ops_.empty() && now >= slot) {
                last_graphop_at_ = now;
                room_->relay(*this, msg);
                break;
            }
            // The original dropped early ops silently. Ours waits for its slot, in order, in a
            // small queue; only past that bound is an op refused, out loud.
            if (held_ops_.size() >= ctx_.cfg.graphop_queue) {
                ctx_.metrics.drop(DropReason::GraphOpThrottled);
                reject(ErrorKind::Throttled,
                       "GraphOp throttled: more than " + std::to_string(ctx_.cfg.graphop_queue) +
                           " ops waiting for their slot (one per " +
                           std::to_string(ctx_.cfg.graphop_min_interval_ms) +
                           " ms per connection); op not applied, resend it",
                       MsgType::GraphOp);
                break;
            }
            ctx_.metrics.graphops_delayed.fetch_add(1, std::memory_order_relaxed);
            held_ops_.emplace_back(data, n + kParsePadding);
            if (held_ops_.size() == 1) arm_graphop_timer(slot);
            break;
        }
        default:
            room_->relay(*this, msg);
            break;
    }
    return Step::Done;
}

// Applies the oldest held graph op when its slot comes, then waits for the next slot.
void Session::arm_graphop_timer(Clock::time_point slot) {
    if (!graphop_timer_) graphop_timer_ = std::make_unique<boost::asio::steady_timer>(ex());
    graphop_timer_->expires_at(slot);
    graphop_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->held_ops_.empty()) return;
        self->release_held_op();
        if (!self->held_ops_.empty())
            self->arm_graphop_timer(
                self->last_graphop_at_ +
                std::chrono::milliseconds(self->ctx_.cfg.graphop_min_interval_ms));
    });
}

void Session::release_held_op() {
    std::string text = std::move(held_ops_.front());
    held_ops_.erase(held_ops_.begin());
    last_graphop_at_ = Clock::now();
    if (!room_) return;
    // Parsed when it arrived; parsed again from its copy (the read buffer moved on).
    ClientMessage m;
    std::string err;
    if (thread_parser().parse_client(text.data(), text.size() - kParsePadding, m, err))
        room_->relay(*this, m);
}

bool Session::take_token(MsgType t) {
    switch (rate_class_of(t)) {
        case RateClass::Volatile:
            return bucket_volatile_.try_take(ctx_.cfg.rate_volatile);
        case RateClass::Low:
            return bucket_low_.try_take(ctx_.cfg.rate_low);
        case RateClass::Critical:
            return bucket_critical_.try_take(ctx_.cfg.rate_critical);
    }
    return true;
}

Session::Step Session::handle_auth(const ClientMessage& msg) {
    if (phase_ == Phase::Joined || phase_ == Phase::Authenticating) {
        reject(ErrorKind::Validation, "already authenticated", MsgType::Auth);
        return Step::Done;
    }
    if (msg.username.size() > 256) {
        reject(ErrorKind::Validation, "payload.username: at most 256 bytes", MsgType::Auth);
        return Step::Done;
    }
    // Cluster: the room may exist on other nodes only; the cluster says so below.
    auto [room, status] = ctx_.rooms.get_or_create(room_id_, ctx_.cluster != nullptr);
    if (!room) {
        bool missing = status == RoomRegistry::Status::NotFound;
        fail_auth(missing ? "Room not found" : "Too many rooms");
        return Step::Done;
    }
    user_id_ = msg.user_id;
    username_ = msg.username;
    last_seq_ = wants_seq_ ? msg.last_seq : std::nullopt;
    if (!ctx_.cluster) return check_password(std::move(room), msg.password);
    // The room's settings (its password) may have been made on another node: the cluster
    // loads the room here first.
    phase_ = Phase::Authenticating;
    ctx_.cluster->ready(room, [self = shared_from_this(), room, pw = msg.password](
                                  const char* refused, bool created) mutable {
        net::post(self->ex(),
                  [self, room = std::move(room), pw = std::move(pw), refused, created]() mutable {
                      if (self->gone()) return;
                      if (refused) {
                          self->fail_auth(refused);
                          return self->auth_step_done(Step::Done);
                      }
                      if (self->ctx_.cfg.require_rest_create && !created) {
                          self->fail_auth("Room not found");
                          return self->auth_step_done(Step::Done);
                      }
                      self->auth_step_done(self->check_password(std::move(room), std::move(pw)));
                  });
    });
    return Step::Later;
}

Session::Step Session::check_password(std::shared_ptr<Room> room,
                                      std::optional<std::string> password) {
    if (!room->is_protected()) return finish_auth(std::move(room));
    if (!password) {
        fail_auth("Invalid password");
        return Step::Done;
    }
    // bcrypt takes ~0.25 s at cost 12: run it on the KDF pool, pause reading meanwhile.
    phase_ = Phase::Authenticating;
    net::post(ctx_.kdf, [self = shared_from_this(), room, pw = std::move(*password)]() mutable {
        bool ok = verify_password(pw, room->settings_copy().password_hash);
        net::post(self->ex(), [self, room = std::move(room), ok]() mutable {
            if (self->gone()) return;
            if (!ok) {
                self->fail_auth("Invalid password");
                return self->auth_step_done(Step::Done);
            }
            self->auth_step_done(self->finish_auth(std::move(room)));
        });
    });
    return Step::Later;
}

Session::Step Session::finish_auth(std::shared_ptr<Room> room) {
    if (!ctx_.cluster) {
        if (room->join(shared_from_this(), last_seq_) == Room::JoinResult::Full) {
            fail_auth("Room is full");
            return Step::Done;
        }
        room_ = std::move(room);
        became_member();
        return Step::Done;
    }
    // The cluster loads the room here if it must and checks the cap over every node.
    phase_ = Phase::Authenticating;
    ctx_.cluster->join(
        room, shared_from_this(), last_seq_,
        [self = shared_from_this(), room](const char* refused) {
            net::post(self->ex(), [self, room, refused] {
                if (self->gone()) {
                    if (!refused) room->leave(self.get());  // gone while joining: leave at once
                    return;
                }
                if (refused) {
                    self->fail_auth(refused);
                } else {
                    self->room_ = room;
                    self->became_member();
                }
                self->auth_step_done(Step::Done);
            });
        });
    return Step::Later;
}

// In the room (room_ set). A repeated Auth is refused from here on, so the room's id is the
// room's to hold: the session lets its copy go.
void Session::became_member() {
    if (!closing()) phase_ = Phase::Joined;
    trace_join();
    std::string().swap(room_id_);
}

// A join in the trace (--record); the session's hashes are kept for its messages.
void Session::trace_join() {
    if (!ctx_.recorder) return;
    trace_room_ = ctx_.recorder->hash(room_id_);
    trace_user_ = ctx_.recorder->hash(user_id_);
    ctx_.recorder->record(TraceRecorder::Event::Join, trace_room_, trace_user_);
}

void Session::auth_step_done(Step step) {
    if (step == Step::Later) return;  // a further step resumes reading when it is done
    if (phase_ == Phase::Authenticating) phase_ = Phase::Open;  // refused: Auth may come again
    if (!closing()) resume_reading();
}

// As the original: only the AuthResult, and the connection stays open for another Auth.
void Session::fail_auth(const char* error) {
    ctx_.metrics.auth_failures.fetch_add(1);
    send_control(MsgType::AuthResult, [&](std::string& s) { encode_auth_failed(s, error); });
}

void Session::reject_unauthenticated() {
    ctx_.metrics.drop(DropReason::NotAuthenticated);
    reject(ErrorKind::NotAuthenticated, "send Auth first");
}

void Session::reject_rate(MsgType t) {
    ctx_.metrics.drop(DropReason::RateLimited);
    std::string what = std::string("Rate limit exceeded: ") + to_string(t) + " rejected";
    if (delivery_of(t) == Delivery::Durable) what += ", not applied; resend it later";
    reject(ErrorKind::RateLimited, what, t);
}

void Session::reject(ErrorKind kind, const std::string& message, std::optional<MsgType> rejected) {
    send_control(MsgType::Error, [&](std::string& s) { encode_error(s, kind, message, rejected); });
}

template <typename Encode>
void Session::send_control(MsgType type, Encode&& enc) {
    auto s = std::make_shared<std::string>();
    enc(*s);
    ctx_.metrics.count_out(type);
    deliver({std::move(s), type, Delivery::Control, 0, false});
}

bool Session::begin_closing() {
    if (phase_ == Phase::Upgrading || closing()) return false;
    phase_ = Phase::Closing;
    return true;
}

void Session::on_disconnect() {
    const Phase was = phase_;
    phase_ = Phase::Gone;
    if (was == Phase::Upgrading || was == Phase::Gone) return;
    ctx_.metrics.connections.fetch_sub(1);
    ctx_.metrics.queue_bytes_changed(-static_cast<std::int64_t>(queue_.bytes()), 0);
    // Ops held for their throttle slot were accepted: they are applied, not lost.
    if (graphop_timer_) graphop_timer_->cancel();
    while (!held_ops_.empty()) release_held_op();
    if (room_ && ctx_.recorder)
        ctx_.recorder->record(TraceRecorder::Event::Leave, trace_room_, trace_user_);
    if (room_ && room_->leave(this) && ctx_.persister) ctx_.persister->request(room_);
    std::lock_guard lock(ctx_.sessions_mu);
    ctx_.sessions.erase(weak_from_this());
}

}  // namespace liveshare
