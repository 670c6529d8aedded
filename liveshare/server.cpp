#include "server.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "batching/batch.hpp"
#include "metrics.hpp"
#include "password.hpp"
#include "durable_log.hpp"
#include "persister.hpp"
#include "protocol/codec.hpp"
#include "protocol/uuid.hpp"
#include "rate_limiter.hpp"
#include "room_registry.hpp"
#include "snapshot_store.hpp"

namespace liveshare {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Errors that only mean "the peer went away"; everything else is worth a log line.
bool is_harmless(beast::error_code ec) {
    return ec == net::error::operation_aborted || ec == websocket::error::closed ||
           ec == net::error::eof || ec == net::error::connection_reset ||
           ec == beast::error::timeout || ec == net::error::broken_pipe ||
           ec == http::error::end_of_stream;
}

std::string random_uuid() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::uint64_t a = rng();
    return format_uuid_v4(a, rng());
}

class WsSession;

// What every session shares.
struct Context {
    ServerConfig cfg;
    Metrics metrics;
    RoomRegistry rooms{cfg, metrics};
    net::thread_pool kdf;
    std::unique_ptr<SnapshotStore> store;
    std::unique_ptr<Persister> persister;
    std::unique_ptr<DurableLog> durable;
    std::atomic<bool> stopping{false};
    std::mutex sessions_mu;
    std::set<std::weak_ptr<WsSession>, std::owner_less<std::weak_ptr<WsSession>>> sessions;

    explicit Context(const ServerConfig& c) : cfg(c), kdf(c.kdf_threads) {}
    void log(const std::string& s) const {
        if (!cfg.quiet) std::fprintf(stderr, "liveshare-server: %s\n", s.c_str());
    }
};

// ---------------------------------------------------------------- WebSocket session

class WsSession : public Participant, public std::enable_shared_from_this<WsSession> {
public:
    WsSession(tcp::socket&& socket, Context& ctx, std::string room_id)
        : ws_(std::move(socket)),
          ctx_(ctx),
          room_id_(std::move(room_id)),
          queue_(ctx.cfg.send_queue_soft_bytes, ctx.cfg.send_queue_hard_bytes),
          bucket_volatile_(ctx.cfg.rate_volatile),
          bucket_low_(ctx.cfg.rate_low),
          bucket_critical_(ctx.cfg.rate_critical) {}

    void run(http::request<http::string_body> req) {
        // Extensions are opt-in: only a client that offers liveshare.v2 gets seq numbers, and
        // only one that offers liveshare.v2+batch (on a batching profile) gets array frames.
        const auto& profile = ctx_.cfg.profile;
        std::string offered(req[http::field::sec_websocket_protocol]);
        std::string selected;
        for (std::size_t pos = 0; pos < offered.size();) {
            std::size_t end = offered.find(',', pos);
            if (end == std::string::npos) end = offered.size();
            std::string token = offered.substr(pos, end - pos);
            token.erase(0, token.find_first_not_of(' '));
            token.erase(token.find_last_not_of(' ') + 1);
            if (token == kSubprotocolV2Batch && profile.batch) selected = token;
            else if (token == kSubprotocolV2 && selected.empty()) selected = token;
            pos = end + 1;
        }
        wants_seq_ = !selected.empty();
        batch_ = selected == kSubprotocolV2Batch;
        websocket::stream_base::timeout t;
        t.handshake_timeout = std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms);
        t.idle_timeout = std::chrono::milliseconds(ctx_.cfg.idle_timeout_ms);
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(ctx_.cfg.max_frame_bytes);
        if (profile.compress == CompressMode::Deflate) {
            // permessage-deflate, what browsers offer; used only if the client offers it too.
            websocket::permessage_deflate pmd;
            pmd.server_enable = true;
            pmd.server_no_context_takeover = true;  // bounded memory per connection
            pmd.compLevel = 6;
            pmd.msg_size_threshold = 64;
            ws_.set_option(pmd);
        }
        ws_.set_option(websocket::stream_base::decorator([selected](websocket::response_type& res) {
            res.set(http::field::server, "liveshare-cpp");
            if (!selected.empty()) res.set(http::field::sec_websocket_protocol, selected);
        }));
        ws_.async_accept(req, beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
    }

