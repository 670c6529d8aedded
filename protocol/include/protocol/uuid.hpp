// UUID text: random (version 4) ids, and the hyphenated form docs/protocol.md's `Uuid` fields take.
#pragma once
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace liveshare {

inline std::string format_uuid_v4(std::uint64_t a, std::uint64_t b) {
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

// 8-4-4-4-12 hex digits with hyphens (either case), as the original's `Uuid` fields carry.
inline bool is_valid_uuid(std::string_view id) {
    if (id.size() != 36) return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
        const char c = id[i];
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// A stable UUID for a stored snapshot: the room's id hashed into the high bits, the snapshot's
// row number in the low 48, so the same snapshot has the same id across restarts.
inline std::string snapshot_uuid(std::string_view room_id, std::int64_t row) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : room_id) h = (h ^ c) * 1099511628211ULL;
    return format_uuid_v4(h, (h << 48) | (static_cast<std::uint64_t>(row) & 0xffffffffffffULL));
}

}  // namespace liveshare
