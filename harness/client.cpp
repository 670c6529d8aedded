#include "client.hpp"

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <map>
#include <unordered_map>

#include "protocol/json_write.hpp"
#include "server_process.hpp"
#include "workload.hpp"

namespace harness {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using liveshare::MsgType;

Endpoint parse_ws_url(const std::string& url) {
    std::string_view s = url;
    if (s.starts_with("ws://")) s.remove_prefix(5);
    else throw std::invalid_argument("target must be ws://HOST:PORT, got '" + url + "'");
    if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) throw std::invalid_argument("target needs a port: '" + url + "'");
    Endpoint ep{std::string(s.substr(0, colon)), 0};
    auto p = s.substr(colon + 1);
    auto r = std::from_chars(p.data(), p.data() + p.size(), ep.port);
    if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || ep.port == 0)
        throw std::invalid_argument("bad port in '" + url + "'");
    return ep;
}

HttpResponse http_request(const Endpoint& ep, const std::string& method, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::string& extra_header) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    tcp::resolver resolver(ioc);
    stream.expires_after(timeout);
    beast::error_code ec;
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec) throw std::runtime_error("resolve " + ep.host + ": " + ec.message());
    stream.connect(results, ec);
    if (ec) throw std::runtime_error("connect: " + ec.message());
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, ep.host);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    if (!extra_header.empty()) {
        const auto colon = extra_header.find(':');
        if (colon == std::string::npos || colon == 0)
            throw std::invalid_argument("header must be 'Name: value', got '" + extra_header + "'");
        std::string value = extra_header.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        req.set(extra_header.substr(0, colon), value);
    }
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) throw std::runtime_error("write: " + ec.message());
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res, ec);
    if (ec) throw std::runtime_error("read: " + ec.message());
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return {static_cast<int>(res.result_int()), res.body()};
}

// ------------------------------------------------------------------ SyncClient

struct SyncClient::Impl {
    net::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buffer;
    std::thread thread;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<Frame> frames;
    bool is_closed = false;
    std::uint16_t code = 0;
    std::string accepted_protocol;
    std::deque<std::pair<std::shared_ptr<std::string>, bool>> outbox;
    bool writing = false, paused = false, reading = false;
    liveshare::Parser batch_parser;

    void read_loop() {
        if (paused || reading) return;
        reading = true;
        ws.async_read(buffer, [this](beast::error_code ec, std::size_t) {
            reading = false;
            std::lock_guard lock(mu);
            if (ec) {
                is_closed = true;
                code = ws.reason().code;
                cv.notify_all();
                return;
            }
            std::string data = beast::buffers_to_string(buffer.data());
            if (!ws.got_binary() && !data.empty() && data.front() == '[') {
                // A batch frame: queue its messages one by one, in order.
                std::string padded = data + std::string(liveshare::kParsePadding, '\0');
                std::vector<std::string_view> parts;
                std::string err;
                if (batch_parser.split_batch(padded.data(), data.size(), parts, err))
                    for (auto part : parts) frames.push_back({std::string(part), false, true});
                else
                    frames.push_back({std::move(data), false, false});
            } else {
                frames.push_back({std::move(data), ws.got_binary(), false});
            }
            buffer.consume(buffer.size());
            cv.notify_all();
            net::post(ioc, [this] { read_loop(); });
        });
    }
    void write_next() {
        if (writing || outbox.empty()) return;
        writing = true;
        auto [data, binary] = outbox.front();
        outbox.pop_front();
        ws.binary(binary);
        ws.async_write(net::buffer(*data), [this, data](beast::error_code ec, std::size_t) {
            writing = false;
            if (!ec) write_next();
        });
    }
    void enqueue(std::string data, bool binary) {
        auto p = std::make_shared<std::string>(std::move(data));
        net::post(ioc, [this, p, binary] {
            outbox.emplace_back(p, binary);
            write_next();
        });
    }
};

SyncClient::SyncClient(const Endpoint& ep, const std::string& room_id, bool offer_v2,
                       std::chrono::milliseconds timeout, std::string protocols)
    : impl_(std::make_unique<Impl>()) {
    tcp::resolver resolver(impl_->ioc);
    auto& layer = beast::get_lowest_layer(impl_->ws);
    layer.expires_after(timeout);
    layer.connect(resolver.resolve(ep.host, std::to_string(ep.port)));
    if (offer_v2 && protocols.empty()) protocols = std::string(liveshare::kSubprotocolV2);
    if (!protocols.empty())
        impl_->ws.set_option(websocket::stream_base::decorator([protocols](websocket::request_type& req) {
            req.set(http::field::sec_websocket_protocol, protocols);
        }));
    websocket::response_type res;
    impl_->ws.handshake(res, ep.host + ":" + std::to_string(ep.port), "/room/" + room_id);
    impl_->accepted_protocol = std::string(res[http::field::sec_websocket_protocol]);
    layer.expires_never();
    impl_->read_loop();
    impl_->thread = std::thread([this] {
        auto guard = net::make_work_guard(impl_->ioc);
        impl_->ioc.run();
    });
}

SyncClient::~SyncClient() {
    abort();
    impl_->ioc.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

void SyncClient::send(std::string_view text) { impl_->enqueue(std::string(text), false); }
void SyncClient::send_binary(std::span<const std::uint8_t> data) {
    impl_->enqueue(std::string(reinterpret_cast<const char*>(data.data()), data.size()), true);
}

std::optional<SyncClient::Frame> SyncClient::recv(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait_for(lock, timeout, [&] { return !impl_->frames.empty() || impl_->is_closed; });
    if (impl_->frames.empty()) return std::nullopt;
    Frame f = std::move(impl_->frames.front());
    impl_->frames.pop_front();
    return f;
}

bool SyncClient::recv_type(MsgType type, liveshare::ServerMessage& out, std::chrono::milliseconds timeout) {
    liveshare::Parser parser;
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 1000000 && Clock::now() < deadline; ++i) {
        auto f = recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!f) return false;
        std::string err;
        if (f->binary || !parser.parse_server(f->data, out, err)) continue;
        if (out.type == type) return true;
    }
    return false;
}

