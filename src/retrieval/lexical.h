// The BM25 side of a store: the chunks' terms, and each chunk's word sequence for phrases, in a
// Xapian index split into shards that are written in parallel, one thread each. Chunk c lives in
// shard (c - 1) % N as document (c - 1) / N + 1, which is how Xapian numbers the documents of N
// databases searched together, so a search over all shards returns chunk ids with collection-wide
// BM25 statistics. Each shard records the last store change it holds. Internal to the retrieval
// module.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "troika/retrieval.h"
#include "troika/status.h"

namespace troika::retrieval::detail {

class TextIndex {
 public:
  // Opens the index in DIR, creating it with `shards` shards when missing (an existing index
  // keeps its own count; an index of the one-database layout is dropped, to be rebuilt from the
  // store). Errors: unavailable (another process writes it), data_loss (unreadable).
  static Result<std::unique_ptr<TextIndex>> open(const std::string& dir, int32_t shards);
  ~TextIndex();

  int32_t shards() const;
  // The last change every shard holds.
  int64_t change() const;

  // What one logged change does to a chunk: index its text (again), or remove it.
  struct Op {
    int64_t change = 0;
    int64_t chunk_id = 0;
    bool remove = false;
    std::string text;
  };
  // Applies to each shard, in order and in parallel across shards, the ops of its chunks from
  // changes it does not hold yet, then records `upto` as held by every shard.
  Status apply(const std::vector<Op>& ops, int64_t upto);
  // Commits the shards once `every` updates are pending, or whatever is pending when every <= 0.
  Status commit(int64_t every);

  int64_t documents() const;
  // The best k chunks for a query (words ORed, "quoted phrases" in order): (chunk id, score).
  Result<std::vector<std::pair<int64_t, double>>> search(const std::string& query, int32_t k,
                                                         const Bm25& bm25) const;

 private:
  TextIndex();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::retrieval::detail
