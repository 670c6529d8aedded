#include "users/sim_user.hpp"

#include <sys/socket.h>
#include <zlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <cerrno>
#include <cstring>

#include "users/sim_user_conn.hpp"

namespace harness {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using liveshare::MsgType;
namespace ws = liveshare::ws;

namespace {
constexpr std::size_t kReadRoom = 64 * 1024;  // free space offered to each read
constexpr std::size_t kMaxUpgradeResponse = 16 * 1024;

// Case-insensitive search of a header's value in an HTTP head ("" if absent).
std::string header_value(std::string_view head, std::string_view name) {
    for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
        const std::size_t start = pos + 2;
        const std::size_t end = head.find("\r\n", start);
        std::string_view line = head.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (line.size() > name.size() && line[name.size()] == ':') {
            bool same = true;
            for (std::size_t i = 0; i < name.size() && same; ++i)
                same = std::tolower(static_cast<unsigned char>(line[i])) ==
                       std::tolower(static_cast<unsigned char>(name[i]));
            if (same) {
                std::string_view v = line.substr(name.size() + 1);
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
                return std::string(v);
            }
        }
        pos = end;
    }
    return "";
}
}  // namespace

SimUser::SimUser(net::io_context& ioc, Shared& sh, std::size_t index)
    : sh_(sh), index_(index), ioc_(ioc), timer_(ioc), retry_timer_(ioc), script_(sh.script(index)) {
    room = sh.room_of[index];
    trackers_.resize(sh.room_members[room]);
    if (sh.cfg.plan) {
        plan_ = &sh.cfg.plan->users[index];
        if (plan_->leave_us != kNever) window_to = plan_->leave_us - sh.cfg.plan->leave_grace_us;
    }
    node_ = index % std::max<std::size_t>(sh.addresses.size(), 1);  // round-robin over the nodes
    mask_state_ = (sh.cfg.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (index + 1) * 0xBF58476D1CE4E5B9ULL;
    if (!mask_state_) mask_state_ = 1;
}

SimUser::~SimUser() {
    tls_session_free(resume_);
}

// This user is out of the run: every phase stops waiting for it (a join that never
// completed counts as failed).
void SimUser::retire() {
    if (!joined) {
        joined = true;
        sh_.join_failed.fetch_add(1);
    }
    if (!schedule_done) {
        schedule_done = true;
        sh_.done.fetch_add(1);
    }
    if (!closed) {
        closed = true;
        sh_.closed.fetch_add(1);
    }
}

void SimUser::now_closed() {
    if (closed) return;
    closed = true;
    sh_.closed.fetch_add(1);
    if (!left) return;
    parser_.shrink();
    msg_ = {};
    state = {};  // a user that left is not compared for convergence
}

void SimUser::error(const std::string& kind) {
    metrics.error(kind);
    sh_.errors.fetch_add(1, std::memory_order_relaxed);
}

void SimUser::count(std::uint64_t UserMetrics::*field, std::atomic<std::uint64_t> Shared::*live) {
    ++(metrics.*field);
    (sh_.*live).fetch_add(1, std::memory_order_relaxed);
}

void SimUser::fail(const std::string& kind) {
    error(kind);
    retire();
    timer_.cancel();
    retry_timer_.cancel();
}

// The connection broke. Without a reconnect policy the user is out of the run; with one it
// comes back after a backoff and resumes.
void SimUser::lost_connection(const std::string& why) {
    if (closed || closing_) return;
    if (!sh_.cfg.reconnect.enabled) return fail(why);
    if (c_ && c_->phase == Phase::Open) count(&UserMetrics::disconnects, &Shared::disconnects);
    if (c_) {
        c_->phase = Phase::Closing;
        boost::system::error_code ignored;
        c_->sock.close(ignored);
    }
    stage_ = Stage::Connecting;
    resynced_ = false;
    // What was handed to the socket may or may not have arrived: durable ones are in unacked_.
    control_.clear();  // Auth and Ping belong to the connection that is gone
    if (joined) reconnecting_ = true;
    schedule_reconnect(why);
}

void SimUser::schedule_reconnect(const std::string& why) {
    const auto& pol = sh_.cfg.reconnect;
    if (++attempts_ > pol.max_attempts)
        return fail("reconnect gave up after " + std::to_string(pol.max_attempts) +
                    " attempts: " + why);
    // A cluster: the next attempt goes to the next node (this one may be gone).
    if (sh_.addresses.size() > 1) node_ = (node_ + 1) % sh_.addresses.size();
    const auto shift = std::min(attempts_ - 1, 16u);
    const auto base = std::min(pol.max_backoff, pol.initial_backoff * (1L << shift));
    // Full backoff with jitter in [base/2, base], from a per-user deterministic stream.
    const double u = static_cast<double>((sh_.cfg.seed * 6364136223846793005ULL +
                                          index_ * 1442695040888963407ULL +
                                          attempts_ * 2862933555777941757ULL) >>
                                         11) /
                     static_cast<double>(1ULL << 53);
    retry_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(base * (0.5 + 0.5 * u)));
    retry_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !closed && !closing_) connect();
    });
}