bool SyncClient::wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mu);
    return impl_->cv.wait_for(lock, timeout, [&] { return impl_->is_closed; });
}

bool SyncClient::closed() const {
    std::lock_guard lock(impl_->mu);
    return impl_->is_closed;
}

std::uint16_t SyncClient::close_code() const {
    std::lock_guard lock(impl_->mu);
    return impl_->code;
}

std::string SyncClient::subprotocol() const { return impl_->accepted_protocol; }

void SyncClient::pause_reading() {
    net::post(impl_->ioc, [this] { impl_->paused = true; });
}

void SyncClient::resume_reading() {
    net::post(impl_->ioc, [this] {
        impl_->paused = false;
        impl_->read_loop();
    });
}

std::size_t SyncClient::queued() const {
    std::lock_guard lock(impl_->mu);
    return impl_->frames.size();
}

void SyncClient::close() {
    net::post(impl_->ioc, [this] {
        impl_->ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
    });
    wait_closed(std::chrono::milliseconds(2000));
}

void SyncClient::abort() {
    net::post(impl_->ioc, [this] {
        beast::error_code ec;
        beast::get_lowest_layer(impl_->ws).socket().close(ec);
    });
}

// ------------------------------------------------------------------ load run

namespace {

// Durable deliveries from one sender as one receiver saw them.
struct SeqTracker {
    std::vector<bool> seen;
    std::uint64_t max_seen = 0;
    bool any = false;
};

struct Shared;

class SimUser {
public:
    SimUser(net::io_context& ioc, Shared& sh, std::size_t index);
    void connect();
    void start_schedule();
    void close();
    UserMetrics metrics;
    liveshare::SchemaState state;
    bool joined = false, schedule_done = false, closed = false;
    std::uint64_t durable_unique = 0;
    std::size_t room = 0;

private:
    // One connection; a reconnect makes a new one and keeps the old object alive until the
    // end, so its cancelled operations complete safely (and are ignored as stale).
    struct Conn {
        websocket::stream<beast::tcp_stream> ws;
        beast::flat_buffer buffer;
        websocket::response_type handshake;  // tells whether the server selected liveshare.v2
        explicit Conn(net::io_context& ioc) : ws(ioc) {}
    };
    void on_connect(Conn* c, beast::error_code ec);
    void on_handshake(Conn* c, beast::error_code ec);
    void do_read();
    void on_read(Conn* c, beast::error_code ec, std::size_t n);
    void handle(std::size_t n);
    void schedule_next();
    void on_timer(beast::error_code ec);
    void enqueue(std::shared_ptr<const std::string> frame, MsgType type, std::int64_t durable_seq = -1);
    void send_control(std::string frame, MsgType type);
    void do_write();
    void fail(const std::string& kind);
    void lost_connection(const std::string& why);
    void schedule_reconnect(const std::string& why);
    void retire();
    void mark_joined();

    Shared& sh_;
    std::size_t index_;
    net::io_context& ioc_;
    std::unique_ptr<Conn> c_;
    std::vector<std::unique_ptr<Conn>> old_;
    net::steady_timer timer_, retry_timer_;
    std::string in_;
    liveshare::Parser parser_;
    liveshare::ServerMessage msg_;
    UserScript script_;
    Planned next_;
    bool has_next_ = false;
    struct Out {
        std::shared_ptr<const std::string> data;
        MsgType type;
        std::int64_t durable_seq;  // -1: not a measured durable message
    };
    std::deque<Out> control_;  // Auth and Ping: before anything else, on the current connection
    std::deque<Out> outbox_;   // the workload's messages, held while (re)joining
    bool writing_ = false, authed_ = false, closing_ = false, connected_ = false;
    bool reconnecting_ = false, resuming_ = false, resynced_ = false;
    // Without liveshare.v2 the original's join flow: RequestGraphState, then the first
    // GraphState addressed to us is the diagram; a Ping behind the request marks its answer.
    bool v2_ = false, syncing_ = false;
    unsigned attempts_ = 0;
    std::optional<std::uint64_t> last_seq_;  // highest room seq seen (liveshare.v2)
    // Own durable messages written and not yet echoed: resent after a resume if the server
    // never got them (the echo is the acknowledgement).
    std::map<std::uint64_t, Out> unacked_;
    Clock::time_point connect_started_;
    std::unordered_map<std::uint32_t, SeqTracker> trackers_;
    std::vector<std::string_view> parts_;
    std::string batch_in_;
    std::vector<std::pair<std::size_t, std::size_t>> spans_;
};

struct Shared {
    const LoadTestConfig& cfg;
    Endpoint ep;
    tcp::endpoint address;
    std::vector<std::string> user_ids, table_uuids, room_ids;
    std::unordered_map<std::string, std::uint32_t> index_of;
    std::vector<std::size_t> room_of;
    // Actual write start per sender and durable seq, for the uncorrected latency.
    std::vector<std::unique_ptr<std::atomic<std::int64_t>[]>> sent_at;
    std::size_t sent_at_cap = 0;
    // The run's time origin; the main thread moves it (join, then schedule) while user
    // threads read it, so it is an atomic count of steady-clock ticks.
    std::atomic<Clock::rep> epoch_ticks{0};
    Clock::time_point epoch() const { return Clock::time_point(Clock::duration(epoch_ticks.load(std::memory_order_acquire))); }
    void set_epoch(Clock::time_point t) { epoch_ticks.store(t.time_since_epoch().count(), std::memory_order_release); }
    std::int64_t warmup_us = 0;
    std::atomic<std::size_t> joined{0}, join_failed{0}, done{0}, closed{0};
    std::atomic<std::uint64_t> durable_received{0}, volatile_received{0}, sent{0};
    std::vector<std::atomic<std::uint64_t>> live_hist;  // progress only
    // Per room: durable messages sent and not rejected, and members joined (for the drain).
    std::unique_ptr<std::atomic<std::int64_t>[]> room_accepted;
    std::unique_ptr<std::atomic<std::int64_t>[]> room_joined;

