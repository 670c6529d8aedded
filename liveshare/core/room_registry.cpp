#include "room_registry.hpp"

#include "durable_log.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

bool is_valid_room_id(std::string_view id) {
    return is_valid_uuid(id);
}

std::shared_ptr<Room> RoomRegistry::find(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(id);
    return it == rooms_.end() ? nullptr : it->second;
}

std::pair<std::shared_ptr<Room>, RoomRegistry::Status> RoomRegistry::get_or_create(
    const std::string& id, bool anyway) {
    {
        std::lock_guard lock(mu_);
        auto it = rooms_.find(id);
        if (it != rooms_.end()) return {it->second, Status::Found};
        if (cfg_.require_rest_create && !anyway) return {nullptr, Status::NotFound};
    }
    RoomSettings s;
    s.id = id;
    auto [room, st] = create(std::move(s));
    if (st == Status::Exists) return {room, Status::Found};
    return {room, st};
}

std::pair<std::shared_ptr<Room>, RoomRegistry::Status> RoomRegistry::create(RoomSettings s) {
    std::lock_guard lock(mu_);
    if (auto it = rooms_.find(s.id); it != rooms_.end()) return {it->second, Status::Exists};
    if (rooms_.size() >= cfg_.max_rooms) return {nullptr, Status::TooMany};
    if (s.max_users == 0 || s.max_users > cfg_.max_users_per_room)
        s.max_users = cfg_.max_users_per_room;
    s.log_entries = cfg_.seq_log_entries;
    auto room = std::make_shared<Room>(std::move(s), metrics_, paths_);
    if (durable_) {
        room->attach_durable_log(durable_);
        durable_->room_created(room->settings_copy());
    }
    rooms_.emplace(room->id(), room);
    metrics_.rooms.store(static_cast<std::int64_t>(rooms_.size()));
    return {room, Status::Created};
}

std::vector<std::shared_ptr<Room>> RoomRegistry::all() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Room>> out;
    out.reserve(rooms_.size());
    for (auto& [id, r] : rooms_) out.push_back(r);
    return out;
}

}  // namespace liveshare
