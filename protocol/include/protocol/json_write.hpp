// Minimal DOM-free JSON writing: append escaped strings and numbers to a std::string.
#pragma once
#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace liveshare::json {

// Appends s as a quoted JSON string, escaping what RFC 8259 requires.
inline void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
}

template <typename Int>
requires std::is_integral_v<Int>
inline void append_int(std::string& out, Int v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Shortest representation that round-trips, so a re-parsed double is bit-identical.
inline void append_double(std::string& out, double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

inline void append_bool(std::string& out, bool v) {
    out += v ? "true" : "false";
}

inline void append_bytes(std::string& out, std::span<const std::uint8_t> bytes) {
    out.push_back('[');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i) out.push_back(',');
        append_int(out, static_cast<unsigned>(bytes[i]));
    }
    out.push_back(']');
}

inline void append_pair(std::string& out, double x, double y) {
    out.push_back('[');
    append_double(out, x);
    out.push_back(',');
    append_double(out, y);
    out.push_back(']');
}

}  // namespace liveshare::json
