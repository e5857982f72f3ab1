// Store: SQLite as the store of record, a Xapian BM25 index beside it kept in step by a change log.
#include <sqlite3.h>
#include <xapian.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "troika/retrieval.h"

namespace troika::retrieval {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kChangeKey = "troika_change";

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool row() { return sqlite3_step(s) == SQLITE_ROW; }
  bool done() { return sqlite3_step(s) == SQLITE_DONE; }
  int64_t i64(int c) const { return sqlite3_column_int64(s, c); }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, c))) : std::string();
  }
};

std::string content_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%016llx-%zu", static_cast<unsigned long long>(h), text.size());
  return buf;
}

int64_t dir_bytes(const fs::path& p) {
  std::error_code ec;
  int64_t n = 0;
  if (fs::is_regular_file(p, ec)) return static_cast<int64_t>(fs::file_size(p, ec));
  for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) n += static_cast<int64_t>(it->file_size(ec));
  }
  return n;
}

}  // namespace

struct Store::Impl {
  std::string path;
  StoreOptions options;
  sqlite3* db = nullptr;
  std::unique_ptr<Xapian::WritableDatabase> index;

  ~Impl() { sqlite3_close(db); }

  Status exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "unknown error";
      sqlite3_free(err);
      return data_loss(path + ": " + m);
    }
    return Status::Ok();
  }
  Status sql_error(const std::string& what) const {
    return data_loss(path + ": " + what + ": " + sqlite3_errmsg(db));
  }

  Xapian::Document chunk_document(const std::string& text) const {
    Xapian::Document d;
    Xapian::termpos pos = 0;
    for (const auto& t : index_terms(text)) d.add_posting(t, ++pos);
    return d;
  }

  int64_t index_change() const {
    const std::string v = index->get_metadata(kChangeKey);
    return v.empty() ? 0 : std::stoll(v);
  }

  // Applies every logged change the index does not hold yet, then commits it with the index.
  Status catch_up() {
    const int64_t have = index_change();
    Stmt q(db, "SELECT seq, op, chunk_ids FROM changes WHERE seq > ? ORDER BY seq");
    q.bind(1, have);
    int64_t last = have;
    try {
      while (q.row()) {
        last = q.i64(0);
        const std::string op = q.text(1);
        const json ids = json::parse(q.text(2), nullptr, false);
        if (!ids.is_array())
          return data_loss(path + ": change " + std::to_string(last) + " is corrupt");
        for (const auto& idj : ids) {
          const int64_t id = idj.get<int64_t>();
          if (op == "rm") {
            try {
              index->delete_document(static_cast<Xapian::docid>(id));
            } catch (const Xapian::DocNotFoundError&) {
            }
            continue;
          }
          Stmt c(db, "SELECT text FROM chunks WHERE id = ?");
          c.bind(1, id);
          if (c.row())
            index->replace_document(static_cast<Xapian::docid>(id), chunk_document(c.text(0)));
        }
      }
      if (last != have) {
        index->set_metadata(kChangeKey, std::to_string(last));
        index->commit();
      }
    } catch (const Xapian::Error& e) {
      return data_loss(path + ".xapian: " + e.get_description());
    }
    return Status::Ok();
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& path, const StoreOptions& options) {
  if (options.chunking.max_words < 8) return invalid_argument("chunk size: at least 8 words");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return unavailable("cannot open " + path + ": " + sqlite3_errmsg(impl->db));
  }
  sqlite3_busy_timeout(impl->db, 10000);
  Status made = impl->exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
      "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, source TEXT NOT NULL, title "
      "TEXT,"
      " hash TEXT NOT NULL UNIQUE, text TEXT NOT NULL, metadata TEXT, words INTEGER NOT NULL);"
      "CREATE INDEX IF NOT EXISTS documents_source ON documents(source);"
      "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL"
      " REFERENCES documents(id) ON DELETE CASCADE, ordinal INTEGER NOT NULL, start INTEGER NOT "
      "NULL,"
      " end INTEGER NOT NULL, text TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);"
      "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL,"
      " chunk_ids TEXT NOT NULL);");
  if (!made.ok())
    return data_loss(path + " is not a troika knowledge base (" + made.message() + ")");
  try {
    impl->index =
        std::make_unique<Xapian::WritableDatabase>(path + ".xapian", Xapian::DB_CREATE_OR_OPEN);
  } catch (const Xapian::DatabaseLockError&) {
    return unavailable(path + ".xapian is open for writing in another process; wait for it");
  } catch (const Xapian::Error& e) {
    return data_loss(path + ".xapian: " + e.get_description());
  }
  TROIKA_RETURN_IF_ERROR(impl->catch_up());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<AddResult> Store::add(const Document& d) {
  Impl& m = *impl_;
  if (d.text.empty()) return invalid_argument(d.source + ": no text to add");
  AddResult out;
  const std::string hash = content_hash(d.text);
  {
    Stmt q(m.db, "SELECT id FROM documents WHERE hash = ?");
    q.bind(1, hash);
    if (q.row()) {
      out.document_id = q.i64(0);
      out.duplicate = true;
      return out;
    }
  }
  const std::vector<Span> spans = chunk_text(d.text, m.options.chunking);
  json meta = json::object();
  for (const auto& [k, v] : d.metadata) meta[k] = v;
  int64_t words = 0;
  for (size_t i = 0; i < d.text.size(); ++i) {
    if (d.text[i] != ' ' && d.text[i] != '\n' &&
        (i == 0 || d.text[i - 1] == ' ' || d.text[i - 1] == '\n')) {
      ++words;
    }
  }
  TROIKA_RETURN_IF_ERROR(m.exec("BEGIN IMMEDIATE"));
  auto rollback = [&](Status s) {
    m.exec("ROLLBACK");
    return s;
  };
  Stmt ins(m.db,
           "INSERT INTO documents(source, title, hash, text, metadata, words) VALUES(?,?,?,?,?,?)");
  ins.bind(1, d.source)
      .bind(2, d.title)
      .bind(3, hash)
      .bind(4, d.text)
      .bind(5, meta.dump())
      .bind(6, words);
  if (!ins.done()) return rollback(m.sql_error("adding " + d.source));
  out.document_id = sqlite3_last_insert_rowid(m.db);
  json ids = json::array();
  for (size_t i = 0; i < spans.size(); ++i) {
    Stmt c(m.db, "INSERT INTO chunks(document_id, ordinal, start, end, text) VALUES(?,?,?,?,?)");
    c.bind(1, out.document_id)
        .bind(2, static_cast<int64_t>(i))
        .bind(3, spans[i].start)
        .bind(4, spans[i].end)
        .bind(5, d.text.substr(spans[i].start, spans[i].end - spans[i].start));
    if (!c.done()) return rollback(m.sql_error("adding a chunk of " + d.source));
    ids.push_back(sqlite3_last_insert_rowid(m.db));
  }
  Stmt log(m.db, "INSERT INTO changes(op, chunk_ids) VALUES('add', ?)");
  log.bind(1, ids.dump());
  if (!log.done()) return rollback(m.sql_error("logging the change"));
  if (sqlite3_exec(m.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback(m.sql_error("committing " + d.source));
  }
  out.chunks = static_cast<int32_t>(spans.size());
  TROIKA_RETURN_IF_ERROR(m.catch_up());
  return out;
}

Result<int64_t> Store::remove(const std::string& source) {
  Impl& m = *impl_;
  TROIKA_RETURN_IF_ERROR(m.exec("BEGIN IMMEDIATE"));
  json ids = json::array();
  int64_t docs = 0;
  {
    Stmt q(m.db,
           "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id"
           " WHERE d.source = ?1 OR substr(d.source, 1, length(?1) + 1) = ?1 || '#'");
    q.bind(1, source);
    while (q.row()) ids.push_back(q.i64(0));
    Stmt del(
        m.db,
        "DELETE FROM documents WHERE source = ?1 OR substr(source, 1, length(?1) + 1) = ?1 || '#'");
    del.bind(1, source);
    if (!del.done()) {
      m.exec("ROLLBACK");
      return m.sql_error("removing " + source);
    }
    docs = sqlite3_changes(m.db);
  }
  if (docs == 0) {
    m.exec("ROLLBACK");
    return not_found("no document from '" + source + "' in " + m.path +
                     " (`troika index stats` lists them)");
  }
  Stmt log(m.db, "INSERT INTO changes(op, chunk_ids) VALUES('rm', ?)");
  log.bind(1, ids.dump());
  if (!log.done() || sqlite3_exec(m.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    m.exec("ROLLBACK");
    return m.sql_error("removing " + source);
  }
  TROIKA_RETURN_IF_ERROR(m.catch_up());
  return docs;
}

Result<Stats> Store::stats() const {
  const Impl& m = *impl_;
  Stats s;
  Stmt q(m.db,
         "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks),"
         " (SELECT COALESCE(SUM(words), 0) FROM documents), (SELECT COALESCE(MAX(seq), 0) FROM "
         "changes)");
  if (!q.row()) return m.sql_error("reading statistics");
  s.documents = q.i64(0);
  s.chunks = q.i64(1);
  s.words = q.i64(2);
  s.store_change = q.i64(3);
  s.index_change = m.index_change();
  s.indexed_chunks = static_cast<int64_t>(m.index->get_doccount());
  s.sqlite_bytes = dir_bytes(m.path) + dir_bytes(m.path + "-wal");
  s.index_bytes = dir_bytes(m.path + ".xapian");
  return s;
}

Result<std::vector<Hit>> Store::search(const std::string& query, const SearchOptions& o) const {
  const Impl& m = *impl_;
  if (o.mode == "dense" || o.mode == "hybrid") {
    return unimplemented(
        "search mode '" + o.mode +
        "' needs the dense index (an embed role), the next part of issue 9; use bm25");
  }
  if (o.mode != "bm25") return invalid_argument("search mode: bm25, dense or hybrid");
  if (o.k < 1) return invalid_argument("k: at least 1");
  // Words are ORed; a "quoted phrase" is one sub-query whose terms must appear in order.
  std::vector<Xapian::Query> parts;
  bool in_quote = false;
  std::string seg;
  auto flush = [&] {
    std::vector<std::string> terms = index_terms(seg);
    seg.clear();
    if (terms.empty()) return;
    if (in_quote && terms.size() > 1) {
      parts.emplace_back(Xapian::Query::OP_PHRASE, terms.begin(), terms.end());
    } else {
      for (const auto& t : terms) parts.emplace_back(t);
    }
  };
  for (char c : query) {
    if (c == '"') {
      flush();
      in_quote = !in_quote;
    } else {
      seg += c;
    }
  }
  flush();
  std::vector<Hit> hits;
  if (parts.empty()) return hits;
  try {
    Xapian::Enquire enquire(*m.index);
    enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, parts.begin(), parts.end()));
    enquire.set_weighting_scheme(Xapian::BM25Weight(m.options.bm25.k1, 0, 1, m.options.bm25.b, 0));
    Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(o.k));
    for (auto it = mset.begin(); it != mset.end(); ++it) {
      Hit h;
      h.chunk_id = static_cast<int64_t>(*it);
      h.score = it.get_weight();
      h.rank = static_cast<int32_t>(it.get_rank()) + 1;
      hits.push_back(std::move(h));
    }
  } catch (const Xapian::Error& e) {
    return data_loss(m.path + ".xapian: " + e.get_description());
  }
  for (Hit& h : hits) {
    Stmt q(
        m.db,
        "SELECT c.document_id, c.ordinal, c.start, c.end, c.text, d.source, d.title FROM chunks c"
        " JOIN documents d ON d.id = c.document_id WHERE c.id = ?");
    q.bind(1, h.chunk_id);
    if (!q.row())
      return data_loss(m.path + ": chunk " + std::to_string(h.chunk_id) +
                       " is indexed but not stored");
    h.document_id = q.i64(0);
    h.ordinal = static_cast<int32_t>(q.i64(1));
    h.start = q.i64(2);
    h.end = q.i64(3);
    h.text = q.text(4);
    h.source = q.text(5);
    h.title = q.text(6);
  }
  return hits;
}

}  // namespace troika::retrieval
