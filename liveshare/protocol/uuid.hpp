// Random (version 4) UUID text from 128 random bits.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace liveshare {

inline std::string format_uuid_v4(std::uint64_t a, std::uint64_t b) {
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

}  // namespace liveshare
