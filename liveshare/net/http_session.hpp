// A new TCP connection: its descriptor waits in its loop's poller until its first bytes arrive
// (or the handshake timeout closes it). A whole WebSocket upgrade for the corked path goes
// straight to its room's loop; anything else becomes an HTTP/1.1 session (the REST routes,
// keep-alive) until a WebSocket upgrade, which moves the socket to its room's loop and hands it
// to the transport the profile names (corked: our framing; frame: Beast's stream). One of the
// two Beast translation units.
#pragma once
#include "net/context.hpp"
#include "net/loops.hpp"

namespace liveshare {

// On `loop`'s thread: a connection just accepted, its descriptor non-blocking, now `loop`'s.
void start_arrival(int fd, Context& ctx, Loop& loop);

}  // namespace liveshare