    explicit Shared(const LoadTestConfig& c) : cfg(c), live_hist(Histogram::index_of(UINT64_MAX >> 16) + 1) {}
    std::int64_t now_us() const {
        return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - epoch()).count();
    }
};

SimUser::SimUser(net::io_context& ioc, Shared& sh, std::size_t index)
    : sh_(sh),
      index_(index),
      ioc_(ioc),
      timer_(ioc),
      retry_timer_(ioc),
      script_(sh.cfg, index, sh.user_ids[index], static_cast<liveshare::NodeId>(index + 1), sh.table_uuids[index],
              sh.cfg.seed * 1000003 + index) {
    room = sh.room_of[index];
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

void SimUser::fail(const std::string& kind) {
    metrics.error(kind);
    retire();
    timer_.cancel();
    retry_timer_.cancel();
}

void SimUser::connect() {
    if (c_) {
        beast::error_code ignored;
        beast::get_lowest_layer(c_->ws).socket().close(ignored);
        old_.push_back(std::move(c_));
    }
    c_ = std::make_unique<Conn>(ioc_);
    connect_started_ = Clock::now();
    Conn* c = c_.get();
    beast::get_lowest_layer(c->ws).expires_after(sh_.cfg.join_timeout);
    beast::get_lowest_layer(c->ws).async_connect(sh_.address, [this, c](beast::error_code ec) { on_connect(c, ec); });
}

void SimUser::on_connect(Conn* c, beast::error_code ec) {
    if (c != c_.get()) return;
    if (ec) return lost_connection("connect: " + ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(c->ws).socket().set_option(tcp::no_delay(true), ignored);
    if (sh_.cfg.negotiate_seq) {
        std::string offer = sh_.cfg.offer_batch ? "liveshare.v2+batch, liveshare.v2" : "liveshare.v2";
        c->ws.set_option(websocket::stream_base::decorator([offer](websocket::request_type& req) {
            req.set(http::field::sec_websocket_protocol, offer);
        }));
    }
    if (sh_.cfg.offer_deflate) {
        websocket::permessage_deflate pmd;
        pmd.client_enable = true;
        pmd.client_no_context_takeover = true;
        c->ws.set_option(pmd);
    }
    c->ws.async_handshake(c->handshake, sh_.ep.host + ":" + std::to_string(sh_.ep.port), "/room/" + sh_.room_ids[room],
                          [this, c](beast::error_code ec) { on_handshake(c, ec); });
}

void SimUser::on_handshake(Conn* c, beast::error_code ec) {
    if (c != c_.get()) return;
    if (ec) return lost_connection("handshake: " + ec.message());
    beast::get_lowest_layer(c->ws).expires_never();
    connected_ = true;
    v2_ = c->handshake[http::field::sec_websocket_protocol].starts_with(liveshare::kSubprotocolV2);
    std::string auth;
    std::optional<std::string_view> password;
    if (!sh_.cfg.room_password.empty()) password = sh_.cfg.room_password;
    // A reconnect resumes after the last seq it saw; the server replays the rest or, when its
    // log no longer reaches back that far, sends the whole state.
    const auto resume_from = reconnecting_ && sh_.cfg.negotiate_seq ? last_seq_ : std::nullopt;
    liveshare::encode_auth(auth, sh_.user_ids[index_], "user-" + std::to_string(index_), password, resume_from);
    send_control(std::move(auth), MsgType::Auth);
    do_read();
}

// The connection broke. Without a reconnect policy the user is out of the run; with one it
// comes back after a backoff and resumes.
void SimUser::lost_connection(const std::string& why) {
    if (closed || closing_) return;
    if (!sh_.cfg.reconnect.enabled) return fail(why);
    if (connected_) ++metrics.disconnects;
    connected_ = authed_ = resuming_ = resynced_ = syncing_ = false;
    if (writing_) {
        // The frame in flight may or may not have arrived: a durable one is in unacked_.
        if (!control_.empty()) control_.pop_front();
        else if (!outbox_.empty()) outbox_.pop_front();
        writing_ = false;
    }
    control_.clear();  // Auth and Ping belong to the connection that is gone
    if (joined) reconnecting_ = true;
    schedule_reconnect(why);
}

void SimUser::schedule_reconnect(const std::string& why) {
    const auto& pol = sh_.cfg.reconnect;
    if (++attempts_ > pol.max_attempts)
        return fail("reconnect gave up after " + std::to_string(pol.max_attempts) + " attempts: " + why);
    const auto shift = std::min(attempts_ - 1, 16u);
    const auto base = std::min(pol.max_backoff, pol.initial_backoff * (1L << shift));
    // Full backoff with jitter in [base/2, base], from a per-user deterministic stream.
    const double u = static_cast<double>((sh_.cfg.seed * 6364136223846793005ULL + index_ * 1442695040888963407ULL +
                                          attempts_ * 2862933555777941757ULL) >> 11) / static_cast<double>(1ULL << 53);
    retry_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(base * (0.5 + 0.5 * u)));
    retry_timer_.async_wait([this](beast::error_code ec) {
        if (!ec && !closed && !closing_) connect();
    });
}

void SimUser::do_read() {
    Conn* c = c_.get();
    c->ws.async_read(c->buffer, [this, c](beast::error_code ec, std::size_t n) { on_read(c, ec, n); });
}

void SimUser::on_read(Conn* c, beast::error_code ec, std::size_t n) {
    if (c != c_.get()) return;
    if (ec) {
        if (!closed && !closing_) {
            std::string why;
            if (ec != websocket::error::closed && ec != net::error::operation_aborted)
                why = "disconnected: " + ec.message();
            else if (!sh_.done.load() || c->ws.reason().code != websocket::close_code::normal)
                why = "closed by server: code " + std::to_string(c->ws.reason().code);
            if (!why.empty()) lost_connection(why);
            else retire();
        }
        return;
    }
    metrics.bytes_in += n;
    ++metrics.received;
    if (!c->ws.got_binary()) {
        in_.resize(n + liveshare::kParsePadding);
        std::memcpy(in_.data(), c->buffer.cdata().data(), n);
        if (n && in_[0] == '[') {
            // A batch frame: handle each message in order.
            std::string err;
            if (!parser_.split_batch(in_.data(), n, parts_, err)) {
                metrics.error("unparseable batch frame");
            } else {
                // The parts point into in_, which each message reuses: keep offsets and a copy.
                batch_in_.assign(in_.data(), n);
                spans_.clear();
                for (auto part : parts_) spans_.emplace_back(static_cast<std::size_t>(part.data() - in_.data()), part.size());
                for (auto [off, len] : spans_) {
                    in_.assign(batch_in_, off, len);
                    in_.resize(len + liveshare::kParsePadding);
                    handle(len);
                }
                metrics.received += parts_.size() - 1;
            }
        } else {
            handle(n);
        }
    }
    c->buffer.consume(c->buffer.size());
    if (!closed) do_read();
}

void SimUser::handle(std::size_t n) {
    std::string err;
    if (!parser_.parse_server(in_.data(), n, msg_, err)) {
        metrics.error("unparseable server message");
        return;
    }
    metrics.bytes_in_by_type[liveshare::index_of(msg_.type)] += n;
    ++metrics.msgs_in_by_type[liveshare::index_of(msg_.type)];
    const auto now = sh_.now_us();
    switch (msg_.type) {
        case MsgType::AuthResult:
            if (!msg_.success) return fail("auth failed: " + msg_.error);
            authed_ = true;
            attempts_ = 0;
            if (!v2_) {
                // The original's flow: ask for the diagram; the Pong behind it ends the join.
                syncing_ = true;
                std::string req, ping;
                liveshare::encode_simple(req, MsgType::RequestGraphState);
                send_control(std::move(req), MsgType::RequestGraphState);
                liveshare::encode_simple(ping, MsgType::Ping);
                send_control(std::move(ping), MsgType::Ping);
                if (reconnecting_) {
                    ++metrics.reconnects;
                    resuming_ = true;
                }
                return;
            }
            if (reconnecting_) {
                // Back in the room. The replay (or the state) was queued with the AuthResult,
                // so a Pong to this Ping marks its end.
                ++metrics.reconnects;
                resuming_ = true;
                std::string ping;
                liveshare::encode_simple(ping, MsgType::Ping);
                send_control(std::move(ping), MsgType::Ping);
            }
            return;
        case MsgType::Pong:
            if (syncing_) {
                syncing_ = false;
                mark_joined();
                // Without liveshare.v2 there is no replay: what was missed is lost, not resent.
                if (resuming_) resynced_ = true;
            }
            if (resuming_) {
                resuming_ = reconnecting_ = false;
                if (resynced_) resynced_ = false;
                else ++metrics.resumes;
                // What was written but never echoed did not reach the room: send it again,
                // before anything newer, in its original order.
                for (auto it = unacked_.rbegin(); it != unacked_.rend(); ++it) {
                    outbox_.push_front(it->second);
                    ++metrics.resent;
                }
                unacked_.clear();
                do_write();
            }
            return;
        case MsgType::GraphState:
            // A GraphState for someone else, or after our first (the original client's rule).
            if (!msg_.target_user_id.empty() && msg_.target_user_id != sh_.user_ids[index_]) return;
            if (!v2_ && !syncing_ && joined) return;
            if (resuming_ && msg_.seq && last_seq_ && *msg_.seq < *last_seq_) {
                ++metrics.rollbacks;
                last_seq_ = msg_.seq;  // the server's history restarts here
            }
            if (msg_.seq) last_seq_ = std::max(last_seq_.value_or(0), *msg_.seq);
            if (resuming_) {
                ++metrics.resyncs;  // the log did not reach back: the whole state instead
                resynced_ = true;
            }
            state = std::move(msg_.state);
            if (v2_ && authed_) mark_joined();
            return;
        case MsgType::RequestGraphState: {
            // The server asks us for our diagram on behalf of a joiner (the original's flow).
            std::string resp;
            liveshare::encode_graph_state_response(resp, msg_.requester_id, state.to_json());
            send_control(std::move(resp), MsgType::GraphStateResponse);
            return;
        }
        case MsgType::Error: {
            metrics.error("server error: " + msg_.code);
            // Our durable sends are the only ones the server rejects out loud.
            if (msg_.error.find("GraphOp") != std::string::npos) {
                ++metrics.durable_rejected;
                sh_.room_accepted[room].fetch_sub(1);
            }
            return;
        }
        case MsgType::GraphOp: {
            state.apply(msg_.op);
            if (msg_.seq) last_seq_ = std::max(last_seq_.value_or(0), *msg_.seq);
            if (resuming_) ++metrics.replayed;
            auto it = sh_.index_of.find(msg_.user_id);
            auto mark = extract_marker(msg_);
            if (it == sh_.index_of.end() || !mark) return;
            if (it->second == index_) {
                ++metrics.echoes;
                unacked_.erase(mark->seq);
                return;
            }
            SeqTracker& t = trackers_[it->second];
            if (t.seen.size() <= mark->seq) t.seen.resize(mark->seq + 64, false);
            if (t.seen[mark->seq]) {
                ++metrics.durable_duplicates;
                return;
            }
            t.seen[mark->seq] = true;
            if (t.any && mark->seq < t.max_seen) ++metrics.durable_out_of_order;
            t.max_seen = std::max(t.max_seen, mark->seq);
            t.any = true;
            ++metrics.durable_received;
            ++durable_unique;
            sh_.durable_received.fetch_add(1, std::memory_order_relaxed);
            if (mark->t_us < sh_.warmup_us) return;
            auto lat = static_cast<std::uint64_t>(std::max<std::int64_t>(now - mark->t_us, 0));
            metrics.latency.record(lat);
            if (sh_.cfg.progress) sh_.live_hist[Histogram::index_of(lat)].fetch_add(1, std::memory_order_relaxed);
            if (mark->seq < sh_.sent_at_cap) {
                std::int64_t actual = sh_.sent_at[it->second][mark->seq].load(std::memory_order_acquire);
                if (actual > 0) metrics.latency_uncorrected.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - actual, 0)));
            }
            return;
        }
        case MsgType::CursorMove:
        case MsgType::Awareness:
        case MsgType::TableDragStart:
        case MsgType::TableDragEnd:
        case MsgType::IdleStatus:
        case MsgType::UserViewport: {
            ++metrics.volatile_received;
            sh_.volatile_received.fetch_add(1, std::memory_order_relaxed);
            auto mark = extract_marker(msg_);
            if (mark && mark->t_us >= sh_.warmup_us)
                metrics.staleness.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - mark->t_us, 0)));
            return;
        }
        default: return;
    }
}

