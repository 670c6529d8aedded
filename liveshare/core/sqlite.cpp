#include "sqlite.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace liveshare::sqlite {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
    throw std::runtime_error("sqlite " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}
}  // namespace

Db::Db(const std::string& path, const char* what) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw std::runtime_error(std::string("cannot open ") + what + " '" + path + "': " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
}

Db::~Db() {
    sqlite3_close(db_);
}

void Db::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw std::runtime_error(std::string("sqlite: ") + msg);
    }
}

std::int64_t Db::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_);
}

Db::Transaction::Transaction(Db& db, const char* begin) : db_(db) {
    db_.exec(begin);
}
Db::Transaction::~Transaction() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}
void Db::Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

Stmt::Stmt(Db& db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db.handle(), sql, -1, &st_, nullptr) != SQLITE_OK)
        fail(db.handle(), "prepare");
}
Stmt::~Stmt() {
    sqlite3_finalize(st_);
}

Stmt& Stmt::text(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::i64(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
}
bool Stmt::step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_.handle(), "step");
}
void Stmt::run() {
    const int rc = sqlite3_step(st_);
    sqlite3_reset(st_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(db_.handle(), "step");
}
std::string Stmt::col_text(int i) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, i)))
             : std::string();
}
std::int64_t Stmt::col_i64(int i) const {
    return sqlite3_column_int64(st_, i);
}

}  // namespace liveshare::sqlite