void SimUser::connect() {
    if (c_) {
        if (c_->tls && c_->tls->established()) {
            tls_session_free(resume_);
            resume_ = c_->tls->session();  // offered by the next connection
        }
        boost::system::error_code ignored;
        c_->sock.close(ignored);
        c_->deadline.cancel();
        old_.push_back(std::move(c_));
    }
    c_ = std::make_unique<Conn>(ioc_);
    connect_started_ = Clock::now();
    Conn* c = c_.get();
    c->deadline.expires_after(sh_.cfg.join_timeout);
    c->deadline.async_wait([this, c](boost::system::error_code ec) {
        if (ec || c != c_.get() || c->phase == Phase::Open || c->phase == Phase::Closing) return;
        boost::system::error_code ignored;
        c->sock.close(ignored);  // the pending connect or read fails: lost_connection
    });
    sh_.node_of[index_].store(static_cast<int>(node_), std::memory_order_relaxed);
    c->sock.async_connect(sh_.addresses[node_],
                          [this, c](boost::system::error_code ec) { on_connect(c, ec); });
}

// The HTTP upgrade, written by hand: what a browser sends, with our subprotocol offer.
void SimUser::on_connect(Conn* c, boost::system::error_code ec) {
    if (c != c_.get()) return;
    if (ec)
        return lost_connection("connect: " + (ec == net::error::operation_aborted
                                                  ? std::string("timed out")
                                                  : ec.message()));
    boost::system::error_code ignored;
    c->sock.set_option(tcp::no_delay(true), ignored);
    c->sock.non_blocking(true, ignored);
    if (const Endpoint& ep = sh_.eps[node_]; ep.secure()) {
        c->tls = std::make_unique<TlsSession>(*ep.tls, ep.host, resume_);
        c->cipher.reset(new char[kReadRoom]);
        c->tls_started = Clock::now();
        c->tls->start();  // the ClientHello; the upgrade request waits for the handshake
        c->tls->take_output(c->unsent);
    }
    std::uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
        mask_state_ ^= mask_state_ << 13, mask_state_ ^= mask_state_ >> 7,
            mask_state_ ^= mask_state_ << 17;
        std::memcpy(raw + i, &mask_state_, 8);
    }
    char key[32];
    const std::size_t klen = boost::beast::detail::base64::encode(key, raw, 16);
    boost::beast::static_string<28> accept;
    boost::beast::websocket::detail::make_sec_ws_accept(accept, std::string_view(key, klen));
    c->accept_expected.assign(accept.data(), accept.size());
    std::string req = "GET /room/" + sh_.room_ids[room] +
                      " HTTP/1.1\r\nHost: " + sh_.eps[node_].host + ":" +
                      std::to_string(sh_.eps[node_].port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
                      "13\r\nSec-WebSocket-Key: ";
    req.append(key, klen);
    if (sh_.cfg.negotiate_seq)
        req += std::string("\r\nSec-WebSocket-Protocol: ") +
               (sh_.cfg.offer_batch ? "liveshare.v2+batch, liveshare.v2" : "liveshare.v2");
    if (sh_.cfg.offer_deflate)
        req += "\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover";
    for (const auto& [name, value] : sh_.eps[node_].upgrade_headers)
        req += "\r\n" + name + ": " + value;
    req += "\r\n\r\n";
    c->phase = Phase::Upgrading;
    put(c, req);
    write_pending(c);
    read_more(c);
}

void SimUser::read_more(Conn* c) {
    c->reserve(kReadRoom);
    auto into = c->tls ? net::buffer(c->cipher.get(), kReadRoom)
                       : net::buffer(c->buf.get() + c->have, c->cap - c->have);
    c->sock.async_read_some(
        into, [this, c](boost::system::error_code ec, std::size_t n) { on_read(c, ec, n); });
}

