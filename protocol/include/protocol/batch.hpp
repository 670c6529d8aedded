// Batching: what is queued for a recipient when its write starts (optionally after waiting
// a window) goes out as one JSON-array frame, one write, for clients that negotiated it.
// Baseline (the original): one frame and one write per message.
// Hypothesis: at high fan-out most of the per-message cost is the write path (a syscall
// and a WebSocket frame each), so N messages per write cut server CPU per delivery.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace liveshare {

// The subprotocols a client may offer (one is selected): seq numbers, plus batch frames.

// Joins complete JSON messages into one array frame: [m1,m2,...].
void append_batch(std::string& out, const std::vector<std::shared_ptr<const std::string>>& frames);

}  // namespace liveshare
