// Parsing (simdjson on-demand, fully validated) and DOM-free encoding of protocol messages.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"
#include "protocol/schema_state.hpp"

namespace liveshare {

// simdjson reads up to this many bytes past the end of the input; callers provide them.
inline constexpr std::size_t kParsePadding = 64;

// One parsed message in either direction; which fields are set depends on `type`.
struct Message {
    MsgType type = MsgType::Ping;
    std::optional<std::uint64_t> seq;  // extension: per-room sequence number of durable messages
    std::string_view payload;          // raw text of the payload object (points into input), or ""
    std::string user_id;               // Auth; sender of a relayed message; UserJoined/UserLeft
    std::string username;              // Auth, UserJoined, Awareness state
    std::optional<std::string> password;    // Auth
    std::optional<std::uint64_t> last_seq;  // Auth extension: resume after this sequence number
    GraphOp op;                             // GraphOp
    Vec2 position;  // CursorMove position, drag offset/position, viewport center, Awareness cursor
    bool has_position = false;
    double zoom = 1;
    NodeId node_id = 0;                   // TableDragStart/End
    bool is_active = true;                // IdleStatus, Awareness
    std::string target_user_id;           // GraphState (empty: none), GraphStateResponse
    std::string requester_id;             // RequestGraphState from the server
    std::vector<std::uint8_t> bytes;      // Update, SyncStep1/2, SnapshotRecovery data
    SchemaState state;                    // GraphState, GraphStateResponse
    bool success = false;                 // AuthResult
    std::string code, error;              // Error code/message; AuthResult error
    std::optional<ErrorKind> reason;      // Error: our extension, when the server sent a known one
    std::optional<MsgType> rejected;      // Error: our extension, the type of the refused message
    std::uint64_t user_count = 0;         // AuthResult room_info
    std::string snapshot_id, created_at;  // SnapshotRecovery
    std::uint64_t element_count = 0;
    void clear() { *this = Message{}; }
};
using ClientMessage = Message;
using ServerMessage = Message;

class Parser {
  public:
    Parser();
    ~Parser();
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;
    // `data` must stay valid and have kParsePadding readable bytes after `len`.
    // On failure returns false and sets `error` to what was wrong (for Error.message).
    bool parse_client(const char* data, std::size_t len, ClientMessage& out, std::string& error);
    bool parse_server(const char* data, std::size_t len, ServerMessage& out, std::string& error);
    // A batch frame ("[m1,m2,...]", the batching extension): the raw text of each element.
    // `data` as for parse_*; the views point into it.
    bool split_batch(const char* data, std::size_t len, std::vector<std::string_view>& out,
                     std::string& error);
    // Convenience for callers without padded buffers (copies).
    bool parse_client(std::string_view text, ClientMessage& out, std::string& error);
    bool parse_server(std::string_view text, ServerMessage& out, std::string& error);
    // Gives back what the largest message parsed so far made it hold (a parser that will parse
    // nothing more, or little).
    void shrink();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- server -> client encoders (compact JSON, no DOM) ----

// A relayed message: the sender's raw payload with "user_id" spliced in front (not for
// Update/SyncStep, which the original relays without the sender), parsed once.
void encode_relay(std::string& out, MsgType type, std::string_view user_id,
                  std::string_view raw_payload, std::optional<std::uint64_t> seq);
// A binary frame (a raw Yjs update) relayed as the Update message.
void encode_update_bytes(std::string& out, std::span<const std::uint8_t> update,
                         std::optional<std::uint64_t> seq);

inline constexpr std::string_view kNilUuid = "00000000-0000-0000-0000-000000000000";

struct UserInfo {
    std::string user_id, username, color;
};
struct RoomInfo {
    std::string id, name, websocket_url, owner_id, created_at;
    bool is_protected = false;
    std::uint64_t user_count = 0, max_users = 0;
    std::vector<UserInfo> users;
};
void encode_room_info(std::string& out, const RoomInfo& info);
void encode_auth_ok(std::string& out, const RoomInfo& info);
void encode_auth_failed(std::string& out, std::string_view error);
void encode_user_joined(std::string& out, std::string_view user_id, std::string_view username);
void encode_user_left(std::string& out, std::string_view user_id);
// target_user_id empty: the field is left out.
void encode_graph_state(std::string& out, std::string_view state_json,
                        std::string_view target_user_id, std::optional<std::uint64_t> seq);
// Asks a member for its diagram on behalf of requester_id (the original's join flow).
void encode_request_graph_state(std::string& out, std::string_view requester_id);
void encode_snapshot_recovery(std::string& out, std::string_view snapshot_id,
                              std::string_view snapshot_data, std::uint64_t element_count,
                              std::string_view created_at);
// Error {code, message, reason, rejected?}: the kind's original code, its reason and the type
// of the refused message (extensions the original's clients ignore).
void encode_error(std::string& out, ErrorKind kind, std::string_view message,
                  std::optional<MsgType> rejected = std::nullopt);
void encode_pong(std::string& out);

// ---- client -> server encoders (the harness and tests use them) ----
void encode_auth(std::string& out, std::string_view user_id, std::string_view username,
                 std::optional<std::string_view> password, std::optional<std::uint64_t> last_seq);
void encode_graph_op(std::string& out, const GraphOp& op);
void encode_op_body(std::string& out, const GraphOp& op);  // the "op" object alone
void encode_cursor_move(std::string& out, Vec2 p);
void encode_awareness(std::string& out, std::string_view username, Vec2 cursor, bool is_active);
void encode_idle_status(std::string& out, bool is_active);
void encode_viewport(std::string& out, Vec2 center, double zoom);
void encode_drag(std::string& out, bool start, NodeId node_id, Vec2 p);
void encode_graph_state_response(std::string& out, std::string_view target_user_id,
                                 std::string_view state_json);
void encode_bytes_message(std::string& out, MsgType type, std::span<const std::uint8_t> bytes);
void encode_simple(std::string& out, MsgType type);  // {"type":"Ping"} etc.

// Parses a state JSON ({"tables":[...],"relationships":[...]}) into `state`.
bool parse_state(Parser& parser, std::string_view json, SchemaState& state, std::string& error);

}  // namespace liveshare

namespace liveshare {
// Body of POST /room[/{id}] (every field optional or null; owner_id is our extension).
struct RoomCreateRequest {
    std::string name, owner_id;
    std::optional<std::string> password;
    std::uint64_t max_users = 0;
};
bool parse_room_create(std::string_view body, RoomCreateRequest& out, std::string& error);
}  // namespace liveshare
