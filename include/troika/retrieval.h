// Retrieval: a knowledge base of documents cut into chunks, searched by BM25.
//
// The store of record is one SQLite database (WAL; documents, chunks, and a log of changes);
// beside it (PATH.xapian/) a Xapian database indexes the chunks for BM25 with Snowball stemming
// chosen per word by its script (Cyrillic: Russian, else English), stop words dropped, positions
// kept for phrase queries. Every change commits to SQLite first and then to Xapian, which records
// the last change it holds; opening a store brings a stale or missing index up to date from the
// log, so a process killed mid-way leaves a store that reopens consistent.
//
// This is the first part of issue 9: dense vectors (FAISS, an `embed` role), hybrid fusion, PDF
// ingest and the rag pipeline come next; their modes answer unimplemented until then.
//
// Errors: not_found (a file to ingest, a source to remove), invalid_argument (options, an unknown
// format, a JSONL/CSV line without the text field, naming the line), data_loss (a database that
// is not a troika store), unavailable (I/O). Thread safety: one Store per thread; readers in
// other processes see committed changes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "troika/status.h"

namespace troika::retrieval {

struct Document {
  std::string source;  // a path, or "FILE#ID" for a record of a JSONL/CSV file
  std::string title;
  std::string text;  // normalised plain text
  std::map<std::string, std::string> metadata;
};

// Reading files into documents: .txt, .md (kept as text), .html/.htm (scripts, styles and tags
// stripped, entities decoded), .jsonl and .csv (one document a record).
struct ReadOptions {
  std::string text_field = "text";  // JSONL key / CSV column holding the text
  std::string id_field = "id";      // JSONL key / CSV column naming the record ("" = its line)
  std::string title_field = "title";
};
Result<std::vector<Document>> read_documents(const std::string& path,
                                             const ReadOptions& options = {});

// Chunks of a text: paragraphs and sentences packed up to `max_words` words, each chunk starting
// with the last `overlap_words` words of the one before; [start, end) are byte offsets.
struct ChunkOptions {
  int32_t max_words = 200;
  int32_t overlap_words = 30;
};
struct Span {
  int64_t start = 0, end = 0;
};
std::vector<Span> chunk_text(const std::string& text, const ChunkOptions& options = {});

// The terms BM25 sees for a text, in order (lowercased words, stop words dropped, stemmed by
// script). Exposed so that tests and tools agree with the index exactly.
std::vector<std::string> index_terms(const std::string& text);

struct Bm25 {
  double k1 = 1.2;
  double b = 0.75;
};

struct StoreOptions {
  ChunkOptions chunking;
  Bm25 bm25;
};

struct AddResult {
  int64_t document_id = 0;
  int32_t chunks = 0;
  bool duplicate = false;  // the same text is already stored (by content hash): nothing added
};

struct Stats {
  int64_t documents = 0, chunks = 0, words = 0;
  int64_t indexed_chunks = 0;  // chunks in the BM25 index (equal to chunks when consistent)
  int64_t index_change = 0;    // the last change the BM25 index holds
  int64_t store_change = 0;    // the last change in SQLite (equal when consistent)
  int64_t sqlite_bytes = 0, index_bytes = 0;
};

struct Hit {
  int64_t chunk_id = 0;
  int64_t document_id = 0;
  std::string source, title;
  int32_t ordinal = 0;         // the chunk's place in its document
  int64_t start = 0, end = 0;  // byte offsets in the document's text
  std::string text;
  double score = 0;  // BM25
  int32_t rank = 0;  // 1-based
};

struct SearchOptions {
  int32_t k = 10;
  std::string mode = "bm25";  // "bm25" ("dense" and "hybrid": next part of issue 9)
};

class Store {
 public:
  // Opens (creating when missing) the store at `path` and its index at PATH.xapian, catching the
  // index up with the change log.
  static Result<std::unique_ptr<Store>> open(const std::string& path,
                                             const StoreOptions& options = {});
  ~Store();

  // Adds one document and its chunks (one transaction), then indexes them.
  Result<AddResult> add(const Document& document);
  // Removes every document whose source is `source` (or starts with "SOURCE#" for records).
  // Returns how many were removed; not_found when none.
  Result<int64_t> remove(const std::string& source);
  Result<Stats> stats() const;
  // The best chunks for a query: words are ORed, "quoted phrases" must appear in order.
  Result<std::vector<Hit>> search(const std::string& query,
                                  const SearchOptions& options = {}) const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::retrieval
