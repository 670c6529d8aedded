// The harness's one Beast translation unit: HTTP requests (room creation, /metrics) and the
// blocking SyncClient the tests and the convergence check use. The simulated users of a load
// run do not use Beast: they frame the WebSocket themselves (sim_user.cpp).
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "clients/client.hpp"

namespace harness {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using liveshare::MsgType;

Endpoint parse_ws_url(const std::string& url, const TlsOptions& tls) {
    auto u = boost::urls::parse_uri(url);
    if (!u)
        throw std::invalid_argument("target must be ws://HOST:PORT or wss://HOST:PORT, got '" +
                                    url + "' (" + u.error().message() + ")");
    if (u->scheme() != "ws" && u->scheme() != "wss")
        throw std::invalid_argument("target must be ws://HOST:PORT or wss://HOST:PORT, got '" +
                                    url + "'");
    if (!u->has_port()) throw std::invalid_argument("target needs a port: '" + url + "'");
    if (u->port_number() == 0) throw std::invalid_argument("bad port in '" + url + "'");
    // An IPv6 literal keeps no brackets: it is handed to the resolver as an address.
    Endpoint ep{u->host_address(), u->port_number(), nullptr, {}};
    if (u->scheme() == "wss") ep.tls = std::make_shared<const TlsClientContext>(tls);
    return ep;
}

std::pair<std::string, std::string> parse_upgrade_header(const std::string& line) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
        throw std::invalid_argument("a header is 'Name: value', got '" + line + "'");
    const std::string name = line.substr(0, colon);
    const auto tchar = [](unsigned char c) {
        return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    };
    if (!std::all_of(name.begin(), name.end(), tchar))
        throw std::invalid_argument("header name '" + name + "' is not an RFC 7230 token");
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "host" || lower == "upgrade" || lower == "connection" ||
        lower.starts_with("sec-websocket-"))
        throw std::invalid_argument("'" + name + "' is the client's own header of the upgrade");
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? "" : value.substr(first);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
        throw std::invalid_argument("header '" + name + "' has CR, LF or NUL in its value");
    return {name, value};
}

