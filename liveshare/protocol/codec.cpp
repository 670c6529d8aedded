#include "protocol/codec.hpp"

#include <simdjson.h>

#include <cstring>

#include "protocol/json_write.hpp"

namespace liveshare {

namespace od = simdjson::ondemand;

namespace {

constexpr int kMaxDepth = 32;

// After the root value is consumed, a location still inside the input means trailing bytes.
bool has_trailing(od::document& doc) {
    const char* loc = nullptr;
    return !doc.current_location().get(loc);
}

// Every reader returns false after writing "<path>: <what was wrong>" into err.
bool fail(std::string& err, std::string_view path, std::string_view what) {
    err.assign(path);
    err += ": ";
    err += what;
    return false;
}

bool read_string(od::value& v, std::string& out, std::string_view path, std::string& err) {
    std::string_view sv;
    if (v.get_string().get(sv)) return fail(err, path, "expected a string");
    out.assign(sv);
    return true;
}

bool read_opt_string(od::value& v, std::optional<std::string>& out, std::string_view path,
                     std::string& err) {
    bool null = false;
    if (!v.is_null().get(null) && null) {
        out.reset();
        return true;
    }
    std::string s;
    if (!read_string(v, s, path, err)) return false;
    out = std::move(s);
    return true;
}

bool read_bool(od::value& v, bool& out, std::string_view path, std::string& err) {
    if (v.get_bool().get(out)) return fail(err, path, "expected true or false");
    return true;
}

bool read_double(od::value& v, double& out, std::string_view path, std::string& err) {
    if (v.get_double().get(out)) return fail(err, path, "expected a number");
    return true;
}

bool read_u64(od::value& v, std::uint64_t& out, std::string_view path, std::string& err) {
    if (v.get_uint64().get(out)) return fail(err, path, "expected a non-negative integer");
    return true;
}

bool read_i64(od::value& v, std::int64_t& out, std::string_view path, std::string& err) {
    if (v.get_int64().get(out)) return fail(err, path, "expected an integer");
    return true;
}

bool read_pair(od::value& v, Vec2& out, std::string_view path, std::string& err) {
    od::array arr;
    if (v.get_array().get(arr)) return fail(err, path, "expected [x,y]");
    double xy[2];
    std::size_t n = 0;
    for (auto el : arr) {
        od::value ev;
        double d;
        if (std::move(el).get(ev) || ev.get_double().get(d)) return fail(err, path, "expected [x,y] of numbers");
        if (n < 2) xy[n] = d;
        ++n;
    }
    if (n != 2) return fail(err, path, "expected exactly two numbers");
    out = {xy[0], xy[1]};
    return true;
}

bool read_bytes(od::value& v, std::vector<std::uint8_t>& out, std::string_view path,
                std::string& err) {
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
bool validate_any(od::value& v, int depth, std::string_view path, std::string& err) {
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
                if (std::move(el).get(ev) || !validate_any(ev, depth + 1, path, err)) {
                    if (err.empty()) fail(err, path, "malformed array");
                    return false;
                }
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
            bool n = false;
            if (v.is_null().get(n) || !n) return fail(err, path, "malformed literal");
            return true;
        }
    }
    return fail(err, path, "malformed value");
}

bool read_column(od::value& v, Column& c, std::string_view path, std::string& err) {
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected a column object");
    bool has_name = false, has_type = false;
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, path, "malformed");
        od::value& fv = field.value();
        bool ok = true;
        if (key == "name") ok = read_string(fv, c.name, path, err), has_name = true;
        else if (key == "data_type") ok = read_string(fv, c.data_type, path, err), has_type = true;
        else if (key == "is_primary_key") ok = read_bool(fv, c.is_primary_key, path, err);
        else if (key == "is_nullable") ok = read_bool(fv, c.is_nullable, path, err);
        else if (key == "is_unique") ok = read_bool(fv, c.is_unique, path, err);
        else if (key == "default_value") ok = read_opt_string(fv, c.default_value, path, err);
        else if (key == "foreign_key") {
            bool null = false;
            if (!fv.is_null().get(null) && null) {
                c.foreign_key.reset();
                continue;
            }
            od::object fk;
            if (fv.get_object().get(fk)) return fail(err, path, "foreign_key must be an object or null");
            ForeignKey k;
            for (auto ff : fk) {
                od::field fkf;
                std::string_view fkey;
                if (std::move(ff).get(fkf) || fkf.unescaped_key().get(fkey)) return fail(err, path, "malformed");
                if (fkey == "ref_table") ok = read_string(fkf.value(), k.ref_table, path, err);
                else if (fkey == "ref_column") ok = read_string(fkf.value(), k.ref_column, path, err);
                else ok = validate_any(fkf.value(), 3, path, err);
                if (!ok) return false;
            }
            c.foreign_key = std::move(k);
        } else ok = validate_any(fv, 2, path, err);
        if (!ok) return false;
    }
    if (!has_name || !has_type) return fail(err, path, "column needs name and data_type");
    return true;
}