void SimUser::mark_joined() {
    if (joined) return;
    joined = true;
    metrics.join_time.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - connect_started_).count()));
    sh_.joined.fetch_add(1);
    sh_.room_joined[room].fetch_add(1);
}

void SimUser::start_schedule() {
    if (closed) return;
    schedule_next();
}

void SimUser::schedule_next() {
    has_next_ = script_.next(next_);
    if (!has_next_) {
        if (!schedule_done) {
            schedule_done = true;
            sh_.done.fetch_add(1);
        }
        return;
    }
    timer_.expires_at(sh_.epoch() + std::chrono::microseconds(next_.t_us));
    timer_.async_wait([this](beast::error_code ec) { on_timer(ec); });
}

void SimUser::on_timer(beast::error_code ec) {
    if (ec || closed) return;
    const auto now = sh_.now_us();
    metrics.send_lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - next_.t_us, 0)));
    if (next_.durable) {
        ++metrics.sent_durable;
        sh_.room_accepted[room].fetch_add(1);
    }
    auto frame = std::make_shared<const std::string>(std::move(next_.frame));
    enqueue(std::move(frame), next_.type, next_.durable ? static_cast<std::int64_t>(next_.seq) : -1);
    schedule_next();
}

void SimUser::enqueue(std::shared_ptr<const std::string> frame, MsgType type, std::int64_t durable_seq) {
    outbox_.push_back({std::move(frame), type, durable_seq});
    do_write();
}

