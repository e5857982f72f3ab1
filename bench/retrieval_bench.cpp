// The retrieval bench for bench/retrieval.sh. Two modes:
//
//   --text FILE --work DIR [--sizes 10000,100000,1000000] [--queries 200] [--dim 384]
//     [--lexical-only] (BM25 and FTS5 only) [--reuse] (one size, on the files a run left)
//     A synthetic corpus of chunks, each 4-8 sentences drawn (seeded) from FILE's sentences
//     (Debian's documentation), grown to each size in turn. At each size: ingest throughput
//     without embeddings; BM25 query latency for a 3-term OR and for an OR holding a very
//     frequent term, against SQLite FTS5 on the same chunks and queries (the anchor); the dense
//     index built from a feature-hashing embedder (a stand-in with the dimension of a real
//     small embedding model: what is timed is the index, not a model); dense and hybrid latency,
//     against an exact FAISS flat scan over the same vectors (with recall@10 of ours against it);
//     disk and memory per chunk. Prints one JSON object.
//
//   --beir DIR --work DIR [--embed-model PATH]
//     A BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv): nDCG@10 and
//     recall@100 for bm25, and with an embedding model for dense and hybrid. Prints one JSON
//     object.
#include <faiss/IndexFlat.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "troika/retrieval.h"

using nlohmann::json;
using namespace troika;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "retrieval bench: %s\n", m.c_str());
  std::exit(1);
}

template <typename T>
T check(Result<T> r, const char* what) {
  if (!r.ok()) die(std::string(what) + ": " + r.status().to_string());
  return std::move(*r);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - 1);
  return v[i];
}

int64_t rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      w += static_cast<char>(std::tolower(u));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_of(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// Feature hashing: each word adds +-1 to four dimensions. Texts sharing words point alike, so
// the index sees a realistic spread of neighbours; it costs microseconds, not a model's time.
class HashEmbedding : public retrieval::Embedding {
 public:
  explicit HashEmbedding(int32_t dim) : dim_(dim) {}
  std::string model_id() const override { return "bench-feature-hash-" + std::to_string(dim_); }
  int32_t dim() const override { return dim_; }
  int32_t count_tokens(std::string_view text) const override {
    return static_cast<int32_t>(words_of(text).size());
  }
  std::vector<float> one(std::string_view text) const {
    std::vector<float> v(dim_, 0.0f);
    for (const auto& w : words_of(text)) {
      uint64_t h = hash_of(w);
      for (int j = 0; j < 4; ++j) {
        h = mix(h);
        v[h % dim_] += (h >> 63) ? 1.0f : -1.0f;
      }
    }
    double n = 0;
    for (float x : v) n += x * x;
    if (n == 0) {
      v[0] = 1;
      return v;
    }
    const float inv = static_cast<float>(1 / std::sqrt(n));
    for (float& x : v) x *= inv;
    return v;
  }
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const auto& t : texts) out.push_back(one(t));
    return out;
  }

 private:
  int32_t dim_;
};

// The sentences of a text file: 6-40 words, mostly letters, each once.
std::vector<std::string> sentences_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  std::string cur;
  auto flush = [&] {
    std::string s;
    bool space = false;
    for (char c : cur) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        space = !s.empty();
      } else {
        if (space) s += ' ';
        space = false;
        s += c;
      }
    }
    cur.clear();
    size_t letters = 0;
    for (char c : s) letters += std::isalpha(static_cast<unsigned char>(c)) || c == ' ';
    const size_t n = words_of(s).size();
    if (n >= 6 && n <= 40 && letters * 10 >= s.size() * 8 && seen.insert(s).second) {
      out.push_back(std::move(s));
    }
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    cur += c;
    const bool end_mark = (c == '.' || c == '!' || c == '?') &&
                          (i + 1 == text.size() || std::isspace((unsigned char)text[i + 1]));
    const bool blank = c == '\n' && i + 1 < text.size() && text[i + 1] == '\n';
    if (end_mark || blank) flush();
  }
  flush();
  return out;
}

struct Corpus {
  std::vector<std::string> sentences;
  // Chunk i (0-based): 4-8 sentences, the same for the same i on every run.
  std::string chunk(int64_t i) const {
    uint64_t h = mix(0x7a3c5u + static_cast<uint64_t>(i));
    const int n = 4 + static_cast<int>(h % 5);
    std::string s;
    for (int k = 0; k < n; ++k) {
      h = mix(h);
      if (!s.empty()) s += ' ';
      s += sentences[h % sentences.size()];
    }
    return s;
  }
};

