// A room's authoritative schema state and what its snapshots need: whether it changed since
// the last one, and the last one taken (announced to joiners as SnapshotRecovery). Not
// synchronized: the room's lock guards it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/schema_state.hpp"

namespace liveshare {

struct SnapshotInfo {
    std::int64_t id = 0;
    std::string state_json, created_at;
    std::uint64_t element_count = 0;
};

struct RoomSnapshot {
    std::string state_json;
    std::uint64_t seq = 0, element_count = 0;
};

class RoomState {
  public:
    void apply(const GraphOp& op) {
        schema_.apply(op);
        dirty_ = true;
    }
    void mark_dirty() { dirty_ = true; }
    // The state as of `seq` when it changed since the last call; then it is clean.
    std::optional<RoomSnapshot> take_snapshot_if_dirty(std::uint64_t seq) {
        if (!dirty_) return std::nullopt;
        dirty_ = false;
        return RoomSnapshot{schema_.to_json(), seq, schema_.element_count()};
    }
    void restore(SchemaState s, std::optional<SnapshotInfo> snap) {
        schema_ = std::move(s);
        dirty_ = false;
        last_snapshot_ = std::move(snap);
    }
    void set_last_snapshot(SnapshotInfo info) { last_snapshot_ = std::move(info); }
    const std::optional<SnapshotInfo>& last_snapshot() const { return last_snapshot_; }
    const SchemaState& schema() const { return schema_; }

  private:
    SchemaState schema_;
    bool dirty_ = true;  // a new room is worth one snapshot, even empty
    std::optional<SnapshotInfo> last_snapshot_;
};

}  // namespace liveshare
