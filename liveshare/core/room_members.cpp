#include "room_members.hpp"

#include <functional>

namespace liveshare {

namespace {
constexpr const char* kColors[] = {"#ef4444", "#f59e0b", "#10b981", "#3b82f6",
                                   "#8b5cf6", "#ec4899", "#14b8a6", "#f97316"};

UserInfo user_info(const std::string& user_id, const std::string& username) {
    const std::size_t h = std::hash<std::string>{}(user_id);
    return {user_id, username, kColors[h % std::size(kColors)]};
}
}  // namespace

void RoomMembers::add(const std::shared_ptr<Participant>& p) {
    local_.push_back({p, p->wants_seq()});
    if (!local_.back().v2) ++v1_;
}

void RoomMembers::erase(std::vector<Member>::iterator it) {
    if (!it->v2) --v1_;
    local_.erase(it);
}

bool RoomMembers::remove(const Participant* p) {
    for (auto it = local_.begin(); it != local_.end(); ++it)
        if (it->p.get() == p) {
            erase(it);
            return true;
        }
    return false;
}

bool RoomMembers::close_replaced(const std::string& user_id) {
    for (auto it = local_.begin(); it != local_.end(); ++it)
        if (it->p->user_id() == user_id) {
            // The newest connection of a user wins; the old one learns why it was closed.
            it->p->close_replaced();
            metrics_.sessions_replaced.fetch_add(1);
            erase(it);
            return true;
        }
    return false;
}

void RoomMembers::clear() {
    local_.clear();
    v1_ = 0;
}

Participant* RoomMembers::find(const std::string& user_id) const {
    for (const auto& m : local_)
        if (m.p->user_id() == user_id) return m.p.get();
    return nullptr;
}

Participant* RoomMembers::first_other_than(const Participant* p) const {
    for (const auto& m : local_)
        if (m.p.get() != p) return m.p.get();
    return nullptr;
}

void RoomMembers::tell(Participant& to, MsgType type, std::shared_ptr<const std::string> frame) {
    metrics_.count_out(type);
    to.deliver({std::move(frame), type, Delivery::Control, 0, false});
}

void RoomMembers::tell_all(MsgType type, const std::shared_ptr<const std::string>& frame,
                           const Participant* exclude) {
    fan_out(exclude, type, Delivery::Control, 0, [&](bool, auto&) { return &frame; });
}

bool RoomMembers::add_remote(const std::string& user_id, const std::string& username) {
    auto [it, added] = remote_.insert_or_assign(user_id, username);
    return added;
}

std::vector<UserInfo> RoomMembers::users() const {
    std::vector<UserInfo> out;
    out.reserve(count());
    for (const auto& m : local_) out.push_back(user_info(m.p->user_id(), m.p->username()));
    for (const auto& [uid, name] : remote_) out.push_back(user_info(uid, name));
    return out;
}

}  // namespace liveshare
