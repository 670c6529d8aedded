#include "net/http_session.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "log.hpp"
#include "net/beast_names.hpp"
#include "net/beast_session.hpp"
#include "net/corked_session.hpp"
#include "net/loops.hpp"
#include "net/rest.hpp"
#include "net/unique_fd.hpp"
#include "protocol/codec.hpp"
#include "protocol/uuid.hpp"
#include "protocol/ws_frame.hpp"

namespace liveshare {

namespace {

using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr std::size_t kHeaderLimit = 16 * 1024, kBodyLimit = 64 * 1024;

// A descriptor as a socket of `loop`'s io_context; none (the descriptor closed) when the
// connection is gone already (the peer reset it meanwhile).
std::optional<tcp::socket> adopt(int fd, Loop& loop) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    beast::error_code ec;
    tcp::socket s(loop.ioc);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        s.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (!s.is_open()) {
        ::close(fd);
        return std::nullopt;
    }
    return std::optional<tcp::socket>(std::move(s));
}

// The same connection on `to`'s io_context (itself when it is there already).
std::optional<tcp::socket> rehome(tcp::socket s, Loop& to) {
    if (&s.get_executor().context() == &to.ioc) return std::optional<tcp::socket>(std::move(s));
    beast::error_code ec;
    const int fd = s.release(ec);
    if (ec) return std::nullopt;
    return adopt(fd, to);
}

Response make_text(const Request& req, http::status st, std::string body) {
    Response res{st, req.version()};
    res.set(http::field::server, "liveshare-cpp");
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// An upgrade the server takes: its room, and the subprotocol chosen (empty: none).
struct Accepted {
    std::string room_id, selected;
    bool wants_seq() const { return !selected.empty(); }
    bool batch() const { return selected == kSubprotocolV2Batch; }
};

// Extensions are opt-in: only a client that offers liveshare.v2 gets seq numbers, and only
// one that offers liveshare.v2+batch (on a batching profile) gets array frames.
std::string select_subprotocol(const Request& req, const Context& ctx) {
    std::string selected;
    for (auto token : http::token_list(req[http::field::sec_websocket_protocol])) {
        if (token == kSubprotocolV2Batch && ctx.cfg.profile.batch)
            selected = std::string(token);
        else if (token == kSubprotocolV2 && selected.empty())
            selected = std::string(token);
    }
    return selected;
}

// A WebSocket upgrade request, whichever way it came: taken, or the answer that refuses it
// (counted).
std::variant<Accepted, Response> check_upgrade(const Request& req, Context& ctx) {
    const auto path = path_segments(req.target());
    std::string id = path.size() == 2 && path[0] == "room" ? path[1] : "";
    if (!is_valid_room_id(id))
        return make_text(req, http::status::not_found,
                         "unknown WebSocket path: use /room/{uuid}\n");
    if (ctx.metrics.connections.load() >= static_cast<std::int64_t>(ctx.cfg.max_connections)) {
        ctx.metrics.connections_rejected.fetch_add(1);
        return make_text(req, http::status::service_unavailable, "connection limit reached\n");
    }
    // RFC 6455 4.2.1, for both write paths: an HTTP/1.1 request with a Host, version 13 and a
    // key that is base64 of 16 bytes; anything else is 400 (with the version we speak).
    const char* bad =
        req.find(http::field::host) == req.end() ? "WebSocket upgrade needs a Host header\n"
        : req[http::field::sec_websocket_version] != "13" ? "WebSocket upgrade needs version 13\n"
        : !liveshare::ws::valid_client_key(req[http::field::sec_websocket_key])
            ? "Sec-WebSocket-Key must be base64 of 16 bytes\n"
            : nullptr;
    if (bad) {
        ctx.metrics.handshakes_refused.fetch_add(1);
        Response res = make_text(req, http::status::bad_request, bad);
        res.set(http::field::sec_websocket_version, "13");
        return res;
    }
    return Accepted{std::move(id), select_subprotocol(req, ctx)};
}

// The corked path: the 101 written by the session on its room's loop, then our own framing on
// the bare descriptor, which that loop's poller watches. `early`: what the client sent after
// its request, read already.
void hand_to_corked(int fd, Context& ctx, const Request& req, Accepted a, std::string early) {
    beast::static_string<28> accept;
    websocket::detail::make_sec_ws_accept(accept, req[http::field::sec_websocket_key]);
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nServer: liveshare-cpp\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    response.append(accept.data(), accept.size());
    if (!a.selected.empty()) response += "\r\nSec-WebSocket-Protocol: " + a.selected;
    response += "\r\n\r\n";
    const bool wants_seq = a.wants_seq(), batch = a.batch();
    Loop& loop = ctx.loops->for_room(a.room_id);
    if (&loop == Loop::current())
        return start_corked_session(fd, ctx, loop, std::move(a.room_id), wants_seq, batch,
                                    std::move(response), std::move(early));
    net::post(loop.ioc,
              [fd = UniqueFd(fd), &ctx, &loop, room_id = std::move(a.room_id), wants_seq, batch,
               response = std::move(response), early = std::move(early)]() mutable {
                  start_corked_session(fd.release(), ctx, loop, std::move(room_id), wants_seq,
                                       batch, std::move(response), std::move(early));
              });
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
  public:
    // `first_deadline`: when the first request must have arrived (counted from the accept);
    // `read`: bytes of it read already.
    HttpSession(tcp::socket&& socket, Context& ctx, Clock::time_point first_deadline,
                std::string_view read)
        : stream_(std::move(socket)), ctx_(ctx), first_deadline_(first_deadline) {
        if (read.empty()) return;
        auto space = buffer_.prepare(read.size());
        std::memcpy(space.data(), read.data(), read.size());
        buffer_.commit(read.size());
    }

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
    }

    // An upgrade refused before this session was made: the answer, then the end.
    void refuse(Response res) { write(std::move(res), false); }

  private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(kBodyLimit);
        parser_->header_limit(kHeaderLimit);
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
        if (!websocket::is_upgrade(req)) {
            ctx_.metrics.http_requests.fetch_add(1);
            return serve(std::move(req));
        }
        auto checked = check_upgrade(req, ctx_);
        if (auto* refusal = std::get_if<Response>(&checked))
            return write(std::move(*refusal), false);
        stream_.expires_never();
        upgrade(std::move(req), std::get<Accepted>(std::move(checked)));
    }

