#include "snapshot_store.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace liveshare {

namespace {
// RAII prepared statement; throws on any SQLite error.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt& text(int i, const std::string& s) {
        sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& i64(int i, std::int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    }
    std::string col_text(int i) {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, i))) : std::string();
    }
    std::int64_t col_i64(int i) { return sqlite3_column_int64(st_, i); }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};
}  // namespace

SnapshotStore::SnapshotStore(const std::string& path, std::size_t keep) : keep_(keep) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw std::runtime_error("cannot open snapshot database '" + path + "': " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT, owner_id TEXT, "
         "password_hash TEXT, created_at TEXT)");
    exec("CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, "
         "room_id TEXT NOT NULL, seq INTEGER NOT NULL, element_count INTEGER NOT NULL, "
         "state_json TEXT NOT NULL, created_at TEXT NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS snapshots_room ON snapshots(room_id, id)");
}

SnapshotStore::~SnapshotStore() { sqlite3_close(db_); }

void SnapshotStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw std::runtime_error(std::string("sqlite: ") + msg);
    }
}

std::int64_t SnapshotStore::save(const StoredSnapshot& s) {
    std::lock_guard lock(mu_);
    exec("BEGIN IMMEDIATE");
    try {
        Stmt(db_, "INSERT INTO rooms(id,name,owner_id,password_hash,created_at) VALUES(?,?,?,?,?) "
                  "ON CONFLICT(id) DO UPDATE SET name=excluded.name, owner_id=excluded.owner_id, "
                  "password_hash=excluded.password_hash")
            .text(1, s.room_id).text(2, s.name).text(3, s.owner_id).text(4, s.password_hash)
            .text(5, s.room_created_at).step();
        Stmt(db_, "INSERT INTO snapshots(room_id,seq,element_count,state_json,created_at) VALUES(?,?,?,?,?)")
            .text(1, s.room_id).i64(2, static_cast<std::int64_t>(s.seq))
            .i64(3, static_cast<std::int64_t>(s.element_count)).text(4, s.state_json)
            .text(5, s.created_at).step();
        std::int64_t id = sqlite3_last_insert_rowid(db_);
        Stmt(db_, "DELETE FROM snapshots WHERE room_id=? AND id NOT IN "
                  "(SELECT id FROM snapshots WHERE room_id=? ORDER BY id DESC LIMIT ?)")
            .text(1, s.room_id).text(2, s.room_id).i64(3, static_cast<std::int64_t>(keep_)).step();
        exec("COMMIT");
        return id;
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<StoredSnapshot> SnapshotStore::load_latest_per_room() {
    std::lock_guard lock(mu_);
    std::vector<StoredSnapshot> out;
    Stmt st(db_,
            "SELECT s.id, s.room_id, s.seq, s.element_count, s.state_json, s.created_at, "
            "r.name, r.owner_id, r.password_hash, r.created_at FROM snapshots s "
            "JOIN rooms r ON r.id = s.room_id "
            "WHERE s.id = (SELECT MAX(id) FROM snapshots WHERE room_id = s.room_id)");
    while (st.step()) {
        StoredSnapshot s;
        s.id = st.col_i64(0);
        s.room_id = st.col_text(1);
        s.seq = static_cast<std::uint64_t>(st.col_i64(2));
        s.element_count = static_cast<std::uint64_t>(st.col_i64(3));
        s.state_json = st.col_text(4);
        s.created_at = st.col_text(5);
        s.name = st.col_text(6);
        s.owner_id = st.col_text(7);
        s.password_hash = st.col_text(8);
        s.room_created_at = st.col_text(9);
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace liveshare
