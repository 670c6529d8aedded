// Message types of docs/protocol.md and how the server treats each (delivery and rate class).
//
// "The original", in comments throughout this code, is the LiveShare server this project
// replaces and measures: the Rust (axum + tokio) collaboration server of the ArchiSchema
// schema designer (c0st1nus/Archischema, src/core/liveshare/). Its wire protocol, types and
// behaviour are written down in docs/protocol.md; a client of it must work against ours.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace liveshare {

enum class MsgType : std::uint8_t {
    // client -> server (all but Auth, Ping, RequestGraphState are relayed)
    Auth,
    SyncStep1,
    SyncStep2,
    Update,
    Awareness,
    GraphOp,
    CursorMove,
    IdleStatus,
    UserViewport,
    TableDragStart,
    TableDragEnd,
    RequestGraphState,
    GraphStateResponse,
    Ping,
    // server -> client only
    AuthResult,
    UserJoined,
    UserLeft,
    GraphState,
    SnapshotRecovery,
    Error,
    Pong,
    Count
};
inline constexpr std::size_t kMsgTypeCount = static_cast<std::size_t>(MsgType::Count);

const char* to_string(MsgType t);
std::optional<MsgType> msg_type_from(std::string_view s);
inline std::size_t index_of(MsgType t) {
    return static_cast<std::size_t>(t);
}

// Durable: sequenced, logged, never dropped. Volatile: may coalesce to the latest per sender.
enum class Delivery : std::uint8_t { Durable, Volatile, Control };
Delivery delivery_of(MsgType t);

// Token-bucket class of docs/protocol.md's rate limits.
enum class RateClass : std::uint8_t { Volatile, Low, Critical };
RateClass rate_class_of(MsgType t);

// The optional extension a client negotiates as a WebSocket subprotocol: durable messages
// carry a per-room "seq" and Auth may carry "last_seq" to resume. Others see the original.
inline constexpr std::string_view kSubprotocolV2 = "liveshare.v2";
// The batching extension (array frames), offered beside liveshare.v2.
inline constexpr std::string_view kSubprotocolV2Batch = "liveshare.v2+batch";

// Why the server refused a message. On the wire an Error carries the original's `code`
// (rate limits and throttles share internal_error there) and, as an extension that the
// original's clients ignore, this kind as `reason`, so a client need not read the message text.
enum class ErrorKind : std::uint8_t {
    Validation,        // invalid_message: the message does not parse or breaks a limit
    NotAuthenticated,  // not_authenticated: a message before Auth
    RateLimited,       // internal_error: the token bucket of its class was empty
    Throttled,         // internal_error: a graph op beyond the throttle's hold queue
    Failed,            // internal_error: the server failed to handle it
    Unavailable,       // internal_error: the order it needs is out of reach for now (cluster
                       // mode without Redis); not applied, send it again later
};
std::string_view error_code(ErrorKind k);    // the original's code
std::string_view error_reason(ErrorKind k);  // "invalid_message", "not_authenticated",
                                             // "rate_limited", "graphop_throttled", "failed",
                                             // "unavailable"
// The kind a reason names; nullopt for anything else (an older server, the original).
std::optional<ErrorKind> error_kind_of(std::string_view reason);

// Close codes (application range 4000-4999).
inline constexpr std::uint16_t kCloseReplaced = 4001;        // same user_id connected again
inline constexpr std::uint16_t kCloseResyncRequired = 4008;  // too far behind: reconnect+resync
inline constexpr std::uint16_t kCloseShutdown = 1001;        // server going away

}  // namespace liveshare
