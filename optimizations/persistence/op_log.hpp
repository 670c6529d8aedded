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

struct sqlite3;

namespace liveshare {

class OpLog {
public:
    explicit OpLog(const std::string& path);  // throws std::runtime_error
    ~OpLog();
    OpLog(const OpLog&) = delete;
    OpLog& operator=(const OpLog&) = delete;
    // Writes the ops in one transaction.
    void commit(std::string_view room, std::uint64_t first_seq, const std::vector<std::string>& frames);
    std::uint64_t count();

private:
    sqlite3* db_ = nullptr;
};

}  // namespace liveshare
