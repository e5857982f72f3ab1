// The job journal: one SQLite database (WAL) holding each finished line's output.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "troika/status.h"

struct sqlite3;

namespace troika::jobs::detail {

class Journal {
 public:
  // Opens (or creates) the journal at `path` for the input identified by `input_id`. Errors:
  // invalid_argument (it belongs to another input), data_loss (not a journal, corrupt).
  static Result<std::unique_ptr<Journal>> open(const std::string& path,
                                               const std::string& input_id);
  ~Journal();

  std::set<int64_t> done() const;  // line numbers finished
  int64_t failed() const;          // of them, error records
  // Records one line's output in its own transaction (durable before it returns).
  Status record(int64_t line, const std::string& output, bool ok);
  // Calls `fn` for every recorded line in line order.
  Status each(const std::function<void(int64_t line, const std::string& output)>& fn) const;

 private:
  explicit Journal(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace troika::jobs::detail