bool read_relationship_data(od::value& v, RelationshipData& r, std::string_view path,
                            std::string& err) {
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, path, "malformed");
        bool ok;
        if (key == "name") ok = read_string(field.value(), r.name, path, err);
        else if (key == "relationship_type") ok = read_string(field.value(), r.relationship_type, path, err);
        else if (key == "from_column") ok = read_string(field.value(), r.from_column, path, err);
        else if (key == "to_column") ok = read_string(field.value(), r.to_column, path, err);
        else ok = validate_any(field.value(), 3, path, err);
        if (!ok) return false;
    }
    return true;
}

enum OpField : unsigned {
    F_NODE = 1, F_TABLE = 2, F_NAME = 4, F_NEW_NAME = 8, F_POS = 16, F_COL = 32, F_IDX = 64,
    F_EDGE = 128, F_FROM = 256, F_TO = 512, F_REL = 1024
};

unsigned required_op_fields(OpType t) {
    switch (t) {
        case OpType::CreateTable: return F_NODE | F_TABLE | F_NAME | F_POS;
        case OpType::DeleteTable: return F_NODE | F_TABLE;
        case OpType::RenameTable: return F_NODE | F_TABLE | F_NEW_NAME;
        case OpType::MoveTable: return F_NODE | F_TABLE | F_POS;
        case OpType::AddColumn: return F_NODE | F_TABLE | F_COL;
        case OpType::UpdateColumn: return F_NODE | F_TABLE | F_IDX | F_COL;
        case OpType::DeleteColumn: return F_NODE | F_TABLE | F_IDX;
        case OpType::CreateRelationship: return F_EDGE | F_FROM | F_TO | F_REL;
        case OpType::DeleteRelationship: return F_EDGE;
    }
    return 0;
}

bool read_op(od::value& v, GraphOp& op, std::string& err) {
    constexpr std::string_view path = "payload.op";
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    unsigned seen = 0;
    std::optional<OpType> type;
    std::string new_name;
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, path, "malformed");
        od::value& fv = field.value();
        bool ok = true;
        if (key == "op_type") {
            std::string s;
            ok = read_string(fv, s, "payload.op.op_type", err);
            if (ok && !(type = op_type_from(s)))
                return fail(err, "payload.op.op_type", "unknown op_type '" + s + "'");
        } else if (key == "node_id") ok = read_string(fv, op.node_id, "payload.op.node_id", err), seen |= F_NODE;
        else if (key == "table_uuid") ok = read_string(fv, op.table_uuid, "payload.op.table_uuid", err), seen |= F_TABLE;
        else if (key == "name") ok = read_string(fv, op.name, "payload.op.name", err), seen |= F_NAME;
        else if (key == "new_name") ok = read_string(fv, new_name, "payload.op.new_name", err), seen |= F_NEW_NAME;
        else if (key == "position") ok = read_pair(fv, op.position, "payload.op.position", err), seen |= F_POS;
        else if (key == "column") ok = read_column(fv, op.column, "payload.op.column", err), seen |= F_COL;
        else if (key == "column_index") ok = read_u64(fv, op.column_index, "payload.op.column_index", err), seen |= F_IDX;
        else if (key == "edge_id") ok = read_string(fv, op.edge_id, "payload.op.edge_id", err), seen |= F_EDGE;
        else if (key == "from_node") ok = read_string(fv, op.from_node, "payload.op.from_node", err), seen |= F_FROM;
        else if (key == "to_node") ok = read_string(fv, op.to_node, "payload.op.to_node", err), seen |= F_TO;
        else if (key == "relationship") ok = read_relationship_data(fv, op.relationship, "payload.op.relationship", err), seen |= F_REL;
        else if (key == "version") {
            std::uint64_t ver;
            ok = read_u64(fv, ver, "payload.op.version", err);
            op.version = ver;
        } else if (key == "last_modified_at") {
            std::int64_t ts;
            ok = read_i64(fv, ts, "payload.op.last_modified_at", err);
            op.last_modified_at = ts;
        } else ok = validate_any(fv, 2, path, err);
        if (!ok) return false;
    }
    if (!type) return fail(err, "payload.op.op_type", "missing");
    op.type = *type;
    if (op.type == OpType::RenameTable) op.name = std::move(new_name);
    unsigned need = required_op_fields(op.type);
    if ((seen & need) != need) {
        static constexpr const char* names[] = {"node_id", "table_uuid", "name", "new_name",
                                                "position", "column", "column_index", "edge_id",
                                                "from_node", "to_node", "relationship"};
        for (unsigned i = 0; i < 11; ++i)
            if ((need & (1u << i)) && !(seen & (1u << i)))
                return fail(err, std::string("payload.op.") + names[i],
                            std::string("missing (required by ") + to_string(op.type) + ")");
    }
    return true;
}