// FTS5 on the same chunks: the anchor (unicode61, no stemming; ranked by `rank`, LIMIT 10).
class Fts5 {
 public:
  // `reuse`: keep the table a run before left.
  Fts5(const std::string& path, bool reuse) {
    if (!reuse) {
      for (const std::string& x : {path, path + "-journal"}) fs::remove(x);
    }
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) die("cannot open " + path);
    exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
    exec("CREATE VIRTUAL TABLE IF NOT EXISTS t USING fts5(text)");
  }
  int64_t rows() {
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM t", -1, &q, nullptr);
    const int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    return n;
  }
  ~Fts5() {
    sqlite3_finalize(query_);
    sqlite3_close(db_);
  }
  void add(const Corpus& c, int64_t from, int64_t to) {
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO t(rowid, text) VALUES (?, ?)", -1, &ins, nullptr);
    for (int64_t i = from; i < to; i += 50000) {
      exec("BEGIN");
      for (int64_t j = i; j < std::min(to, i + 50000); ++j) {
        const std::string s = c.chunk(j);
        sqlite3_bind_int64(ins, 1, j + 1);
        sqlite3_bind_text(ins, 2, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE) die(sqlite3_errmsg(db_));
        sqlite3_reset(ins);
      }
      exec("COMMIT");
    }
    sqlite3_finalize(ins);
    exec("INSERT INTO t(t) VALUES ('optimize')");
  }
  int search(const std::vector<std::string>& terms) {
    if (!query_) {
      sqlite3_prepare_v2(db_, "SELECT rowid, rank FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10",
                         -1, &query_, nullptr);
    }
    std::string q;
    for (const auto& t : terms) q += (q.empty() ? "\"" : " OR \"") + t + "\"";
    sqlite3_bind_text(query_, 1, q.data(), static_cast<int>(q.size()), SQLITE_TRANSIENT);
    int n = 0;
    while (sqlite3_step(query_) == SQLITE_ROW) ++n;
    sqlite3_reset(query_);
    return n;
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) die(err ? err : sql);
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
};

struct Queries {
  std::vector<std::vector<std::string>> mid, frequent;
};

// Terms by frequency rank over a sample of the corpus: "mid" ORs 3 terms of ranks 100-50k
// (log-uniform); "frequent" ORs one of the top 100 (stop words aside) with 2 mid terms.
Queries make_queries(const Corpus& c, int64_t sample, int n) {
  static const std::set<std::string> kStop = {
      "the",   "and",   "for",  "that", "this",  "with",  "are",  "not",  "you",    "from",
      "was",   "can",   "have", "has",  "but",   "all",   "any",  "will", "may",    "its",
      "which", "other", "been", "were", "their", "there", "than", "them", "these",  "such",
      "into",  "also",  "more", "when", "what",  "who",   "how",  "only", "should", "would",
      "could", "they",  "our",  "his",  "her",   "one",   "use",  "used", "each",   "does"};
  std::unordered_map<std::string, int64_t> freq;
  for (int64_t i = 0; i < sample; ++i) {
    for (auto& w : words_of(c.chunk(i))) {
      if (w.size() >= 3 && std::isalpha(static_cast<unsigned char>(w[0]))) ++freq[w];
    }
  }
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (auto& [w, f] : freq) ranked.emplace_back(-f, w);
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::string> top;
  for (const auto& [f, w] : ranked) {
    if (top.size() >= 100) break;
    if (!kStop.count(w)) top.push_back(w);
  }
  std::mt19937 rng(7);
  const double hi = std::log(std::min<double>(50000, ranked.size()));
  std::uniform_real_distribution<double> lr(std::log(100.0), hi);
  auto mid_term = [&] {
    return ranked[std::min<size_t>(ranked.size() - 1, static_cast<size_t>(std::exp(lr(rng))))]
        .second;
  };
  Queries q;
  for (int i = 0; i < n; ++i) {
    q.mid.push_back({mid_term(), mid_term(), mid_term()});
    q.frequent.push_back({top[rng() % top.size()], mid_term(), mid_term()});
  }
  return q;
}

std::string joined(const std::vector<std::string>& terms) {
  std::string s;
  for (const auto& t : terms) s += (s.empty() ? "" : " ") + t;
  return s;
}

json latency(const std::vector<double>& ms) {
  return {{"p50_ms", percentile(ms, 0.5)}, {"p99_ms", percentile(ms, 0.99)}};
}

