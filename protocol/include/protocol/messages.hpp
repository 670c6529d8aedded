// Message types of PROTOCOL.md and how the server treats each (delivery and rate class).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace liveshare {

enum class MsgType : std::uint8_t {
    // client -> server (all but Auth, Ping, RequestGraphState are relayed)
    Auth, SyncStep1, SyncStep2, Update, Awareness, GraphOp, CursorMove, IdleStatus, UserViewport,
    TableDragStart, TableDragEnd, RequestGraphState, GraphStateResponse, Ping,
    // server -> client only
    AuthResult, UserJoined, UserLeft, GraphState, SnapshotRecovery, Error, Pong,
    Count
};
inline constexpr std::size_t kMsgTypeCount = static_cast<std::size_t>(MsgType::Count);

const char* to_string(MsgType t);
std::optional<MsgType> msg_type_from(std::string_view s);
inline std::size_t index_of(MsgType t) { return static_cast<std::size_t>(t); }

// Durable: sequenced, logged, never dropped. Volatile: may coalesce to the latest per sender.
enum class Delivery : std::uint8_t { Durable, Volatile, Control };
Delivery delivery_of(MsgType t);

// Token-bucket class of PROTOCOL.md's rate limits.
enum class RateClass : std::uint8_t { Volatile, Low, Critical };
RateClass rate_class_of(MsgType t);

// The optional extension a client negotiates as a WebSocket subprotocol: durable messages
// carry a per-room "seq" and Auth may carry "last_seq" to resume. Others see the original.
inline constexpr std::string_view kSubprotocolV2 = "liveshare.v2";

// Close codes (application range 4000-4999).
inline constexpr std::uint16_t kCloseReplaced = 4001;      // same user_id connected again
inline constexpr std::uint16_t kCloseResyncRequired = 4008;  // too far behind: reconnect+resync
inline constexpr std::uint16_t kCloseShutdown = 1001;      // server going away

}  // namespace liveshare