void SimUser::send_control(std::string frame, MsgType type) {
    control_.push_back({std::make_shared<const std::string>(std::move(frame)), type, -1});
    do_write();
}

// Control frames first; the workload's only once joined and not resuming (held meanwhile).
void SimUser::do_write() {
    if (writing_ || closed || !connected_) return;
    const bool control = !control_.empty();
    if (!control && (outbox_.empty() || !authed_ || resuming_)) return;
    writing_ = true;
    Out& o = control ? control_.front() : outbox_.front();
    if (o.durable_seq >= 0) {
        // The actual write start: the uncorrected latency counts from here.
        if (static_cast<std::uint64_t>(o.durable_seq) < sh_.sent_at_cap)
            sh_.sent_at[index_][static_cast<std::size_t>(o.durable_seq)].store(sh_.now_us(), std::memory_order_release);
        if (sh_.cfg.reconnect.enabled) unacked_[static_cast<std::uint64_t>(o.durable_seq)] = o;
    }
    Conn* c = c_.get();
    c->ws.async_write(net::buffer(*o.data), [this, c, control](beast::error_code ec, std::size_t n) {
        if (c != c_.get() || !writing_) return;  // a connection given up meanwhile
        writing_ = false;
        auto& q = control ? control_ : outbox_;
        Out o = std::move(q.front());
        q.pop_front();
        if (ec) return lost_connection("write: " + ec.message());
        metrics.bytes_out += n;
        metrics.bytes_out_by_type[liveshare::index_of(o.type)] += n;
        ++metrics.msgs_out_by_type[liveshare::index_of(o.type)];
        if (o.type != MsgType::Auth && !control) {
            ++metrics.sent;
            sh_.sent.fetch_add(1, std::memory_order_relaxed);
        }
        do_write();
    });
}

void SimUser::close() {
    timer_.cancel();
    retry_timer_.cancel();
    if (closed || closing_) return;
    closing_ = true;
    if (!connected_ || !c_) {
        closed = true;
        sh_.closed.fetch_add(1);
        return;
    }
    c_->ws.async_close(websocket::close_code::normal, [this](beast::error_code) {
        if (!closed) {
            closed = true;
            sh_.closed.fetch_add(1);
        }
    });
}

}  // namespace

