// The one SQLite wrapper of the server: a connection and prepared statements that throw
// std::runtime_error (with SQLite's message) on any error and clean up after themselves.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace liveshare::sqlite {

class Db {
  public:
    // Opens (creating) the file; `what` names it in errors ("snapshot database").
    Db(const std::string& path, const char* what);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    void exec(const char* sql);
    std::int64_t last_insert_rowid() const;
    sqlite3* handle() const { return db_; }

    // BEGIN on construction; ROLLBACK unless commit() ran.
    class Transaction {
      public:
        Transaction(Db& db, const char* begin = "BEGIN");
        ~Transaction();
        void commit();

      private:
        Db& db_;
        bool done_ = false;
    };

  private:
    sqlite3* db_ = nullptr;
};

class Stmt {
  public:
    Stmt(Db& db, const char* sql);
    ~Stmt();
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt& text(int i, std::string_view v);  // bound by copy
    Stmt& i64(int i, std::int64_t v);
    // Next row: true while there is one.
    bool step();
    // Runs an INSERT/UPDATE/DELETE and resets the statement for the next bindings.
    void run();
    std::string col_text(int i) const;
    std::int64_t col_i64(int i) const;

  private:
    Db& db_;
    sqlite3_stmt* st_ = nullptr;
};

}  // namespace liveshare::sqlite
