// WebSocket clients of the harness (Boost.Beast, one translation unit): the simulated users
// of a load run, and a small blocking client for tests and convergence checks.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "clients/tls.hpp"
#include "protocol/codec.hpp"

namespace harness {

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
    // Set for wss:// (and then for https:// requests to the same host): the client context.
    std::shared_ptr<const TlsClientContext> tls;
    // Added to every WebSocket upgrade to this endpoint (a deployment's token or cookie).
    std::vector<std::pair<std::string, std::string>> upgrade_headers;
    bool secure() const { return tls != nullptr; }
    std::string url() const;  // "ws://HOST:PORT" or "wss://HOST:PORT"
};
// Parses "ws://HOST:PORT[/...]" or "wss://HOST:PORT[/...]" (then with a client context made
// from `tls`); throws std::invalid_argument with the reason.
Endpoint parse_ws_url(const std::string& url, const TlsOptions& tls = {});
// "Name: value" as a header of the WebSocket upgrade: the name an RFC 7230 token and not one
// the client writes itself (Host, Upgrade, Connection, Sec-WebSocket-*), the value without
// CR, LF or NUL. Throws std::invalid_argument with the reason.
std::pair<std::string, std::string> parse_upgrade_header(const std::string& line);

struct HttpResponse {
    int status = 0;
    std::string body;
};
// One blocking HTTP/1.1 request (HTTPS to a wss:// endpoint) with a timeout; throws
// std::runtime_error on failure (a TLS failure named as tls_failure() names it). A body
// goes as application/json; extra_header ("Name: value") is added when set.
HttpResponse http_request(const Endpoint& ep, const std::string& method, const std::string& target,
                          const std::string& body = "",
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                          const std::string& extra_header = "");

// A blocking client with a background reader: received frames queue up, recv() waits.
class SyncClient {
  public:
    struct Frame {
        std::string data;
        bool binary = false;
        bool from_batch = false;  // one message of a batch (array) frame, split by the reader
    };
    // offer_v2 offers "liveshare.v2"; `protocols` (if set) is offered instead, verbatim.
    SyncClient(const Endpoint& ep, const std::string& room_id, bool offer_v2 = false,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
               std::string protocols = "");
    ~SyncClient();
    SyncClient(const SyncClient&) = delete;
    SyncClient& operator=(const SyncClient&) = delete;

    void send(std::string_view text);
    void send_binary(std::span<const std::uint8_t> data);
    // Next frame, or nullopt on timeout or once the connection is closed.
    std::optional<Frame> recv(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // Reads frames until one of `type` arrives (parsed into out); false on timeout/close.
    bool recv_type(liveshare::MsgType type, liveshare::ServerMessage& out,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    bool closed() const;
    std::uint16_t close_code() const;  // the peer's close code once closed (0 if none)
    std::string subprotocol() const;   // what the server accepted
    void close();                      // a normal close handshake
    void abort();                      // drop the TCP connection without a close frame
    // Stop reading from the socket (a slow consumer), or start again.
    void pause_reading();
    void resume_reading();
    std::size_t queued() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace harness
