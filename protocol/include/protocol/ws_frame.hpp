// WebSocket framing (RFC 6455, section 5) without Beast: frame headers, and a reader that
// takes whole buffers of bytes from a socket and yields complete messages, unmasked in place.
// The server's corked write path and the load generator both frame with it; Beast still does
// the HTTP upgrade and the `write:frame` profile candidate (see README, "Write path").
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace liveshare::ws {

enum class Opcode : std::uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

// Close codes the framing layer itself uses.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseTooBig = 1009;

// Bytes of a frame header for a payload of `len` bytes (2, 4 or 10; +4 when masked).
constexpr std::size_t header_size(std::size_t len, bool masked) {
    return (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}
inline constexpr std::size_t kMaxHeader = 14;

// Writes a final frame's header to `dst` (header_size(len, mask) bytes) and returns its size.
// `mask` (4 bytes) marks a client frame; the caller masks the payload with mask_bytes().
std::size_t write_header(char* dst, Opcode op, std::size_t len, const std::uint8_t* mask = nullptr,
                         bool rsv1 = false);
// Appends a whole unmasked (server) frame.
void append_frame(std::string& out, Opcode op, std::string_view payload);
// Appends a whole masked (client) frame.
void append_masked_frame(std::string& out, Opcode op, std::string_view payload, std::uint32_t mask_key);
// XORs `n` bytes with the 4-byte mask, starting at mask position `phase`.
void mask_bytes(char* p, std::size_t n, const std::uint8_t mask[4], std::size_t phase = 0);

// One message (or control frame) out of the reader.
struct Event {
    enum class Kind { Text, Binary, Ping, Pong, Close, Error } kind = Kind::Text;
    char* data = nullptr;      // payload, unmasked; for Text/Binary the whole message
    std::size_t len = 0;
    bool compressed = false;   // RSV1 on the first frame (permessage-deflate)
    std::uint16_t code = 0;    // Close: the peer's code (1005 if none); Error: the code to close with
    const char* error = "";    // Error: what was wrong
};

// Parses frames from buffers, in place. A complete unfragmented message is handed out where it
// lies in the caller's buffer (so the caller's buffer needs `pad` readable bytes past its data
// for simdjson); a fragmented one is assembled in the reader's own buffer.
class Reader {
public:
    // masked_expected: a server reader requires masked frames, a client reader unmasked ones.
    // max_message: a longer message is an Error with code 1009. allow_rsv1: deflate negotiated.
    Reader(bool masked_expected, std::size_t max_message, bool allow_rsv1 = false)
        : masked_(masked_expected), max_(max_message), allow_rsv1_(allow_rsv1) {}

    // Consumes complete frames of buf[0, n) and calls on(Event&) for each message or control
    // frame; on() returns false to stop after that event. Returns the bytes consumed: the rest
    // (an incomplete frame, or what follows a stop) must be offered again later, unchanged.
    // After an Error event the reader is done: the caller closes the connection.
    template <typename On>
    std::size_t feed(char* buf, std::size_t n, On&& on);

    // Bytes of the frame that starts at buf (header included), 0 if the header is incomplete.
    static std::size_t frame_size(const char* buf, std::size_t n);

private:
    struct Header {
        bool fin = false, rsv1 = false, masked = false;
        Opcode op = Opcode::Text;
        std::uint8_t mask[4] = {0, 0, 0, 0};
        std::uint64_t len = 0;
        std::size_t header_len = 0;
    };
    // 1: header parsed; 0: incomplete; -1: protocol error (err set).
    int parse_header(const char* p, std::size_t n, Header& h, Event& err) const;
    bool check(const Header& h, Event& err);

    bool masked_;
    std::size_t max_;
    bool allow_rsv1_;
    bool in_fragment_ = false, frag_compressed_ = false;
    Opcode frag_op_ = Opcode::Text;
    std::string frag_;  // a fragmented message being assembled (with padding room)
    bool failed_ = false;
};

template <typename On>
std::size_t Reader::feed(char* buf, std::size_t n, On&& on) {
    std::size_t pos = 0;
    while (!failed_ && pos < n) {
        Header h;
        Event ev;
        const int r = parse_header(buf + pos, n - pos, h, ev);
        if (r == 0) break;
        if (r < 0 || !check(h, ev)) {
            failed_ = true;
            on(ev);
            return n;
        }
        if (n - pos - h.header_len < h.len) break;  // payload incomplete
        char* payload = buf + pos + h.header_len;
        const auto len = static_cast<std::size_t>(h.len);
        if (h.masked) mask_bytes(payload, len, h.mask);
        pos += h.header_len + len;
        bool go = true;
        switch (h.op) {
            case Opcode::Ping: ev = {Event::Kind::Ping, payload, len}; go = on(ev); break;
            case Opcode::Pong: ev = {Event::Kind::Pong, payload, len}; go = on(ev); break;
            case Opcode::Close: {
                ev.kind = Event::Kind::Close;
                ev.code = 1005;
                if (len >= 2) {
                    ev.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                         static_cast<std::uint8_t>(payload[1]));
                    ev.data = payload + 2;
                    ev.len = len - 2;
                }
                go = on(ev);
                break;
            }
            case Opcode::Text:
            case Opcode::Binary:
                if (h.fin) {
                    ev = {h.op == Opcode::Text ? Event::Kind::Text : Event::Kind::Binary, payload, len, h.rsv1};
                    go = on(ev);
                } else {
                    in_fragment_ = true;
                    frag_op_ = h.op;
                    frag_compressed_ = h.rsv1;
                    frag_.assign(payload, len);
                }
                break;
            case Opcode::Continuation:
                frag_.append(payload, len);
                if (h.fin) {
                    in_fragment_ = false;
                    const std::size_t whole = frag_.size();
                    frag_.append(64, '\0');  // parse padding
                    ev = {frag_op_ == Opcode::Text ? Event::Kind::Text : Event::Kind::Binary, frag_.data(), whole,
                          frag_compressed_};
                    go = on(ev);
                    frag_.resize(whole);
                }
                break;
        }
        if (!go) break;
    }
    return pos;
}

}  // namespace liveshare::ws
