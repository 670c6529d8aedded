// Parsing of protocol messages: simdjson on-demand, validated against the original's exact
// types (docs/protocol.md), errors as "<path>: <what>". Encoding is in codec_encode.cpp.
#include <simdjson.h>

#include <array>
#include <cstring>
#include <limits>

#include "json_read.hpp"
#include "protocol/codec.hpp"
#include "protocol/json_write.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

namespace od = simdjson::ondemand;

namespace {

using namespace detail;

// The fields of GraphOp variants; a variant types only its own fields (the original ignores
// the rest, as it ignores any unknown field). version/last_modified_at are our LWW extension.
constexpr std::array<std::string_view, 13> kOpFields = {
    "node_id",         "table_uuid", "name",      "new_name", "position",     "column",
    "column_index",    "edge_id",    "from_node", "to_node",  "relationship", "version",
    "last_modified_at"};
enum OpField : unsigned {
    F_NODE = 1,
    F_TABLE = 2,
    F_NAME = 4,
    F_NEW_NAME = 8,
    F_POS = 16,
    F_COL = 32,
    F_IDX = 64,
    F_EDGE = 128,
    F_FROM = 256,
    F_TO = 512,
    F_REL = 1024,
    F_VERSION = 2048,
    F_MODIFIED = 4096
};

unsigned op_fields(OpType t) {
    switch (t) {
        case OpType::CreateTable:
            return F_NODE | F_TABLE | F_NAME | F_POS;
        case OpType::DeleteTable:
            return F_NODE | F_TABLE;
        case OpType::RenameTable:
            return F_NODE | F_TABLE | F_NEW_NAME;
        case OpType::MoveTable:
            return F_NODE | F_TABLE | F_POS;
        case OpType::AddColumn:
            return F_NODE | F_TABLE | F_COL;
        case OpType::UpdateColumn:
            return F_NODE | F_TABLE | F_IDX | F_COL;
        case OpType::DeleteColumn:
            return F_NODE | F_TABLE | F_IDX;
        case OpType::CreateRelationship:
            return F_EDGE | F_FROM | F_TO | F_REL;
        case OpType::DeleteRelationship:
            return F_EDGE;
    }
    return 0;
}

bool read_op(od::value& v, GraphOp& op, std::string& err) {
    constexpr std::string_view path = "payload.op";
    od::object obj;
    if (v.get_object().get(obj)) return fail(err, path, "expected an object");
    // The variant decides which fields are typed, and it may come last: look it up first.
    std::string_view type_name;
    od::value tv;
    if (obj.find_field_unordered("op_type").get(tv))
        return fail(err, Path(path, "op_type"), "missing");
    if (tv.get_string().get(type_name))
        return fail(err, Path(path, "op_type"), "expected a string");
    auto type = op_type_from(type_name);
    if (!type)
        return fail(err, Path(path, "op_type"), "unknown op_type '" + std::string(type_name) + "'");
    op.type = *type;
    bool rewound = false;
    if (obj.reset().get(rewound)) return fail(err, path, "malformed object");
    const unsigned mine = op_fields(op.type) | F_VERSION | F_MODIFIED;
    unsigned seen = 0;
    bool ok = each_field(obj, path, err, [&](std::string_view key, od::value& fv) {
        if (key == "op_type") {
            std::string_view ignored;
            return !fv.get_string().get(ignored) || fail(err, Path(path, key), "expected a string");
        }
        const int i = index_in(kOpFields, key);
        const Path fp(path, key);
        if (i < 0 || !(mine & (1u << i))) return validate_any(fv, 1, fp, err);
        seen |= 1u << i;
        switch (static_cast<OpField>(1u << i)) {
            case F_NODE:
                return read_u32(fv, op.node_id, fp, err);
            case F_TABLE:
                return read_uuid(fv, op.table_uuid, fp, err);
            case F_NAME:
            case F_NEW_NAME:
                return read_string(fv, op.name, fp, err);
            case F_POS:
                return read_pair(fv, op.position, fp, err);
            case F_COL:
                return read_column(fv, op.column, fp, err);
            case F_IDX:
                return read_u64(fv, op.column_index, fp, err);
            case F_EDGE:
                return read_u32(fv, op.edge_id, fp, err);
            case F_FROM:
                return read_u32(fv, op.from_node, fp, err);
            case F_TO:
                return read_u32(fv, op.to_node, fp, err);
            case F_REL:
                return read_relationship_data(fv, op.relationship, fp, err);
            case F_VERSION: {
                std::uint64_t ver;
                if (!read_u64(fv, ver, fp, err)) return false;
                op.version = ver;
                return true;
            }
            case F_MODIFIED: {
                std::int64_t ts;
                if (!read_i64(fv, ts, fp, err)) return false;
                op.last_modified_at = ts;
                return true;
            }
        }
        return validate_any(fv, 1, fp, err);
    });
    return ok && check_required(seen, op_fields(op.type), kOpFields, path, to_string(op.type), err);
}

bool read_string_array(od::value& v, const Path& path, std::string& err) {
    od::array arr;
    if (v.get_array().get(arr)) return fail(err, path, "expected an array of strings");
    for (auto el : arr) {
        od::value ev;
        std::string_view s;
        if (std::move(el).get(ev) || ev.get_string().get(s))
            return fail(err, path, "expected an array of strings");
    }
    return true;
}

// AwarenessState: every field optional; is_active defaults to false.
bool read_awareness(od::value& v, Message& m, std::string& err) {
    constexpr std::string_view path = "payload.state";
    m.is_active = false;
    return each_field(v, path, err, [&](std::string_view key, od::value& fv) {
        const Path fp(path, key);
        if (key == "username") {
            if (is_null(fv)) return true;
            return read_string(fv, m.username, fp, err);
        }
        if (key == "cursor") {
            if (is_null(fv)) return true;
            return (m.has_position = read_pair(fv, m.position, fp, err));
        }
        if (key == "selected_nodes") return read_string_array(fv, fp, err);
        if (key == "color") {
            std::optional<std::string> c;
            return read_opt_string(fv, c, fp, err);
        }
        if (key == "is_active") return read_bool(fv, m.is_active, fp, err);
        return validate_any(fv, 1, fp, err);
    });
}

// RoomResponse, every field required; users' color optional.
bool read_room_info(od::value& v, Message& m, std::string& err) {
    static constexpr std::array<std::string_view, 9> names = {
        "id",        "name",     "websocket_url", "is_protected", "user_count",
        "max_users", "owner_id", "created_at",    "users"};
    static constexpr std::array<std::string_view, 3> user_names = {"user_id", "username", "color"};
    std::string s;
    std::optional<std::string> color;
    std::uint64_t n;
    bool b;
    return read_fields(v, "payload.room_info", names, 0x1ffu, "RoomResponse", err,
                       [&](int i, od::value& fv, const Path& fp) {
                           switch (i) {
                               case 0:
                               case 6:
                                   return read_uuid(fv, s, fp, err);
                               case 1:
                               case 2:
                               case 7:
                                   return read_string(fv, s, fp, err);
                               case 3:
                                   return read_bool(fv, b, fp, err);
                               case 4:
                                   return read_u64(fv, m.user_count, fp, err);
                               case 5:
                                   return read_u64(fv, n, fp, err);
                               default: {
                                   od::array arr;
                                   if (fv.get_array().get(arr))
                                       return fail(err, fp, "expected an array");
                                   constexpr std::string_view up = "payload.room_info.users[]";
                                   for (auto el : arr) {
                                       od::value uv;
                                       if (std::move(el).get(uv))
                                           return fail(err, up, "malformed array");
                                       if (!read_fields(uv, up, user_names, 3u, "UserInfo", err,
                                                        [&](int k, od::value& f, const Path& kp) {
                                                            if (k == 0)
                                                                return read_uuid(f, s, kp, err);
                                                            if (k == 1)
                                                                return read_string(f, s, kp, err);
                                                            return read_opt_string(f, color, kp,
                                                                                   err);
                                                        }))
                                           return false;
                                   }
                                   return true;
                               }
                           }
                       });
}

// Where a payload field goes; each slot has one JSON type (the type table of docs/protocol.md).
enum class Slot : std::uint8_t {
    UserId,
    Username,
    Password,
    LastSeq,
    Bytes,
    Op,
    State,
    Awareness,
    Position,
    Zoom,
    Active,
    NodeId,
    Target,
    OptTarget,
    Requester,
    Success,
    AuthError,
    RoomInfo,
    Code,
    ErrMessage,
    SnapshotId,
    ElementCount,
    CreatedAt,
    Reason,
    Rejected
};
struct FieldSpec {
    std::string_view key;
    Slot slot;
    bool required;
};
using Spec = std::span<const FieldSpec>;

constexpr FieldSpec kAuth[] = {{"user_id", Slot::UserId, true},
                               {"username", Slot::Username, true},
                               {"password", Slot::Password, false},
                               {"last_seq", Slot::LastSeq, false}};
constexpr FieldSpec kSync1[] = {{"state_vector", Slot::Bytes, true}};
constexpr FieldSpec kUpdate[] = {{"update", Slot::Bytes, true}};
constexpr FieldSpec kAwareness[] = {{"state", Slot::Awareness, true}};
constexpr FieldSpec kGraphOp[] = {{"op", Slot::Op, true}};
constexpr FieldSpec kCursor[] = {{"position", Slot::Position, true}};
constexpr FieldSpec kIdle[] = {{"is_active", Slot::Active, true}};
constexpr FieldSpec kViewport[] = {{"center", Slot::Position, true}, {"zoom", Slot::Zoom, true}};
constexpr FieldSpec kDragStart[] = {{"node_id", Slot::NodeId, true},
                                    {"offset", Slot::Position, true}};
constexpr FieldSpec kDragEnd[] = {{"node_id", Slot::NodeId, true},
                                  {"position", Slot::Position, true}};
constexpr FieldSpec kStateResponse[] = {{"target_user_id", Slot::Target, true},
                                        {"state", Slot::State, true}};
// Server -> client: relays add the sender's user_id (Update and SyncStep carry none).
constexpr FieldSpec kRAwareness[] = {{"user_id", Slot::UserId, true},
                                     {"state", Slot::Awareness, true}};
constexpr FieldSpec kRGraphOp[] = {{"user_id", Slot::UserId, true}, {"op", Slot::Op, true}};
constexpr FieldSpec kRCursor[] = {{"user_id", Slot::UserId, true},
                                  {"position", Slot::Position, true}};
constexpr FieldSpec kRIdle[] = {{"user_id", Slot::UserId, true}, {"is_active", Slot::Active, true}};
constexpr FieldSpec kRViewport[] = {
    {"user_id", Slot::UserId, true}, {"center", Slot::Position, true}, {"zoom", Slot::Zoom, true}};
constexpr FieldSpec kRDragStart[] = {{"user_id", Slot::UserId, true},
                                     {"node_id", Slot::NodeId, true},
                                     {"offset", Slot::Position, true}};
constexpr FieldSpec kRDragEnd[] = {{"user_id", Slot::UserId, true},
                                   {"node_id", Slot::NodeId, true},
                                   {"position", Slot::Position, true}};
constexpr FieldSpec kAuthResult[] = {{"success", Slot::Success, true},
                                     {"error", Slot::AuthError, false},
                                     {"room_info", Slot::RoomInfo, false}};
constexpr FieldSpec kGraphState[] = {{"state", Slot::State, true},
                                     {"target_user_id", Slot::OptTarget, false}};
constexpr FieldSpec kRequestState[] = {{"requester_id", Slot::Requester, true}};
constexpr FieldSpec kUserJoined[] = {{"user_id", Slot::UserId, true},
                                     {"username", Slot::Username, true}};
constexpr FieldSpec kUserLeft[] = {{"user_id", Slot::UserId, true}};
constexpr FieldSpec kSnapshot[] = {{"snapshot_id", Slot::SnapshotId, true},
                                   {"snapshot_data", Slot::Bytes, true},
                                   {"element_count", Slot::ElementCount, true},
                                   {"created_at", Slot::CreatedAt, true}};
constexpr FieldSpec kError[] = {{"code", Slot::Code, true},
                                {"message", Slot::ErrMessage, true},
                                {"reason", Slot::Reason, false},
                                {"rejected", Slot::Rejected, false}};

// The payload fields of a message type in one direction; empty for the unit variants.
Spec payload_spec(MsgType t, bool from_server) {
    switch (t) {
        case MsgType::Auth:
            return kAuth;
        case MsgType::SyncStep1:
            return kSync1;
        case MsgType::SyncStep2:
        case MsgType::Update:
            return kUpdate;
        case MsgType::Awareness:
            return from_server ? Spec(kRAwareness) : Spec(kAwareness);
        case MsgType::GraphOp:
            return from_server ? Spec(kRGraphOp) : Spec(kGraphOp);
        case MsgType::CursorMove:
            return from_server ? Spec(kRCursor) : Spec(kCursor);
        case MsgType::IdleStatus:
            return from_server ? Spec(kRIdle) : Spec(kIdle);
        case MsgType::UserViewport:
            return from_server ? Spec(kRViewport) : Spec(kViewport);
        case MsgType::TableDragStart:
            return from_server ? Spec(kRDragStart) : Spec(kDragStart);
        case MsgType::TableDragEnd:
            return from_server ? Spec(kRDragEnd) : Spec(kDragEnd);
        case MsgType::RequestGraphState:
            return from_server ? Spec(kRequestState) : Spec();
        case MsgType::GraphStateResponse:
            return kStateResponse;
        case MsgType::AuthResult:
            return kAuthResult;
        case MsgType::UserJoined:
            return kUserJoined;
        case MsgType::UserLeft:
            return kUserLeft;
        case MsgType::GraphState:
            return kGraphState;
        case MsgType::SnapshotRecovery:
            return kSnapshot;
        case MsgType::Error:
            return kError;
        default:
            return {};
    }
}

constexpr std::array<std::string_view, 6> kErrorCodes = {"room_full",         "invalid_password",
                                                         "not_authenticated", "room_not_found",
                                                         "invalid_message",   "internal_error"};

}  // namespace

