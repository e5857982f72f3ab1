#include "jobs/journal.h"

#include <sqlite3.h>

#include <memory>

namespace troika::jobs::detail {

namespace {

Status sql_error(sqlite3* db, const std::string& what) {
  return data_loss("journal: " + what + ": " + sqlite3_errmsg(db));
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return data_loss(std::string("journal: ") + m);
  }
  return Status::Ok();
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path,
                                               const std::string& input_id) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Status s = unavailable("cannot open the journal " + path + ": " +
                           (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<Journal> j(new Journal(db));
  sqlite3_busy_timeout(db, 5000);
  // WAL with synchronous=NORMAL: a commit survives the process being killed at any point.
  TROIKA_RETURN_IF_ERROR(exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  Status made =
      exec(db,
           "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
           "CREATE TABLE IF NOT EXISTS lines(line INTEGER PRIMARY KEY, ok INTEGER NOT NULL,"
           " output TEXT NOT NULL);");
  if (!made.ok()) return data_loss(path + " is not a troika journal (" + made.message() + ")");
  Stmt q;
  sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='input'", -1, &q.s, nullptr);
  if (sqlite3_step(q.s) == SQLITE_ROW) {
    const std::string have = reinterpret_cast<const char*>(sqlite3_column_text(q.s, 0));
    if (have != input_id) {
      return invalid_argument("the journal " + path + " belongs to another input (" + have +
                              ", this one is " + input_id +
                              "); delete it to start over, or give --journal another path");
    }
  } else {
    Stmt ins;
    sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES('input', ?)", -1, &ins.s, nullptr);
    sqlite3_bind_text(ins.s, 1, input_id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins.s) != SQLITE_DONE) return sql_error(db, "writing its header");
  }
  return j;
}

Journal::~Journal() { sqlite3_close(db_); }

std::set<int64_t> Journal::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<int64_t> out;
  Stmt q;
  sqlite3_prepare_v2(db_, "SELECT line FROM lines", -1, &q.s, nullptr);
  while (sqlite3_step(q.s) == SQLITE_ROW) out.insert(sqlite3_column_int64(q.s, 0));
  return out;
}

int64_t Journal::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q;
  sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM lines WHERE ok = 0", -1, &q.s, nullptr);
  return sqlite3_step(q.s) == SQLITE_ROW ? sqlite3_column_int64(q.s, 0) : 0;
}

Status Journal::record(int64_t line, const std::string& output, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q;
  sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO lines(line, ok, output) VALUES(?, ?, ?)", -1,
                     &q.s, nullptr);
  sqlite3_bind_int64(q.s, 1, line);
  sqlite3_bind_int(q.s, 2, ok ? 1 : 0);
  sqlite3_bind_text(q.s, 3, output.data(), static_cast<int>(output.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(q.s) != SQLITE_DONE)
    return sql_error(db_, "recording line " + std::to_string(line));
  return Status::Ok();
}

Status Journal::each(const std::function<void(int64_t, const std::string&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q;
  sqlite3_prepare_v2(db_, "SELECT line, output FROM lines ORDER BY line", -1, &q.s, nullptr);
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    const char* text = reinterpret_cast<const char*>(sqlite3_column_text(q.s, 1));
    fn(sqlite3_column_int64(q.s, 0),
       std::string(text, static_cast<size_t>(sqlite3_column_bytes(q.s, 1))));
  }
  if (rc != SQLITE_DONE) return sql_error(db_, "reading");
  return Status::Ok();
}

}  // namespace troika::jobs::detail
