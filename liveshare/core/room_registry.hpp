// All rooms by id; creates them on first join unless REST creation is required.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "hot_paths.hpp"
#include "metrics.hpp"
#include "room.hpp"

namespace liveshare {

class RoomRegistry {
  public:
    // Throws std::invalid_argument when the profile names an unregistered variant.
    RoomRegistry(const ServerConfig& cfg, Metrics& metrics)
        : cfg_(cfg), metrics_(metrics), paths_(resolve_hot_paths(cfg.profile)) {}
    enum class Status { Found, Created, NotFound, TooMany, Exists };

    std::shared_ptr<Room> find(const std::string& id) const;
    // For a WebSocket join: finds, or creates when the configuration allows it (or always:
    // `anyway`, for a cluster node whose rooms may have been created on another node).
    std::pair<std::shared_ptr<Room>, Status> get_or_create(const std::string& id,
                                                           bool anyway = false);
    // For POST /room/{id} and restore: Created, Exists or TooMany.
    std::pair<std::shared_ptr<Room>, Status> create(RoomSettings s);
    std::vector<std::shared_ptr<Room>> all() const;
    // Durability mode: new rooms are recorded in the op log and hold messages until committed.
    void set_durable_log(DurableLog* log) { durable_ = log; }

  private:
    DurableLog* durable_ = nullptr;
    const ServerConfig& cfg_;
    Metrics& metrics_;
    HotPaths paths_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
};

// "/room/<uuid>" ids: 36 characters of hex digits and dashes in the UUID layout.
bool is_valid_room_id(std::string_view id);

}  // namespace liveshare
