// Workloads: what each simulated user sends and when (intended times, open model), and the
// marker every measured message carries: its per-sender sequence number and intended send
// time, inside fields the protocol already has, so it survives any server that re-serializes.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "protocol/codec.hpp"

namespace harness {

struct LoadTestConfig;  // traffic/load_config.hpp

// What the simulated users do (LoadTestConfig::workload).
// Burst: the original client's auto-layout, a burst of graph ops at once (one MoveTable per
// table), every burst_every; what the server's graph-op throttle meets.
enum class Workload { Seed, Editing, CursorStorm, JoinStorm, Burst };
const char* to_string(Workload w);
bool workload_from(const std::string& s, Workload& out);

struct Marker {
    std::uint64_t seq = 0;
    std::int64_t t_us = 0;  // intended send time, microseconds after the run's epoch
};

struct Planned {
    std::int64_t t_us = 0;
    std::string frame;
    liveshare::MsgType type = liveshare::MsgType::Ping;
    bool durable = false;
    std::uint64_t seq = 0;  // durable and volatile messages are numbered separately
};

// Reads the marker from a relayed message; nullopt when it carries none.
std::optional<Marker> extract_marker(const liveshare::ServerMessage& m);

std::string make_uuid(std::mt19937_64& rng);
// A uniform draw from [lo, hi) (lo when the range is empty).
std::int64_t draw_uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi);

// One user's messages, in intended-time order: a compiled workload (UserScript), a scenario
// file's user class (scenario.hpp) or a recorded user's trace (trace_replay.hpp).
class Script {
  public:
    virtual ~Script() = default;
    // The next message; false when the user has nothing more to send.
    virtual bool next(Planned& out) = 0;
};

// The messages a user sends, each carrying its marker. Every script encodes through this, so
// a scenario and a compiled workload that plan the same sends produce the same bytes.
class MessageMaker {
  public:
    MessageMaker(std::size_t index, std::string user_id, liveshare::NodeId node_id,
                 std::string table_uuid)
        : index_(index),
          user_id_(std::move(user_id)),
          node_id_(node_id),
          table_uuid_(std::move(table_uuid)) {}
    // A graph op on the user's own table. pad_to: the frame's approximate size (the column's
    // default value is padded; 0: no padding); exact: pad to exactly pad_to bytes when the op
    // has a column to pad (a replay's recorded size).
    void graph_op(Planned& out, std::int64_t t, liveshare::OpType type, std::uint64_t seq,
                  std::size_t pad_to, bool exact = false) const;
    // Volatile messages; their marker is (seq, t). Awareness is padded to exactly `bytes`
    // when it is larger than the unpadded frame (0: the user's plain name).
    void awareness(Planned& out, std::int64_t t, std::uint64_t seq, std::size_t bytes = 0) const;
    void drag(Planned& out, std::int64_t t, std::uint64_t seq) const;
    void idle(Planned& out, std::int64_t t, std::uint64_t seq) const;
    void cursor(Planned& out, std::int64_t t, std::uint64_t seq) const;

  private:
    void column_op(liveshare::GraphOp& op, std::uint64_t seq, std::int64_t t,
                   std::size_t pad) const;
    std::size_t index_;
    std::string user_id_;
    liveshare::NodeId node_id_;
    std::string table_uuid_;
};

class UserScript;
// The script of user `index`: the plan's when the run has one, else the compiled workload's.
std::unique_ptr<Script> make_script(const LoadTestConfig& cfg, std::size_t index,
                                    std::string user_id, liveshare::NodeId node_id,
                                    std::string table_uuid);

class UserScript : public Script {
  public:
    // node_id and table_uuid: the diagram table this user creates and edits.
    UserScript(const LoadTestConfig& cfg, std::size_t index, std::string user_id,
               liveshare::NodeId node_id, std::string table_uuid, std::uint64_t seed);
    // The next message in intended-time order; false when the user has nothing more to send.
    bool next(Planned& out) override;

  private:
    bool next_seed(Planned& out);
    bool next_editing(Planned& out);
    bool next_cursor(Planned& out);
    bool next_burst(Planned& out);
    void durable_op(Planned& out, std::int64_t t, liveshare::OpType type);

    const LoadTestConfig& cfg_;
    std::size_t index_;
    MessageMaker make_;
    std::mt19937_64 rng_;
    std::int64_t end_us_;
    std::uint64_t count_ = 0, durable_seq_ = 0, volatile_seq_ = 0;
    // editing: next intended time of each stream
    std::int64_t next_op_ = 0, next_cursor_ = 0, next_drag_ = 0, next_idle_ = 0;
    std::size_t burst_left_ = 0;  // burst: ops still due at next_op_
    bool active_ = true;
};

}  // namespace harness
