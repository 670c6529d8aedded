#include "persistence/op_log.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace liveshare {

namespace {
void check(sqlite3* db, int rc, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}
}  // namespace

OpLog::OpLog(const std::string& path) {
    check(db_, sqlite3_open(path.c_str(), &db_), "open");
    check(db_, sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "CREATE TABLE IF NOT EXISTS ops (room TEXT, seq INTEGER, frame TEXT, PRIMARY KEY(room, seq))",
                            nullptr, nullptr, nullptr),
          "schema");
}

OpLog::~OpLog() { sqlite3_close(db_); }

void OpLog::commit(std::string_view room, std::uint64_t first_seq, const std::vector<std::string>& frames) {
    check(db_, sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr), "begin");
    sqlite3_stmt* st = nullptr;
    check(db_, sqlite3_prepare_v2(db_, "INSERT INTO ops(room,seq,frame) VALUES(?,?,?)", -1, &st, nullptr), "prepare");
    for (std::size_t i = 0; i < frames.size(); ++i) {
        sqlite3_bind_text(st, 1, room.data(), static_cast<int>(room.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(first_seq + i));
        sqlite3_bind_text(st, 3, frames[i].data(), static_cast<int>(frames[i].size()), SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            check(db_, rc, "insert");
        }
    }
    sqlite3_finalize(st);
    check(db_, sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), "commit");
}

std::uint64_t OpLog::count() {
    sqlite3_stmt* st = nullptr;
    check(db_, sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM ops", -1, &st, nullptr), "prepare");
    std::uint64_t n = sqlite3_step(st) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(st, 0)) : 0;
    sqlite3_finalize(st);
    return n;
}

}  // namespace liveshare
