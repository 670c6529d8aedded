#include "json_read.hpp"

#include <cstring>
#include <limits>

#include "protocol/uuid.hpp"

namespace liveshare::detail {

// After the root value is consumed, a location still inside the input means trailing bytes.
bool has_trailing(od::document& doc) {
    const char* loc = nullptr;
    return !doc.current_location().get(loc);
}

// Every reader returns false after writing "<path>: <what was wrong>" into err.
bool fail(std::string& err, const Path& path, std::string_view what) {
    err = path.str();
    err += ": ";
    err += what;
    return false;
}

bool is_null(od::value& v) {
    bool null = false;
    return !v.is_null().get(null) && null;
}

bool read_string(od::value& v, std::string& out, const Path& path, std::string& err) {
    std::string_view sv;
    if (v.get_string().get(sv)) return fail(err, path, "expected a string");
    out.assign(sv);
    return true;
}

// Option<String>: absent or null leave it unset.
bool read_opt_string(od::value& v, std::optional<std::string>& out, const Path& path,
                     std::string& err) {
    if (is_null(v)) {
        out.reset();
        return true;
    }
    std::string s;
    if (!read_string(v, s, path, err)) return false;
    out = std::move(s);
    return true;
}

bool read_uuid(od::value& v, std::string& out, const Path& path, std::string& err) {
    std::string_view sv;
    if (v.get_string().get(sv)) return fail(err, path, "expected a UUID string");
    if (!is_valid_uuid(sv))
        return fail(err, path, "expected a hyphenated UUID (8-4-4-4-12 hex digits)");
    out.assign(sv);
    return true;
}

bool read_bool(od::value& v, bool& out, const Path& path, std::string& err) {
    if (v.get_bool().get(out)) return fail(err, path, "expected true or false");
    return true;
}

bool read_double(od::value& v, double& out, const Path& path, std::string& err) {
    if (v.get_double().get(out)) return fail(err, path, "expected a number");
    return true;
}

bool read_u64(od::value& v, std::uint64_t& out, const Path& path, std::string& err) {
    if (v.get_uint64().get(out)) return fail(err, path, "expected a non-negative integer");
    return true;
}

bool read_u32(od::value& v, NodeId& out, const Path& path, std::string& err) {
    std::uint64_t x;
    if (v.get_uint64().get(x) || x > std::numeric_limits<NodeId>::max())
        return fail(err, path, "expected an unsigned 32-bit integer");
    out = static_cast<NodeId>(x);
    return true;
}

bool read_i64(od::value& v, std::int64_t& out, const Path& path, std::string& err) {
    if (v.get_int64().get(out)) return fail(err, path, "expected an integer");
    return true;
}

bool read_pair(od::value& v, Vec2& out, const Path& path, std::string& err) {
    od::array arr;
    if (v.get_array().get(arr)) return fail(err, path, "expected [x,y]");
    double xy[2];
    std::size_t n = 0;
    for (auto el : arr) {
        od::value ev;
        double d;
        if (std::move(el).get(ev) || ev.get_double().get(d))
            return fail(err, path, "expected [x,y] of numbers");
        if (n < 2) xy[n] = d;
        ++n;
    }
    if (n != 2) return fail(err, path, "expected exactly two numbers");
    out = {xy[0], xy[1]};
    return true;
}

bool read_bytes(od::value& v, std::vector<std::uint8_t>& out, const Path& path, std::string& err) {
    od::array arr;
    if (v.get_array().get(arr)) return fail(err, path, "expected an array of bytes");
    out.clear();
    for (auto el : arr) {
        od::value ev;
        std::uint64_t b;
        if (std::move(el).get(ev) || ev.get_uint64().get(b) || b > 255)
            return fail(err, path, "expected integers 0-255");
        out.push_back(static_cast<std::uint8_t>(b));
    }
    return true;
}

// Walks a value we do not interpret, so that nothing malformed is ever relayed verbatim.
bool validate_any(od::value& v, int depth, const Path& path, std::string& err) {
    if (depth > kMaxDepth) return fail(err, path, "nesting too deep");
    od::json_type t;
    if (v.type().get(t)) return fail(err, path, "malformed value");
    switch (t) {
        case od::json_type::object: {
            od::object obj;
            if (v.get_object().get(obj)) return fail(err, path, "malformed object");
            for (auto f : obj) {
                od::field field;
                std::string_view key;
                if (std::move(f).get(field) || field.unescaped_key().get(key))
                    return fail(err, path, "malformed object");
                if (!validate_any(field.value(), depth + 1, path, err)) return false;
            }
            return true;
        }
        case od::json_type::array: {
            od::array arr;
            if (v.get_array().get(arr)) return fail(err, path, "malformed array");
            for (auto el : arr) {
                od::value ev;
                if (std::move(el).get(ev)) return fail(err, path, "malformed array");
                if (!validate_any(ev, depth + 1, path, err)) return false;
            }
            return true;
        }
        case od::json_type::string: {
            std::string_view s;
            if (v.get_string().get(s)) return fail(err, path, "malformed string");
            return true;
        }
        case od::json_type::number: {
            double d;
            if (v.get_double().get(d)) return fail(err, path, "malformed number");
            return true;
        }
        case od::json_type::boolean: {
            bool b;
            if (v.get_bool().get(b)) return fail(err, path, "malformed literal");
            return true;
        }
        case od::json_type::null: {
            if (!is_null(v)) return fail(err, path, "malformed literal");
            return true;
        }
    }
    return fail(err, path, "malformed value");
}

bool read_foreign_key(od::value& v, std::optional<ForeignKey>& out, const Path& path,
                      std::string& err) {
    if (is_null(v)) {
        out.reset();
        return true;
    }
    static constexpr std::array<std::string_view, 2> names = {"ref_table", "ref_column"};
    ForeignKey k;
    if (!read_fields(v, path.str(), names, 3u, "ForeignKeyData", err,
                     [&](int i, od::value& fv, const Path& fp) {
                         return read_string(fv, i == 0 ? k.ref_table : k.ref_column, fp, err);
                     }))
        return false;
    out = std::move(k);
    return true;
}

// ColumnData: name, data_type and the three flags required; default_value and foreign_key
// may be absent or null.
bool read_column(od::value& v, Column& c, const Path& path, std::string& err) {
    static constexpr std::array<std::string_view, 7> names = {
        "name",      "data_type",     "is_primary_key", "is_nullable",
        "is_unique", "default_value", "foreign_key"};
    return read_fields(v, path.str(), names, 0x1fu, "ColumnData", err,
                       [&](int i, od::value& fv, const Path& fp) {
                           switch (i) {
                               case 0:
                                   return read_string(fv, c.name, fp, err);
                               case 1:
                                   return read_string(fv, c.data_type, fp, err);
                               case 2:
                                   return read_bool(fv, c.is_primary_key, fp, err);
                               case 3:
                                   return read_bool(fv, c.is_nullable, fp, err);
                               case 4:
                                   return read_bool(fv, c.is_unique, fp, err);
                               case 5:
                                   return read_opt_string(fv, c.default_value, fp, err);
                               default:
                                   return read_foreign_key(fv, c.foreign_key, fp, err);
                           }
                       });
}

// RelationshipData: all four strings required.
bool read_relationship_data(od::value& v, RelationshipData& r, const Path& path, std::string& err) {
    static constexpr std::array<std::string_view, 4> names = {"name", "relationship_type",
                                                              "from_column", "to_column"};
    std::string* dest[] = {&r.name, &r.relationship_type, &r.from_column, &r.to_column};
    return read_fields(
        v, path.str(), names, 0xfu, "RelationshipData", err,
        [&](int i, od::value& fv, const Path& fp) { return read_string(fv, *dest[i], fp, err); });
}

bool read_columns(od::value& v, std::vector<Column>& out, const Path& path, std::string& err) {
    od::array arr;
    if (v.get_array().get(arr)) return fail(err, path, "expected an array of columns");
    const std::string p = path.str() + "[]";
    for (auto el : arr) {
        od::value cv;
        Column c;
        if (std::move(el).get(cv)) return fail(err, p, "malformed array");
        if (!read_column(cv, c, p, err)) return false;
        out.push_back(std::move(c));
    }
    return true;
}

// TableSnapshot: node_id, table_uuid, name, position, columns required; the clock and the
// deletion marker default.
bool read_table(od::value& v, Table& t, std::string& err) {
    static constexpr std::array<std::string_view, 8> names = {
        "node_id", "table_uuid",       "name",      "position", "columns",
        "version", "last_modified_at", "is_deleted"};
    return read_fields(v, "payload.state.tables[]", names, 0x1fu, "TableSnapshot", err,
                       [&](int i, od::value& fv, const Path& fp) {
                           switch (i) {
                               case 0:
                                   return read_u32(fv, t.node_id, fp, err);
                               case 1:
                                   return read_uuid(fv, t.table_uuid, fp, err);
                               case 2:
                                   return read_string(fv, t.name, fp, err);
                               case 3:
                                   return read_pair(fv, t.position, fp, err);
                               case 4:
                                   return read_columns(fv, t.columns, fp, err);
                               case 5:
                                   return read_u64(fv, t.version, fp, err);
                               case 6:
                                   return read_i64(fv, t.last_modified_at, fp, err);
                               default:
                                   return read_bool(fv, t.is_deleted, fp, err);
                           }
                       });
}

bool read_relationship(od::value& v, Relationship& r, std::string& err) {
    static constexpr std::array<std::string_view, 7> names = {
        "edge_id", "from_node", "to_node", "data", "version", "last_modified_at", "is_deleted"};
    return read_fields(v, "payload.state.relationships[]", names, 0xfu, "RelationshipSnapshot", err,
                       [&](int i, od::value& fv, const Path& fp) {
                           switch (i) {
                               case 0:
                                   return read_u32(fv, r.edge_id, fp, err);
                               case 1:
                                   return read_u32(fv, r.from_node, fp, err);
                               case 2:
                                   return read_u32(fv, r.to_node, fp, err);
                               case 3:
                                   return read_relationship_data(fv, r.data, fp, err);
                               case 4:
                                   return read_u64(fv, r.version, fp, err);
                               case 5:
                                   return read_i64(fv, r.last_modified_at, fp, err);
                               default:
                                   return read_bool(fv, r.is_deleted, fp, err);
                           }
                       });
}

// GraphStateSnapshot: both arrays required.
bool read_state(od::value& v, SchemaState& state, std::string& err) {
    static constexpr std::array<std::string_view, 2> names = {"tables", "relationships"};
    return read_fields(v, "payload.state", names, 3u, "GraphStateSnapshot", err,
                       [&](int i, od::value& fv, const Path& fp) {
                           od::array arr;
                           if (fv.get_array().get(arr)) return fail(err, fp, "expected an array");
                           for (auto el : arr) {
                               od::value ev;
                               if (std::move(el).get(ev)) return fail(err, fp, "malformed array");
                               if (i == 0) {
                                   Table t;
                                   if (!read_table(ev, t, err)) return false;
                                   state.tables()[t.node_id] = std::move(t);
                               } else {
                                   Relationship r;
                                   if (!read_relationship(ev, r, err)) return false;
                                   state.relationships()[r.edge_id] = std::move(r);
                               }
                           }
                           return true;
                       });
}

}  // namespace liveshare::detail