bool read_table(od::value& v, Table& t, std::string& err) {
    constexpr std::string_view path = "state.tables[]";
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, path, "malformed");
        od::value& fv = field.value();
        bool ok;
        if (key == "node_id") ok = read_string(fv, t.node_id, path, err);
        else if (key == "table_uuid") ok = read_string(fv, t.table_uuid, path, err);
        else if (key == "name") ok = read_string(fv, t.name, path, err);
        else if (key == "position") ok = read_pair(fv, t.position, path, err);
        else if (key == "columns") {
            od::array arr;
            if (fv.get_array().get(arr)) return fail(err, path, "columns must be an array");
            for (auto el : arr) {
                od::value cv;
                Column c;
                if (std::move(el).get(cv)) return fail(err, path, "malformed columns");
                if (!read_column(cv, c, path, err)) return false;
                t.columns.push_back(std::move(c));
            }
            ok = true;
        } else if (key == "version") ok = read_u64(fv, t.version, path, err);
        else if (key == "last_modified_at") ok = read_i64(fv, t.last_modified_at, path, err);
        else if (key == "is_deleted") ok = read_bool(fv, t.is_deleted, path, err);
        else ok = validate_any(fv, 3, path, err);
        if (!ok) return false;
    }
    if (t.node_id.empty()) return fail(err, path, "node_id missing");
    return true;
}

bool read_relationship(od::value& v, Relationship& r, std::string& err) {
    constexpr std::string_view path = "state.relationships[]";
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, path, "malformed");
        od::value& fv = field.value();
        bool ok;
        if (key == "edge_id") ok = read_string(fv, r.edge_id, path, err);
        else if (key == "from_node") ok = read_string(fv, r.from_node, path, err);
        else if (key == "to_node") ok = read_string(fv, r.to_node, path, err);
        else if (key == "data") ok = read_relationship_data(fv, r.data, path, err);
        else if (key == "version") ok = read_u64(fv, r.version, path, err);
        else if (key == "last_modified_at") ok = read_i64(fv, r.last_modified_at, path, err);
        else if (key == "is_deleted") ok = read_bool(fv, r.is_deleted, path, err);
        else ok = validate_any(fv, 3, path, err);
        if (!ok) return false;
    }
    if (r.edge_id.empty()) return fail(err, path, "edge_id missing");
    return true;
}

bool read_state(od::value& v, SchemaState& state, std::string& err) {
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, "state", "expected an object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, "state", "malformed");
        od::value& fv = field.value();
        if (key == "tables" || key == "relationships") {
            od::array arr;
            if (fv.get_array().get(arr)) return fail(err, "state", "expected arrays");
            for (auto el : arr) {
                od::value ev;
                if (std::move(el).get(ev)) return fail(err, "state", "malformed array");
                if (key == "tables") {
                    Table t;
                    if (!read_table(ev, t, err)) return false;
                    state.tables()[t.node_id] = std::move(t);
                } else {
                    Relationship r;
                    if (!read_relationship(ev, r, err)) return false;
                    state.relationships()[r.edge_id] = std::move(r);
                }
            }
        } else if (!validate_any(fv, 1, "state", err)) {
            return false;
        }
    }
    return true;
}

bool read_awareness(od::value& v, Message& m, std::string& err) {
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, "payload.state", "expected an object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, "payload.state", "malformed");
        od::value& fv = field.value();
        bool ok;
        if (key == "username") ok = read_string(fv, m.username, "payload.state.username", err);
        else if (key == "is_active") ok = read_bool(fv, m.is_active, "payload.state.is_active", err);
        else if (key == "cursor") {
            bool null = false;
            if (!fv.is_null().get(null) && null) continue;
            ok = read_pair(fv, m.position, "payload.state.cursor", err);
            m.has_position = ok;
        } else ok = validate_any(fv, 2, "payload.state", err);
        if (!ok) return false;
    }
    return true;
}

