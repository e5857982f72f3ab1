// Store: SQLite as the store of record; a Xapian BM25 index and a FAISS vector index beside it,
// kept in step by a change log.
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_map>

#include "base/hash.h"
#include "dense.h"
#include "lexical.h"
#include "troika/retrieval.h"

namespace troika::retrieval {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Chunks indexed between Xapian commits (a commit costs a B-tree flush and fsyncs). What is not
// committed when a process dies is re-indexed from the change log on the next open.
constexpr int64_t kCommitEvery = 20000;
// Chunks read from SQLite per batch when an index catches up with the log.
constexpr size_t kCatchUpBatch = 8192;

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
  Stmt& bind_blob(int i, const void* p, size_t n) {
    sqlite3_bind_blob(s, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  void reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
  bool row() { return sqlite3_step(s) == SQLITE_ROW; }
  bool done() { return sqlite3_step(s) == SQLITE_DONE; }
  int64_t i64(int c) const { return sqlite3_column_int64(s, c); }
  std::vector<float> floats(int c) const {
    std::vector<float> v(static_cast<size_t>(sqlite3_column_bytes(s, c)) / sizeof(float));
    if (!v.empty()) std::memcpy(v.data(), sqlite3_column_blob(s, c), v.size() * sizeof(float));
    return v;
  }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, c))) : std::string();
  }
};

std::string content_hash(const std::string& text) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%016llx-%zu", static_cast<unsigned long long>(fnv1a64(text)),
                text.size());
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

// BM25 shards for a new index: one per core, at most 4.
int32_t shards_for(const StoreOptions& o) {
  if (o.index_shards > 0) return o.index_shards;
  return static_cast<int32_t>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
}

}  // namespace

