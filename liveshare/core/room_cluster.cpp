// Room's cluster side (RoomBusInbound): what another node's members did, handed to this
// node's members of the room by the cluster (liveshare/cluster/).
#include "room.hpp"

namespace liveshare {

namespace {
// The liveshare.v2 form of a frame encoded without seq: "seq" goes right after "type", as
// the encoders put it ({"type":"X","seq":N,"payload":...}); type names have no comma.
std::shared_ptr<const std::string> with_seq(const std::string& v1, std::uint64_t seq) {
    auto out = std::make_shared<std::string>();
    const std::size_t at = v1.find(',');
    out->reserve(v1.size() + 24);
    out->append(v1, 0, at);
    *out += ",\"seq\":";
    *out += std::to_string(seq);
    out->append(v1, at, std::string::npos);
    return out;
}
}  // namespace

RoomBusInbound& Room::attach_bus(RoomBus* bus) {
    std::lock_guard lock(mu_);
    bus_ = bus;
    return *this;
}

void Room::apply_ordered(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> frame,
                         const GraphOp* op) {
    std::lock_guard lock(mu_);
    if (seq <= log_.published()) return;
    log_.advance_to(seq);
    auto v2 = with_seq(*frame, seq);
    publish_locked(seq, type, op, std::move(frame), std::move(v2));
}

void Room::log_ordered(std::uint64_t seq, MsgType type, const std::string& frame) {
    std::lock_guard lock(mu_);
    log_.keep(seq, type, with_seq(frame, seq));
}

void Room::deliver_remote_volatile(MsgType type, const std::string& user_id,
                                   std::shared_ptr<const std::string> frame) {
    const std::uint64_t key = paths_.volatiles->coalesce_key(user_id, type);
    std::lock_guard lock(mu_);
    members_.fan_out(nullptr, type, Delivery::Volatile, key,
                     [&](bool, auto& own) { return &paths_.fanout->for_recipient(frame, own); });
}

void Room::remote_joined(const std::string& user_id, const std::string& username) {
    std::lock_guard lock(mu_);
    const bool here = members_.close_replaced(user_id);
    const bool known = !members_.add_remote(user_id, username);
    if (here || known) return;  // the others know this user already
    members_.tell_all(MsgType::UserJoined, make_frame([&](std::string& s) {
                          encode_user_joined(s, user_id, username);
                      }));
}

void Room::remote_left(const std::string& user_id) {
    std::lock_guard lock(mu_);
    if (!members_.remove_remote(user_id)) return;
    members_.tell_all(MsgType::UserLeft,
                      make_frame([&](std::string& s) { encode_user_left(s, user_id); }));
}

void Room::set_remote_members(std::map<std::string, std::string> users) {
    std::lock_guard lock(mu_);
    const auto before = members_.remote();
    members_.set_remote(std::move(users));
    if (members_.local().empty()) return;  // a room being loaded: nobody to tell
    for (const auto& [id, name] : before)
        if (!members_.remote().count(id))
            members_.tell_all(MsgType::UserLeft,
                              make_frame([&](std::string& s) { encode_user_left(s, id); }));
    for (const auto& [id, name] : members_.remote())
        if (!before.count(id))
            members_.tell_all(MsgType::UserJoined,
                              make_frame([&](std::string& s) { encode_user_joined(s, id, name); }));
}

void Room::refuse(const Participant* sender, MsgType type, const std::string& why) {
    std::lock_guard lock(mu_);
    for (auto& m : members_.local())
        if (m.p.get() == sender)
            return members_.tell(*m.p, MsgType::Error, make_frame([&](std::string& s) {
                encode_error(s, ErrorKind::Unavailable, why, type);
            }));
}

void Room::remote_state_request(const std::string& requester, const std::string& asked) {
    std::lock_guard lock(mu_);
    Participant* p = members_.find(asked);
    if (!p) return;
    metrics_.state_requests_forwarded.fetch_add(1, std::memory_order_relaxed);
    members_.tell(*p, MsgType::RequestGraphState,
                  make_frame([&](std::string& s) { encode_request_graph_state(s, requester); }));
}

void Room::deliver_state(const std::string& target, std::shared_ptr<const std::string> frame) {
    std::lock_guard lock(mu_);
    for (auto& m : members_.local())
        if (m.p->user_id() == target) members_.tell(*m.p, MsgType::GraphState, frame);
}

}  // namespace liveshare