    // The connection moves to its room's loop, where the room's other members are.
    void upgrade(Request req, Accepted a) {
        if (ctx_.cfg.profile.write == WritePath::Frame) {
            Loop& loop = ctx_.loops->for_room(a.room_id);
            auto sock = rehome(stream_.release_socket(), loop);
            if (!sock) return;
            return net::post(loop.ioc, [sock = std::move(*sock), &ctx = ctx_, &loop,
                                        a = std::move(a), req = std::move(req)]() mutable {
                const bool wants_seq = a.wants_seq(), batch = a.batch();
                start_beast_session(std::move(sock), ctx, loop, std::move(a.room_id), wants_seq,
                                    batch, std::move(req), std::move(a.selected));
            });
        }
        auto early = buffer_.cdata();
        std::string early_bytes(static_cast<const char*>(early.data()), early.size());
        beast::error_code ec;
        const int fd = stream_.release_socket().release(ec);
        if (!ec) hand_to_corked(fd, ctx_, req, std::move(a), std::move(early_bytes));
    }

    // The REST routes; the reply comes back to this connection's loop.
    void serve(Request req) {
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

// A new connection until its first bytes: the descriptor in its loop's poller and in the loop's
// list of handshake deadlines, about 80 B, no Asio socket. Its first read, when it holds a whole
// WebSocket upgrade for the corked path, is parsed here and the descriptor goes straight to its
// room's loop; anything else (a REST request, a request still coming, the frame path, a refusal)
// becomes an HTTP session with the bytes read. So a storm of connects leaves no freed handshake
// state (Beast's stream, timer, buffer and parser: about 2 KB) scattered between the sessions
// that stay, and an idle connection no Asio reactor state of its own.
class Arrival final : public Poller::Target, public Expiries::Item {
  public:
    Arrival(int fd, Context& ctx, Loop& loop)
        : fd_(fd),
          ctx_(ctx),
          loop_(loop),
          deadline_(Clock::now() + std::chrono::milliseconds(ctx.cfg.handshake_timeout_ms)) {}
    ~Arrival() override {
        if (fd_ >= 0) ::close(fd_);  // out of the poller too
    }
    Clock::time_point deadline() const { return deadline_; }

    void on_ready(std::uint32_t events) override {
        if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;  // output space
        static thread_local std::unique_ptr<char[]> buf(new char[kFirstRead]);
        ssize_t r;
        do r = ::read(fd_, buf.get(), kFirstRead);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // nothing yet
        loop_.expiries.remove(this);
        if (r > 0) {
            loop_.poller.remove(fd_);
            go_on(std::exchange(fd_, -1), std::string_view(buf.get(), static_cast<std::size_t>(r)),
                  r == kFirstRead);
        }
        delete this;  // the poller names it in no other event of this turn: one per descriptor
    }

    void expire() override {
        ctx_.metrics.handshake_timeouts.fetch_add(1);
        delete this;
    }

  private:
    static constexpr ssize_t kFirstRead = 16 * 1024;

    // `more`: the read was full, so the socket may hold more of the request.
    void go_on(int fd, std::string_view read, bool more) {
        if (!more && ctx_.cfg.profile.write != WritePath::Frame) {
            http::request_parser<http::string_body> p;
            p.header_limit(kHeaderLimit);
            p.body_limit(kBodyLimit);
            p.eager(true);
            beast::error_code ec;
            const std::size_t used = p.put(net::buffer(read.data(), read.size()), ec);
            if (!ec && p.is_done() && websocket::is_upgrade(p.get())) {
                Request req = p.release();
                auto checked = check_upgrade(req, ctx_);
                if (auto* ok = std::get_if<Accepted>(&checked))
                    return hand_to_corked(fd, ctx_, req, std::move(*ok),
                                          std::string(read.substr(used)));
                if (auto s = adopt(fd, loop_))
                    std::make_shared<HttpSession>(std::move(*s), ctx_, deadline_, "")
                        ->refuse(std::get<Response>(std::move(checked)));
                return;
            }
        }
        if (auto s = adopt(fd, loop_))
            std::make_shared<HttpSession>(std::move(*s), ctx_, deadline_, read)->run();
    }

    int fd_;
    Context& ctx_;
    Loop& loop_;
    Clock::time_point deadline_;
};

}  // namespace

void start_arrival(int fd, Context& ctx, Loop& loop) {
    auto* a = new Arrival(fd, ctx, loop);
    if (!loop.poller.add(fd, a)) {
        log::line(std::string("connection dropped: epoll_ctl: ") + std::strerror(errno));
        delete a;
        return;
    }
    loop.expiries.add(a, a->deadline());
}

}  // namespace liveshare
