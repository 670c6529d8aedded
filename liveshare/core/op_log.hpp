// Persisting durable ops (the log a crash-safe mode needs) to SQLite in WAL mode with
// synchronous=FULL, so a commit is on disk when it returns.
// Baseline: one transaction (one fsync) per op. Candidate: group commit, N ops per
// transaction, as a writer thread does when ops arrive faster than fsyncs.
// Hypothesis: the fsync dominates, so cost per op falls nearly as 1/N.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sqlite.hpp"

namespace liveshare {

struct OpRecord {
    std::string room;
    std::uint64_t seq = 0;
    std::string frame;
};
struct RoomRecord {
    std::string room, name, owner_id, password_hash, created_at;
};

// The server's durability mode writes through this class too (liveshare/durable_log).
class OpLog {
  public:
    explicit OpLog(const std::string& path);  // throws std::runtime_error
    ~OpLog();
    OpLog(const OpLog&) = delete;
    OpLog& operator=(const OpLog&) = delete;
    // Writes the ops in one transaction.
    void commit(std::string_view room, std::uint64_t first_seq,
                const std::vector<std::string>& frames);
    // One transaction: rooms (upserted), ops, and for each (room, seq) the ops up to seq
    // dropped (a snapshot covers them). Throws on failure, with nothing written.
    void commit(const std::vector<RoomRecord>& rooms, const std::vector<OpRecord>& ops,
                const std::vector<std::pair<std::string, std::uint64_t>>& prune = {});
    std::vector<RoomRecord> load_rooms();
    std::vector<OpRecord> load_ops(const std::string& room, std::uint64_t after_seq);
    std::uint64_t count();

  private:
    sqlite::Db db_;
};

}  // namespace liveshare
