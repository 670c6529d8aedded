#include "server.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "batching/batch.hpp"
#include "net/context.hpp"
#include "net/corked_session.hpp"
#include "net/loops.hpp"
#include "net/session.hpp"
#include "log.hpp"
#include "password.hpp"
#include "protocol/codec.hpp"
#include "protocol/json_write.hpp"
#include "protocol/uuid.hpp"
#include "protocol/ws_frame.hpp"

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

// ---------------------------------------------------------------- Beast session

// The `write:frame` path (and the only one for permessage-deflate and batch windows): Beast's
// stream frames, reads one message per operation and writes one frame (or one batch) per
// operation; it answers pings and closes itself.
class BeastSession final : public Session {
public:
    BeastSession(tcp::socket&& socket, Context& ctx, Loop& loop, std::string room_id, bool wants_seq, bool batch)
        : Session(ctx, loop, std::move(room_id), wants_seq, batch), ws_(std::move(socket)) {}

    void run(http::request<http::string_body> req, std::string selected) {
        websocket::stream_base::timeout t;
        t.handshake_timeout = std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms);
        t.idle_timeout = std::chrono::milliseconds(ctx_.cfg.idle_timeout_ms);
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(ctx_.cfg.max_frame_bytes);
        if (ctx_.cfg.profile.compress == CompressMode::Deflate) {
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
        // Beast 1.81 takes every close code from 5000 up for valid (detail::is_valid_close_code)
        // and echoes it, though RFC 6455 7.4 gives them no meaning and 7.4.1 lets no endpoint
        // send them. Such a close fails the connection here with 1002 instead: written straight
        // to the socket (4 bytes, unless a write of ours is under way), then the socket is closed,
        // so Beast's own echo never reaches the wire.
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind != websocket::frame_type::close) return;
            const auto code = static_cast<std::uint16_t>(ws_.reason().code);
            if (code == websocket::close_code::none || liveshare::ws::valid_close_code(code)) return;
            auto& sock = beast::get_lowest_layer(ws_).socket();
            if (!writing_) {
                const unsigned char close_1002[] = {0x88, 0x02, 0x03, 0xEA};
                [[maybe_unused]] auto w = ::write(sock.native_handle(), close_1002, sizeof close_1002);
            }
            beast::error_code ignored;
            sock.shutdown(tcp::socket::shutdown_both, ignored);
            sock.close(ignored);
        });
        ws_.async_accept(req, [self = self()](beast::error_code ec) { self->on_accept(ec); });
    }

