#include "users/delivery_scan.hpp"

#include <charconv>

#include "protocol/schema_state.hpp"

namespace harness {

using liveshare::MsgType;
using liveshare::OpType;

namespace {

// A cursor over the message: each step either consumes what it expects or fails the scan.
struct Cursor {
    std::string_view s;
    bool eat(std::string_view lit) {
        if (!s.starts_with(lit)) return false;
        s.remove_prefix(lit.size());
        return true;
    }
    // A JSON string's contents up to its closing quote, without escapes (which would need
    // decoding: the full parse does that).
    bool plain_string(std::string_view& out) {
        const auto end = s.find('"');
        if (end == std::string_view::npos) return false;
        out = s.substr(0, end);
        if (out.find('\\') != std::string_view::npos) return false;
        s.remove_prefix(end + 1);
        return true;
    }
    template <typename T>
    bool integer(T& v) {
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec != std::errc{}) return false;
        s.remove_prefix(static_cast<std::size_t>(r.ptr - s.data()));
        return true;
    }
    // Moves past `key` (e.g. "\"op_type\":\"") found further on; false when absent.
    bool seek(std::string_view key) {
        const auto at = s.find(key);
        if (at == std::string_view::npos) return false;
        s.remove_prefix(at + key.size());
        return true;
    }
};

bool volatile_type(MsgType t) {
    return liveshare::delivery_of(t) == liveshare::Delivery::Volatile;
}

// "position":[SEQ,T] (or another key's pair) with both plain non-negative integers (what
// from_pair accepts); a pair in any other form (a fraction, an exponent) is for the full parse
// to judge.
bool position_marker(Cursor c, std::optional<Marker>& out,
                     std::string_view key = "\"position\":[") {
    Marker m;
    if (!c.seek(key) || !c.integer(m.seq) || !c.eat(",") || !c.integer(m.t_us) || !c.eat("]") ||
        m.t_us < 0)
        return false;
    out = m;
    return true;
}

// "default_value":"lsb:SEQ:T:..." (the marker string of the column ops).
bool column_marker(Cursor c, std::optional<Marker>& out) {
    Marker m;
    if (!c.seek("\"default_value\":\"")) return false;
    if (!c.eat("lsb:")) return true;  // a default value without a marker: none, as extract_marker
    if (!c.integer(m.seq) || !c.eat(":") || !c.integer(m.t_us)) return false;
    out = m;
    return true;
}

}  // namespace

bool scan_delivery(std::string_view msg, DeliveryScan& out) {
    Cursor c{msg};
    std::string_view type_name;
    if (!c.eat("{\"type\":\"") || !c.plain_string(type_name)) return false;
    const auto type = liveshare::msg_type_from(type_name);
    if (!type || (*type != MsgType::GraphOp && !volatile_type(*type))) return false;
    out = DeliveryScan{};
    out.type = *type;
    if (c.eat(",\"seq\":")) {
        std::uint64_t seq = 0;
        if (!c.integer(seq)) return false;
        out.seq = seq;
    }
    if (!c.eat(",\"payload\":{\"user_id\":\"") || !c.plain_string(out.user_id)) return false;
    if (out.type == MsgType::GraphOp) {
        Cursor op = c;
        std::string_view op_name;
        if (!op.seek("\"op_type\":\"") || !op.plain_string(op_name)) return false;
        const auto kind = liveshare::op_type_from(op_name);
        if (!kind) return false;
        switch (*kind) {
            case OpType::CreateTable:
            case OpType::MoveTable:
                return position_marker(c, out.marker);
            case OpType::AddColumn:
            case OpType::UpdateColumn:
                return column_marker(c, out.marker);
            default:
                return true;  // no marker, as extract_marker
        }
    }
    // The pair that carries the marker (PROTOCOL.md): CursorMove's and TableDragEnd's
    // position, TableDragStart's offset, Awareness's state cursor (null or absent: none); the
    // rest carry none.
    if (out.type == MsgType::IdleStatus || out.type == MsgType::UserViewport) return true;
    const std::string_view pair = out.type == MsgType::Awareness        ? "\"cursor\":["
                                  : out.type == MsgType::TableDragStart ? "\"offset\":["
                                                                        : "\"position\":[";
    const std::string_view key = pair.substr(0, pair.size() - 1);
    const auto at = c.s.find(key);
    if (at == std::string_view::npos) return true;  // no pair: none
    if (c.s.substr(at + key.size()).starts_with("null")) return true;
    return position_marker(c, out.marker, pair);
}

bool split_objects(std::string_view b, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t i = 0;
    const auto skip_ws = [&] {
        while (i < b.size() && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) ++i;
    };
    skip_ws();
    if (i >= b.size() || b[i] != '[') return false;
    ++i;
    skip_ws();
    if (i < b.size() && b[i] == ']') {
        ++i;
        skip_ws();
        return i == b.size();
    }
    while (i < b.size()) {
        if (b[i] != '{') return false;
        const std::size_t start = i;
        int depth = 0;
        bool in_string = false;
        for (; i < b.size(); ++i) {
            const char ch = b[i];
            if (in_string) {
                if (ch == '\\')
                    ++i;  // the escaped character, whatever it is
                else if (ch == '"')
                    in_string = false;
            } else if (ch == '"') {
                in_string = true;
            } else if (ch == '{' || ch == '[') {
                ++depth;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0) break;
            }
        }
        if (i >= b.size()) return false;
        out.push_back(b.substr(start, i + 1 - start));
        ++i;
        skip_ws();
        if (i < b.size() && b[i] == ',') {
            ++i;
            skip_ws();
            continue;
        }
        if (i < b.size() && b[i] == ']') {
            ++i;
            skip_ws();
            return i == b.size();
        }
        return false;
    }
    return false;
}

}  // namespace harness
