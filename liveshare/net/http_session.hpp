// A new TCP connection: nothing but a wait until its first bytes arrive (or the handshake
// timeout closes it), then HTTP/1.1 requests (the REST routes, keep-alive) until a WebSocket
// upgrade, which moves the socket to its room's loop and hands it to the transport the profile
// names (corked: our framing; frame: Beast's stream). One of the two Beast translation units.
#pragma once
#include <boost/asio/ip/tcp.hpp>

#include "net/context.hpp"

namespace liveshare {

void start_http_session(boost::asio::ip::tcp::socket socket, Context& ctx);

}  // namespace liveshare