std::vector<double> time_store(const retrieval::Store& store,
                               const std::vector<std::vector<std::string>>& qs,
                               const std::string& mode) {
  retrieval::SearchOptions o;
  o.k = 10;
  o.mode = mode;
  for (size_t i = 0; i < std::min<size_t>(5, qs.size()); ++i) (void)store.search(joined(qs[i]), o);
  std::vector<double> ms;
  for (const auto& q : qs) {
    const auto t0 = Clock::now();
    auto hits = check(store.search(joined(q), o), "search");
    ms.push_back(ms_since(t0));
  }
  return ms;
}

int64_t dir_bytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return static_cast<int64_t>(fs::file_size(p, ec));
  int64_t n = 0;
  for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) n += static_cast<int64_t>(it->file_size(ec));
  }
  return n;
}

// `reuse`: one size, on the store and FTS5 table a run of that size left (no ingest timed);
// `lexical`: BM25 and FTS5 only (no vectors).
int run_scale(const std::string& text, const std::string& work, std::vector<int64_t> sizes,
              int n_queries, int32_t dim, bool reuse, bool lexical) {
  Corpus c;
  c.sentences = sentences_of(text);
  if (c.sentences.size() < 1000) die(text + ": fewer than 1000 sentences");
  std::fprintf(stderr, "corpus: %zu distinct sentences from %s\n", c.sentences.size(),
               text.c_str());
  fs::create_directories(work);
  const std::string db = work + "/kb.sqlite";
  if (reuse && sizes.size() != 1) die("--reuse takes one size");
  for (const std::string& x : {db, db + "-wal", db + "-shm", db + ".xapian", db + ".faiss"}) {
    if (!reuse) fs::remove_all(x);
  }
  std::sort(sizes.begin(), sizes.end());
  const Queries q = make_queries(c, std::min<int64_t>(sizes.back(), 100000), n_queries);
  auto embedding = std::make_shared<HashEmbedding>(dim);
  Fts5 fts(work + "/fts5.sqlite", reuse);
  retrieval::StoreOptions plain;
  plain.chunking = {.size = 400, .overlap = 30};  // every synthetic chunk stays one chunk
  json levels = json::array();
  int64_t have = 0;
  for (int64_t n : sizes) {
    json level = {{"chunks", n}};
    const int64_t rss0 = rss_bytes();
    // 1. Ingest without embeddings, in batches of 1000 documents (one chunk each).
    {
      auto store = check(retrieval::Store::open(db, plain), "open");
      if (reuse) {
        if (check(store->stats(), "stats").chunks != n || fts.rows() != n) {
          die(db + " or the FTS5 table does not hold " + std::to_string(n) +
              " chunks: run without --reuse first");
        }
        have = n;
      }
      const auto t0 = Clock::now();
      for (int64_t i = have; i < n; i += 1000) {
        std::vector<retrieval::Document> batch;
        for (int64_t j = i; j < std::min(n, i + 1000); ++j) {
          batch.push_back({"synthetic/" + std::to_string(j), "", c.chunk(j), {}});
        }
        check(store->add(batch), "add");
      }
      if (Status fl = store->flush(); !fl.ok()) die("flush: " + fl.to_string());
      const double s = ms_since(t0) / 1000;
      if (!reuse) level["ingest_chunks_per_s"] = (n - have) / s;
      auto st = check(store->stats(), "stats");
      if (st.chunks != n) die("the store holds " + std::to_string(st.chunks) + " chunks");
      const auto t1 = Clock::now();
      fts.add(c, have, n);
      if (!reuse) level["fts5_ingest_chunks_per_s"] = (n - have) / (ms_since(t1) / 1000);
      // 2. BM25 against FTS5, the same queries.
      level["bm25_mid"] = latency(time_store(*store, q.mid, "bm25"));
      level["bm25_frequent"] = latency(time_store(*store, q.frequent, "bm25"));
      std::vector<double> fm, ff;
      for (const auto& t : q.mid) {
        const auto t2 = Clock::now();
        fts.search(t);
        fm.push_back(ms_since(t2));
      }
      for (const auto& t : q.frequent) {
        const auto t2 = Clock::now();
        fts.search(t);
        ff.push_back(ms_since(t2));
      }
      level["fts5_mid"] = latency(fm);
      level["fts5_frequent"] = latency(ff);
    }
    // 3. The dense index: reopening with the embedder embeds and indexes the new chunks.
    if (!lexical) {
      retrieval::StoreOptions o = plain;
      o.embedding = embedding;
      const auto t0 = Clock::now();
      auto store = check(retrieval::Store::open(db, o), "open with vectors");
      level["dense_index_chunks_per_s"] = (n - have) / (ms_since(t0) / 1000);
      auto st = check(store->stats(), "stats");
      level["dense_kind"] = st.vector_kind;
      level["dense"] = latency(time_store(*store, q.mid, "dense"));
      level["hybrid"] = latency(time_store(*store, q.mid, "hybrid"));
      std::vector<double> em;
      for (const auto& t : q.mid) {
        const auto t1 = Clock::now();
        (void)embedding->one(joined(t));
        em.push_back(ms_since(t1));
      }
      level["query_embedding"] = latency(em);
      // The exact anchor: FAISS flat inner product over the same vectors.
      faiss::IndexFlatIP flat(dim);
      {
        std::vector<float> buf;
        for (int64_t i = 0; i < n; ++i) {
          const auto v = embedding->one(c.chunk(i));
          buf.insert(buf.end(), v.begin(), v.end());
          if (buf.size() >= static_cast<size_t>(dim) * 10000 || i + 1 == n) {
            flat.add(static_cast<faiss::Index::idx_t>(buf.size() / dim), buf.data());
            buf.clear();
          }
        }
      }
      std::vector<double> fl;
      double recall = 0;
      retrieval::SearchOptions so;
      so.k = 10;
      so.mode = "dense";
      for (const auto& t : q.mid) {
        const auto v = embedding->one(joined(t));
        std::vector<float> d(10);
        std::vector<faiss::Index::idx_t> ids(10);
        const auto t1 = Clock::now();
        flat.search(1, v.data(), 10, d.data(), ids.data());
        fl.push_back(ms_since(t1));
        std::set<std::string> exact;
        for (auto id : ids) {
          if (id >= 0) exact.insert("synthetic/" + std::to_string(id));
        }
        int found = 0;
        for (const auto& h : check(store->search(joined(t), so), "search")) {
          found += exact.count(h.source) ? 1 : 0;
        }
        recall += exact.empty() ? 1.0 : static_cast<double>(found) / exact.size();
      }
      level["flat_exact"] = latency(fl);
      level["dense_recall_at_10"] = recall / q.mid.size();
      if (Status fl = store->flush(); !fl.ok()) die("flush: " + fl.to_string());
      st = check(store->stats(), "stats");
      level["dense_bytes_per_chunk"] = static_cast<double>(dir_bytes(db + ".faiss")) / n;
      level["rss_bytes_per_chunk"] = static_cast<double>(rss_bytes() - rss0) / n;
    }
    level["sqlite_bytes_per_chunk"] = static_cast<double>(dir_bytes(db)) / n;
    level["bm25_bytes_per_chunk"] = static_cast<double>(dir_bytes(db + ".xapian")) / n;
    level["fts5_bytes_per_chunk"] = static_cast<double>(dir_bytes(work + "/fts5.sqlite")) / n;
    have = n;
    std::fprintf(stderr, "%s\n", level.dump().c_str());
    levels.push_back(level);
  }
  std::printf("%s\n", json({{"mode", "scale"},
                            {"dim", dim},
                            {"queries", n_queries},
                            {"sentences", c.sentences.size()},
                            {"levels", levels}})
                          .dump()
                          .c_str());
  return 0;
}

