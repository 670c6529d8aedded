#include "protocol/messages.hpp"

#include <array>

namespace liveshare {

namespace {
constexpr std::array<const char*, kMsgTypeCount> kNames = {"Auth",
                                                           "SyncStep1",
                                                           "SyncStep2",
                                                           "Update",
                                                           "Awareness",
                                                           "GraphOp",
                                                           "CursorMove",
                                                           "IdleStatus",
                                                           "UserViewport",
                                                           "TableDragStart",
                                                           "TableDragEnd",
                                                           "RequestGraphState",
                                                           "GraphStateResponse",
                                                           "Ping",
                                                           "AuthResult",
                                                           "UserJoined",
                                                           "UserLeft",
                                                           "GraphState",
                                                           "SnapshotRecovery",
                                                           "Error",
                                                           "Pong"};
}

const char* to_string(MsgType t) {
    return kNames[index_of(t)];
}

std::optional<MsgType> msg_type_from(std::string_view s) {
    for (std::size_t i = 0; i < kNames.size(); ++i)
        if (s == kNames[i]) return static_cast<MsgType>(i);
    return std::nullopt;
}

Delivery delivery_of(MsgType t) {
    switch (t) {
        case MsgType::GraphOp:
        case MsgType::Update:
        case MsgType::SyncStep1:
        case MsgType::SyncStep2:
            return Delivery::Durable;
        case MsgType::Awareness:
        case MsgType::CursorMove:
        case MsgType::IdleStatus:
        case MsgType::UserViewport:
        case MsgType::TableDragStart:
        case MsgType::TableDragEnd:
            return Delivery::Volatile;
        default:
            return Delivery::Control;
    }
}

RateClass rate_class_of(MsgType t) {
    switch (t) {
        case MsgType::Awareness:
        case MsgType::CursorMove:
        case MsgType::TableDragStart:
        case MsgType::TableDragEnd:
            return RateClass::Volatile;
        case MsgType::IdleStatus:
        case MsgType::UserViewport:
        case MsgType::Ping:
            return RateClass::Low;
        default:
            return RateClass::Critical;
    }
}

std::string_view error_code(ErrorKind k) {
    switch (k) {
        case ErrorKind::Validation:
            return "invalid_message";
        case ErrorKind::NotAuthenticated:
            return "not_authenticated";
        default:
            return "internal_error";
    }
}

std::string_view error_reason(ErrorKind k) {
    switch (k) {
        case ErrorKind::Validation:
            return "invalid_message";
        case ErrorKind::NotAuthenticated:
            return "not_authenticated";
        case ErrorKind::RateLimited:
            return "rate_limited";
        case ErrorKind::Throttled:
            return "graphop_throttled";
        case ErrorKind::Failed:
            return "failed";
        case ErrorKind::Unavailable:
            return "unavailable";
    }
    return "failed";
}

std::optional<ErrorKind> error_kind_of(std::string_view reason) {
    for (auto k : {ErrorKind::Validation, ErrorKind::NotAuthenticated, ErrorKind::RateLimited,
                   ErrorKind::Throttled, ErrorKind::Failed, ErrorKind::Unavailable})
        if (error_reason(k) == reason) return k;
    return std::nullopt;
}

}  // namespace liveshare
