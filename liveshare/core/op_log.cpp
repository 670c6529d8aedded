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
                                 "CREATE TABLE IF NOT EXISTS ops (room TEXT, seq INTEGER, frame TEXT, PRIMARY KEY(room, seq));"
                                 "CREATE TABLE IF NOT EXISTS op_rooms (room TEXT PRIMARY KEY, name TEXT, owner_id TEXT,"
                                 " password_hash TEXT, created_at TEXT)",
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

namespace {
// A prepared statement that finalizes itself.
struct Stmt {
    sqlite3_stmt* st = nullptr;
    Stmt(sqlite3* db, const char* sql) { check(db, sqlite3_prepare_v2(db, sql, -1, &st, nullptr), "prepare"); }
    ~Stmt() { sqlite3_finalize(st); }
    void text(int i, std::string_view v) { sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
    void int64(int i, std::uint64_t v) { sqlite3_bind_int64(st, i, static_cast<sqlite3_int64>(v)); }
    std::string column(int i) {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
    }
    // Steps an INSERT/DELETE and resets for the next bindings.
    void run(sqlite3* db, const char* what) {
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        check(db, rc, what);
    }
};
}  // namespace

void OpLog::commit(const std::vector<RoomRecord>& rooms, const std::vector<OpRecord>& ops,
                   const std::vector<std::pair<std::string, std::uint64_t>>& prune) {
    check(db_, sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr), "begin");
    try {
        {
            Stmt r(db_, "INSERT OR REPLACE INTO op_rooms(room,name,owner_id,password_hash,created_at) VALUES(?,?,?,?,?)");
            for (const auto& x : rooms) {
                r.text(1, x.room);
                r.text(2, x.name);
                r.text(3, x.owner_id);
                r.text(4, x.password_hash);
                r.text(5, x.created_at);
                r.run(db_, "insert room");
            }
            Stmt o(db_, "INSERT OR REPLACE INTO ops(room,seq,frame) VALUES(?,?,?)");
            for (const auto& x : ops) {
                o.text(1, x.room);
                o.int64(2, x.seq);
                o.text(3, x.frame);
                o.run(db_, "insert op");
            }
            Stmt d(db_, "DELETE FROM ops WHERE room=? AND seq<=?");
            for (const auto& [room, seq] : prune) {
                d.text(1, room);
                d.int64(2, seq);
                d.run(db_, "prune");
            }
        }
        check(db_, sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), "commit");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<RoomRecord> OpLog::load_rooms() {
    Stmt q(db_, "SELECT room,name,owner_id,password_hash,created_at FROM op_rooms");
    std::vector<RoomRecord> out;
    while (sqlite3_step(q.st) == SQLITE_ROW) out.push_back({q.column(0), q.column(1), q.column(2), q.column(3), q.column(4)});
    return out;
}

std::vector<OpRecord> OpLog::load_ops(const std::string& room, std::uint64_t after_seq) {
    Stmt q(db_, "SELECT seq,frame FROM ops WHERE room=? AND seq>? ORDER BY seq");
    q.text(1, room);
    q.int64(2, after_seq);
    std::vector<OpRecord> out;
    while (sqlite3_step(q.st) == SQLITE_ROW)
        out.push_back({room, static_cast<std::uint64_t>(sqlite3_column_int64(q.st, 0)), q.column(1)});
    return out;
}

std::uint64_t OpLog::count() {
    sqlite3_stmt* st = nullptr;
    check(db_, sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM ops", -1, &st, nullptr), "prepare");
    std::uint64_t n = sqlite3_step(st) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(st, 0)) : 0;
    sqlite3_finalize(st);
    return n;
}

}  // namespace liveshare
