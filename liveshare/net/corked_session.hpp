// The corked write path (profile `write:corked`, the default): after Beast's HTTP upgrade the
// session frames the WebSocket itself on the raw socket. Every frame queued for a connection
// while the event loop handles its current work goes out in one write when that work is done
// (uWebSockets calls this corking); reads take whatever the socket has, up to 64 KiB, into a
// per-thread buffer and handle every message in it in place. Pings, pongs and closes go through
// the same writer, so nothing interleaves inside a frame. An idle connection holds no buffer.
#pragma once
#include <string>

#include "net/context.hpp"
#include "net/loops.hpp"

namespace liveshare {

// Takes over an upgraded socket, its descriptor `fd` (on `loop`, whose thread calls this; `loop`'s
// poller watches it from now on): writes `handshake_response` (the 101) first, then serves the
// WebSocket. `early_bytes`: what the client sent after its upgrade request, already read.
void start_corked_session(int fd, Context& ctx, Loop& loop, std::string room_id, bool wants_seq,
                          bool batch, std::string handshake_response, std::string early_bytes);

}  // namespace liveshare