    // Participant
    const std::string& user_id() const override { return user_id_; }
    const std::string& username() const override { return username_; }
    bool wants_seq() const override { return wants_seq_; }

    void deliver(OutFrame f) override {
        auto r = queue_.push(std::move(f));
        if (r.bytes_delta != 0) ctx_.metrics.queue_bytes_changed(r.bytes_delta, queue_.bytes());
        switch (r.result) {
            case SendQueue::Result::Queued: break;
            case SendQueue::Result::Coalesced: ctx_.metrics.drop(DropReason::Coalesced); break;
            case SendQueue::Result::Dropped: ctx_.metrics.drop(DropReason::VolatileQueueFull); break;
            case SendQueue::Result::Overflow:
                // Too far behind to catch up: close so the client reconnects and resyncs.
                ctx_.metrics.slow_consumer_closes.fetch_add(1);
                close_soon(kCloseResyncRequired, "send queue full: resync required");
                return;
        }
        if (r.start_writer) net::post(ws_.get_executor(), [self = shared_from_this()] { self->do_write(); });
    }

    void close_replaced() override { close_soon(kCloseReplaced, "replaced by a newer connection"); }

    void close_soon(std::uint16_t code, std::string reason) {
        net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
            self->do_close(code, reason);
        });
    }

private:
    void on_accept(beast::error_code ec) {
        if (ec) {
            if (ec == beast::error::timeout) ctx_.metrics.handshake_timeouts.fetch_add(1);
            return;
        }
        accepted_ = true;
        ctx_.metrics.connections.fetch_add(1);
        ctx_.metrics.connections_total.fetch_add(1);
        {
            std::lock_guard lock(ctx_.sessions_mu);
            ctx_.sessions.insert(weak_from_this());
        }
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t n) {
        if (ec) {
            if (ec == websocket::error::message_too_big) ctx_.metrics.drop(DropReason::FrameTooLarge);
            else if (ec == beast::error::timeout) ctx_.metrics.idle_timeouts.fetch_add(1);
            else if (!is_harmless(ec)) ctx_.log("read: " + ec.message());
            on_disconnect();
            return;
        }
        ctx_.metrics.bytes_in.fetch_add(n);
        bool resume_reading = true;
        if (ws_.got_binary()) {
            handle_binary();
        } else {
            // simdjson reads past the end: copy into a buffer that keeps the padding.
            auto data = buffer_.cdata();
            in_.resize(n + kParsePadding);
            std::memcpy(in_.data(), data.data(), n);
            n_in_ = n;
            resume_reading = handle_text(n);
        }
        buffer_.consume(buffer_.size());
        if (resume_reading && !closing_) do_read();
    }

    void handle_binary() {
        // A binary frame is a raw Yjs update: relayed as an Update with the sender's user_id.
        if (!authed_) return reject_unauthenticated();
        if (!bucket_critical_.try_take()) return reject_rate(MsgType::Update);
        ctx_.metrics.count_in(MsgType::Update);
        auto data = buffer_.cdata();
        room_->relay_binary_update(*this, {static_cast<const std::uint8_t*>(data.data()), data.size()});
    }

    // Returns false when reading must pause (a password check is running).
    bool handle_text(std::size_t n) {
        std::string err;
        if (!parser_.parse_client(in_.data(), n, msg_, err)) {
            ctx_.metrics.drop(DropReason::InvalidMessage);
            send_error("invalid_message", err);
            return true;
        }
        ctx_.metrics.count_in(msg_.type);
        if (!take_token(msg_.type)) {
            reject_rate(msg_.type);
            return true;
        }
        // Nothing a client sends may take an I/O thread down: a failure is this message's Error.
        try {
            return dispatch();
        } catch (const std::exception& e) {
            ctx_.log(std::string("message failed: ") + e.what());
            send_error("internal_error", std::string(to_string(msg_.type)) + " failed on the server; not applied");
            return true;
        }
    }

    bool dispatch() {
        if (msg_.type == MsgType::Auth) return handle_auth();
        // Ping is answered before Auth too, as by the original.
        if (msg_.type == MsgType::Ping) {
            send_control(MsgType::Pong, [](std::string& s) { encode_pong(s); });
            return true;
        }
        if (!authed_) {
            reject_unauthenticated();
            return true;
        }
        const auto now = Clock::now();
        switch (msg_.type) {
            case MsgType::RequestGraphState: room_->request_state(*this); break;
            case MsgType::GraphStateResponse: room_->forward_state(msg_); break;
            case MsgType::CursorMove: {
                // The original's throttle: at most one move per interval, and only real moves.
                const double dist = std::hypot(msg_.position.x - last_cursor_.x, msg_.position.y - last_cursor_.y);
                if (now - last_cursor_at_ < std::chrono::milliseconds(ctx_.cfg.cursor_min_interval_ms) ||
                    dist < ctx_.cfg.cursor_min_distance_px) {
                    ctx_.metrics.drop(DropReason::CursorThrottle);
                    break;
                }
                last_cursor_at_ = now;
                last_cursor_ = msg_.position;
                room_->relay(*this, msg_);
                break;
            }
            case MsgType::GraphOp: {
                const auto slot = last_graphop_at_ + std::chrono::milliseconds(ctx_.cfg.graphop_min_interval_ms);
                if (held_ops_.empty() && now >= slot) {
                    last_graphop_at_ = now;
                    room_->relay(*this, msg_);
                    break;
                }
                // The original dropped early ops silently. Ours waits for its slot, in order,
                // in a small queue; only past that bound is an op refused, out loud.
                if (held_ops_.size() >= ctx_.cfg.graphop_queue) {
                    ctx_.metrics.drop(DropReason::GraphOpThrottled);
                    send_error("internal_error",
                               "GraphOp throttled: more than " + std::to_string(ctx_.cfg.graphop_queue) +
                                   " ops waiting for their slot (one per " +
                                   std::to_string(ctx_.cfg.graphop_min_interval_ms) +
                                   " ms per connection); op not applied, resend it");
                    break;
                }
                ctx_.metrics.graphops_delayed.fetch_add(1, std::memory_order_relaxed);
                held_ops_.emplace_back(in_.data(), n_in_ + kParsePadding);
                if (held_ops_.size() == 1) arm_graphop_timer(slot);
                break;
            }
            default: room_->relay(*this, msg_); break;
        }
        return true;
    }

    // Applies the oldest held graph op when its slot comes, then waits for the next slot.
    void arm_graphop_timer(Clock::time_point slot) {
        graphop_timer_.expires_at(slot);
        graphop_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->held_ops_.empty()) return;
            self->release_held_op();
            if (!self->held_ops_.empty())
                self->arm_graphop_timer(self->last_graphop_at_ +
                                        std::chrono::milliseconds(self->ctx_.cfg.graphop_min_interval_ms));
        });
    }

    void release_held_op() {
        std::string text = std::move(held_ops_.front());
        held_ops_.pop_front();
        last_graphop_at_ = Clock::now();
        if (!room_) return;
        // Parsed when it arrived; parsed again from its copy (the read buffer moved on).
        ClientMessage m;
        std::string err;
        if (held_parser_.parse_client(text.data(), text.size() - kParsePadding, m, err)) room_->relay(*this, m);
    }

    bool take_token(MsgType t) {
        switch (rate_class_of(t)) {
            case RateClass::Volatile: return bucket_volatile_.try_take();
            case RateClass::Low: return bucket_low_.try_take();
            case RateClass::Critical: return bucket_critical_.try_take();
        }
        return true;
    }

    bool handle_auth() {
        if (authed_ || auth_pending_) {
            send_error("invalid_message", "already authenticated");
            return true;
        }
        if (msg_.username.size() > 256) {
            send_error("invalid_message", "payload.username: at most 256 bytes");
            return true;
        }
        auto [room, status] = ctx_.rooms.get_or_create(room_id_);
        if (!room) {
            bool missing = status == RoomRegistry::Status::NotFound;
            fail_auth(missing ? "Room not found" : "Too many rooms");
            return true;
        }
        user_id_ = msg_.user_id;
        username_ = msg_.username;
        last_seq_ = wants_seq_ ? msg_.last_seq : std::nullopt;
        if (!room->is_protected()) {
            finish_auth(std::move(room));
            return true;
        }
        if (!msg_.password) {
            fail_auth("Invalid password");
            return true;
        }
        // bcrypt takes ~0.25 s at cost 12: run it on the KDF pool, pause reading meanwhile.
        auth_pending_ = true;
        net::post(ctx_.kdf, [self = shared_from_this(), room, pw = *msg_.password]() mutable {
            bool ok = verify_password(pw, room->settings().password_hash);
            net::post(self->ws_.get_executor(), [self, room = std::move(room), ok]() mutable {
                self->auth_pending_ = false;
                if (ok) self->finish_auth(std::move(room));
                else self->fail_auth("Invalid password");
                if (!self->closing_) self->do_read();
            });
        });
        return false;
    }

    void finish_auth(std::shared_ptr<Room> room) {
        if (room->join(shared_from_this(), last_seq_) == Room::JoinResult::Full) {
            fail_auth("Room is full");
            return;
        }
        authed_ = true;
        room_ = std::move(room);
    }

    // As the original: only the AuthResult, and the connection stays open for another Auth.
    void fail_auth(const char* error) {
        ctx_.metrics.auth_failures.fetch_add(1);
        send_control(MsgType::AuthResult, [&](std::string& s) { encode_auth_failed(s, error); });
    }

    void reject_unauthenticated() {
        ctx_.metrics.drop(DropReason::NotAuthenticated);
        send_error("not_authenticated", "send Auth first");
    }

    void reject_rate(MsgType t) {
        ctx_.metrics.drop(DropReason::RateLimited);
        std::string what = std::string("Rate limit exceeded: ") + to_string(t) + " rejected";
        if (delivery_of(t) == Delivery::Durable) what += ", not applied; resend it later";
        send_error("internal_error", what);
    }

    void send_error(const char* code, const std::string& message) {
        send_control(MsgType::Error, [&](std::string& s) { encode_error(s, code, message); });
    }

    template <typename Encode>
    void send_control(MsgType type, Encode&& enc) {
        auto s = std::make_shared<std::string>();
        enc(*s);
        ctx_.metrics.count_out(type);
        deliver({std::move(s), type, Delivery::Control, 0, false});
    }

    void do_write() {
        if (closing_ || writing_) return;
        if (batch_) return do_write_batch();
        OutFrame f;
        if (!queue_.pop(f)) {
            return;
        }
        writing_ = true;
        ws_.text(!f.binary);
        auto buf = net::buffer(*f.data);
        ws_.async_write(buf, [self = shared_from_this(), f = std::move(f)](beast::error_code ec, std::size_t n) {
            self->on_write(ec, n);
        });
    }

    // Batching candidate: everything queued (up to 64 KiB) goes out as one array frame, after
    // an optional window that lets more arrive.
    void do_write_batch() {
        const auto window = ctx_.cfg.profile.batch_window_us;
        if (window > 0 && !window_waited_) {
            window_waited_ = true;
            writing_ = true;
            batch_timer_.expires_after(std::chrono::microseconds(window));
            batch_timer_.async_wait([self = shared_from_this()](beast::error_code) {
                self->writing_ = false;
                self->do_write_batch();
            });
            return;
        }
        window_waited_ = false;
        if (!queue_.pop_batch(batch_frames_, 64 * 1024)) {
            return;
        }
        writing_ = true;
        auto out = std::make_shared<std::string>();
        if (batch_frames_.size() == 1) {
            *out = *batch_frames_.front().data;
        } else {
            std::vector<std::shared_ptr<const std::string>> parts;
            for (auto& f : batch_frames_) parts.push_back(f.data);
            append_batch(*out, parts);
        }
        batch_frames_.clear();
        ws_.text(true);
        ws_.async_write(net::buffer(*out), [self = shared_from_this(), out](beast::error_code ec, std::size_t n) {
            self->on_write(ec, n);
        });
    }

    void on_write(beast::error_code ec, std::size_t n) {
        writing_ = false;
        const auto released = static_cast<std::int64_t>(queue_.bytes());
        queue_.write_done();
        ctx_.metrics.queue_bytes_changed(static_cast<std::int64_t>(queue_.bytes()) - released, 0);
        if (ec) {
            if (!is_harmless(ec)) ctx_.log("write: " + ec.message());
            return;  // the read side sees the failure and cleans up
        }
        ctx_.metrics.bytes_out.fetch_add(n);
        do_write();
    }

    void do_close(std::uint16_t code, const std::string& reason) {
        if (closing_ || !accepted_) return;
        closing_ = true;
        ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                        [self = shared_from_this()](beast::error_code) {});
    }

    void on_disconnect() {
        if (!accepted_ || disconnected_) return;
        disconnected_ = true;
        ctx_.metrics.connections.fetch_sub(1);
        ctx_.metrics.queue_bytes_changed(-static_cast<std::int64_t>(queue_.bytes()), 0);
        // Ops held for their throttle slot were accepted: they are applied, not lost.
        graphop_timer_.cancel();
        while (!held_ops_.empty()) release_held_op();
        if (room_ && room_->leave(this) && ctx_.persister) ctx_.persister->request(room_);
        std::lock_guard lock(ctx_.sessions_mu);
        ctx_.sessions.erase(weak_from_this());
    }

    websocket::stream<beast::tcp_stream> ws_;
    Context& ctx_;
    std::string room_id_;
    beast::flat_buffer buffer_;
    std::string in_;
    Parser parser_;
    ClientMessage msg_;
    SendQueue queue_;
    TokenBucket bucket_volatile_, bucket_low_, bucket_critical_;
    std::shared_ptr<Room> room_;
    std::string user_id_, username_;
    std::optional<std::uint64_t> last_seq_;
    net::steady_timer batch_timer_{ws_.get_executor()};
    net::steady_timer graphop_timer_{ws_.get_executor()};
    std::deque<std::string> held_ops_;  // graph op frames (with parse padding) awaiting their slot
    Parser held_parser_;
    std::size_t n_in_ = 0;              // length of the text message in in_
    std::vector<OutFrame> batch_frames_;
    bool batch_ = false, window_waited_ = false;
    bool wants_seq_ = false, accepted_ = false, authed_ = false, auth_pending_ = false;
    bool writing_ = false, closing_ = false, disconnected_ = false;
    Clock::time_point last_cursor_at_{}, last_graphop_at_{};
    Vec2 last_cursor_{-1e300, -1e300};
};

