#include "protocol/ws_frame.hpp"

#include <cstring>

namespace liveshare::ws {

bool valid_client_key(std::string_view key) {
    auto b64 = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    };
    if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
    for (std::size_t i = 0; i < 22; ++i)
        if (!b64(key[i])) return false;
    // The last character holds the 16th byte's low 2 bits and four zero bits: A, Q, g or w.
    const char last = key[21];
    return last == 'A' || last == 'Q' || last == 'g' || last == 'w';
}

std::size_t write_header(char* dst, Opcode op, std::size_t len, const std::uint8_t* mask,
                         bool rsv1) {
    auto* p = reinterpret_cast<std::uint8_t*>(dst);
    p[0] = static_cast<std::uint8_t>(0x80 | (rsv1 ? 0x40 : 0) | static_cast<std::uint8_t>(op));
    const std::uint8_t m = mask ? 0x80 : 0;
    std::size_t i = 2;
    if (len < 126) {
        p[1] = static_cast<std::uint8_t>(m | len);
    } else if (len <= 0xFFFF) {
        p[1] = m | 126;
        p[2] = static_cast<std::uint8_t>(len >> 8);
        p[3] = static_cast<std::uint8_t>(len);
        i = 4;
    } else {
        p[1] = m | 127;
        for (int k = 0; k < 8; ++k)
            p[2 + k] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(len) >> (56 - 8 * k));
        i = 10;
    }
    if (mask) {
        std::memcpy(p + i, mask, 4);
        i += 4;
    }
    return i;
}

void append_frame(std::string& out, Opcode op, std::string_view payload) {
    const std::size_t at = out.size();
    out.resize(at + header_size(payload.size(), false));
    write_header(out.data() + at, op, payload.size());
    out.append(payload);
}

void append_masked_frame(std::string& out, Opcode op, std::string_view payload,
                         std::uint32_t mask_key) {
    std::uint8_t mask[4];
    std::memcpy(mask, &mask_key, 4);
    const std::size_t at = out.size();
    out.resize(at + header_size(payload.size(), true));
    write_header(out.data() + at, op, payload.size(), mask);
    const std::size_t body = out.size();
    out.append(payload);
    mask_bytes(out.data() + body, payload.size(), mask);
}

void mask_bytes(char* p, std::size_t n, const std::uint8_t mask[4], std::size_t phase) {
    std::size_t i = 0;
    // Align the mask to the start, then XOR eight bytes at a time.
    std::uint8_t m[8];
    for (int k = 0; k < 8; ++k) m[k] = mask[(phase + static_cast<std::size_t>(k)) & 3];
    std::uint64_t m64;
    std::memcpy(&m64, m, 8);
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        v ^= m64;
        std::memcpy(p + i, &v, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ m[i & 7]);
}

int Reader::parse_header(const char* buf, std::size_t n, Header& h, Event& err) const {
    const auto* p = reinterpret_cast<const std::uint8_t*>(buf);
    if (n < 2) return 0;
    h.fin = p[0] & 0x80;
    h.rsv1 = p[0] & 0x40;
    const bool rsv23 = p[0] & 0x30;
    h.op = static_cast<Opcode>(p[0] & 0x0F);
    h.masked = p[1] & 0x80;
    std::uint64_t len = p[1] & 0x7F;
    std::size_t i = 2;
    if (len == 126) {
        if (n < 4) return 0;
        len = (static_cast<std::uint64_t>(p[2]) << 8) | p[3];
        i = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int k = 0; k < 8; ++k) len = (len << 8) | p[2 + k];
        i = 10;
    }
    if (h.masked) {
        if (n < i + 4) return 0;
        std::memcpy(h.mask, p + i, 4);
        i += 4;
    }
    h.len = len;
    h.header_len = i;
    auto fail = [&](std::uint16_t code, const char* what) {
        err = {Event::Kind::Error, nullptr, 0, false, code, what};
        return -1;
    };
    if (rsv23 || (h.rsv1 && !allow_rsv1_)) return fail(kCloseProtocolError, "reserved bits set");
    if (h.masked != masked_)
        return fail(kCloseProtocolError,
                    masked_ ? "client frame not masked" : "server frame masked");
    return 1;
}

bool Reader::check(const Header& h, Event& err) {
    auto fail = [&](std::uint16_t code, const char* what) {
        err = {Event::Kind::Error, nullptr, 0, false, code, what};
        return false;
    };
    switch (h.op) {
        case Opcode::Close:
        case Opcode::Ping:
        case Opcode::Pong:
            if (!h.fin || h.len > 125)
                return fail(kCloseProtocolError, "control frame fragmented or over 125 bytes");
            if (h.rsv1) return fail(kCloseProtocolError, "control frame compressed");
            if (h.op == Opcode::Close && h.len == 1)
                return fail(kCloseProtocolError, "close frame of 1 byte");
            return true;
        case Opcode::Text:
        case Opcode::Binary:
            if (in_fragment_)
                return fail(kCloseProtocolError, "new message inside a fragmented one");
            if (h.len > max_) return fail(kCloseTooBig, "message too big");
            return true;
        case Opcode::Continuation:
            if (!in_fragment_) return fail(kCloseProtocolError, "continuation without a message");
            if (h.rsv1) return fail(kCloseProtocolError, "continuation frame with RSV1");
            if (frag_->size() + h.len > max_) return fail(kCloseTooBig, "message too big");
            return true;
    }
    return fail(kCloseProtocolError, "unknown opcode");
}

bool Reader::check_payload(const Header& h, const char* payload, std::size_t len, Event& err) {
    auto fail = [&](std::uint16_t code, const char* what) {
        err = {Event::Kind::Error, nullptr, 0, false, code, what};
        return false;
    };
    switch (h.op) {
        case Opcode::Text:
            if (h.rsv1 || !check_utf8_) return true;  // compressed: checked once inflated
            if (h.fin)
                return valid_utf8(payload, len) ||
                       fail(kCloseInvalidData, "text message is not UTF-8");
            frag_utf8_.reset();
            return frag_utf8_.feed(payload, len) ||
                   fail(kCloseInvalidData, "text message is not UTF-8");
        case Opcode::Continuation:
            if (frag_op_ != Opcode::Text || frag_compressed_ || !check_utf8_) return true;
            if (!frag_utf8_.feed(payload, len) || (h.fin && !frag_utf8_.complete()))
                return fail(kCloseInvalidData, "text message is not UTF-8");
            return true;
        case Opcode::Close: {
            if (len < 2) return true;
            const auto code =
                static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                           static_cast<std::uint8_t>(payload[1]));
            if (!valid_close_code(code)) return fail(kCloseProtocolError, "invalid close code");
            return valid_utf8(payload + 2, len - 2) ||
                   fail(kCloseInvalidData, "close reason is not UTF-8");
        }
        default:
            return true;
    }
}

std::size_t Reader::frame_size(const char* buf, std::size_t n) {
    // The header alone decides the size; its flags are not judged here.
    Reader any(false, 0, true);
    any.masked_ = n >= 2 && (static_cast<std::uint8_t>(buf[1]) & 0x80);
    Header h;
    Event ignored;
    if (any.parse_header(buf, n, h, ignored) <= 0) return 0;
    return h.header_len + static_cast<std::size_t>(h.len);
}

}  // namespace liveshare::ws
