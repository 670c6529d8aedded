// WebSocket framing (RFC 6455, section 5) without Beast: frame headers, and a reader that
// takes whole buffers of bytes from a socket and yields complete messages, unmasked in place.
// The server's corked write path and the load generator both frame with it; Beast still does
// the HTTP upgrade and the `write:frame` profile candidate (see README, "Write path").
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/utf8.hpp"

namespace liveshare::ws {

enum class Opcode : std::uint8_t {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10
};

// Close codes the framing layer itself uses.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseInvalidData = 1007;  // text that is not UTF-8
inline constexpr std::uint16_t kCloseTooBig = 1009;

// A Sec-WebSocket-Key as RFC 6455 4.1 makes it: base64 of 16 bytes (22 alphabet characters,
// the last carrying 2 bits, then "==").
bool valid_client_key(std::string_view key);

// Bytes of a frame header for a payload of `len` bytes (2, 4 or 10; +4 when masked).
constexpr std::size_t header_size(std::size_t len, bool masked) {
    return (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}
inline constexpr std::size_t kMaxHeader = 14;

// A close code an endpoint may put on the wire (RFC 6455 section 7.4): the defined 1000-1003
// and 1007-1011, the IANA-registered 1012-1014, and 3000-4999 (libraries, applications).
// 1004-1006 and 1015 must never be sent; 0-999, 1016-2999 and 5000+ are not codes at all.
constexpr bool valid_close_code(std::uint16_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

// Writes a final frame's header to `dst` (header_size(len, mask) bytes) and returns its size.
// `mask` (4 bytes) marks a client frame; the caller masks the payload with mask_bytes().
std::size_t write_header(char* dst, Opcode op, std::size_t len, const std::uint8_t* mask = nullptr,
                         bool rsv1 = false);
// Appends a whole unmasked (server) frame.
void append_frame(std::string& out, Opcode op, std::string_view payload);
// Appends a whole masked (client) frame.
void append_masked_frame(std::string& out, Opcode op, std::string_view payload,
                         std::uint32_t mask_key);
// XORs `n` bytes with the 4-byte mask, starting at mask position `phase`.
void mask_bytes(char* p, std::size_t n, const std::uint8_t mask[4], std::size_t phase = 0);

// One message (or control frame) out of the reader.
struct Event {
    enum class Kind { Text, Binary, Ping, Pong, Close, Error } kind = Kind::Text;
    char* data = nullptr;  // payload, unmasked; for Text/Binary the whole message
    std::size_t len = 0;
    bool compressed = false;  // RSV1 on the first frame (permessage-deflate)
    std::uint16_t code = 0;  // Close: the peer's code (1005 if none); Error: the code to close with
    const char* error = "";  // Error: what was wrong
};

// Parses frames from buffers, in place. A complete unfragmented message is handed out where it
// lies in the caller's buffer (so the caller's buffer needs `pad` readable bytes past its data
// for simdjson); a fragmented one is assembled in the reader's own buffer.
class Reader {
  public:
    // masked_expected: a server reader requires masked frames, a client reader unmasked ones.
    // max_message: a longer message is an Error with code 1009. allow_rsv1: deflate negotiated.
    // Text that is not UTF-8 is an Error with code 1007, found fragment by fragment; a
    // compressed message is the caller's to check once inflated (valid_utf8).
    // check_utf8 false skips that check (only to measure its cost; not RFC 6455).
    Reader(bool masked_expected, std::size_t max_message, bool allow_rsv1 = false,
           bool check_utf8 = true)
        : max_(max_message),
          masked_(masked_expected),
          allow_rsv1_(allow_rsv1),
          check_utf8_(check_utf8) {}

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
    // The payload's own rules: UTF-8 of text, a close frame's code and reason.
    bool check_payload(const Header& h, const char* payload, std::size_t len, Event& err);

    // 32 B, one per connection: the assembly buffer of a fragmented message exists only
    // while one is being assembled.
    std::size_t max_;
    std::unique_ptr<std::string> frag_;  // a fragmented message being assembled
    Utf8Validator frag_utf8_;            // the text of frag_ so far
    bool masked_;
    bool allow_rsv1_;
    bool check_utf8_;
    bool in_fragment_ = false, frag_compressed_ = false, failed_ = false;
    Opcode frag_op_ = Opcode::Text;
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
        if (!check_payload(h, payload, len, ev)) {
            failed_ = true;
            on(ev);
            return n;
        }
        pos += h.header_len + len;
        bool go = true;
        switch (h.op) {
            case Opcode::Ping:
                ev = {Event::Kind::Ping, payload, len};
                go = on(ev);
                break;
            case Opcode::Pong:
                ev = {Event::Kind::Pong, payload, len};
                go = on(ev);
                break;
            case Opcode::Close: {
                ev.kind = Event::Kind::Close;
                ev.code = 1005;
                if (len >= 2) {
                    ev.code =
                        static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
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
                    ev = {h.op == Opcode::Text ? Event::Kind::Text : Event::Kind::Binary, payload,
                          len, h.rsv1};
                    go = on(ev);
                } else {
                    in_fragment_ = true;
                    frag_op_ = h.op;
                    frag_compressed_ = h.rsv1;
                    frag_ = std::make_unique<std::string>(payload, len);
                }
                break;
            case Opcode::Continuation:
                frag_->append(payload, len);
                if (h.fin) {
                    in_fragment_ = false;
                    const std::size_t whole = frag_->size();
                    frag_->append(64, '\0');  // parse padding
                    ev = {frag_op_ == Opcode::Text ? Event::Kind::Text : Event::Kind::Binary,
                          frag_->data(), whole, frag_compressed_};
                    go = on(ev);
                    frag_.reset();
                }
                break;
        }
        if (!go) break;
    }
    return pos;
}

}  // namespace liveshare::ws