// The payload of one message: each field into its slot, by the type table.
namespace detail {

bool read_slot(od::value& v, Slot slot, Message& m, const Path& fp, std::string& err) {
    switch (slot) {
        case Slot::UserId:
            return read_uuid(v, m.user_id, fp, err);
        case Slot::Username:
            return read_string(v, m.username, fp, err);
        case Slot::Password:
            return read_opt_string(v, m.password, fp, err);
        case Slot::LastSeq: {
            if (is_null(v)) return true;
            std::uint64_t s;
            if (!read_u64(v, s, fp, err)) return false;
            m.last_seq = s;
            return true;
        }
        case Slot::Bytes:
            return read_bytes(v, m.bytes, fp, err);
        case Slot::Op:
            return read_op(v, m.op, err);
        case Slot::State:
            return read_state(v, m.state, err);
        case Slot::Awareness:
            return read_awareness(v, m, err);
        case Slot::Position:
            return (m.has_position = read_pair(v, m.position, fp, err));
        case Slot::Zoom:
            return read_double(v, m.zoom, fp, err);
        case Slot::Active:
            return read_bool(v, m.is_active, fp, err);
        case Slot::NodeId:
            return read_u32(v, m.node_id, fp, err);
        case Slot::Target:
            return read_uuid(v, m.target_user_id, fp, err);
        case Slot::OptTarget:
            return is_null(v) || read_uuid(v, m.target_user_id, fp, err);
        case Slot::Requester:
            return read_uuid(v, m.requester_id, fp, err);
        case Slot::Success:
            return read_bool(v, m.success, fp, err);
        case Slot::AuthError: {
            std::optional<std::string> e;
            if (!read_opt_string(v, e, fp, err)) return false;
            m.error = e.value_or("");
            return true;
        }
        case Slot::RoomInfo:
            return is_null(v) || read_room_info(v, m, err);
        case Slot::Code:
            if (!read_string(v, m.code, fp, err)) return false;
            if (index_in(kErrorCodes, m.code) < 0)
                return fail(err, fp, "unknown error code '" + m.code + "'");
            return true;
        case Slot::ErrMessage:
            return read_string(v, m.error, fp, err);
        case Slot::SnapshotId:
            return read_uuid(v, m.snapshot_id, fp, err);
        case Slot::ElementCount:
            return read_u64(v, m.element_count, fp, err);
        case Slot::CreatedAt:
            return read_string(v, m.created_at, fp, err);
        case Slot::Reason: {
            // Our extension: a string; one this build does not know is kept as no reason.
            std::string r;
            if (!read_string(v, r, fp, err)) return false;
            m.reason = error_kind_of(r);
            return true;
        }
        case Slot::Rejected: {
            std::string t;
            if (!read_string(v, t, fp, err)) return false;
            if (auto type = msg_type_from(t)) m.rejected = *type;
            return true;
        }
    }
    return validate_any(v, 1, fp, err);
}

bool read_payload(od::object& obj, Message& m, bool from_server, std::string& err) {
    const Spec spec = payload_spec(m.type, from_server);
    unsigned seen = 0;
    bool ok = each_field(obj, "payload", err, [&](std::string_view key, od::value& v) {
        const Path fp("payload", key);
        // The server adds user_id to relayed messages; a client must not supply its own.
        if (!from_server && key == "user_id" && m.type != MsgType::Auth)
            return fail(err, fp, "is set by the server, not the client");
        for (std::size_t i = 0; i < spec.size(); ++i)
            if (spec[i].key == key) {
                seen |= 1u << i;
                return read_slot(v, spec[i].slot, m, fp, err);
            }
        return validate_any(v, 1, fp, err);
    });
    if (!ok) return false;
    for (std::size_t i = 0; i < spec.size(); ++i)
        if (spec[i].required && !(seen & (1u << i)))
            return fail(err, Path("payload", spec[i].key),
                        std::string("missing (required by ") + to_string(m.type) + ")");
    return true;
}

// Unit variants: no payload, or "payload":null.
bool is_unit(MsgType t, bool from_server) {
    return t == MsgType::Ping || t == MsgType::Pong ||
           (t == MsgType::RequestGraphState && !from_server);
}

}  // namespace detail

}  // namespace liveshare