// Payload keys we interpret; each maps to a bit so required fields can be checked per type.
enum Key : unsigned {
    K_USER = 1u << 0, K_USERNAME = 1u << 1, K_BYTES = 1u << 2, K_STATE = 1u << 3,
    K_OP = 1u << 4, K_POS = 1u << 5, K_ZOOM = 1u << 6, K_ACTIVE = 1u << 7, K_NODE = 1u << 8,
    K_TARGET = 1u << 9, K_SUCCESS = 1u << 10, K_CODE = 1u << 11, K_MESSAGE = 1u << 12,
};

unsigned required_keys(MsgType t, bool from_server) {
    unsigned relayed = from_server ? static_cast<unsigned>(K_USER) : 0u;
    switch (t) {
        case MsgType::Auth: return K_USER | K_USERNAME;
        case MsgType::SyncStep1:
        case MsgType::SyncStep2:
        case MsgType::Update: return K_BYTES | relayed;
        case MsgType::Awareness: return K_STATE | relayed;
        case MsgType::GraphOp: return K_OP | relayed;
        case MsgType::CursorMove: return K_POS | relayed;
        case MsgType::IdleStatus: return K_ACTIVE | relayed;
        case MsgType::UserViewport: return K_POS | K_ZOOM | relayed;
        case MsgType::TableDragStart:
        case MsgType::TableDragEnd: return K_NODE | K_POS | relayed;
        case MsgType::GraphStateResponse: return K_TARGET | K_STATE;
        case MsgType::AuthResult: return K_SUCCESS;
        case MsgType::UserJoined: return K_USER | K_USERNAME;
        case MsgType::UserLeft: return K_USER;
        case MsgType::GraphState: return K_STATE;
        case MsgType::SnapshotRecovery: return K_BYTES;
        case MsgType::Error: return K_CODE | K_MESSAGE;
        default: return 0;
    }
}

bool read_payload(od::object& obj, Message& m, bool from_server, std::string& err) {
    unsigned seen = 0;
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, "payload", "malformed object");
        od::value& v = field.value();
        bool ok = true;
        if (key == "user_id") {
            // The server adds user_id to relayed messages; a client must not supply its own.
            if (!from_server && m.type != MsgType::Auth)
                return fail(err, "payload.user_id", "is set by the server, not the client");
            ok = read_string(v, m.user_id, "payload.user_id", err), seen |= K_USER;
        } else if (key == "username") ok = read_string(v, m.username, "payload.username", err), seen |= K_USERNAME;
        else if (key == "password" && m.type == MsgType::Auth) ok = read_opt_string(v, m.password, "payload.password", err);
        else if (key == "last_seq" && m.type == MsgType::Auth) {
            std::uint64_t s;
            ok = read_u64(v, s, "payload.last_seq", err);
            m.last_seq = s;
        } else if (key == "state_vector" || key == "update" || key == "snapshot_data")
            ok = read_bytes(v, m.bytes, "payload.update", err), seen |= K_BYTES;
        else if (key == "state") {
            if (m.type == MsgType::Awareness) ok = read_awareness(v, m, err);
            else ok = read_state(v, m.state, err);
            seen |= K_STATE;
        } else if (key == "op") ok = read_op(v, m.op, err), seen |= K_OP;
        else if (key == "position" || key == "offset" || key == "center")
            ok = read_pair(v, m.position, "payload.position", err), seen |= K_POS, m.has_position = true;
        else if (key == "zoom") ok = read_double(v, m.zoom, "payload.zoom", err), seen |= K_ZOOM;
        else if (key == "is_active") ok = read_bool(v, m.is_active, "payload.is_active", err), seen |= K_ACTIVE;
        else if (key == "node_id") ok = read_string(v, m.node_id, "payload.node_id", err), seen |= K_NODE;
        else if (key == "target_user_id") {
            std::optional<std::string> t;
            ok = read_opt_string(v, t, "payload.target_user_id", err);
            m.target_user_id = t.value_or("");
            seen |= K_TARGET;
        } else if (from_server && key == "success") ok = read_bool(v, m.success, "payload.success", err), seen |= K_SUCCESS;
        else if (from_server && key == "error") {
            std::optional<std::string> e;
            ok = read_opt_string(v, e, "payload.error", err);
            m.error = e.value_or("");
        } else if (from_server && key == "code") ok = read_string(v, m.code, "payload.code", err), seen |= K_CODE;
        else if (from_server && key == "message") ok = read_string(v, m.error, "payload.message", err), seen |= K_MESSAGE;
        else if (from_server && key == "snapshot_id") ok = read_i64(v, m.snapshot_id, "payload.snapshot_id", err);
        else if (from_server && key == "element_count") ok = read_u64(v, m.element_count, "payload.element_count", err);
        else if (from_server && key == "room_info") {
            bool null = false;
            if (!v.is_null().get(null) && null) continue;
            od::object ri;
            if (v.get_object().get(ri)) return fail(err, "payload.room_info", "expected an object");
            for (auto rf : ri) {
                od::field rfield;
                std::string_view rkey;
                if (std::move(rf).get(rfield) || rfield.unescaped_key().get(rkey)) return fail(err, "payload.room_info", "malformed");
                if (rkey == "user_count") ok = read_u64(rfield.value(), m.user_count, "payload.room_info.user_count", err);
                else ok = validate_any(rfield.value(), 2, "payload.room_info", err);
                if (!ok) return false;
            }
        } else ok = validate_any(v, 1, std::string("payload.") + std::string(key), err);
        if (!ok) return false;
    }
    unsigned need = required_keys(m.type, from_server);
    if ((seen & need) != need) {
        err = std::string("payload: missing a required field of ") + to_string(m.type);
        return false;
    }
    return true;
}

}  // namespace

