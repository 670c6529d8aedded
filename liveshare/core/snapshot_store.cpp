#include "snapshot_store.hpp"

#include <stdexcept>

namespace liveshare {

using sqlite::Stmt;

SnapshotStore::SnapshotStore(const std::string& path, std::size_t keep)
    : db_(path, "snapshot database"), keep_(keep) {
    db_.exec("PRAGMA journal_mode=WAL");
    db_.exec("PRAGMA synchronous=NORMAL");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT, owner_id TEXT, "
        "password_hash TEXT, created_at TEXT)");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "room_id TEXT NOT NULL, seq INTEGER NOT NULL, element_count INTEGER NOT NULL, "
        "state_json TEXT NOT NULL, created_at TEXT NOT NULL)");
    db_.exec("CREATE INDEX IF NOT EXISTS snapshots_room ON snapshots(room_id, id)");
}

SnapshotStore::~SnapshotStore() = default;

std::int64_t SnapshotStore::save(const StoredSnapshot& s) {
    std::lock_guard lock(mu_);
    sqlite::Db::Transaction tx(db_, "BEGIN IMMEDIATE");
    Stmt(db_,
         "INSERT INTO rooms(id,name,owner_id,password_hash,created_at) VALUES(?,?,?,?,?) "
         "ON CONFLICT(id) DO UPDATE SET name=excluded.name, owner_id=excluded.owner_id, "
         "password_hash=excluded.password_hash")
        .text(1, s.room_id)
        .text(2, s.name)
        .text(3, s.owner_id)
        .text(4, s.password_hash)
        .text(5, s.room_created_at)
        .run();
    Stmt(db_,
         "INSERT INTO snapshots(room_id,seq,element_count,state_json,created_at) VALUES(?,?,?,?,?)")
        .text(1, s.room_id)
        .i64(2, static_cast<std::int64_t>(s.seq))
        .i64(3, static_cast<std::int64_t>(s.element_count))
        .text(4, s.state_json)
        .text(5, s.created_at)
        .run();
    const std::int64_t id = db_.last_insert_rowid();
    Stmt(db_,
         "DELETE FROM snapshots WHERE room_id=? AND id NOT IN "
         "(SELECT id FROM snapshots WHERE room_id=? ORDER BY id DESC LIMIT ?)")
        .text(1, s.room_id)
        .text(2, s.room_id)
        .i64(3, static_cast<std::int64_t>(keep_))
        .run();
    tx.commit();
    return id;
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