std::vector<json> jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) die("cannot read " + path);
  std::vector<json> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    out.push_back(json::parse(line, nullptr, false));
    if (out.back().is_discarded()) die(path + ": a line is not JSON");
  }
  return out;
}

int run_beir(const std::string& dir, const std::string& work, const std::string& embed_model) {
  std::map<std::string, std::map<std::string, int>> qrels;  // query -> doc -> relevance
  {
    std::string path = dir + "/qrels/test.tsv";
    std::ifstream f(path);
    if (!f) die("cannot read " + path);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string qid, did;
      int rel = 0;
      if (ls >> qid >> did >> rel) qrels[qid][did] = rel;
    }
  }
  retrieval::StoreOptions o;
  if (!embed_model.empty()) {
    o.embedding = check(retrieval::gguf_embedding(embed_model, 0, 512), "embedding model");
    o.chunking = {.size = 256, .overlap = 32};
  } else {
    o.chunking = {.size = 200, .overlap = 30};
  }
  fs::create_directories(work);
  const std::string db = work + "/beir.sqlite";
  for (const std::string& x : {db, db + "-wal", db + "-shm", db + ".xapian", db + ".faiss"}) {
    fs::remove_all(x);
  }
  auto store = check(retrieval::Store::open(db, o), "open");
  const auto t0 = Clock::now();
  std::vector<retrieval::Document> batch;
  int64_t docs = 0;
  for (const auto& d : jsonl(dir + "/corpus.jsonl")) {
    std::string text = d.value("text", "");
    if (text.empty()) text = d.value("title", "");
    if (text.empty()) continue;
    batch.push_back({d.value("_id", ""), d.value("title", ""), text, {}});
    if (batch.size() == 256) {
      check(store->add(batch), "add");
      docs += batch.size();
      batch.clear();
    }
  }
  if (!batch.empty()) check(store->add(batch), "add");
  docs += batch.size();
  if (Status s = store->flush(); !s.ok()) die("flush: " + s.to_string());
  const double ingest_s = ms_since(t0) / 1000;
  std::map<std::string, std::string> queries;
  for (const auto& qj : jsonl(dir + "/queries.jsonl")) {
    queries[qj.value("_id", "")] = qj.value("text", "");
  }
  std::vector<std::string> modes = {"bm25"};
  if (o.embedding) modes.insert(modes.end(), {"dense", "hybrid"});
  json out = {{"mode", "beir"},
              {"dataset", fs::path(dir).filename().string()},
              {"documents", docs},
              {"ingest_s", ingest_s}};
  for (const auto& mode : modes) {
    double ndcg = 0, recall = 0;
    int n = 0;
    for (const auto& [qid, rels] : qrels) {
      auto it = queries.find(qid);
      if (it == queries.end()) continue;
      retrieval::SearchOptions so;
      so.k = 300;  // chunks, to rank 100 documents
      so.depth = 300;
      so.mode = mode;
      std::vector<std::string> ranked;
      std::set<std::string> seen;
      for (const auto& h : check(store->search(it->second, so), "search")) {
        if (seen.insert(h.source).second) ranked.push_back(h.source);
        if (ranked.size() == 100) break;
      }
      double dcg = 0, idcg = 0;
      for (size_t i = 0; i < std::min<size_t>(10, ranked.size()); ++i) {
        auto r = rels.find(ranked[i]);
        if (r != rels.end() && r->second > 0) dcg += r->second / std::log2(i + 2.0);
      }
      std::vector<int> ideal;
      int relevant = 0, found = 0;
      for (const auto& [d, r] : rels) {
        if (r > 0) {
          ideal.push_back(r);
          ++relevant;
        }
      }
      std::sort(ideal.rbegin(), ideal.rend());
      for (size_t i = 0; i < std::min<size_t>(10, ideal.size()); ++i) {
        idcg += ideal[i] / std::log2(i + 2.0);
      }
      for (const auto& d : ranked) {
        auto r = rels.find(d);
        found += r != rels.end() && r->second > 0;
      }
      if (relevant == 0) continue;
      ndcg += idcg > 0 ? dcg / idcg : 0;
      recall += static_cast<double>(found) / relevant;
      ++n;
    }
    out[mode] = {
        {"ndcg_at_10", n ? ndcg / n : 0}, {"recall_at_100", n ? recall / n : 0}, {"queries", n}};
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string text, work, beir, embed_model;
  std::vector<int64_t> sizes = {10000, 100000, 1000000};
  int n_queries = 200;
  int32_t dim = 384;
  bool reuse = false, lexical = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--text") {
      text = next();
    } else if (a == "--work") {
      work = next();
    } else if (a == "--beir") {
      beir = next();
    } else if (a == "--embed-model") {
      embed_model = next();
    } else if (a == "--queries") {
      n_queries = std::stoi(next());
    } else if (a == "--dim") {
      dim = std::stoi(next());
    } else if (a == "--reuse") {
      reuse = true;
    } else if (a == "--lexical-only") {
      lexical = true;
    } else if (a == "--sizes") {
      sizes.clear();
      std::stringstream ss(next());
      for (std::string s; std::getline(ss, s, ',');) sizes.push_back(std::stoll(s));
    } else {
      die("unknown flag " + a);
    }
  }
  if (work.empty()) die("give --work DIR");
  if (!beir.empty()) return run_beir(beir, work, embed_model);
  if (text.empty()) die("give --text FILE or --beir DIR");
  return run_scale(text, work, sizes, n_queries, dim, reuse, lexical);
}