// Plaintext for the peer: through TLS when the connection has it.
void SimUser::put(Conn* c, std::string_view plain) {
    if (!c->tls) {
        c->unsent += plain;
        return;
    }
    if (!c->tls->write(plain)) return lost_connection("tls: " + c->tls->error());
    c->tls->take_output(c->unsent);
}

// wss://: the n bytes of ciphertext just read go through TLS; what they decrypt to is appended
// to the connection's buffer. Returns the number of plaintext bytes, or -1 when the
// connection is given up (a failed handshake is an error of its own: no retry).
std::ptrdiff_t SimUser::decrypt(Conn* c, std::size_t n) {
    TlsSession& tls = *c->tls;
    const bool was_established = tls.established();
    if (!tls.feed(c->cipher.get(), n)) {
        const std::string why = tls.error();
        if (was_established || why.starts_with("connection closed")) {
            lost_connection("tls: " + why);
        } else {
            c->phase = Phase::Closing;
            boost::system::error_code ignored;
            c->sock.close(ignored);
            fail("tls handshake: " + why);
        }
        return -1;
    }
    if (!was_established && tls.established()) {
        metrics.tls_handshake.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c->tls_started)
                .count()));
        if (tls.resumed()) ++metrics.tls_resumed;
    }
    std::size_t got = 0;
    for (int i = 0; i < 1024; ++i) {  // bounded: each pass takes up to the free room
        c->reserve(kReadRoom);
        const std::ptrdiff_t r = tls.read(c->buf.get() + c->have, c->cap - c->have);
        if (r < 0) {
            lost_connection("disconnected: tls: " + tls.error());
            return -1;
        }
        if (r == 0) break;
        c->have += static_cast<std::size_t>(r);
        got += static_cast<std::size_t>(r);
    }
    tls.take_output(c->unsent);  // handshake records, key updates, the request once done
    if (!c->unsent.empty() && !c->write_armed) write_pending(c);
    return static_cast<std::ptrdiff_t>(got);
}

void SimUser::on_read(Conn* c, boost::system::error_code ec, std::size_t n) {
    if (c != c_.get()) return;
    if (ec) {
        if (closing_) return now_closed();
        if (closed || c->phase == Phase::Closing) return;  // already given up
        if (c->tls && !c->tls->established())
            return lost_connection(ec == net::error::operation_aborted
                                       ? std::string("tls handshake: timed out")
                                       : "tls handshake: the server closed the connection (" +
                                             ec.message() + "): is the port TLS?");
        if (c->phase != Phase::Open) return lost_connection("handshake: " + ec.message());
        return lost_connection(
            ec == net::error::eof
                ? "disconnected: the server ended the stream without a close frame"
                : "disconnected: " + ec.message());
    }
    sh_.socket_reads.fetch_add(1, std::memory_order_relaxed);
    metrics.bytes_in += n;  // on the wire (ciphertext on wss://)
    if (c->tls) {
        const std::ptrdiff_t plain = decrypt(c, n);
        if (plain < 0 || c != c_.get()) return;
        if (plain == 0) return read_more(c);
    } else {
        c->have += n;
    }
    if (c->phase == Phase::Upgrading && !on_upgrade_response(c)) return;
    if (c->phase == Phase::Upgrading) return read_more(c);
    const std::size_t used =
        c->reader.feed(c->buf.get(), c->have, [this, c](ws::Event& ev) { return on_frame(c, ev); });
    if (c != c_.get()) return;  // the connection was given up while handling
    if (used) {
        std::memmove(c->buf.get(), c->buf.get() + used, c->have - used);
        c->have -= used;
    }
    if (const std::size_t need = ws::Reader::frame_size(c->buf.get(), c->have); need > c->cap)
        c->reserve(need - c->have);
    flush();  // corked: everything these messages made us send goes out in one write
    if (!closed) read_more(c);
}

