// SQLite (WAL) persistence of room snapshots: periodic, on the last leave, on shutdown.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sqlite.hpp"

namespace liveshare {

struct StoredSnapshot {
    std::int64_t id = 0;
    std::string room_id, state_json, created_at;
    std::uint64_t seq = 0, element_count = 0;
    // room metadata, so a restart restores protected rooms too
    std::string name, owner_id, password_hash, room_created_at;
};

class SnapshotStore {
  public:
    // Opens (creating) the database; throws std::runtime_error with SQLite's message.
    SnapshotStore(const std::string& path, std::size_t keep_per_room);
    ~SnapshotStore();
    SnapshotStore(const SnapshotStore&) = delete;
    SnapshotStore& operator=(const SnapshotStore&) = delete;

    // Inserts a snapshot, prunes to the newest `keep` for the room, returns the new id.
    std::int64_t save(const StoredSnapshot& s);
    std::vector<StoredSnapshot> load_latest_per_room();

  private:
    std::mutex mu_;
    sqlite::Db db_;
    std::size_t keep_;
};

}  // namespace liveshare