struct Parser::Impl {
    od::parser parser;
    std::string scratch;
    explicit Impl(std::size_t depth) : parser(simdjson::SIMDJSON_MAXSIZE_BYTES) {
        (void)depth;
    }

    bool parse(const char* data, std::size_t len, Message& m, bool from_server, std::string& err) {
        m.clear();
        err.clear();
        od::document doc;
        if (auto e = parser.iterate(data, len, len + kParsePadding).get(doc))
            return fail(err, "message", std::string("malformed JSON (") + simdjson::error_message(e) + ")");
        od::object root;
        if (auto e = doc.get_object().get(root))
            return fail(err, "message", std::string("malformed JSON or not an object (") + simdjson::error_message(e) + ")");
        std::string_view type_name;
        bool has_type = false;
        od::object payload;
        bool has_payload = false;
        for (auto f : root) {
            od::field field;
            std::string_view key;
            if (std::move(f).get(field) || field.unescaped_key().get(key))
                return fail(err, "message", "malformed JSON");
            od::value& v = field.value();
            if (key == "type") {
                if (v.get_string().get(type_name)) return fail(err, "type", "expected a string");
                has_type = true;
            } else if (key == "payload") {
                if (v.get_object().get(payload)) return fail(err, "payload", "expected an object");
                std::string_view raw;
                if (payload.raw_json().get(raw)) return fail(err, "payload", "malformed JSON");
                m.payload = raw;
                has_payload = true;
                // raw_json consumed the object; parse it from a copy once the type is known.
            } else if (key == "seq" && from_server) {
                std::uint64_t s;
                if (v.get_uint64().get(s)) return fail(err, "seq", "expected a non-negative integer");
                m.seq = s;
            } else if (!validate_any(v, 1, key, err)) {
                return false;
            }
        }
        if (has_trailing(doc)) return fail(err, "message", "trailing content after the JSON object");
        if (!has_type) return fail(err, "type", "missing");
        auto t = msg_type_from(type_name);
        if (!t) return fail(err, "type", "unknown message type '" + std::string(type_name) + "'");
        bool server_only = index_of(*t) >= index_of(MsgType::AuthResult);
        if (!from_server && server_only)
            return fail(err, "type", std::string(to_string(*t)) + " is not a client message");
        m.type = *t;
        unsigned need = required_keys(m.type, from_server);
        if (!has_payload) {
            if (need) return fail(err, "payload", std::string("missing (required by ") + to_string(m.type) + ")");
            return true;
        }
        // Second pass over the payload alone: field order inside it is free.
        scratch.assign(m.payload);
        scratch.append(kParsePadding, '\0');
        od::document pdoc;
        if (parser.iterate(scratch.data(), m.payload.size(), scratch.size()).get(pdoc))
            return fail(err, "payload", "malformed JSON");
        od::object pobj;
        if (pdoc.get_object().get(pobj)) return fail(err, "payload", "expected an object");
        if (!read_payload(pobj, m, from_server, err)) return false;
        if (has_trailing(pdoc)) return fail(err, "payload", "malformed JSON");
        return true;
    }
};