struct Store::Impl {
  std::string path;
  StoreOptions options;
  sqlite3* db = nullptr;
  std::unique_ptr<detail::TextIndex> text;
  std::unique_ptr<detail::VectorIndex> vectors;  // null without an embedding model
  // One call at a time: the Xapian shards, the FAISS index and the embedder are not reentrant.
  mutable std::mutex mu;

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
  void rollback() { sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); }
  Status sql_error(const std::string& what) const {
    return data_loss(path + ": " + what + ": " + sqlite3_errmsg(db));
  }
  std::string meta(const std::string& key) const {
    Stmt q(db, "SELECT value FROM meta WHERE key = ?");
    q.bind(1, key);
    return q.row() ? q.text(0) : std::string();
  }

  Status commit_index(bool now) { return text->commit(now ? 0 : kCommitEvery); }

  // Loads every stored vector into a fresh dense index (after removals from an HNSW graph,
  // which cannot remove, or when the index file was unreadable).
  Status rebuild_vectors(int64_t change) {
    vectors->reset();
    Stmt q(db, "SELECT chunk_id, v FROM vectors ORDER BY chunk_id");
    std::vector<int64_t> ids;
    std::vector<float> flat;
    const auto dim = static_cast<size_t>(options.embedding->dim());
    auto push = [&] {
      static_cast<void>(vectors->add(ids, flat));  // after reset(): nothing was removed
      ids.clear();
      flat.clear();
    };
    while (q.row()) {
      std::vector<float> v = q.floats(1);
      if (v.size() != dim) return data_loss(path + ": a vector of the wrong size");
      ids.push_back(q.i64(0));
      flat.insert(flat.end(), v.begin(), v.end());
      if (ids.size() == 4096) push();
    }
    push();
    vectors->set_change(change);
    return Status::Ok();
  }

  // Applies every logged change an index does not hold yet: 'add' (chunks to index and their
  // vectors), 'rm' (chunks gone), 'vec' (vectors of chunks stored before the model was given).
  Status catch_up() {
    const int64_t have_text = text->change();
    const int64_t have_vec = vectors ? vectors->change() : have_text;
    const int64_t from = std::min(have_text, have_vec);
    Stmt q(db, "SELECT seq, op, chunk_ids FROM changes WHERE seq > ? ORDER BY seq");
    q.bind(1, from);
    Stmt text_of(db, "SELECT text FROM chunks WHERE id = ?");
    Stmt vector_of(db, "SELECT v FROM vectors WHERE chunk_id = ?");
    int64_t last = from;
    bool rebuild = false;
    std::vector<detail::TextIndex::Op> ops;
    while (q.row()) {
      last = q.i64(0);
      const std::string op = q.text(1);
      const json ids = json::parse(q.text(2), nullptr, false);
      if (!ids.is_array()) {
        return data_loss(path + ": change " + std::to_string(last) + " is corrupt");
      }
      const bool text_side = last > have_text, vec_side = vectors && last > have_vec;
      std::vector<int64_t> vec_ids;
      std::vector<float> vec_data;
      for (const auto& idj : ids) {
        const int64_t id = idj.get<int64_t>();
        if (op == "rm") {
          if (text_side) ops.push_back({last, id, true, {}});
          if (vec_side) vec_ids.push_back(id);
          continue;
        }
        if (text_side && op == "add") {
          text_of.reset();
          text_of.bind(1, id);
          if (text_of.row()) ops.push_back({last, id, false, text_of.text(0)});
          if (ops.size() >= kCatchUpBatch) {  // the changes before this one are all in
            TROIKA_RETURN_IF_ERROR(text->apply(ops, last - 1));
            TROIKA_RETURN_IF_ERROR(commit_index(false));
            ops.clear();
          }
        }
        if (vec_side && !rebuild) {
          vector_of.reset();
          vector_of.bind(1, id);
          if (vector_of.row()) {
            std::vector<float> v = vector_of.floats(0);
            if (static_cast<int32_t>(v.size()) != options.embedding->dim()) {
              return data_loss(path + ": chunk " + std::to_string(id) +
                               " has a vector of the wrong size");
            }
            vec_ids.push_back(id);
            vec_data.insert(vec_data.end(), v.begin(), v.end());
          }
        }
      }
      if (vec_side && !rebuild) {
        rebuild = op == "rm" ? !vectors->remove(vec_ids) : !vectors->add(vec_ids, vec_data);
      }
    }
    if (last > have_text) TROIKA_RETURN_IF_ERROR(text->apply(ops, last));
    TROIKA_RETURN_IF_ERROR(commit_index(false));
    if (vectors && rebuild) {
      TROIKA_RETURN_IF_ERROR(rebuild_vectors(last));
    } else if (vectors && last > have_vec) {
      vectors->set_change(last);
    }
    return Status::Ok();
  }

  // Embeds the chunks that have no vector (stored before a model was given), logging a 'vec'
  // change for the dense index.
  Status embed_missing() {
    // A cursor on the chunk id: each batch reads on from the last (a scan from the start for
    // every batch made embedding a large store quadratic).
    for (int64_t after = 0;;) {
      std::vector<int64_t> ids;
      std::vector<std::string> texts;
      {
        Stmt q(db,
               "SELECT id, text FROM chunks c WHERE id > ? AND NOT EXISTS"
               " (SELECT 1 FROM vectors v WHERE v.chunk_id = c.id) ORDER BY id LIMIT 256");
        q.bind(1, after);
        while (q.row()) {
          ids.push_back(q.i64(0));
          texts.push_back(q.text(1));
        }
      }
      if (ids.empty()) return Status::Ok();
      after = ids.back();
      TROIKA_ASSIGN_OR_RETURN(auto vecs, options.embedding->embed(texts));
      TROIKA_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
      Stmt ins(db, "INSERT INTO vectors(chunk_id, v) VALUES(?, ?)");
      for (size_t i = 0; i < ids.size(); ++i) {
        ins.reset();
        ins.bind(1, ids[i]).bind_blob(2, vecs[i].data(), vecs[i].size() * sizeof(float));
        if (!ins.done()) {
          rollback();
          return sql_error("storing vectors");
        }
      }
      Stmt log(db, "INSERT INTO changes(op, chunk_ids) VALUES('vec', ?)");
      log.bind(1, json(ids).dump());
      if (!log.done() || sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        rollback();
        return sql_error("storing vectors");
      }
      TROIKA_RETURN_IF_ERROR(catch_up());
    }
  }

  // (chunk id, score), best first.
  using Ranked = std::vector<std::pair<int64_t, double>>;

  Result<Ranked> bm25(const std::string& query, int32_t k) const {
    return text->search(query, k, options.bm25);
  }

  Result<Ranked> dense(const std::string& query, int32_t k) const {
    TROIKA_ASSIGN_OR_RETURN(auto v, options.embedding->embed({query}));
    Ranked out;
    for (const auto& [id, score] : vectors->search(v.at(0), k)) out.emplace_back(id, score);
    return out;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() {
  if (!impl_) return;
  static_cast<void>(impl_->commit_index(true));
  if (impl_->vectors) static_cast<void>(impl_->vectors->save());
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, const StoreOptions& options) {
  if (options.chunking.size < 8) return invalid_argument("chunk size: at least 8 units");
  if (options.bm25.k1 < 0 || options.bm25.b < 0 || options.bm25.b > 1) {
    return invalid_argument("bm25: k1 >= 0 and b in [0, 1]");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  if (options.embedding && !impl->options.chunking.count) {
    auto e = options.embedding;
    impl->options.chunking.count = [e](std::string_view w) { return e->count_tokens(w); };
  }
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return unavailable("cannot open " + path + ": " + sqlite3_errmsg(impl->db));
  }
  sqlite3_busy_timeout(impl->db, 10000);
  Status made = impl->exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, source TEXT NOT NULL,"
      " title TEXT, hash TEXT NOT NULL UNIQUE, text TEXT NOT NULL, metadata TEXT,"
      " words INTEGER NOT NULL);"
      "CREATE INDEX IF NOT EXISTS documents_source ON documents(source);"
      "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL"
      " REFERENCES documents(id) ON DELETE CASCADE, ordinal INTEGER NOT NULL,"
      " start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);"
      "CREATE TABLE IF NOT EXISTS vectors(chunk_id INTEGER PRIMARY KEY"
      " REFERENCES chunks(id) ON DELETE CASCADE, v BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL,"
      " chunk_ids TEXT NOT NULL);");
  if (!made.ok()) {
    return data_loss(path + " is not a troika knowledge base (" + made.message() + ")");
  }
  TROIKA_ASSIGN_OR_RETURN(impl->text,
                          detail::TextIndex::open(path + ".xapian", shards_for(options)));
  if (options.embedding) {
    const std::string model = options.embedding->model_id();
    const std::string had = impl->meta("embedding_model");
    if (!had.empty() && had != model) {
      return invalid_argument(path + " holds vectors of " + had + ", not of " + model +
                              "; give that model (--embed-model or the embed role), or index "
                              "into a new knowledge base");
    }
    if (had.empty()) {
      Stmt ins(impl->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
      ins.bind(1, std::string("embedding_model")).bind(2, model);
      if (!ins.done()) return impl->sql_error("recording the embedding model");
    }
    auto loaded = detail::VectorIndex::load(path + ".faiss", model, options.embedding->dim(),
                                            options.hnsw_from);
    if (!loaded.ok()) {
      // Unreadable or stale beyond use: rebuilt from the vectors in SQLite.
      std::filesystem::remove(path + ".faiss");
      TROIKA_ASSIGN_OR_RETURN(
          loaded, detail::VectorIndex::load(path + ".faiss", model, options.embedding->dim(),
                                            options.hnsw_from));
    }
    impl->vectors = std::move(*loaded);
  }
  TROIKA_RETURN_IF_ERROR(impl->catch_up());
  if (impl->vectors) TROIKA_RETURN_IF_ERROR(impl->embed_missing());
  TROIKA_RETURN_IF_ERROR(impl->commit_index(true));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<AddResult> Store::add(const Document& d) {
  TROIKA_ASSIGN_OR_RETURN(auto r, add(std::vector<Document>{d}));
  return r.at(0);
}

Result<std::vector<AddResult>> Store::add(const std::vector<Document>& docs) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  for (const auto& d : docs) {
    if (d.text.empty()) return invalid_argument(d.source + ": no text to add");
  }
  std::vector<AddResult> out(docs.size());
  // Chunks of the documents not stored yet (by content hash, also within the batch).
  struct Pending {
    size_t doc;
    std::string hash;
    std::vector<Span> spans;
  };
  std::vector<Pending> pending;
  {
    Stmt q(m.db, "SELECT id FROM documents WHERE hash = ?");
    std::unordered_map<std::string, size_t> in_batch;
    for (size_t i = 0; i < docs.size(); ++i) {
      std::string hash = content_hash(docs[i].text);
      q.reset();
      q.bind(1, hash);
      if (q.row()) {
        out[i].document_id = q.i64(0);
        out[i].duplicate = true;
        continue;
      }
      if (in_batch.count(hash)) {
        out[i].duplicate = true;
        out[i].document_id = -static_cast<int64_t>(in_batch[hash]) - 1;  // resolved below
        continue;
      }
      in_batch[hash] = i;
      pending.push_back({i, std::move(hash), chunk_text(docs[i].text, m.options.chunking)});
    }
  }
  if (pending.empty()) return out;
  // Vectors first: embedding is the slow part and must not hold the write lock.
  std::vector<std::vector<float>> vecs;
  if (m.vectors) {
    std::vector<std::string> texts;
    for (const auto& p : pending) {
      for (const auto& sp : p.spans) {
        texts.push_back(docs[p.doc].text.substr(sp.start, sp.end - sp.start));
      }
    }
    TROIKA_ASSIGN_OR_RETURN(vecs, m.options.embedding->embed(texts));
  }
  TROIKA_RETURN_IF_ERROR(m.exec("BEGIN IMMEDIATE"));
  auto fail = [&](const std::string& what) {
    Status s = m.sql_error(what);
    m.rollback();
    return s;
  };
  Stmt ins(m.db,
           "INSERT INTO documents(source, title, hash, text, metadata, words) VALUES(?,?,?,?,?,?)");
  Stmt chunk(m.db, "INSERT INTO chunks(document_id, ordinal, start, end, text) VALUES(?,?,?,?,?)");
  Stmt vec(m.db, "INSERT INTO vectors(chunk_id, v) VALUES(?, ?)");
  json ids = json::array();
  std::vector<int64_t> chunk_ids;
  std::vector<std::string> chunk_texts;
  size_t v = 0;
  for (const auto& p : pending) {
    const Document& d = docs[p.doc];
    json meta = json::object();
    for (const auto& [k, val] : d.metadata) meta[k] = val;
    int64_t words = 0;
    for (size_t i = 0; i < d.text.size(); ++i) {
      if (d.text[i] != ' ' && d.text[i] != '\n' &&
          (i == 0 || d.text[i - 1] == ' ' || d.text[i - 1] == '\n')) {
        ++words;
      }
    }
    ins.reset();
    ins.bind(1, d.source).bind(2, d.title).bind(3, p.hash).bind(4, d.text).bind(5, meta.dump());
    ins.bind(6, words);
    if (!ins.done()) return fail("adding " + d.source);
    const int64_t doc_id = sqlite3_last_insert_rowid(m.db);
    out[p.doc].document_id = doc_id;
    out[p.doc].chunks = static_cast<int32_t>(p.spans.size());
    for (size_t i = 0; i < p.spans.size(); ++i) {
      const Span& sp = p.spans[i];
      chunk.reset();
      chunk.bind(1, doc_id).bind(2, static_cast<int64_t>(i)).bind(3, sp.start).bind(4, sp.end);
      chunk_texts.push_back(d.text.substr(sp.start, sp.end - sp.start));
      chunk.bind(5, chunk_texts.back());
      if (!chunk.done()) return fail("adding a chunk of " + d.source);
      const int64_t chunk_id = sqlite3_last_insert_rowid(m.db);
      ids.push_back(chunk_id);
      chunk_ids.push_back(chunk_id);
      if (m.vectors) {
        vec.reset();
        vec.bind(1, chunk_id).bind_blob(2, vecs[v].data(), vecs[v].size() * sizeof(float));
        ++v;
        if (!vec.done()) return fail("adding a vector of " + d.source);
      }
    }
  }
  Stmt log(m.db, "INSERT INTO changes(op, chunk_ids) VALUES('add', ?)");
  log.bind(1, ids.dump());
  if (!log.done()) return fail("logging the change");
  const int64_t change = sqlite3_last_insert_rowid(m.db);
  if (sqlite3_exec(m.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("committing");
  }
  for (auto& r : out) {
    if (r.document_id < 0) r.document_id = out[static_cast<size_t>(-r.document_id - 1)].document_id;
  }
  // Indexes in step with SQLite take the new chunks from memory; others catch up from the log.
  const bool in_step =
      m.text->change() == change - 1 && (!m.vectors || m.vectors->change() == change - 1);
  if (!in_step) {
    TROIKA_RETURN_IF_ERROR(m.catch_up());
    return out;
  }
  std::vector<detail::TextIndex::Op> ops(chunk_ids.size());
  for (size_t i = 0; i < chunk_ids.size(); ++i) {
    ops[i] = {change, chunk_ids[i], false, std::move(chunk_texts[i])};
  }
  TROIKA_RETURN_IF_ERROR(m.text->apply(ops, change));
  if (m.vectors) {
    std::vector<float> flat;
    flat.reserve(vecs.size() * static_cast<size_t>(m.options.embedding->dim()));
    for (const auto& x : vecs) flat.insert(flat.end(), x.begin(), x.end());
    if (m.vectors->add(chunk_ids, flat)) {
      m.vectors->set_change(change);
    } else {
      TROIKA_RETURN_IF_ERROR(m.rebuild_vectors(change));
    }
  }
  TROIKA_RETURN_IF_ERROR(m.commit_index(false));
  return out;
}

Result<int64_t> Store::remove(const std::string& source) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
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
      Status s = m.sql_error("removing " + source);
      m.rollback();
      return s;
    }
    docs = sqlite3_changes(m.db);
  }
  if (docs == 0) {
    m.rollback();
    return not_found("no document from '" + source + "' in " + m.path +
                     " (`troika index stats --sources` lists them)");
  }
  Stmt log(m.db, "INSERT INTO changes(op, chunk_ids) VALUES('rm', ?)");
  log.bind(1, ids.dump());
  if (!log.done() || sqlite3_exec(m.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = m.sql_error("removing " + source);
    m.rollback();
    return s;
  }
  TROIKA_RETURN_IF_ERROR(m.catch_up());
  TROIKA_RETURN_IF_ERROR(m.commit_index(true));
  return docs;
}

