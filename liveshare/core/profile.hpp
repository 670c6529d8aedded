// Optimization profiles: which candidate each hot path uses, chosen at run time so one build
// compares them in one run. `baseline` mirrors the original's architecture.
#pragma once
#include <cstdint>
#include <string>

namespace liveshare {

enum class SerializeMode { Dom, Splice };      // serialization/
enum class FanoutMode { Copy, Shared };        // fanout/
enum class CursorMode { Forward, Coalesce };   // cursors/
enum class CompressMode { None, Deflate };     // compression/ (zstd: micro only, see README)
// How frames reach the socket: Beast's stream, one frame per write operation (the old path),
// or our own framing with every frame queued during one turn of the event loop in one write.
enum class WritePath { Frame, Corked };

struct Profile {
    std::string name = "optimized";
    SerializeMode serialize = SerializeMode::Splice;
    FanoutMode fanout = FanoutMode::Shared;
    CursorMode cursor = CursorMode::Coalesce;
    CompressMode compress = CompressMode::None;
    std::uint32_t batch_window_us = 0;  // batching/: 0 = a frame per message
    bool batch = false;
    WritePath write = WritePath::Corked;  // deflate and batch windows need Beast: Frame
    std::uint32_t cork_us = 0;  // corked: hold a connection's first frame this long for more

    std::string describe() const;  // "serialize:splice,fanout:shared,..."
};

Profile baseline_profile();
Profile optimized_profile();
// "baseline", "optimized", or a comma list of path:variant over optimized's defaults, e.g.
// "serialize:dom,fanout:copy,cursor:forward,compress:deflate,batch:250,write:frame" (batch:<window_us>
// or batch:off; write:frame|corked; cork:<us>, a window for the corked writer). compress:deflate and a batch window imply write:frame. Returns false and sets `error` on an unknown name.
bool parse_profile(const std::string& spec, Profile& out, std::string& error);

}  // namespace liveshare