Parser::Parser(std::size_t max_depth) : impl_(std::make_unique<Impl>(max_depth)) {}
Parser::~Parser() = default;

bool Parser::parse_client(const char* data, std::size_t len, ClientMessage& out, std::string& error) {
    return impl_->parse(data, len, out, false, error);
}
bool Parser::parse_server(const char* data, std::size_t len, ServerMessage& out, std::string& error) {
    return impl_->parse(data, len, out, true, error);
}
bool Parser::split_batch(const char* data, std::size_t len, std::vector<std::string_view>& out, std::string& err) {
    out.clear();
    od::document doc;
    od::array arr;
    if (impl_->parser.iterate(data, len, len + kParsePadding).get(doc) || doc.get_array().get(arr))
        return fail(err, "batch", "expected a JSON array of messages");
    for (auto el : arr) {
        od::value v;
        od::object obj;
        std::string_view raw;
        if (std::move(el).get(v) || v.get_object().get(obj) || obj.raw_json().get(raw))
            return fail(err, "batch", "elements must be message objects");
        out.push_back(raw);
    }
    if (has_trailing(doc)) return fail(err, "batch", "trailing content");
    return true;
}

bool Parser::parse_client(std::string_view text, ClientMessage& out, std::string& error) {
    std::string copy(text);
    copy.append(kParsePadding, '\0');
    if (!impl_->parse(copy.data(), text.size(), out, false, error)) return false;
    out.payload = {};  // the copy dies here
    return true;
}
bool Parser::parse_server(std::string_view text, ServerMessage& out, std::string& error) {
    std::string copy(text);
    copy.append(kParsePadding, '\0');
    if (!impl_->parse(copy.data(), text.size(), out, true, error)) return false;
    out.payload = {};
    return true;
}

bool parse_state(Parser& parser, std::string_view json, SchemaState& state, std::string& error) {
    std::string wrapped = "{\"type\":\"GraphState\",\"payload\":{\"state\":";
    wrapped += json;
    wrapped += "}}";
    ServerMessage m;
    if (!parser.parse_server(wrapped, m, error)) return false;
    state = std::move(m.state);
    return true;
}

// ---------------- encoders ----------------

namespace {
void open_message(std::string& out, MsgType type, std::optional<std::uint64_t> seq) {
    out += "{\"type\":\"";
    out += to_string(type);
    out += '"';
    if (seq) {
        out += ",\"seq\":";
        json::append_int(out, *seq);
    }
    out += ",\"payload\":{";
}
}  // namespace

void encode_relay(std::string& out, MsgType type, std::string_view user_id,
                  std::string_view raw_payload, std::optional<std::uint64_t> seq) {
    open_message(out, type, seq);
    out += "\"user_id\":";
    json::append_string(out, user_id);
    // raw_payload is a validated object "{...}": splice its members after ours.
    std::string_view inner = raw_payload.size() >= 2 ? raw_payload.substr(1, raw_payload.size() - 2)
                                                     : std::string_view{};
    std::size_t first = inner.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos) {
        out += ',';
        out += inner.substr(first);
    }
    out += "}}";
}

void encode_update_bytes(std::string& out, std::string_view user_id,
                         std::span<const std::uint8_t> update, std::optional<std::uint64_t> seq) {
    open_message(out, MsgType::Update, seq);
    out += "\"user_id\":";
    json::append_string(out, user_id);
    out += ",\"update\":";
    json::append_bytes(out, update);
    out += "}}";
}

void encode_room_info(std::string& out, const RoomInfo& r) {
    out += "{\"id\":";
    json::append_string(out, r.id);
    out += ",\"name\":";
    json::append_string(out, r.name);
    out += ",\"websocket_url\":";
    json::append_string(out, r.websocket_url);
    out += ",\"is_protected\":";
    json::append_bool(out, r.is_protected);
    out += ",\"user_count\":";
    json::append_int(out, r.user_count);
    out += ",\"max_users\":";
    json::append_int(out, r.max_users);
    out += ",\"owner_id\":";
    json::append_string(out, r.owner_id);
    out += ",\"created_at\":";
    json::append_string(out, r.created_at);
    out += ",\"users\":[";
    for (std::size_t i = 0; i < r.users.size(); ++i) {
        if (i) out += ',';
        out += "{\"user_id\":";
        json::append_string(out, r.users[i].user_id);
        out += ",\"username\":";
        json::append_string(out, r.users[i].username);
        out += ",\"color\":";
        json::append_string(out, r.users[i].color);
        out += '}';
    }
    out += "]}";
}

