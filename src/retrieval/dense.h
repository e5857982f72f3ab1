// The dense side of a store: a FAISS inner-product index over unit vectors keyed by chunk id,
// flat while small and HNSW once large, saved as one file (a JSON header line, then the FAISS
// index) that records the last store change it holds. Internal to the retrieval module.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troika/status.h"

namespace faiss {
struct Index;
}

namespace troika::retrieval::detail {

class VectorIndex {
 public:
  // Reads PATH; a missing file is an empty index at change 0. A flat index holds up to
  // `hnsw_from` vectors; past it the index is rebuilt as HNSW (M 16, efConstruction 80), searched
  // with efSearch 512. Errors: data_loss (unreadable, or built for another model or dimension:
  // `model` and `dim` must match its header).
  static Result<std::unique_ptr<VectorIndex>> load(const std::string& path,
                                                   const std::string& model, int32_t dim,
                                                   int64_t hnsw_from);
  ~VectorIndex();

  int64_t change() const { return change_; }
  // The vectors searched (removed ones not counted).
  int64_t size() const;
  bool hnsw() const { return hnsw_; }

  void reset();
  // Adds n vectors of dim floats (row-major) under the chunk ids; switches to HNSW past hnsw_from.
  // False, adding nothing, when an id was removed from the HNSW graph before (a chunk id SQLite
  // gave out again): the caller rebuilds the index.
  [[nodiscard]] bool add(const std::vector<int64_t>& ids, const std::vector<float>& vectors);
  // A flat index drops the vectors; an HNSW graph cannot, so they are marked removed and skipped
  // by searches. False once more than a tenth of the graph is removed: the caller rebuilds it.
  [[nodiscard]] bool remove(const std::vector<int64_t>& ids);
  void set_change(int64_t change) {
    change_ = change;
    dirty_ = true;
  }
  // The k nearest chunks to a unit query vector: (chunk id, inner product), best first.
  std::vector<std::pair<int64_t, float>> search(const std::vector<float>& query, int32_t k) const;
  // Writes PATH atomically (temporary file, fsync, rename) when anything changed.
  Status save();

 private:
  VectorIndex() = default;
  void make_flat();
  std::string path_, model_;
  int32_t dim_ = 0;
  int64_t hnsw_from_ = 0;
  int64_t change_ = 0;
  bool hnsw_ = false, dirty_ = false;
  std::unique_ptr<faiss::Index> index_;
  std::unordered_set<int64_t> removed_;  // HNSW only: ids in the graph no longer searched
};

}  // namespace troika::retrieval::detail