Result<std::vector<SourceInfo>> Store::sources() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stmt q(m.db,
         "SELECT CASE WHEN instr(d.source, '#') > 0 THEN substr(d.source, 1, instr(d.source, '#') "
         "- 1) ELSE d.source END AS src, MIN(d.title), COUNT(DISTINCT d.id), COUNT(c.id)"
         " FROM documents d LEFT JOIN chunks c ON c.document_id = d.id GROUP BY src ORDER BY src");
  std::vector<SourceInfo> out;
  while (q.row()) out.push_back({q.text(0), q.text(1), q.i64(2), q.i64(3)});
  return out;
}

Status Store::flush() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  TROIKA_RETURN_IF_ERROR(impl_->commit_index(true));
  return impl_->vectors ? impl_->vectors->save() : Status::Ok();
}

Result<Stats> Store::stats() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stats s;
  Stmt q(m.db,
         "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks),"
         " (SELECT COALESCE(SUM(words), 0) FROM documents),"
         " (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COUNT(*) FROM vectors)");
  if (!q.row()) return m.sql_error("reading statistics");
  s.documents = q.i64(0);
  s.chunks = q.i64(1);
  s.words = q.i64(2);
  s.store_change = q.i64(3);
  s.vectors = q.i64(4);
  s.index_change = m.text->change();
  s.indexed_chunks = m.text->documents();
  s.index_shards = m.text->shards();
  s.embedding_model = m.meta("embedding_model");
  s.indexed_vectors = -1;
  if (m.vectors) {
    s.indexed_vectors = m.vectors->size();
    s.vector_change = m.vectors->change();
    s.vector_kind = m.vectors->hnsw() ? "hnsw" : "flat";
    s.dim = m.options.embedding->dim();
  }
  s.sqlite_bytes = dir_bytes(m.path) + dir_bytes(m.path + "-wal");
  s.index_bytes = dir_bytes(m.path + ".xapian");
  s.vector_bytes = dir_bytes(m.path + ".faiss");
  return s;
}