void encode_auth_ok(std::string& out, const RoomInfo& info) {
    open_message(out, MsgType::AuthResult, std::nullopt);
    out += "\"success\":true,\"room_info\":";
    encode_room_info(out, info);
    out += ",\"error\":null}}";
}

void encode_auth_failed(std::string& out, std::string_view error) {
    open_message(out, MsgType::AuthResult, std::nullopt);
    out += "\"success\":false,\"room_info\":null,\"error\":";
    json::append_string(out, error);
    out += "}}";
}

void encode_user_joined(std::string& out, std::string_view user_id, std::string_view username) {
    open_message(out, MsgType::UserJoined, std::nullopt);
    out += "\"user_id\":";
    json::append_string(out, user_id);
    out += ",\"username\":";
    json::append_string(out, username);
    out += "}}";
}

void encode_user_left(std::string& out, std::string_view user_id) {
    open_message(out, MsgType::UserLeft, std::nullopt);
    out += "\"user_id\":";
    json::append_string(out, user_id);
    out += "}}";
}

void encode_graph_state(std::string& out, std::string_view state_json,
                        std::string_view target_user_id, std::optional<std::uint64_t> seq) {
    open_message(out, MsgType::GraphState, seq);
    out += "\"state\":";
    out += state_json;
    out += ",\"target_user_id\":";
    if (target_user_id.empty())
        out += "null";
    else
        json::append_string(out, target_user_id);
    out += "}}";
}

void encode_snapshot_recovery(std::string& out, std::int64_t snapshot_id,
                              std::string_view snapshot_data, std::uint64_t element_count,
                              std::string_view created_at) {
    open_message(out, MsgType::SnapshotRecovery, std::nullopt);
    out += "\"snapshot_id\":";
    json::append_int(out, snapshot_id);
    out += ",\"snapshot_data\":";
    json::append_bytes(out, {reinterpret_cast<const std::uint8_t*>(snapshot_data.data()),
                             snapshot_data.size()});
    out += ",\"element_count\":";
    json::append_int(out, element_count);
    out += ",\"created_at\":";
    json::append_string(out, created_at);
    out += "}}";
}

void encode_error(std::string& out, std::string_view code, std::string_view message) {
    open_message(out, MsgType::Error, std::nullopt);
    out += "\"code\":";
    json::append_string(out, code);
    out += ",\"message\":";
    json::append_string(out, message);
    out += "}}";
}

void encode_pong(std::string& out) { out += "{\"type\":\"Pong\"}"; }

void encode_simple(std::string& out, MsgType type) {
    out += "{\"type\":\"";
    out += to_string(type);
    out += "\"}";
}

void encode_auth(std::string& out, std::string_view user_id, std::string_view username,
                 std::optional<std::string_view> password, std::optional<std::uint64_t> last_seq) {
    open_message(out, MsgType::Auth, std::nullopt);
    out += "\"user_id\":";
    json::append_string(out, user_id);
    out += ",\"username\":";
    json::append_string(out, username);
    out += ",\"password\":";
    if (password)
        json::append_string(out, *password);
    else
        out += "null";
    if (last_seq) {
        out += ",\"last_seq\":";
        json::append_int(out, *last_seq);
    }
    out += "}}";
}

