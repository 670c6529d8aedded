// Workloads: what each simulated user sends and when (intended times, open model), and the
// marker every measured message carries: its per-sender sequence number and intended send
// time, inside fields the protocol already has, so it survives any server that re-serializes.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "load_config.hpp"
#include "protocol/codec.hpp"

namespace harness {

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

class UserScript {
  public:
    // node_id and table_uuid: the diagram table this user creates and edits.
    UserScript(const LoadTestConfig& cfg, std::size_t index, std::string user_id,
               liveshare::NodeId node_id, std::string table_uuid, std::uint64_t seed);
    // The next message in intended-time order; false when the user has nothing more to send.
    bool next(Planned& out);

  private:
    bool next_seed(Planned& out);
    bool next_editing(Planned& out);
    bool next_cursor(Planned& out);
    bool next_burst(Planned& out);
    void durable_op(Planned& out, std::int64_t t, liveshare::GraphOp op);
    std::uint64_t setup_step() const;
    void op_with_marker(liveshare::GraphOp& op, std::uint64_t seq, std::int64_t t) const;

    const LoadTestConfig& cfg_;
    std::size_t index_;
    std::string user_id_;
    liveshare::NodeId node_id_;
    std::string table_uuid_;
    std::mt19937_64 rng_;
    std::int64_t end_us_;
    std::uint64_t count_ = 0, durable_seq_ = 0, volatile_seq_ = 0;
    // editing: next intended time of each stream
    std::int64_t next_op_ = 0, next_cursor_ = 0, next_drag_ = 0, next_idle_ = 0;
    std::size_t burst_left_ = 0;  // burst: ops still due at next_op_
    bool active_ = true;
};

}  // namespace harness