Result<std::vector<Hit>> Store::search(const std::string& query, const SearchOptions& o) const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (o.mode != "bm25" && o.mode != "dense" && o.mode != "hybrid") {
    return invalid_argument("search mode '" + o.mode + "': bm25, dense or hybrid");
  }
  if (o.k < 1) return invalid_argument("k: at least 1");
  if (o.mode != "bm25" && !m.vectors) {
    return invalid_argument("search mode '" + o.mode +
                            "' needs the embedding model to embed the query: give the embed "
                            "role (--config) or --embed-model, or use bm25");
  }
  std::vector<Hit> hits;
  if (o.mode == "hybrid") {
    const int32_t depth = std::max(o.k, o.depth);
    // The two sides at once: the query's embedding and the vector search on a second thread.
    auto dense_side = std::async(std::launch::async, [&] { return m.dense(query, depth); });
    auto lexical_side = m.bm25(query, depth);
    auto semantic_side = dense_side.get();
    TROIKA_ASSIGN_OR_RETURN(auto lexical, std::move(lexical_side));
    TROIKA_ASSIGN_OR_RETURN(auto semantic, std::move(semantic_side));
    std::unordered_map<int64_t, size_t> at;
    auto slot = [&](int64_t id) -> Hit& {
      auto [it, fresh] = at.try_emplace(id, hits.size());
      if (fresh) {
        hits.emplace_back();
        hits.back().chunk_id = id;
      }
      return hits[it->second];
    };
    for (size_t r = 0; r < lexical.size(); ++r) {
      Hit& h = slot(lexical[r].first);
      h.bm25_score = lexical[r].second;
      h.bm25_rank = static_cast<int32_t>(r) + 1;
      h.score += 1.0 / (o.rrf_k + static_cast<double>(r + 1));
    }
    for (size_t r = 0; r < semantic.size(); ++r) {
      Hit& h = slot(semantic[r].first);
      h.dense_score = semantic[r].second;
      h.dense_rank = static_cast<int32_t>(r) + 1;
      h.score += 1.0 / (o.rrf_k + static_cast<double>(r + 1));
    }
    std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.chunk_id < b.chunk_id;
    });
    if (hits.size() > static_cast<size_t>(o.k)) hits.resize(static_cast<size_t>(o.k));
  } else {
    const bool lexical = o.mode == "bm25";
    Impl::Ranked ranked;
    if (lexical) {
      TROIKA_ASSIGN_OR_RETURN(ranked, m.bm25(query, o.k));
    } else {
      TROIKA_ASSIGN_OR_RETURN(ranked, m.dense(query, o.k));
    }
    for (size_t r = 0; r < ranked.size(); ++r) {
      Hit h;
      h.chunk_id = ranked[r].first;
      h.score = ranked[r].second;
      (lexical ? h.bm25_score : h.dense_score) = h.score;
      (lexical ? h.bm25_rank : h.dense_rank) = static_cast<int32_t>(r) + 1;
      hits.push_back(std::move(h));
    }
  }
  Stmt q(m.db,
         "SELECT c.document_id, c.ordinal, c.start, c.end, c.text, d.source, d.title FROM chunks c"
         " JOIN documents d ON d.id = c.document_id WHERE c.id = ?");
  for (size_t r = 0; r < hits.size(); ++r) {
    Hit& h = hits[r];
    h.rank = static_cast<int32_t>(r) + 1;
    q.reset();
    q.bind(1, h.chunk_id);
    if (!q.row()) {
      return data_loss(m.path + ": chunk " + std::to_string(h.chunk_id) +
                       " is indexed but not stored");
    }
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