// ---------------------------------------------------------------- HTTP session

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(tcp::socket&& socket, Context& ctx) : stream_(std::move(socket)), ctx_(ctx) {}

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
    }

private:
    using Response = http::response<http::string_body>;

    void do_read() {
        parser_.emplace();
        parser_->body_limit(64 * 1024);
        parser_->header_limit(16 * 1024);
        // Slowloris guard: the whole request (or the upgrade) must arrive in time.
        stream_.expires_after(std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms));
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) {
            if (ec == beast::error::timeout) ctx_.metrics.handshake_timeouts.fetch_add(1);
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            return;
        }
        auto req = parser_->release();
        std::string target(req.target());
        if (websocket::is_upgrade(req)) {
            std::string id = target.starts_with("/room/") ? target.substr(6) : "";
            if (auto q = id.find('?'); q != std::string::npos) id.resize(q);
            if (!is_valid_room_id(id)) return write(make_text(req, http::status::not_found, "unknown WebSocket path: use /room/{uuid}\n"), false);
            if (ctx_.metrics.connections.load() >= static_cast<std::int64_t>(ctx_.cfg.max_connections)) {
                ctx_.metrics.connections_rejected.fetch_add(1);
                return write(make_text(req, http::status::service_unavailable, "connection limit reached\n"), false);
            }
            stream_.expires_never();
            std::make_shared<WsSession>(stream_.release_socket(), ctx_, std::move(id))->run(std::move(req));
            return;
        }
        ctx_.metrics.http_requests.fetch_add(1);
        handle(std::move(req));
    }

    Response make_text(const http::request<http::string_body>& req, http::status st, std::string body,
                       const char* type = "text/plain") {
        Response res{st, req.version()};
        res.set(http::field::server, "liveshare-cpp");
        res.set(http::field::content_type, type);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    }

    void handle(http::request<http::string_body> req) {
        std::string target(req.target());
        if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
        const auto method = req.method();
        if (target == "/healthz" && method == http::verb::get) {
            std::string body = "{\"status\":\"ok\",\"connections\":" + std::to_string(ctx_.metrics.connections.load()) +
                               ",\"rooms\":" + std::to_string(ctx_.metrics.rooms.load()) + "}\n";
            return write(make_text(req, http::status::ok, std::move(body), "application/json"), req.keep_alive());
        }
        if (target == "/metrics" && method == http::verb::get)
            return write(make_text(req, http::status::ok, ctx_.metrics.render(), "text/plain; version=0.0.4"), req.keep_alive());
        if (target == "/room" || target.starts_with("/room/")) {
            std::string rest = target.size() > 6 ? target.substr(6) : "";
            if (method == http::verb::post && (target == "/room" || is_valid_room_id(rest)))
                return create_room(std::move(req), rest.empty() ? random_uuid() : rest);
            if (method == http::verb::get && rest.size() == 41 && rest.ends_with("/info") &&
                is_valid_room_id(rest.substr(0, 36))) {
                auto room = ctx_.rooms.find(rest.substr(0, 36));
                if (!room) return write(make_text(req, http::status::not_found, "{\"error\":\"Room not found\"}\n", "application/json"), req.keep_alive());
                return write(make_text(req, http::status::ok, info_json(*room), "application/json"), req.keep_alive());
            }
        }
        write(make_text(req, http::status::not_found, "not found\n"), req.keep_alive());
    }

    static std::string info_json(const Room& room) {
        const auto& s = room.settings();
        RoomInfo info{s.id, s.name, "/room/" + s.id, s.owner_id, s.created_at, room.is_protected(),
                      room.member_count(), s.max_users, {}};
        std::string out;
        encode_room_info(out, info);
        out += '\n';
        return out;
    }

    void create_room(http::request<http::string_body> req, std::string id) {
        RoomCreateRequest body;
        std::string err;
        if (!parse_room_create(req.body(), body, err))
            return write(make_text(req, http::status::bad_request, "{\"error\":\"" + err + "\"}\n", "application/json"), req.keep_alive());
        if (ctx_.rooms.find(id))
            return write(make_text(req, http::status::conflict, "{\"error\":\"Room already exists\"}\n", "application/json"), req.keep_alive());
        auto finish = [self = shared_from_this(), req = std::move(req), id, body](std::optional<std::string> hash) mutable {
            if (!hash)
                return self->write(self->make_text(req, http::status::internal_server_error, "{\"error\":\"password hashing failed\"}\n", "application/json"), req.keep_alive());
            RoomSettings s{id, body.name, body.owner_id, std::move(*hash), ""};
            s.max_users = body.max_users;
            auto [room, st] = self->ctx_.rooms.create(std::move(s));
            if (st == RoomRegistry::Status::Exists)
                return self->write(self->make_text(req, http::status::conflict, "{\"error\":\"Room already exists\"}\n", "application/json"), req.keep_alive());
            if (!room)
                return self->write(self->make_text(req, http::status::service_unavailable, "{\"error\":\"Too many rooms\"}\n", "application/json"), req.keep_alive());
            self->write(self->make_text(req, http::status::created, info_json(*room), "application/json"), req.keep_alive());
        };
        if (!body.password) return finish(std::string());
        // Hash on the KDF pool, answer back on this connection's strand.
        net::post(ctx_.kdf, [self = shared_from_this(), pw = *body.password, finish = std::move(finish)]() mutable {
            std::optional<std::string> hash;
            try {
                hash = hash_password(pw, self->ctx_.cfg.bcrypt_cost);
            } catch (const std::exception& e) {
                self->ctx_.log(std::string("hash_password: ") + e.what());
            }
            net::post(self->stream_.get_executor(), [finish = std::move(finish), hash = std::move(hash)]() mutable {
                finish(std::move(hash));
            });
        });
    }

    void write(Response res, bool keep_alive) {
        auto sp = std::make_shared<Response>(std::move(res));
        http::async_write(stream_, *sp, [self = shared_from_this(), sp, keep_alive](beast::error_code ec, std::size_t) {
            if (!ec && keep_alive) return self->do_read();
            beast::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        });
    }

    beast::tcp_stream stream_;
    Context& ctx_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

