// DOM-free encoding of protocol messages, compact JSON in the original's shapes.
#include "protocol/codec.hpp"
#include "protocol/json_write.hpp"

namespace liveshare {

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
    // The original relays Update and SyncStep without the sender (the type table of
    // docs/protocol.md).
    const bool with_sender =
        type != MsgType::Update && type != MsgType::SyncStep1 && type != MsgType::SyncStep2;
    if (with_sender) {
        out += "\"user_id\":";
        json::append_string(out, user_id);
    }
    // raw_payload is a validated object "{...}": splice its members after ours.
    std::string_view inner = raw_payload.size() >= 2 ? raw_payload.substr(1, raw_payload.size() - 2)
                                                     : std::string_view{};
    std::size_t first = inner.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos) {
        if (with_sender) out += ',';
        out += inner.substr(first);
    }
    out += "}}";
}

void encode_update_bytes(std::string& out, std::span<const std::uint8_t> update,
                         std::optional<std::uint64_t> seq) {
    open_message(out, MsgType::Update, seq);
    out += "\"update\":";
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
    // A Uuid in the original; a room nobody has joined yet has no owner: the nil UUID.
    json::append_string(
        out, r.owner_id.empty() ? std::string_view(kNilUuid) : std::string_view(r.owner_id));
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
    out += "}}";
}

void encode_auth_failed(std::string& out, std::string_view error) {
    open_message(out, MsgType::AuthResult, std::nullopt);
    out += "\"success\":false,\"error\":";
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
    // Absent, not null, when unset (the original skips a None).
    if (!target_user_id.empty()) {
        out += ",\"target_user_id\":";
        json::append_string(out, target_user_id);
    }
    out += "}}";
}

void encode_request_graph_state(std::string& out, std::string_view requester_id) {
    open_message(out, MsgType::RequestGraphState, std::nullopt);
    out += "\"requester_id\":";
    json::append_string(out, requester_id);
    out += "}}";
}

void encode_snapshot_recovery(std::string& out, std::string_view snapshot_id,
                              std::string_view snapshot_data, std::uint64_t element_count,
                              std::string_view created_at) {
    open_message(out, MsgType::SnapshotRecovery, std::nullopt);
    out += "\"snapshot_id\":";
    json::append_string(out, snapshot_id);
    out += ",\"snapshot_data\":";
    json::append_bytes(
        out, {reinterpret_cast<const std::uint8_t*>(snapshot_data.data()), snapshot_data.size()});
    out += ",\"element_count\":";
    json::append_int(out, element_count);
    out += ",\"created_at\":";
    json::append_string(out, created_at);
    out += "}}";
}

void encode_error(std::string& out, ErrorKind kind, std::string_view message,
                  std::optional<MsgType> rejected) {
    open_message(out, MsgType::Error, std::nullopt);
    out += "\"code\":";
    json::append_string(out, error_code(kind));
    out += ",\"message\":";
    json::append_string(out, message);
    out += ",\"reason\":";
    json::append_string(out, error_reason(kind));
    if (rejected) {
        out += ",\"rejected\":";
        json::append_string(out, to_string(*rejected));
    }
    out += "}}";
}

void encode_pong(std::string& out) {
    out += "{\"type\":\"Pong\"}";
}

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
    auto id = [&](const char* k, NodeId v) {
        out += ",\"";
        out += k;
        out += "\":";
        json::append_int(out, v);
    };
    if (op.type != OpType::CreateRelationship && op.type != OpType::DeleteRelationship) {
        id("node_id", op.node_id);
        str("table_uuid", op.table_uuid);
    }
    switch (op.type) {
        case OpType::CreateTable:
            str("name", op.name);
            out += ",\"position\":";
            json::append_pair(out, op.position.x, op.position.y);
            break;
        case OpType::RenameTable:
            str("new_name", op.name);
            break;
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
            id("edge_id", op.edge_id);
            id("from_node", op.from_node);
            id("to_node", op.to_node);
            out += ",\"relationship\":";
            append_relationship_data(out, op.relationship);
            break;
        case OpType::DeleteRelationship:
            id("edge_id", op.edge_id);
            break;
        case OpType::DeleteTable:
            break;
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

void encode_drag(std::string& out, bool start, NodeId node_id, Vec2 p) {
    open_message(out, start ? MsgType::TableDragStart : MsgType::TableDragEnd, std::nullopt);
    out += "\"node_id\":";
    json::append_int(out, node_id);
    out += start ? ",\"offset\":" : ",\"position\":";
    json::append_pair(out, p.x, p.y);
    out += "}}";
}

void encode_graph_state_response(std::string& out, std::string_view target_user_id,
                                 std::string_view state_json) {
    open_message(out, MsgType::GraphStateResponse, std::nullopt);
    out += "\"target_user_id\":";
    json::append_string(out, target_user_id);
    out += ",\"state\":";
    out += state_json;
    out += "}}";
}

void encode_bytes_message(std::string& out, MsgType type, std::span<const std::uint8_t> bytes) {
    open_message(out, type, std::nullopt);
    out += type == MsgType::SyncStep1 ? "\"state_vector\":" : "\"update\":";
    json::append_bytes(out, bytes);
    out += "}}";
}

}  // namespace liveshare