private:
    std::shared_ptr<BeastSession> self() { return std::static_pointer_cast<BeastSession>(shared_from_this()); }

    void on_accept(beast::error_code ec) {
        if (ec) {
            if (ec == beast::error::timeout) ctx_.metrics.handshake_timeouts.fetch_add(1);
            return;
        }
        opened();
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = self()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
    }

    void on_read(beast::error_code ec, std::size_t n) {
        if (ec) {
            if (ec == websocket::error::message_too_big) on_too_big();
            else if (ec == beast::error::timeout) ctx_.metrics.idle_timeouts.fetch_add(1);
            else if (!is_harmless(ec)) log::line("read: " + ec.message());
            on_disconnect();
            return;
        }
        ctx_.metrics.bytes_in.fetch_add(n);
        ctx_.metrics.ws_reads.fetch_add(1, std::memory_order_relaxed);
        bool resume = true;
        auto data = buffer_.cdata();
        if (ws_.got_binary()) {
            on_binary(static_cast<const std::uint8_t*>(data.data()), data.size());
        } else {
            // simdjson reads past the end: copy into a buffer that keeps the padding.
            in_.resize(n + kParsePadding);
            std::memcpy(in_.data(), data.data(), n);
            resume = on_text(in_.data(), n);
        }
        buffer_.consume(buffer_.size());
        if (resume && !closing_) do_read();
    }

    void resume_reading() override { do_read(); }

    void start_writer() override { do_write(); }

    void do_write() {
        if (closing_ || writing_) return;
        if (batch_) return do_write_batch();
        OutFrame f;
        if (!queue_.pop(f)) return;
        writing_ = true;
        ctx_.metrics.ws_messages_out.fetch_add(1, std::memory_order_relaxed);
        ws_.text(!f.binary);
        auto buf = net::buffer(*f.data);
        ws_.async_write(buf, [self = self(), f = std::move(f)](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
    }

    // Batching candidate: everything queued (up to 64 KiB) goes out as one array frame, after
    // an optional window that lets more arrive.
    void do_write_batch() {
        const auto window = ctx_.cfg.profile.batch_window_us;
        if (window > 0 && !window_waited_) {
            window_waited_ = true;
            writing_ = true;
            batch_timer_.expires_after(std::chrono::microseconds(window));
            batch_timer_.async_wait([self = self()](beast::error_code) {
                self->writing_ = false;
                self->do_write_batch();
            });
            return;
        }
        window_waited_ = false;
        if (!queue_.pop_batch(batch_frames_, 64 * 1024)) return;
        writing_ = true;
        ctx_.metrics.ws_messages_out.fetch_add(batch_frames_.size(), std::memory_order_relaxed);
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
        ws_.async_write(net::buffer(*out), [self = self(), out](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
    }

    void on_write(beast::error_code ec, std::size_t n) {
        writing_ = false;
        ctx_.metrics.queue_bytes_changed(-static_cast<std::int64_t>(queue_.write_done()), 0);
        if (ec) {
            if (!is_harmless(ec)) log::line("write: " + ec.message());
            return;  // the read side sees the failure and cleans up
        }
        ctx_.metrics.ws_writes.fetch_add(1, std::memory_order_relaxed);
        ctx_.metrics.bytes_out.fetch_add(n);
        do_write();
    }

    void close_now(std::uint16_t code, const std::string& reason) override {
        if (closing_ || !accepted_) return;
        closing_ = true;
        ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                        [self = self()](beast::error_code) {});
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::string in_;
    net::steady_timer batch_timer_{ws_.get_executor()};
    std::vector<OutFrame> batch_frames_;
    bool window_waited_ = false, writing_ = false;
};

// ---------------------------------------------------------------- HTTP session

// The same connection on `to`'s io_context (itself when it is there already); none when the
// socket is gone (the peer reset it meanwhile).
std::optional<tcp::socket> rehome(tcp::socket s, Loop& to) {
    if (&s.get_executor().context() == &to.ioc) return std::optional<tcp::socket>(std::move(s));
    beast::error_code ec;
    const auto ep = s.local_endpoint(ec);
    if (ec) return std::nullopt;
    const int fd = s.release(ec);
    if (ec) return std::nullopt;
    tcp::socket moved(to.ioc);
    moved.assign(ep.protocol(), fd, ec);
    if (ec) {
        ::close(fd);
        return std::nullopt;
    }
    return std::optional<tcp::socket>(std::move(moved));
}

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
        if (websocket::is_upgrade(req)) {
            const auto path = path_segments(req.target());
            const std::string id = path.size() == 2 && path[0] == "room" ? path[1] : "";
            if (!is_valid_room_id(id)) return write(make_text(req, http::status::not_found, "unknown WebSocket path: use /room/{uuid}\n"), false);
            if (ctx_.metrics.connections.load() >= static_cast<std::int64_t>(ctx_.cfg.max_connections)) {
                ctx_.metrics.connections_rejected.fetch_add(1);
                return write(make_text(req, http::status::service_unavailable, "connection limit reached\n"), false);
            }
            stream_.expires_never();
            return upgrade(std::move(req), std::move(id));
        }
        ctx_.metrics.http_requests.fetch_add(1);
        handle(std::move(req));
    }

    // Extensions are opt-in: only a client that offers liveshare.v2 gets seq numbers, and only
    // one that offers liveshare.v2+batch (on a batching profile) gets array frames.
    std::string select_subprotocol(const http::request<http::string_body>& req) const {
        std::string selected;
        for (auto token : http::token_list(req[http::field::sec_websocket_protocol])) {
            if (token == kSubprotocolV2Batch && ctx_.cfg.profile.batch) selected = std::string(token);
            else if (token == kSubprotocolV2 && selected.empty()) selected = std::string(token);
        }
        return selected;
    }

    void upgrade(http::request<http::string_body> req, std::string room_id) {
        // RFC 6455 4.2.1, for both write paths: an HTTP/1.1 request with a Host, version 13 and a
        // key that is base64 of 16 bytes; anything else is 400 (with the version we speak).
        const auto key = req[http::field::sec_websocket_key];
        const char* bad = req.find(http::field::host) == req.end() ? "WebSocket upgrade needs a Host header\n"
                          : req[http::field::sec_websocket_version] != "13" ? "WebSocket upgrade needs version 13\n"
                          : !liveshare::ws::valid_client_key(key) ? "Sec-WebSocket-Key must be base64 of 16 bytes\n"
                                                       : nullptr;
        if (bad) {
            ctx_.metrics.handshakes_refused.fetch_add(1);
            Response res = make_text(req, http::status::bad_request, bad);
            res.set(http::field::sec_websocket_version, "13");
            return write(std::move(res), false);
        }
        const std::string selected = select_subprotocol(req);
        const bool wants_seq = !selected.empty(), batch = selected == kSubprotocolV2Batch;
        // The connection moves to its room's loop, where the room's other members are.
        Loop& loop = ctx_.loops->for_room(room_id);
        auto sock = rehome(stream_.release_socket(), loop);
        if (!sock) return;
        if (ctx_.cfg.profile.write == WritePath::Frame) {
            auto s = std::make_shared<BeastSession>(std::move(*sock), ctx_, loop, std::move(room_id), wants_seq, batch);
            return net::post(loop.ioc, [s, req = std::move(req), selected]() mutable { s->run(std::move(req), selected); });
        }
        // The corked path: the upgrade answered here, then our own framing on the socket.
        beast::static_string<28> accept;
        websocket::detail::make_sec_ws_accept(accept, key);
        std::string response = "HTTP/1.1 101 Switching Protocols\r\nServer: liveshare-cpp\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
        response.append(accept.data(), accept.size());
        if (!selected.empty()) response += "\r\nSec-WebSocket-Protocol: " + selected;
        response += "\r\n\r\n";
        auto early = buffer_.cdata();
        std::string early_bytes(static_cast<const char*>(early.data()), early.size());
        net::post(loop.ioc, [sock = std::move(*sock), &ctx = ctx_, &loop, room_id = std::move(room_id), wants_seq, batch,
                             response = std::move(response), early_bytes = std::move(early_bytes)]() mutable {
            start_corked_session(std::move(sock), ctx, loop, std::move(room_id), wants_seq, batch, std::move(response),
                                 std::move(early_bytes));
        });
    }

    // {"error":"..."} with the text escaped (it may quote the client's own input).
    static std::string error_json(std::string_view text) {
        std::string out = "{\"error\":";
        json::append_string(out, text);
        out += "}\n";
        return out;
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

    // The decoded path segments of a request target ("/room/ID/info" -> room, ID, info); none
    // for a target that is not an origin-form URL.
    static std::vector<std::string> path_segments(std::string_view target) {
        std::vector<std::string> out;
        auto u = boost::urls::parse_origin_form(target);
        if (!u) return out;
        for (auto seg : u->segments()) out.push_back(seg);
        return out;
    }

    void handle(http::request<http::string_body> req) {
        const auto path = path_segments(req.target());
        const std::string target = path.size() == 1 ? "/" + path[0] : "";
        const auto method = req.method();
        if (target == "/healthz" && method == http::verb::get) {
            std::string body = "{\"status\":\"ok\",\"connections\":" + std::to_string(ctx_.metrics.connections.load()) +
                               ",\"rooms\":" + std::to_string(ctx_.metrics.rooms.load()) + "}\n";
            return write(make_text(req, http::status::ok, std::move(body), "application/json"), req.keep_alive());
        }
        if (target == "/metrics" && method == http::verb::get)
            return write(make_text(req, http::status::ok, ctx_.metrics.render(), "text/plain; version=0.0.4"), req.keep_alive());
        if (!path.empty() && path[0] == "room") {
            // POST /room, POST /room/{uuid}, GET /room/{uuid}/info
            if (method == http::verb::post && path.size() == 1) return create_room(std::move(req), random_uuid());
            if (method == http::verb::post && path.size() == 2 && is_valid_room_id(path[1]))
                return create_room(std::move(req), path[1]);
            if (method == http::verb::get && path.size() == 3 && path[2] == "info" && is_valid_room_id(path[1])) {
                auto room = ctx_.rooms.find(path[1]);
                if (!room) return write(make_text(req, http::status::not_found, "{\"error\":\"Room not found\"}\n", "application/json"), req.keep_alive());
                return write(make_text(req, http::status::ok, info_json(*room), "application/json"), req.keep_alive());
            }
        }
        write(make_text(req, http::status::not_found, "not found\n"), req.keep_alive());
    }

    static std::string info_json(const Room& room) {
        const auto s = room.settings_copy();
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
            return write(make_text(req, http::status::bad_request, error_json(err), "application/json"), req.keep_alive());
        if (ctx_.rooms.find(id))
            return write(make_text(req, http::status::conflict, "{\"error\":\"Room already exists\"}\n", "application/json"), req.keep_alive());
        auto finish = [self = shared_from_this(), req = std::move(req), id, body](std::optional<std::string> hash) mutable {
            if (!hash)
                return self->write(self->make_text(req, http::status::internal_server_error, "{\"error\":\"password hashing failed\"}\n", "application/json"), req.keep_alive());
            RoomSettings s{id, body.name, body.owner_id, std::move(*hash), ""};
            s.max_users = body.max_users;
            if (!self->ctx_.cluster) return self->create_local(req, std::move(s), false);
            // Cluster: the room is the cluster's; the first node to record it wins.
            if (s.max_users == 0 || s.max_users > self->ctx_.cfg.max_users_per_room) s.max_users = self->ctx_.cfg.max_users_per_room;
            s.created_at = now_rfc3339();
            using Created = cluster::Cluster::CreateResult;
            self->ctx_.cluster->create_room(s, [self, req = std::move(req), s](Created result) mutable {
                net::post(self->stream_.get_executor(), [self, req = std::move(req), s = std::move(s), result]() mutable {
                    if (result == Created::Failed)
                        return self->write(self->make_text(req, http::status::service_unavailable, "{\"error\":\"the cluster did not answer\"}\n", "application/json"), req.keep_alive());
                    if (result == Created::Exists)
                        return self->write(self->make_text(req, http::status::conflict, "{\"error\":\"Room already exists\"}\n", "application/json"), req.keep_alive());
                    self->create_local(req, std::move(s), true);
                });
            });
        };
        if (!body.password) return finish(std::string());
        // Hash on the KDF pool, answer back on this connection's strand.
        net::post(ctx_.kdf, [self = shared_from_this(), pw = *body.password, finish = std::move(finish)]() mutable {
            std::optional<std::string> hash;
            try {
                hash = hash_password(pw, self->ctx_.cfg.bcrypt_cost);
            } catch (const std::exception& e) {
                log::line(std::string("hash_password: ") + e.what());
            }
            net::post(self->stream_.get_executor(), [finish = std::move(finish), hash = std::move(hash)]() mutable {
                finish(std::move(hash));
            });
        });
    }

    // The room in this process's registry, answered 201; `adopt`: a room this node made
    // already (a WebSocket join came first) takes the settings just recorded.
    void create_local(const http::request<http::string_body>& req, RoomSettings s, bool adopt) {
        auto [room, st] = ctx_.rooms.create(s);
        if (st == RoomRegistry::Status::Exists && adopt) room->adopt_settings(s);
        else if (st == RoomRegistry::Status::Exists)
            return write(make_text(req, http::status::conflict, "{\"error\":\"Room already exists\"}\n", "application/json"), req.keep_alive());
        if (!room)
            return write(make_text(req, http::status::service_unavailable, "{\"error\":\"Too many rooms\"}\n", "application/json"), req.keep_alive());
        write(make_text(req, http::status::created, info_json(*room), "application/json"), req.keep_alive());
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
    Listener(Loops& loops, Context& ctx, tcp::endpoint ep) : loops_(loops), acceptor_(loops.at(0).ioc), ctx_(ctx) {
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
        // HTTP connections take the loops in turn; an upgrade moves to its room's loop.
        acceptor_.async_accept(loops_.next().ioc, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
    }
    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            log::line("accept: " + ec.message());  // e.g. out of file descriptors; keep serving
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<HttpSession>(std::move(socket), ctx_)->run();
        }
        do_accept();
    }

    Loops& loops_;
    tcp::acceptor acceptor_;
    Context& ctx_;
};

}  // namespace

int run_server(const ServerConfig& cfg) {
    log::set_quiet(cfg.quiet);
    Context ctx(cfg);
    // A cluster node keeps its rooms in Redis (snapshots and the stream), not in --db.
    if (!cfg.db_path.empty() && cfg.cluster.empty()) {
        try {
            ctx.store = std::make_unique<SnapshotStore>(cfg.db_path, cfg.snapshots_kept);
            ctx.persister = std::make_unique<Persister>(*ctx.store, ctx.rooms, ctx.metrics, cfg.snapshot_interval_ms);
            if (cfg.durable) {
                ctx.durable = std::make_unique<DurableLog>(cfg.db_path, ctx.metrics);
                ctx.rooms.set_durable_log(ctx.durable.get());
                ctx.persister->set_durable_log(ctx.durable.get());
            }
            std::size_t restored = ctx.persister->restore();
            if (restored) log::line("restored " + std::to_string(restored) + " room(s) from " + cfg.db_path);
            if (ctx.durable) {
                std::size_t ops = ctx.durable->restore(ctx.rooms);
                log::line("durability mode: replayed " + std::to_string(ops) + " committed op(s) from the op log");
                ctx.durable->start();
            }
            ctx.persister->start();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return 1;
        }
    }
    Loops loops(cfg.threads);
    ctx.loops = &loops;
    net::io_context& ioc = loops.at(0).ioc;  // the listener, the sweep, signals, the cluster
    int exit_code = 0;
    std::function<void(int, std::string)> shut_down;
    if (!cfg.cluster.empty()) {
        try {
            ctx.cluster = std::make_unique<cluster::Cluster>(ioc.get_executor(), cfg, ctx.metrics, [&](std::string why) {
                // Without Redis this node cannot keep the rooms' one order: its clients are
                // closed (4008) so they reconnect to another node, and the process ends.
                log::line("cluster: " + why + "; closing every session (4008) and stopping");
                net::post(ioc, [&, why] { shut_down(1, why); });
            });
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return 1;
        }
        ctx.cluster->start();
        log::line("cluster node " + ctx.cluster->node_id() + " on " + cfg.cluster);
    }
    std::shared_ptr<Listener> listener;
    try {
        listener = std::make_shared<Listener>(loops, ctx, tcp::endpoint(net::ip::make_address(cfg.address), cfg.port));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "liveshare-server: cannot listen on %s:%u: %s\n", cfg.address.c_str(), cfg.port, e.what());
        return 1;
    }
    // The first line of stdout is the bound port, so a parent can use --port=0.
    std::printf("%u\n", listener->port());
    std::fflush(stdout);
    log::line("listening on " + cfg.address + ":" + std::to_string(listener->port()) + " with " +
            std::to_string(cfg.threads) + " thread(s)");
    listener->run();

    // Once a second, sessions without Beast's keep-alive ping idle peers and close dead ones.
    net::steady_timer sweep(ioc);
    std::function<void()> arm_sweep = [&] {
        sweep.expires_after(std::chrono::seconds(1));
        sweep.async_wait([&](beast::error_code ec) {
            if (ec) return;
            std::vector<std::shared_ptr<Session>> live;
            {
                std::lock_guard lock(ctx.sessions_mu);
                for (auto& w : ctx.sessions)
                    if (auto s = w.lock()) live.push_back(std::move(s));
            }
            const auto now = Session::Clock::now();
            for (auto& s : live) s->check_idle(now);
            arm_sweep();
        });
    };
    if (cfg.profile.write == WritePath::Corked) arm_sweep();

    net::steady_timer grace(ioc);
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    bool shutting_down = false;
    shut_down = [&](int code, std::string why) {
        if (shutting_down) return;
        shutting_down = true;
        exit_code = code;
        listener->stop();
        signals.cancel();
        if (ctx.cluster) ctx.cluster->stop();
        std::vector<std::shared_ptr<Session>> live;
        {
            std::lock_guard lock(ctx.sessions_mu);
            for (auto& w : ctx.sessions)
                if (auto s = w.lock()) live.push_back(std::move(s));
        }
        for (auto& s : live) s->close_soon(code ? kCloseResyncRequired : kCloseShutdown, code ? why : "server shutting down");
        // Give close handshakes a moment, then stop the loop regardless.
        grace.expires_after(std::chrono::milliseconds(1500));
        grace.async_wait([&](beast::error_code) { loops.stop(); });
        sweep.cancel();
    };
    signals.async_wait([&](beast::error_code ec, int sig) {
        if (ec) return;
        log::line(std::string("signal ") + std::to_string(sig) + ": closing sessions, flushing snapshots");
        shut_down(0, "");
    });

    loops.run();
    ctx.kdf.join();
    for (auto& r : ctx.rooms.all()) r->clear_members();
    ctx.cluster.reset();
    if (ctx.durable) ctx.durable->stop();  // commits what is queued before the last snapshots
    if (ctx.persister) ctx.persister->stop_and_flush();
    log::line("stopped");
    return exit_code;
}

}  // namespace liveshare