namespace {

// A fresh observer joins each room and reads the server's state: every client must hold it.
bool check_convergence(Shared& sh, std::vector<std::unique_ptr<SimUser>>& users,
                       std::vector<std::unique_ptr<net::io_context>>& iocs, std::string& detail) {
    std::vector<std::string> server_state(sh.room_ids.size());
    liveshare::Parser parser;
    for (std::size_t r = 0; r < sh.room_ids.size(); ++r) {
        try {
            // The original's client: Auth, RequestGraphState, and a Ping to know the request
            // was handled. A server with no tables answers nothing itself but asks a member.
            SyncClient obs(sh.ep, sh.room_ids[r], false);
            std::string auth;
            std::optional<std::string_view> password;
            if (!sh.cfg.room_password.empty()) password = sh.cfg.room_password;
            liveshare::encode_auth(auth, "00000000-0000-4000-8000-0000000000" + std::to_string(10 + r % 90),
                                   "observer", password, std::nullopt);
            obs.send(auth);
            liveshare::ServerMessage m;
            if (!obs.recv_type(MsgType::AuthResult, m, std::chrono::milliseconds(30000)) || !m.success) {
                detail = "observer could not join room " + std::to_string(r) + (m.error.empty() ? "" : ": " + m.error);
                return false;
            }
            obs.send(R"({"type":"RequestGraphState"})");
            obs.send(R"({"type":"Ping"})");
            bool got_state = false, got_pong = false;
            const auto until = Clock::now() + std::chrono::seconds(10);
            while (!got_state && Clock::now() < until) {
                // After the Pong, a member's forwarded answer gets two more seconds.
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
                auto f = obs.recv(got_pong ? std::min(left, std::chrono::milliseconds(2000)) : left);
                if (!f) break;
                std::string err;
                if (f->binary || !parser.parse_server(f->data, m, err)) continue;
                if (m.type == MsgType::Pong) got_pong = true;
                if (m.type == MsgType::GraphState &&
                    (m.target_user_id.empty() || m.target_user_id.starts_with("00000000-0000-4000-8000-0000000000")))
                    got_state = true;
            }
            if (!got_state && !got_pong) {
                detail = "observer got no answer to RequestGraphState in room " + std::to_string(r);
                return false;
            }
            // No answer at all: the server holds no tables and nobody else had any.
            server_state[r] = got_state ? m.state.to_json() : liveshare::SchemaState().to_json();
            obs.close();
        } catch (const std::exception& e) {
            detail = std::string("observer failed: ") + e.what();
            return false;
        }
    }
    // Each client's state is read on its own thread: a late echo may still be applying it.
    std::vector<std::string> client_state(users.size());
    std::vector<char> include(users.size(), 0);
    std::atomic<std::size_t> read{0};
    for (std::size_t i = 0; i < users.size(); ++i)
        net::post(*iocs[i % iocs.size()], [&, i] {
            include[i] = !(users[i]->metrics.errors.size() && !users[i]->joined);
            client_state[i] = users[i]->state.to_json();
            read.fetch_add(1, std::memory_order_release);
        });
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (read.load(std::memory_order_acquire) < users.size() && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (read.load(std::memory_order_acquire) < users.size()) {
        detail = "client states could not be read in time";
        return false;
    }
    std::size_t diverged = 0, checked = 0;
    for (std::size_t i = 0; i < users.size(); ++i) {
        if (!include[i]) continue;
        ++checked;
        if (client_state[i] != server_state[users[i]->room]) ++diverged;
    }
    detail = std::to_string(checked - diverged) + "/" + std::to_string(checked) + " clients equal the server state";
    return diverged == 0;
}

}  // namespace

// Timer lateness that means the generator could not keep its schedule: a tenth of the
// shortest interval between one user's messages in this workload, at least 1 ms.
double send_lag_limit_ms(const LoadTestConfig& cfg) {
    double interval_ms = 20;  // editing and cursor_storm: cursor moves at 50 Hz
    if (cfg.workload == Workload::Seed) interval_ms = static_cast<double>(cfg.interval.count());
    if (cfg.workload == Workload::Burst) interval_ms = static_cast<double>(cfg.burst_every.count());
    return std::max(1.0, interval_ms / 10.0);
}

LoadTestResult run_load_test(const LoadTestConfig& cfg, pid_t server_pid) {
    Shared sh(cfg);
    sh.ep = parse_ws_url(cfg.target);
    {
        net::io_context tmp;
        tcp::resolver resolver(tmp);
        sh.address = *resolver.resolve(sh.ep.host, std::to_string(sh.ep.port)).begin();
    }
    // Deterministic identities from the seed.
    std::mt19937_64 rng(cfg.seed);
    std::size_t room_size = cfg.room_size ? cfg.room_size : std::max<std::size_t>(cfg.users, 1);
    const std::size_t rooms = cfg.rooms.empty() ? (cfg.users + room_size - 1) / room_size : cfg.rooms.size();
    if (!cfg.rooms.empty()) {
        sh.room_ids = cfg.rooms;
        room_size = (cfg.users + sh.room_ids.size() - 1) / sh.room_ids.size();
    } else {
        for (std::size_t r = 0; r < rooms; ++r) sh.room_ids.push_back(make_uuid(rng));
    }
    sh.room_accepted.reset(new std::atomic<std::int64_t>[rooms]);
    sh.room_joined.reset(new std::atomic<std::int64_t>[rooms]);
    for (std::size_t r = 0; r < rooms; ++r) {
        sh.room_accepted[r] = 0;
        sh.room_joined[r] = 0;
    }
    for (std::size_t i = 0; i < cfg.users; ++i) {
        sh.user_ids.push_back(make_uuid(rng));
        sh.table_uuids.push_back(make_uuid(rng));
        sh.index_of.emplace(sh.user_ids.back(), static_cast<std::uint32_t>(i));
        sh.room_of.push_back(i / room_size);
    }
    const auto total = cfg.warmup + cfg.duration;
    const auto min_interval = cfg.workload == Workload::Seed ? cfg.interval : std::chrono::milliseconds(200);
    sh.sent_at_cap = static_cast<std::size_t>(total / std::max(min_interval, std::chrono::milliseconds(1))) + 8;
    if (cfg.messages_per_user) sh.sent_at_cap = std::min(sh.sent_at_cap, cfg.messages_per_user + 8);
    for (std::size_t i = 0; i < cfg.users; ++i) {
        sh.sent_at.emplace_back(new std::atomic<std::int64_t>[sh.sent_at_cap]);
        for (std::size_t k = 0; k < sh.sent_at_cap; ++k) sh.sent_at.back()[k].store(0);
    }
    sh.warmup_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup).count();

    std::vector<std::string> room_errors;
    if (cfg.rooms.empty()) {
        // The run's rooms exist before anyone joins, created as the original's UI does (a
        // protected room's password is hashed on the server's KDF pool).
        std::string body = "{\"name\":null,\"password\":";
        if (cfg.room_password.empty()) body += "null";
        else liveshare::json::append_string(body, cfg.room_password);
        body += ",\"max_users\":null}";
        // 409: it exists already (an earlier run with the same seed). Anything else is an
        // error of the run; the joins then show whether the rooms are usable.
        for (const auto& id : sh.room_ids) {
            std::string why;
            try {
                auto res = http_request(sh.ep, "POST", "/room/" + id, body, std::chrono::milliseconds(30000), cfg.rest_header);
                if (res.status != 201 && res.status != 409) why = "answered " + std::to_string(res.status);
            } catch (const std::exception& e) {
                why = e.what();
            }
            if (!why.empty()) room_errors.push_back("room creation: POST /room/{id} " + why);
        }
    }
    // Many users per generator thread, each thread its own io_context (wrk-style).
    const unsigned nthreads = std::max(1u, cfg.generator_threads);
    std::vector<std::unique_ptr<net::io_context>> iocs;
    for (unsigned t = 0; t < nthreads; ++t) iocs.push_back(std::make_unique<net::io_context>(1));
    std::vector<std::unique_ptr<SimUser>> users;
    for (std::size_t i = 0; i < cfg.users; ++i) users.push_back(std::make_unique<SimUser>(*iocs[i % nthreads], sh, i));
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (auto& ioc : iocs) guards.push_back(net::make_work_guard(*ioc));
    std::vector<std::thread> threads;
    for (auto& ioc : iocs) threads.emplace_back([&ioc] { ioc->run(); });