std::string Endpoint::url() const {
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(secure() ? "wss://" : "ws://") + (v6 ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// An Asio SSL context over the endpoint's own SSL_CTX (one more reference: Asio frees its own).
net::ssl::context asio_context(const Endpoint& ep) {
    SSL_CTX_up_ref(ep.tls->native());
    return net::ssl::context(ep.tls->native());
}

// The TLS handshake of a blocking client: SNI and the name check as the simulated users do,
// and a failure named as they name it.
void tls_handshake(TlsStream& stream, const Endpoint& ep) {
    ep.tls->prepare(stream.native_handle(), ep.host);
    beast::error_code ec;
    stream.handshake(net::ssl::stream_base::client, ec);
    if (ec) throw std::runtime_error("tls handshake: " + tls_failure(stream.native_handle()));
}

template <class Stream>
HttpResponse http_exchange(Stream& stream, const Endpoint& ep, const std::string& method,
                           const std::string& target, const std::string& body,
                           const std::string& extra_header) {
    beast::error_code ec;
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
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace

HttpResponse http_request(const Endpoint& ep, const std::string& method, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::string& extra_header) {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec) throw std::runtime_error("resolve " + ep.host + ": " + ec.message());
    auto connect = [&](beast::tcp_stream& s) {
        s.expires_after(timeout);
        s.connect(results, ec);
        if (ec) throw std::runtime_error("connect: " + ec.message());
    };
    if (!ep.secure()) {
        beast::tcp_stream stream(ioc);
        connect(stream);
        return http_exchange(stream, ep, method, target, body, extra_header);
    }
    auto ctx = asio_context(ep);
    TlsStream stream(ioc, ctx);
    connect(beast::get_lowest_layer(stream));
    tls_handshake(stream, ep);
    return http_exchange(stream, ep, method, target, body, extra_header);
}

// ------------------------------------------------------------------ SyncClient

struct SyncClient::Impl {
    net::io_context ioc;
    // ws:// or wss://: one of the two streams; with() hands the one in use to a generic lambda.
    std::unique_ptr<websocket::stream<beast::tcp_stream>> plain;
    std::optional<net::ssl::context> ssl_ctx;
    std::unique_ptr<websocket::stream<TlsStream>> secure;
    template <class F>
    decltype(auto) with(F&& f) {
        return secure ? f(*secure) : f(*plain);
    }
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
        with([this](auto& ws) {
            ws.async_read(buffer, [this, &ws](beast::error_code ec, std::size_t) {
                on_read(ec, ws.reason().code, ws.got_binary());
            });
        });
    }
    void on_read(beast::error_code ec, std::uint16_t reason, bool binary) {
        {
            reading = false;
            std::lock_guard lock(mu);
            if (ec) {
                is_closed = true;
                code = reason;
                cv.notify_all();
                return;
            }
            std::string data = beast::buffers_to_string(buffer.data());
            if (!binary && !data.empty() && data.front() == '[') {
                // A batch frame: queue its messages one by one, in order.
                std::string padded = data + std::string(liveshare::kParsePadding, '\0');
                std::vector<std::string_view> parts;
                std::string err;
                if (batch_parser.split_batch(padded.data(), data.size(), parts, err))
                    for (auto part : parts) frames.push_back({std::string(part), false, true});
                else
                    frames.push_back({std::move(data), false, false});
            } else {
                frames.push_back({std::move(data), binary, false});
            }
            buffer.consume(buffer.size());
            cv.notify_all();
            net::post(ioc, [this] { read_loop(); });
        }
    }
    void write_next() {
        if (writing || outbox.empty()) return;
        writing = true;
        auto [data, binary] = outbox.front();
        outbox.pop_front();
        with([&](auto& ws) {
            ws.binary(binary);
            ws.async_write(net::buffer(*data), [this, data](beast::error_code ec, std::size_t) {
                writing = false;
                if (!ec) write_next();
            });
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
    if (ep.secure()) {
        impl_->ssl_ctx.emplace(asio_context(ep));
        impl_->secure = std::make_unique<websocket::stream<TlsStream>>(impl_->ioc, *impl_->ssl_ctx);
    } else {
        impl_->plain = std::make_unique<websocket::stream<beast::tcp_stream>>(impl_->ioc);
    }
    if (offer_v2 && protocols.empty()) protocols = std::string(liveshare::kSubprotocolV2);
    impl_->with([&](auto& ws) {
        auto& layer = beast::get_lowest_layer(ws);
        layer.expires_after(timeout);
        layer.connect(resolver.resolve(ep.host, std::to_string(ep.port)));
        if constexpr (std::is_same_v<std::decay_t<decltype(ws)>, websocket::stream<TlsStream>>)
            tls_handshake(ws.next_layer(), ep);
        ws.set_option(websocket::stream_base::decorator(
            [protocols, extra = ep.upgrade_headers](websocket::request_type& req) {
                if (!protocols.empty()) req.set(http::field::sec_websocket_protocol, protocols);
                for (const auto& [name, value] : extra) req.set(name, value);
            }));
        websocket::response_type res;
        ws.handshake(res, ep.host + ":" + std::to_string(ep.port), "/room/" + room_id);
        impl_->accepted_protocol = std::string(res[http::field::sec_websocket_protocol]);
        layer.expires_never();
    });
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

void SyncClient::send(std::string_view text) {
    impl_->enqueue(std::string(text), false);
}
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

bool SyncClient::recv_type(MsgType type, liveshare::ServerMessage& out,
                           std::chrono::milliseconds timeout) {
    liveshare::Parser parser;
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 1000000 && Clock::now() < deadline; ++i) {
        auto f =
            recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
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

std::string SyncClient::subprotocol() const {
    return impl_->accepted_protocol;
}

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
        impl_->with([](auto& ws) {
            ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
        });
    });
    wait_closed(std::chrono::milliseconds(2000));
}

void SyncClient::abort() {
    net::post(impl_->ioc, [this] {
        impl_->with([](auto& ws) {
            beast::error_code ec;
            beast::get_lowest_layer(ws).socket().close(ec);
        });
    });
}

}  // namespace harness