// ---------------------------------------------------------------- listener

class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(net::io_context& ioc, Context& ctx, tcp::endpoint ep) : ioc_(ioc), acceptor_(ioc), ctx_(ctx) {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void run() { do_accept(); }
    void stop() {
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->acceptor_.close(ignored);
        });
    }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
    }
    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            ctx_.log("accept: " + ec.message());  // e.g. out of file descriptors; keep serving
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<HttpSession>(std::move(socket), ctx_)->run();
        }
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    Context& ctx_;
};

}  // namespace

int run_server(const ServerConfig& cfg) {
    Context ctx(cfg);
    if (!cfg.db_path.empty()) {
        try {
            ctx.store = std::make_unique<SnapshotStore>(cfg.db_path, cfg.snapshots_kept);
            ctx.persister = std::make_unique<Persister>(*ctx.store, ctx.rooms, ctx.metrics,
                                                        cfg.snapshot_interval_ms, cfg.quiet);
            if (cfg.durable) {
                ctx.durable = std::make_unique<DurableLog>(cfg.db_path, ctx.metrics);
                ctx.rooms.set_durable_log(ctx.durable.get());
                ctx.persister->set_durable_log(ctx.durable.get());
            }
            std::size_t restored = ctx.persister->restore();
            if (restored) ctx.log("restored " + std::to_string(restored) + " room(s) from " + cfg.db_path);
            if (ctx.durable) {
                std::size_t ops = ctx.durable->restore(ctx.rooms);
                ctx.log("durability mode: replayed " + std::to_string(ops) + " committed op(s) from the op log");
                ctx.durable->start();
            }
            ctx.persister->start();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return 1;
        }
    }
    net::io_context ioc(static_cast<int>(cfg.threads));
    std::shared_ptr<Listener> listener;
    try {
        listener = std::make_shared<Listener>(ioc, ctx, tcp::endpoint(net::ip::make_address(cfg.address), cfg.port));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "liveshare-server: cannot listen on %s:%u: %s\n", cfg.address.c_str(), cfg.port, e.what());
        return 1;
    }
    // The first line of stdout is the bound port, so a parent can use --port=0.
    std::printf("%u\n", listener->port());
    std::fflush(stdout);
    ctx.log("listening on " + cfg.address + ":" + std::to_string(listener->port()) + " with " +
            std::to_string(cfg.threads) + " thread(s)");
    listener->run();

    net::steady_timer grace(ioc);
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int sig) {
        ctx.log(std::string("signal ") + std::to_string(sig) + ": closing sessions, flushing snapshots");
        ctx.stopping = true;
        listener->stop();
        std::vector<std::shared_ptr<WsSession>> live;
        {
            std::lock_guard lock(ctx.sessions_mu);
            for (auto& w : ctx.sessions)
                if (auto s = w.lock()) live.push_back(std::move(s));
        }
        for (auto& s : live) s->close_soon(kCloseShutdown, "server shutting down");
        // Give close handshakes a moment, then stop the loop regardless.
        grace.expires_after(std::chrono::milliseconds(1500));
        grace.async_wait([&](beast::error_code) { ioc.stop(); });
    });

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < cfg.threads; ++i) threads.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    ctx.kdf.join();
    for (auto& r : ctx.rooms.all()) r->clear_members();
    if (ctx.durable) ctx.durable->stop();  // commits what is queued before the last snapshots
    if (ctx.persister) ctx.persister->stop_and_flush();
    ctx.log("stopped");
    return 0;
}

}  // namespace liveshare