void encode_op_body(std::string& out, const GraphOp& op) {
    out += "{\"op_type\":\"";
    out += to_string(op.type);
    out += '"';
    auto str = [&](const char* k, const std::string& v) {
        out += ",\"";
        out += k;
        out += "\":";
        json::append_string(out, v);
    };
    bool rel = op.type == OpType::CreateRelationship || op.type == OpType::DeleteRelationship;
    if (!rel || !op.node_id.empty()) {
        str("node_id", op.node_id);
        str("table_uuid", op.table_uuid);
    }
    switch (op.type) {
        case OpType::CreateTable:
            str("name", op.name);
            out += ",\"position\":";
            json::append_pair(out, op.position.x, op.position.y);
            break;
        case OpType::RenameTable: str("new_name", op.name); break;
        case OpType::MoveTable:
            out += ",\"position\":";
            json::append_pair(out, op.position.x, op.position.y);
            break;
        case OpType::UpdateColumn:
        case OpType::DeleteColumn:
            out += ",\"column_index\":";
            json::append_int(out, op.column_index);
            if (op.type == OpType::DeleteColumn) break;
            [[fallthrough]];
        case OpType::AddColumn:
            out += ",\"column\":";
            append_column(out, op.column);
            break;
        case OpType::CreateRelationship:
            str("edge_id", op.edge_id);
            str("from_node", op.from_node);
            str("to_node", op.to_node);
            out += ",\"relationship\":{\"name\":";
            json::append_string(out, op.relationship.name);
            out += ",\"relationship_type\":";
            json::append_string(out, op.relationship.relationship_type);
            out += ",\"from_column\":";
            json::append_string(out, op.relationship.from_column);
            out += ",\"to_column\":";
            json::append_string(out, op.relationship.to_column);
            out += '}';
            break;
        case OpType::DeleteRelationship: str("edge_id", op.edge_id); break;
        case OpType::DeleteTable: break;
    }
    if (op.version) {
        out += ",\"version\":";
        json::append_int(out, *op.version);
    }
    if (op.last_modified_at) {
        out += ",\"last_modified_at\":";
        json::append_int(out, *op.last_modified_at);
    }
    out += '}';
}

void encode_graph_op(std::string& out, const GraphOp& op) {
    open_message(out, MsgType::GraphOp, std::nullopt);
    out += "\"op\":";
    encode_op_body(out, op);
    out += "}}";
}

void encode_cursor_move(std::string& out, Vec2 p) {
    open_message(out, MsgType::CursorMove, std::nullopt);
    out += "\"position\":";
    json::append_pair(out, p.x, p.y);
    out += "}}";
}

void encode_awareness(std::string& out, std::string_view username, Vec2 cursor, bool is_active) {
    open_message(out, MsgType::Awareness, std::nullopt);
    out += "\"state\":{\"username\":";
    json::append_string(out, username);
    out += ",\"cursor\":";
    json::append_pair(out, cursor.x, cursor.y);
    out += ",\"selected_nodes\":[],\"color\":\"#4f46e5\",\"is_active\":";
    json::append_bool(out, is_active);
    out += "}}}";
}

void encode_idle_status(std::string& out, bool is_active) {
    open_message(out, MsgType::IdleStatus, std::nullopt);
    out += "\"is_active\":";
    json::append_bool(out, is_active);
    out += "}}";
}

void encode_viewport(std::string& out, Vec2 center, double zoom) {
    open_message(out, MsgType::UserViewport, std::nullopt);
    out += "\"center\":";
    json::append_pair(out, center.x, center.y);
    out += ",\"zoom\":";
    json::append_double(out, zoom);
    out += "}}";
}

void encode_drag(std::string& out, bool start, std::string_view node_id, Vec2 p) {
    open_message(out, start ? MsgType::TableDragStart : MsgType::TableDragEnd, std::nullopt);
    out += "\"node_id\":";
    json::append_string(out, node_id);
    out += start ? ",\"offset\":" : ",\"position\":";
    json::append_pair(out, p.x, p.y);
    out += "}}";
}

void encode_bytes_message(std::string& out, MsgType type, std::span<const std::uint8_t> bytes) {
    open_message(out, type, std::nullopt);
    out += type == MsgType::SyncStep1 ? "\"state_vector\":" : "\"update\":";
    json::append_bytes(out, bytes);
    out += "}}";
}

}  // namespace liveshare

namespace liveshare {
bool parse_room_create(std::string_view body, RoomCreateRequest& out, std::string& err) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
    std::string copy(body);
    copy.append(kParsePadding, '\0');
    od::parser parser;
    od::document doc;
    if (auto e = parser.iterate(copy.data(), body.size(), copy.size()).get(doc))
        return fail(err, "body", std::string("malformed JSON (") + simdjson::error_message(e) + ")");
    od::object obj;
    if (doc.get_object().get(obj)) return fail(err, "body", "expected a JSON object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return fail(err, "body", "malformed JSON");
        od::value& v = field.value();
        bool ok;
        if (key == "name") ok = read_string(v, out.name, "name", err);
        else if (key == "owner_id") ok = read_string(v, out.owner_id, "owner_id", err);
        else if (key == "password") ok = read_opt_string(v, out.password, "password", err);
        else if (key == "max_users") ok = read_u64(v, out.max_users, "max_users", err);
        else ok = validate_any(v, 1, key, err);
        if (!ok) return false;
    }
    if (has_trailing(doc)) return fail(err, "body", "trailing content");
    return true;
}
}  // namespace liveshare
