#include "net/http_session.hpp"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "net/beast_names.hpp"
#include "net/beast_session.hpp"
#include "net/corked_session.hpp"
#include "net/exact_allocator.hpp"
#include "net/loops.hpp"
#include "net/rest.hpp"
#include "protocol/codec.hpp"
#include "protocol/uuid.hpp"
#include "protocol/ws_frame.hpp"

namespace liveshare {

namespace {

using Clock = std::chrono::steady_clock;

// A descriptor closed unless released: one handed to another loop is not lost if that loop
// stops before it gets there.
class UniqueFd {
  public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&&) = delete;
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

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
    // `first_deadline`: when the first request must have arrived (counted from the accept).
    HttpSession(tcp::socket&& socket, Context& ctx, Clock::time_point first_deadline)
        : stream_(std::move(socket)), ctx_(ctx), first_deadline_(first_deadline) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
    }

  private:
    using Response = http::response<http::string_body>;

    void do_read() {
        parser_.emplace();
        parser_->body_limit(64 * 1024);
        parser_->header_limit(16 * 1024);
        // Slowloris guard: the whole request (or the upgrade) must arrive in time; the first
        // one in time from the accept.
        if (first_deadline_) {
            stream_.expires_at(*first_deadline_);
            first_deadline_.reset();
        } else {
            stream_.expires_after(std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms));
        }
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
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
            if (!is_valid_room_id(id))
                return write(make_text(req, http::status::not_found,
                                       "unknown WebSocket path: use /room/{uuid}\n"),
                             false);
            if (ctx_.metrics.connections.load() >=
                static_cast<std::int64_t>(ctx_.cfg.max_connections)) {
                ctx_.metrics.connections_rejected.fetch_add(1);
                return write(
                    make_text(req, http::status::service_unavailable, "connection limit reached\n"),
                    false);
            }
            stream_.expires_never();
            return upgrade(std::move(req), std::move(id));
        }
        ctx_.metrics.http_requests.fetch_add(1);
        serve(std::move(req));
    }

    // Extensions are opt-in: only a client that offers liveshare.v2 gets seq numbers, and only
    // one that offers liveshare.v2+batch (on a batching profile) gets array frames.
    std::string select_subprotocol(const http::request<http::string_body>& req) const {
        std::string selected;
        for (auto token : http::token_list(req[http::field::sec_websocket_protocol])) {
            if (token == kSubprotocolV2Batch && ctx_.cfg.profile.batch)
                selected = std::string(token);
            else if (token == kSubprotocolV2 && selected.empty())
                selected = std::string(token);
        }
        return selected;
    }

    void upgrade(http::request<http::string_body> req, std::string room_id) {
        // RFC 6455 4.2.1, for both write paths: an HTTP/1.1 request with a Host, version 13 and a
        // key that is base64 of 16 bytes; anything else is 400 (with the version we speak).
        const auto key = req[http::field::sec_websocket_key];
        const char* bad = req.find(http::field::host) == req.end()
                              ? "WebSocket upgrade needs a Host header\n"
                          : req[http::field::sec_websocket_version] != "13"
                              ? "WebSocket upgrade needs version 13\n"
                          : !liveshare::ws::valid_client_key(key)
                              ? "Sec-WebSocket-Key must be base64 of 16 bytes\n"
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
        if (ctx_.cfg.profile.write == WritePath::Frame) {
            auto sock = rehome(stream_.release_socket(), loop);
            if (!sock) return;
            return net::post(loop.ioc, [sock = std::move(*sock), &ctx = ctx_, &loop,
                                        room_id = std::move(room_id), wants_seq, batch,
                                        req = std::move(req), selected]() mutable {
                start_beast_session(std::move(sock), ctx, loop, std::move(room_id), wants_seq,
                                    batch, std::move(req), std::move(selected));
            });
        }
        // The corked path: the upgrade answered here, then our own framing on the socket.
        beast::static_string<28> accept;
        websocket::detail::make_sec_ws_accept(accept, key);
        std::string response =
            "HTTP/1.1 101 Switching Protocols\r\nServer: liveshare-cpp\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
        response.append(accept.data(), accept.size());
        if (!selected.empty()) response += "\r\nSec-WebSocket-Protocol: " + selected;
        response += "\r\n\r\n";
        auto early = buffer_.cdata();
        std::string early_bytes(static_cast<const char*>(early.data()), early.size());
        // The bare descriptor moves: the room's loop watches it with its own poller.
        beast::error_code ec;
        UniqueFd fd(stream_.release_socket().release(ec));
        if (ec) return;
        net::post(loop.ioc, [fd = std::move(fd), &ctx = ctx_, &loop, room_id = std::move(room_id),
                             wants_seq, batch, response = std::move(response),
                             early_bytes = std::move(early_bytes)]() mutable {
            start_corked_session(fd.release(), ctx, loop, std::move(room_id), wants_seq, batch,
                                 std::move(response), std::move(early_bytes));
        });
    }

    // The REST routes; the reply comes back to this connection's loop.
    void serve(http::request<http::string_body> req) {
        const bool keep_alive = req.keep_alive();
        const unsigned version = req.version();
        serve_rest(ctx_, std::string_view(req.method_string()), std::string_view(req.target()),
                   std::move(req.body()),
                   [self = shared_from_this(), keep_alive, version](RestReply r) {
                       net::post(self->stream_.get_executor(),
                                 [self, r = std::move(r), keep_alive, version]() mutable {
                                     Response res{static_cast<http::status>(r.status), version};
                                     res.set(http::field::server, "liveshare-cpp");
                                     res.set(http::field::content_type, r.content_type);
                                     res.keep_alive(keep_alive);
                                     res.body() = std::move(r.body);
                                     res.prepare_payload();
                                     self->write(std::move(res), keep_alive);
                                 });
                   });
    }

    Response make_text(const http::request<http::string_body>& req, http::status st,
                       std::string body) {
        Response res{st, req.version()};
        res.set(http::field::server, "liveshare-cpp");
        res.set(http::field::content_type, "text/plain");
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    }

    void write(Response res, bool keep_alive) {
        auto sp = std::make_shared<Response>(std::move(res));
        http::async_write(
            stream_, *sp,
            [self = shared_from_this(), sp, keep_alive](beast::error_code ec, std::size_t) {
                if (!ec && keep_alive) return self->do_read();
                beast::error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            });
    }

    beast::tcp_stream stream_;
    Context& ctx_;
    std::optional<Clock::time_point> first_deadline_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

