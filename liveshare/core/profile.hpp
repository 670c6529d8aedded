// Optimization profiles: which variant each hot path uses, chosen at run time so one build
// compares them in one run. `baseline` mirrors the original's architecture.
#pragma once
#include <cstdint>
#include <string>

namespace liveshare {

// How frames reach the socket: Beast's stream, one frame per write operation (the original's
// way), or our own framing with every frame queued during one turn of the event loop in one
// write (the network layer's choice; see liveshare/net/).
enum class WritePath { Frame, Corked };
enum class CompressMode { None, Deflate };  // permessage-deflate, negotiated (write:frame only)

struct Profile {
    std::string name = "optimized";
    // Hot paths of the core (hot_paths.hpp), by variant name.
    std::string serialize = "splice";  // or "dom" (optimizations/serialization)
    std::string fanout = "shared";     // or "copy" (optimizations/fanout)
    std::string cursor = "coalesce";   // or "forward" (optimizations/cursors)
    // Network layer.
    CompressMode compress = CompressMode::None;
    std::uint32_t batch_window_us = 0;  // batching: 0 = batch what is queued when a write starts
    bool batch = false;                 // array frames for clients offering liveshare.v2+batch
    WritePath write = WritePath::Corked;
    std::uint32_t cork_us = 0;  // corked: hold a connection's first frame this long for more
    // corked: RFC 6455 8.1's UTF-8 check of text messages. `utf8:off` exists only to measure
    // what the check costs in one run; a server without it does not conform.
    bool utf8_check = true;

    std::string describe() const;  // "serialize:splice,fanout:shared,..."
};

Profile baseline_profile();
Profile optimized_profile();
// "baseline", "optimized", or a comma list of path:variant over optimized's defaults, e.g.
// "serialize:dom,fanout:copy,cursor:forward,compress:deflate,batch:250,write:frame,cork:250"
// (batch:<window_us> or batch:off). compress:deflate and a batch window imply write:frame.
// A hot-path variant must be registered (hot_paths.hpp). Returns false and sets `error`.
bool parse_profile(const std::string& spec, Profile& out, std::string& error);

}  // namespace liveshare