    LoadTestResult result;
    LoadTestMetrics& M = result.metrics;
    for (const auto& e : room_errors) M.totals.error(e);
    if (ProcSample ps; server_pid > 0 && read_proc(server_pid, ps)) M.start_server_rss_mb = ps.rss_mb;
    std::unique_ptr<ProcessSampler> sampler;
    if (server_pid > 0) {
        sampler = std::make_unique<ProcessSampler>(server_pid);
        sampler->start();
    }
    const bool show = cfg.progress && isatty(STDERR_FILENO);

    // Phase 1: everyone joins (all at once: for join_storm this is the measurement).
    const auto join_start = Clock::now();
    sh.set_epoch(join_start);
    for (std::size_t i = 0; i < users.size(); ++i) net::post(*iocs[i % nthreads], [p = users[i].get()] { p->connect(); });
    const auto join_deadline = join_start + cfg.join_timeout + std::chrono::milliseconds(10 * cfg.users);
    while (sh.joined + sh.join_failed < cfg.users && Clock::now() < join_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    M.join_all_ms = std::chrono::duration<double, std::milli>(Clock::now() - join_start).count();
    M.users = cfg.users;
    M.users_joined = sh.joined.load();
    M.rooms = rooms;

    if (cfg.idle_hold.count() > 0) {
        // Idle connections: hold them, then check the server still answers quickly.
        std::this_thread::sleep_for(cfg.idle_hold);
        ProcSample ps;
        if (server_pid > 0 && read_proc(server_pid, ps)) M.held_server_rss_mb = ps.rss_mb;
        try {
            auto t0 = Clock::now();
            http_request(sh.ep, "GET", "/healthz");
            M.probe_healthz_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            t0 = Clock::now();
            SyncClient probe(sh.ep, make_uuid(rng), false);
            std::string auth;
            liveshare::encode_auth(auth, make_uuid(rng), "probe", std::nullopt, std::nullopt);
            probe.send(auth);
            liveshare::ServerMessage m;
            if (probe.recv_type(MsgType::AuthResult, m, std::chrono::milliseconds(10000)) && m.success) {
                M.probe_join_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                t0 = Clock::now();
                probe.send("{\"type\":\"Ping\"}");
                if (probe.recv_type(MsgType::Pong, m, std::chrono::milliseconds(10000)))
                    M.probe_pong_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            }
            probe.close();
        } catch (const std::exception& e) {
            M.totals.error(std::string("probe: ") + e.what());
        }
    }

    // Phase 2: the open-model schedule, from a common epoch slightly in the future.
    sh.set_epoch(Clock::now() + std::chrono::milliseconds(50));
    const auto send_start = sh.epoch();
    // Every rate is measured over the sending window: server CPU, each generator thread's
    // CPU, the machine's, and the deliveries that arrived within it.
    struct WindowMark {
        ProcSample server;
        bool server_read = false;
        std::vector<double> threads;
        MachineCpu machine;
        std::uint64_t delivered = 0;
    };
    auto mark = [&] {
        WindowMark w;
        if (server_pid > 0) w.server_read = read_proc(server_pid, w.server);
        for (auto& t : threads) w.threads.push_back(thread_cpu_seconds(t));
        w.machine = machine_cpu();
        w.delivered = sh.durable_received.load() + sh.volatile_received.load();
        return w;
    };
    const double lo_before = loopback_tx_bytes();
    if (cfg.workload != Workload::JoinStorm)
        for (std::size_t i = 0; i < users.size(); ++i)
            net::post(*iocs[i % nthreads], [p = users[i].get()] { p->start_schedule(); });
    else
        sh.done = cfg.users;
    // The window opens at the epoch the schedules count from (timers are set by now).
    std::this_thread::sleep_until(send_start);
    const WindowMark w0 = mark();
    if (cfg.stall_for.count() > 0) {
        std::this_thread::sleep_until(send_start + cfg.stall_at);
        for (auto& ioc : iocs) net::post(*ioc, [d = cfg.stall_for] { std::this_thread::sleep_for(d); });
    }
    auto last_print = Clock::now();
    std::uint64_t last_sent = 0;
    const auto send_deadline = send_start + total + std::chrono::seconds(5);
    std::vector<char> fired(cfg.triggers.size(), 0);
    auto fire_triggers = [&](bool all) {
        for (std::size_t k = 0; k < cfg.triggers.size(); ++k)
            if (!fired[k] && (all || sh.sent.load() >= cfg.triggers[k].after_sent)) {
                fired[k] = 1;
                cfg.triggers[k].fire();
            }
    };
    while (sh.done < cfg.users && Clock::now() < send_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        fire_triggers(false);
        if (show && Clock::now() - last_print >= std::chrono::seconds(1)) {
            std::uint64_t cnt = 0, acc = 0, p99 = 0;
            for (auto& b : sh.live_hist) cnt += b.load(std::memory_order_relaxed);
            for (std::size_t i = 0; i < sh.live_hist.size() && cnt; ++i) {
                acc += sh.live_hist[i].load(std::memory_order_relaxed);
                if (acc * 100 >= cnt * 99) {
                    p99 = Histogram::highest_of(i);
                    break;
                }
            }
            std::uint64_t sent = sh.sent.load();
            std::fprintf(stderr, "\r[load] users %zu/%zu  t=%.0fs  sent/s %llu  delivered %llu  p99 %.1f ms   ",
                         sh.joined.load(), cfg.users,
                         std::chrono::duration<double>(Clock::now() - send_start).count(),
                         static_cast<unsigned long long>(sent - last_sent),
                         static_cast<unsigned long long>(sh.durable_received.load()), static_cast<double>(p99) / 1000.0);
            last_sent = sent;
            last_print = Clock::now();
        }
    }
    const WindowMark w1 = mark();
    M.measured_s = std::chrono::duration<double>(Clock::now() - send_start).count();
    fire_triggers(true);
    if (sh.ep.host == "127.0.0.1" || sh.ep.host == "localhost")
        M.loopback_mbps = (loopback_tx_bytes() - lo_before) * 8 / std::max(M.measured_s, 1e-3) / 1e6;
    if (show) std::fprintf(stderr, "\n");

    if (cfg.before_drain) cfg.before_drain();
    // Phase 3: drain until every expected durable delivery arrived, or the drain time is up.
    auto expected_total = [&] {
        std::int64_t e = 0;
        for (std::size_t r = 0; r < rooms; ++r)
            e += sh.room_accepted[r].load() * std::max<std::int64_t>(sh.room_joined[r].load() - 1, 0);
        return static_cast<std::uint64_t>(std::max<std::int64_t>(e, 0));
    };
    const auto drain_start = Clock::now();
    const auto drain_deadline = drain_start + cfg.drain;
    while (Clock::now() < drain_deadline && sh.durable_received.load() < expected_total())
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    M.drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
    M.deliveries_in_drain = sh.durable_received.load() + sh.volatile_received.load() - w1.delivered;

    // Convergence is a result only where it was checked: otherwise "not checked", never "yes".
    if (M.users_joined == 0) {
        M.convergence_detail = "not checked: no user joined";
    } else if (cfg.check_convergence && cfg.workload != Workload::JoinStorm && cfg.workload != Workload::CursorStorm) {
        M.convergence = check_convergence(sh, users, iocs, M.convergence_detail) ? Convergence::Converged : Convergence::Diverged;
    } else {
        M.convergence_detail = "not checked for this workload";
    }

    if (sampler) {
        sampler->stop();
        auto s = sampler->summary();
        M.server_measured = s.samples >= 2 && w0.server_read && w1.server_read;
        M.server_cpu_pct = 100.0 * (w1.server.cpu_seconds - w0.server.cpu_seconds) / std::max(M.measured_s, 1e-3);
        M.server_cpu_peak_pct = s.cpu_peak_pct;
        M.server_rss_mb = s.rss_mb;
        M.server_rss_peak_mb = s.rss_peak_mb;
    }
    double gen_cpu = 0, gen_thread_peak = 0;
    for (std::size_t t = 0; t < w0.threads.size(); ++t) {
        const double used = w1.threads[t] - w0.threads[t];
        gen_cpu += used;
        gen_thread_peak = std::max(gen_thread_peak, used);
    }

    // Phase 4: close every connection (bounded), then stop the generator threads.
    for (std::size_t i = 0; i < users.size(); ++i) net::post(*iocs[i % nthreads], [p = users[i].get()] { p->close(); });
    const auto close_deadline = Clock::now() + std::chrono::seconds(3);
    while (sh.closed < cfg.users && Clock::now() < close_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    guards.clear();
    for (auto& ioc : iocs) ioc->stop();
    for (auto& t : threads) t.join();

    // Phase 5: totals. Expected durable deliveries per receiver: what the others in its room
    // sent (minus what the server rejected out loud) while it was in the room.
    std::vector<std::uint64_t> room_sent(rooms, 0);
    for (auto& u : users)
        room_sent[u->room] += u->metrics.sent_durable - std::min(u->metrics.sent_durable, u->metrics.durable_rejected);
    for (auto& u : users) {
        if (u->metrics.join_time.count())
            u->metrics.durable_expected = room_sent[u->room] - (u->metrics.sent_durable - std::min(u->metrics.sent_durable, u->metrics.durable_rejected));
        M.totals.merge(u->metrics);
        result.per_user.push_back(u->metrics);
    }
    if (M.users_joined < cfg.users) M.totals.error("never joined", cfg.users - M.users_joined);
    const auto& T = M.totals;
    const double secs = std::max(M.measured_s, 1e-3);
    M.msgs_sent_per_s = static_cast<double>(T.sent) / secs;
    M.deliveries_per_s = static_cast<double>(w1.delivered - w0.delivered) / secs;
    M.mb_per_s_in = static_cast<double>(T.bytes_out) / secs / 1e6;   // client -> server
    M.mb_per_s_out = static_cast<double>(T.bytes_in) / secs / 1e6;   // server -> clients
    M.mbps_in = M.mb_per_s_in * 8;
    M.mbps_out = M.mb_per_s_out * 8;
    M.mbps_out_per_user = M.users_joined ? M.mbps_out / static_cast<double>(M.users_joined) : 0;
    M.lost = T.durable_expected > T.durable_received ? T.durable_expected - T.durable_received : 0;
    if (T.durable_expected)
        M.delivery_pct = 100.0 * static_cast<double>(T.durable_received) / static_cast<double>(T.durable_expected);
    for (auto& [k, v] : T.errors) M.error_count += v;
    M.error_pct = 100.0 * static_cast<double>(M.error_count) / static_cast<double>(std::max<std::uint64_t>(T.sent + cfg.users, 1));
    M.generator_cpu_pct = 100.0 * gen_cpu / secs;
    M.generator_thread_peak_pct = 100.0 * gen_thread_peak / secs;
    M.machine_busy_pct = machine_busy_pct(w0.machine, w1.machine);
    M.send_lag_p99_ms = static_cast<double>(T.send_lag.percentile(99)) / 1000.0;
    M.send_lag_limit_ms = send_lag_limit_ms(cfg);
    const auto sat = judge_saturation(M.generator_thread_peak_pct, M.send_lag_p99_ms, M.send_lag_limit_ms, M.machine_busy_pct);
    M.generator_saturated = sat.generator;
    M.machine_saturated = sat.machine;
    return result;
}

}  // namespace harness