// A connection whose first request has not arrived yet holds only this: the socket, a timer
// and two waits at their own size, about 450 B. The HTTP session (Beast's stream, its timer,
// the read buffer and parser, the read in flight: about 2 KB) is made when bytes arrive and
// usually ends in the same turn, so a storm of connects does not leave 2 KB per connection of
// freed handshake state scattered between the sessions that stay.
class Arrival : public std::enable_shared_from_this<Arrival> {
  public:
    Arrival(tcp::socket&& socket, Context& ctx)
        : sock_(std::move(socket)),
          timer_(sock_.get_executor()),
          ctx_(ctx),
          deadline_(Clock::now() + std::chrono::milliseconds(ctx.cfg.handshake_timeout_ms)) {}

    void start() {
        timer_.expires_at(deadline_);
        timer_.async_wait(net::bind_allocator(
            ExactAllocator<void>(), [self = shared_from_this()](beast::error_code ec) {
                if (ec || self->done_) return;  // the request came first
                self->done_ = true;
                self->ctx_.metrics.handshake_timeouts.fetch_add(1);
                beast::error_code ignored;
                self->sock_.close(ignored);  // ends the read wait too
            }));
        sock_.async_wait(tcp::socket::wait_read,
                         net::bind_allocator(ExactAllocator<void>(),
                                             [self = shared_from_this()](beast::error_code ec) {
                                                 self->on_readable(ec);
                                             }));
    }

  private:
    void on_readable(beast::error_code ec) {
        if (done_) return;
        done_ = true;
        timer_.cancel();
        if (ec) return;  // closes the socket with this object
        std::make_shared<HttpSession>(std::move(sock_), ctx_, deadline_)->run();
    }

    tcp::socket sock_;
    net::steady_timer timer_;
    Context& ctx_;
    Clock::time_point deadline_;
    bool done_ = false;
};

}  // namespace

void start_http_session(tcp::socket socket, Context& ctx) {
    std::make_shared<Arrival>(std::move(socket), ctx)->start();
}

}  // namespace liveshare
