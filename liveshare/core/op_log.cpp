#include "op_log.hpp"

namespace liveshare {

using sqlite::Stmt;

OpLog::OpLog(const std::string& path) : db_(path, "op log") {
    db_.exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
        "CREATE TABLE IF NOT EXISTS ops (room TEXT, seq INTEGER, frame TEXT, PRIMARY KEY(room, "
        "seq));"
        "CREATE TABLE IF NOT EXISTS op_rooms (room TEXT PRIMARY KEY, name TEXT, owner_id TEXT,"
        " password_hash TEXT, created_at TEXT)");
}

OpLog::~OpLog() = default;

void OpLog::commit(std::string_view room, std::uint64_t first_seq,
                   const std::vector<std::string>& frames) {
    sqlite::Db::Transaction tx(db_);
    Stmt st(db_, "INSERT INTO ops(room,seq,frame) VALUES(?,?,?)");
    for (std::size_t i = 0; i < frames.size(); ++i)
        st.text(1, room).i64(2, static_cast<std::int64_t>(first_seq + i)).text(3, frames[i]).run();
    tx.commit();
}

void OpLog::commit(const std::vector<RoomRecord>& rooms, const std::vector<OpRecord>& ops,
                   const std::vector<std::pair<std::string, std::uint64_t>>& prune) {
    sqlite::Db::Transaction tx(db_);
    Stmt r(db_,
           "INSERT OR REPLACE INTO op_rooms(room,name,owner_id,password_hash,created_at) "
           "VALUES(?,?,?,?,?)");
    for (const auto& x : rooms)
        r.text(1, x.room)
            .text(2, x.name)
            .text(3, x.owner_id)
            .text(4, x.password_hash)
            .text(5, x.created_at)
            .run();
    Stmt o(db_, "INSERT OR REPLACE INTO ops(room,seq,frame) VALUES(?,?,?)");
    for (const auto& x : ops)
        o.text(1, x.room).i64(2, static_cast<std::int64_t>(x.seq)).text(3, x.frame).run();
    Stmt d(db_, "DELETE FROM ops WHERE room=? AND seq<=?");
    for (const auto& [room, seq] : prune)
        d.text(1, room).i64(2, static_cast<std::int64_t>(seq)).run();
    tx.commit();
}

std::vector<RoomRecord> OpLog::load_rooms() {
    Stmt q(db_, "SELECT room,name,owner_id,password_hash,created_at FROM op_rooms");
    std::vector<RoomRecord> out;
    while (q.step())
        out.push_back({q.col_text(0), q.col_text(1), q.col_text(2), q.col_text(3), q.col_text(4)});
    return out;
}

std::vector<OpRecord> OpLog::load_ops(const std::string& room, std::uint64_t after_seq) {
    Stmt q(db_, "SELECT seq,frame FROM ops WHERE room=? AND seq>? ORDER BY seq");
    q.text(1, room).i64(2, static_cast<std::int64_t>(after_seq));
    std::vector<OpRecord> out;
    while (q.step()) out.push_back({room, static_cast<std::uint64_t>(q.col_i64(0)), q.col_text(1)});
    return out;
}

std::uint64_t OpLog::count() {
    Stmt q(db_, "SELECT COUNT(*) FROM ops");
    return q.step() ? static_cast<std::uint64_t>(q.col_i64(0)) : 0;
}

}  // namespace liveshare
