// libFuzzer: the WebSocket frame reader on raw bytes from a socket, as the server (masked
// frames expected) and as the harness (unmasked). The first input byte picks the role and how
// the bytes are cut into reads. Properties: the events are the same however the bytes arrive
// (all at once or in pieces); a text message handed out is valid UTF-8 by the SIMD whole-message
// check too (the reader may have judged it fragment by fragment); a close handed out carries a
// code RFC 6455 7.4 allows; nothing is read outside the buffer (ASan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol/ws_frame.hpp"

namespace {

using liveshare::ws::Event;

// Feeds `bytes` in pieces of `step` (0: all at once), as a socket reader would: unconsumed
// bytes are offered again with the next piece. Returns a transcript of the events.
std::string run(const std::string& bytes, bool server, std::size_t step) {
    liveshare::ws::Reader reader(server, 1 << 16, /*allow_rsv1=*/!server);
    std::string transcript, pending;
    std::size_t at = 0;
    bool stop = false;
    while (!stop && at < bytes.size()) {
        const std::size_t take = step ? std::min(step, bytes.size() - at) : bytes.size() - at;
        pending.append(bytes, at, take);
        at += take;
        std::string buf = pending;
        buf.append(64, '\0');  // the padding the callers keep behind their data
        const std::size_t used = reader.feed(buf.data(), pending.size(), [&](Event& ev) {
            transcript += std::to_string(static_cast<int>(ev.kind)) + ":" +
                          std::to_string(ev.code) + ":" +
                          std::string(ev.data ? ev.data : "", ev.len) + "|";
            if (ev.kind == Event::Kind::Text && !ev.compressed &&
                !liveshare::valid_utf8(ev.data, ev.len))
                std::abort();
            if (ev.kind == Event::Kind::Close && ev.code != 1005 &&
                !liveshare::ws::valid_close_code(ev.code))
                std::abort();
            if (ev.kind == Event::Kind::Error) stop = true;
            return true;
        });
        pending.erase(0, used);
    }
    return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool server = data[0] & 1;
    const std::size_t step = 1 + (data[0] >> 1);  // 1..128 bytes a read
    const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (run(bytes, server, 0) != run(bytes, server, step)) std::abort();
    return 0;
}
