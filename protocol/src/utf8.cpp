#include "protocol/utf8.hpp"

#include <simdjson.h>

#include <cstring>

namespace liveshare {

namespace {

// Lead byte -> (continuation bytes, allowed range of the first continuation); need 0xFF marks a
// byte that can never lead. The narrowed ranges exclude overlong forms (E0, F0), surrogates (ED)
// and code points above U+10FFFF (F4), per the table in RFC 3629 section 4.
struct Lead {
    std::uint8_t need, lo, hi;
};
constexpr Lead lead_of(std::uint8_t b) {
    if (b < 0x80) return {0, 0x80, 0xBF};
    if (b < 0xC2) return {0xFF, 0, 0};  // continuation byte, or overlong C0/C1
    if (b < 0xE0) return {1, 0x80, 0xBF};
    if (b == 0xE0) return {2, 0xA0, 0xBF};
    if (b == 0xED) return {2, 0x80, 0x9F};
    if (b < 0xF0) return {2, 0x80, 0xBF};
    if (b == 0xF0) return {3, 0x90, 0xBF};
    if (b < 0xF4) return {3, 0x80, 0xBF};
    if (b == 0xF4) return {3, 0x80, 0x8F};
    return {0xFF, 0, 0};  // F5-FF
}

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

}  // namespace

bool Utf8Validator::feed(const char* data, std::size_t n) {
    if (failed_) return false;
    const auto* p = reinterpret_cast<const std::uint8_t*>(data);
    std::size_t i = 0;
    while (i < n) {
        if (need_ == 0) {
            // ASCII runs, eight bytes at a time: the common case for JSON.
            while (i + 8 <= n) {
                std::uint64_t v;
                std::memcpy(&v, p + i, 8);
                if (v & kHighBits) break;
                i += 8;
            }
            if (i == n) break;
            const std::uint8_t b = p[i++];
            if (b < 0x80) continue;
            const Lead l = lead_of(b);
            if (l.need == 0xFF) return failed_ = true, false;
            need_ = l.need;
            lo_ = l.lo;
            hi_ = l.hi;
            continue;
        }
        const std::uint8_t b = p[i++];
        if (b < lo_ || b > hi_) return failed_ = true, false;
        --need_;
        lo_ = 0x80;
        hi_ = 0xBF;
    }
    return true;
}

// A whole message: simdjson's SIMD validator, 1.1x (60 B) to 7x (11 KB) faster than the
// incremental one at this protocol's sizes (bench: utf8/simdjson against utf8/incremental).
bool valid_utf8(const char* p, std::size_t n) {
    return simdjson::validate_utf8(p, n);
}

}  // namespace liveshare
