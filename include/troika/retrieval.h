// Retrieval: a knowledge base of documents cut into chunks, searched by BM25, by dense vectors,
// or by both fused (reciprocal rank fusion).
//
// The store of record is one SQLite database (WAL; documents, chunks, their vectors, and a log of
// changes). Beside it two derived indexes: PATH.xapian/, Xapian databases indexing the chunks for
// BM25 with Snowball stemming chosen per word by its script (Cyrillic: Russian, else English), stop
// words dropped, each chunk's word sequence kept for phrase queries, in shards written in parallel
// and searched as one (collection-wide statistics, so the scores do not depend on the shard count);
// and PATH.faiss, a FAISS inner-product index of the chunk vectors (flat while small, HNSW when
// large). Every change commits to SQLite first; each index records the last change it holds, and
// opening a store brings a stale or missing index up to date from the log, so a process killed
// mid-way leaves a store that reopens consistent.
//
// Errors: not_found (a file to ingest, a source to remove), invalid_argument (options, an unknown
// format, a JSONL/CSV line without the text field, naming the line), data_loss (a database that
// is not a troika store), unavailable (I/O). Thread safety: a Store may be shared by threads, its
// calls run one at a time; readers in other processes see committed changes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
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
// stripped, entities decoded), .pdf (poppler's text, page by page), .jsonl and .csv (one
// document a record).
struct ReadOptions {
  std::string text_field = "text";  // JSONL key / CSV column holding the text
  std::string id_field = "id";      // JSONL key / CSV column naming the record ("" = its line)
  std::string title_field = "title";
};
Result<std::vector<Document>> read_documents(const std::string& path,
                                             const ReadOptions& options = {});

// Chunks of a text: paragraphs and sentences packed up to `size` units, each chunk starting with
// the last `overlap` units of the one before; [start, end) are byte offsets. A unit is a word, or
// a token when `count` is set (the tokens of one word; a store with an embedding model sets it to
// that model's tokenizer).
struct ChunkOptions {
  int32_t size = 200;
  int32_t overlap = 30;
  std::function<int32_t(std::string_view word)> count;
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

// Dense vectors of texts. `model_id` is recorded in the store: a store embedded with one model
// refuses another. Implementations need not be thread-safe; a Store calls from its own thread.
class Embedding {
 public:
  virtual ~Embedding() = default;
  virtual std::string model_id() const = 0;
  virtual int32_t dim() const = 0;
  // Tokens of a piece of text (no special tokens), for chunking.
  virtual int32_t count_tokens(std::string_view text) const = 0;
  // One unit-length vector of dim() floats per text, in order.
  virtual Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) = 0;
};

// An Embedding over a GGUF embedding model (BERT-class with its own pooling, or a decoder,
// mean-pooled) run by the engine on the CPU or GPU. Texts up to `max_tokens` tokens. Errors: as
// engine::Model::load and engine::Embedder::create.
Result<std::shared_ptr<Embedding>> gguf_embedding(const std::string& path, int32_t n_threads = 0,
                                                  int32_t max_tokens = 512);

struct StoreOptions {
  ChunkOptions chunking;  // size and overlap in tokens of the embedding model when there is one
  Bm25 bm25;
  // Chunks are embedded on add and the dense index kept; without it the store is BM25 only, and
  // vectors already in it are kept but not searched (dense and hybrid need the model for queries).
  std::shared_ptr<Embedding> embedding;
  // The dense index is flat (exact) up to this many vectors, then HNSW (M 16, efConstruction 80,
  // efSearch 512; approximate). A flat scan reads every vector: ~5 ms for 100k of 384 floats on
  // 2 cores, where HNSW takes ~2 ms but misses some of the true nearest. Removed vectors stay in
  // the graph, skipped, until they are a tenth of it; then it is rebuilt from SQLite.
  int64_t hnsw_from = 100000;
  // Shards of a new BM25 index, each written by its own thread (0: one per core, at most 4). An
  // existing index keeps the count it was made with.
  int32_t index_shards = 0;
};

struct AddResult {
  int64_t document_id = 0;
  int32_t chunks = 0;
  bool duplicate = false;  // the same text is already stored (by content hash): nothing added
};

struct Stats {
  int64_t documents = 0, chunks = 0, words = 0;
  int64_t indexed_chunks = 0;   // chunks in the BM25 index (equal to chunks when consistent)
  int64_t index_change = 0;     // the last change the BM25 index holds
  int64_t store_change = 0;     // the last change in SQLite (equal when consistent)
  int32_t index_shards = 0;     // the BM25 index's shards
  int64_t vectors = 0;          // chunk vectors in SQLite
  int64_t indexed_vectors = 0;  // in the dense index (-1: no embedding model given to open)
  int64_t vector_change = 0;    // the last change the dense index holds
  std::string vector_kind;      // "flat" or "hnsw" ("" without an embedding model)
  std::string embedding_model;  // the model the vectors come from ("" when none)
  int32_t dim = 0;
  int64_t sqlite_bytes = 0, index_bytes = 0, vector_bytes = 0;
};

struct SourceInfo {
  std::string source, title;
  int64_t documents = 0, chunks = 0;
};

struct Hit {
  int64_t chunk_id = 0;
  int64_t document_id = 0;
  std::string source, title;
  int32_t ordinal = 0;         // the chunk's place in its document
  int64_t start = 0, end = 0;  // byte offsets in the document's text
  std::string text;
  double score = 0;  // by mode: BM25, inner product, or the fused RRF score
  int32_t rank = 0;  // 1-based
  // Each side's score and rank (rank 0: not among that side's candidates).
  double bm25_score = 0, dense_score = 0;
  int32_t bm25_rank = 0, dense_rank = 0;
};

struct SearchOptions {
  int32_t k = 10;
  std::string mode = "bm25";  // "bm25", "dense", or "hybrid"
  // Hybrid: each side's top `depth` fused by reciprocal rank, sum of 1 / (rrf_k + rank).
  int32_t depth = 100;
  double rrf_k = 60;
};

class Store {
 public:
  // Opens (creating when missing) the store at `path` and its index at PATH.xapian, catching the
  // index up with the change log.
  static Result<std::unique_ptr<Store>> open(const std::string& path,
                                             const StoreOptions& options = {});
  ~Store();

  // Adds documents and their chunks (and vectors) in one transaction, then indexes them; one
  // result per document, in order. A batch is faster than single adds.
  Result<std::vector<AddResult>> add(const std::vector<Document>& documents);
  Result<AddResult> add(const Document& document);
  // Removes every document whose source is `source` (or starts with "SOURCE#" for records).
  // Returns how many were removed; not_found when none.
  Result<int64_t> remove(const std::string& source);
  Result<Stats> stats() const;
  // The sources stored (a JSONL/CSV file's records under their file), in source order.
  Result<std::vector<SourceInfo>> sources() const;
  // Commits the BM25 index and writes the dense index file when they changed (the destructor
  // does too). The SQLite store is durable after each call; the indexes commit every 20000
  // chunks, and what a killed process had not committed is re-indexed from SQLite on open.
  Status flush();
  // The best chunks for a query. BM25: words are ORed, "quoted phrases" must appear in order.
  // Dense and hybrid need the embedding model (invalid_argument without one).
  Result<std::vector<Hit>> search(const std::string& query,
                                  const SearchOptions& options = {}) const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::retrieval
