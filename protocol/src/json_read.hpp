// The JSON readers under the codec's parser (internal to protocol/): typed field readers that
// write "<path>: <what was wrong>" and return false, the one object loop, and the column and
// relationship readers the graph ops and states share.
#pragma once
#include <simdjson.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec.hpp"

namespace liveshare::detail {

namespace od = simdjson::ondemand;

// Deeper than any message of docs/protocol.md; bounds the walk over fields we do not interpret.
constexpr int kMaxDepth = 64;

// Where a value sits, for "<path>: <what was wrong>" errors; joined only when one is written.
struct Path {
    std::string_view parent, key;
    // NOLINTBEGIN(google-explicit-constructor): a plain path converts implicitly
    Path(std::string_view p) : parent(p) {}
    Path(const char* p) : parent(p) {}
    Path(const std::string& p) : parent(p) {}
    // NOLINTEND(google-explicit-constructor)
    Path(std::string_view p, std::string_view k) : parent(p), key(k) {}
    std::string str() const {
        std::string s(parent);
        if (!key.empty()) {
            if (!s.empty()) s += '.';
            s += key;
        }
        return s;
    }
};

bool has_trailing(od::document& doc);
bool fail(std::string& err, const Path& path, std::string_view what);
bool is_null(od::value& v);
bool read_string(od::value& v, std::string& out, const Path& path, std::string& err);
bool read_opt_string(od::value& v, std::optional<std::string>& out, const Path& path,
                     std::string& err);
bool read_uuid(od::value& v, std::string& out, const Path& path, std::string& err);
bool read_bool(od::value& v, bool& out, const Path& path, std::string& err);
bool read_double(od::value& v, double& out, const Path& path, std::string& err);
bool read_u64(od::value& v, std::uint64_t& out, const Path& path, std::string& err);
bool read_u32(od::value& v, NodeId& out, const Path& path, std::string& err);
bool read_i64(od::value& v, std::int64_t& out, const Path& path, std::string& err);
bool read_pair(od::value& v, Vec2& out, const Path& path, std::string& err);
bool read_bytes(od::value& v, std::vector<std::uint8_t>& out, const Path& path, std::string& err);
bool validate_any(od::value& v, int depth, const Path& path, std::string& err);
bool read_foreign_key(od::value& v, std::optional<ForeignKey>& out, const Path& path,
                      std::string& err);
bool read_column(od::value& v, Column& c, const Path& path, std::string& err);
bool read_relationship_data(od::value& v, RelationshipData& r, const Path& path, std::string& err);
bool read_columns(od::value& v, std::vector<Column>& out, const Path& path, std::string& err);

// The one object loop: fn(key, value) per field, in document order; fn returns false after
// setting err. Fields fn does not know it passes to validate_any itself.
template <typename Fn>
bool each_field(od::object& obj, const Path& path, std::string& err, Fn&& fn) {
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key))
            return fail(err, path, "malformed object");
        if (!fn(key, field.value())) return false;
    }
    return true;
}

template <typename Fn>
bool each_field(od::value& v, const Path& path, std::string& err, Fn&& fn) {
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    return each_field(obj, path, err, std::forward<Fn>(fn));
}

// Required fields: `seen` has bit i for names[i]; the first one missing is the error.
template <std::size_t N>
bool check_required(unsigned seen, unsigned need, const std::array<std::string_view, N>& names,
                    std::string_view parent, std::string_view owner, std::string& err) {
    for (std::size_t i = 0; i < N; ++i)
        if ((need & (1u << i)) && !(seen & (1u << i)))
            return fail(err, Path(parent, names[i]),
                        std::string("missing (required by ") + std::string(owner) + ")");
    return true;
}

template <std::size_t N>
int index_in(const std::array<std::string_view, N>& names, std::string_view key) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == key) return static_cast<int>(i);
    return -1;
}

// An object of named fields: fn(i, value, path) reads field i of `names`; unknown fields are
// walked and ignored (the original ignores them); the fields whose bits are in `required`
// must be present, else "<path>.<field>: missing (required by <owner>)".
template <std::size_t N, typename Fn>
bool read_fields(od::value& v, std::string_view path, const std::array<std::string_view, N>& names,
                 unsigned required, std::string_view owner, std::string& err, Fn&& fn) {
    unsigned seen = 0;
    bool ok = each_field(v, path, err, [&](std::string_view key, od::value& fv) {
        const int i = index_in(names, key);
        const Path fp(path, key);
        if (i < 0) return validate_any(fv, 1, fp, err);
        seen |= 1u << i;
        return fn(i, fv, fp);
    });
    return ok && check_required(seen, required, names, path, owner, err);
}

// A GraphStateSnapshot (both arrays required), with its tables and relationships.
bool read_state(od::value& v, SchemaState& state, std::string& err);

// The payload of a message of m.type into m, by the type table of docs/protocol.md
// (codec_parse.cpp); is_unit: a type without payload in that direction.
bool read_payload(od::object& obj, Message& m, bool from_server, std::string& err);
bool is_unit(MsgType t, bool from_server);

}  // namespace liveshare::detail