// The server's 101: it must accept our key; it tells which subprotocol and extensions it took.
bool SimUser::on_upgrade_response(Conn* c) {
    std::string_view data(c->buf.get(), c->have);
    const auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (c->have > kMaxUpgradeResponse) lost_connection("handshake: response head over 16 KiB");
        return c->have <= kMaxUpgradeResponse;
    }
    std::string_view head = data.substr(0, end + 2);
    if (!head.starts_with("HTTP/1.1 101")) {
        lost_connection("handshake: server answered '" +
                        std::string(head.substr(0, head.find('\r'))) + "'");
        return false;
    }
    if (header_value(head, "Sec-WebSocket-Accept") != c->accept_expected) {
        lost_connection("handshake: wrong Sec-WebSocket-Accept");
        return false;
    }
    const std::string proto = header_value(head, "Sec-WebSocket-Protocol");
    v2_ = proto.starts_with(liveshare::kSubprotocolV2);
    if (header_value(head, "Sec-WebSocket-Extensions").find("permessage-deflate") !=
        std::string::npos) {
        c->inflate = true;
        c->inflate_ready = inflateInit2(&c->zs, -15) == Z_OK;
    }
    const std::size_t used = end + 4;
    std::memmove(c->buf.get(), c->buf.get() + used, c->have - used);
    c->have -= used;
    c->phase = Phase::Open;
    c->deadline.cancel();
    opened();
    return true;
}

void SimUser::opened() {
    std::string auth;
    std::optional<std::string_view> password;
    if (!sh_.cfg.room_password.empty()) password = sh_.cfg.room_password;
    // A reconnect resumes after the last seq it saw; the server replays the rest or, when its
    // log no longer reaches back that far, sends the whole state.
    const auto resume_from = reconnecting_ && sh_.cfg.negotiate_seq ? last_seq_ : std::nullopt;
    liveshare::encode_auth(auth, sh_.user_ids[index_], "user-" + std::to_string(index_), password,
                           resume_from);
    send_control(std::move(auth), MsgType::Auth);
}

bool SimUser::on_frame(Conn* c, ws::Event& ev) {
    using K = ws::Event::Kind;
    switch (ev.kind) {
        case K::Text: {
            if (!ev.compressed) {
                on_text(ev.data, ev.len);
                break;
            }
            if (!c->inflate_ready) {
                error("compressed frame without permessage-deflate");
                break;
            }
            // permessage-deflate: the message plus the flush marker the sender removed.
            static thread_local std::string in, out;
            in.assign(ev.data, ev.len);
            in.append("\x00\x00\xff\xff", 4);
            out.resize(std::max<std::size_t>(out.size(), ev.len * 4 + 1024));
            c->zs.next_in = reinterpret_cast<Bytef*>(in.data());
            c->zs.avail_in = static_cast<uInt>(in.size());
            std::size_t produced = 0;
            int rc = Z_OK;
            while (rc == Z_OK && c->zs.avail_in > 0) {
                if (out.size() - produced < 1024) out.resize(out.size() * 2);
                c->zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
                c->zs.avail_out =
                    static_cast<uInt>(out.size() - produced - liveshare::kParsePadding);
                rc = inflate(&c->zs, Z_SYNC_FLUSH);
                produced =
                    static_cast<std::size_t>(reinterpret_cast<char*>(c->zs.next_out) - out.data());
            }
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                error("undecodable compressed frame");
                break;
            }
            // RFC 6455 8.1 holds for the inflated text: a server that breaks it fails the
            // connection.
            if (!liveshare::valid_utf8(out.data(), produced)) {
                error("protocol error from server: text message is not UTF-8");
                if (!closed && !closing_)
                    lost_connection("protocol error from server: text message is not UTF-8");
                return false;
            }
            on_text(out.data(), produced);
            break;
        }
        case K::Binary:
            ++metrics.received;
            break;
        case K::Ping:
            ws::append_masked_frame(c->ctl, ws::Opcode::Pong, std::string_view(ev.data, ev.len),
                                    0x5a5a5a5a);
            break;
        case K::Pong:
            break;
        case K::Close:
            if (closing_) {
                now_closed();
                return false;
            }
            if (closed) return false;
            // The server closed: after the run (1000) that is the end; otherwise a lost connection.
            if (!sh_.done.load() || ev.code != ws::kCloseNormal)
                lost_connection("closed by server: code " + std::to_string(ev.code));
            else
                retire();
            return false;
        case K::Error:
            error(std::string("protocol error from server: ") + ev.error);
            if (!closed && !closing_)
                lost_connection(std::string("protocol error from server: ") + ev.error);
            return false;
    }
    return c == c_.get() && !closed;
}

}  // namespace harness
