// The dense side of a store: a FAISS inner-product index over unit vectors keyed by chunk id,
// flat while small and HNSW once large, saved as one file (a JSON header line, then the FAISS
// index) that records the last store change it holds. Internal to the retrieval module.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
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
  // `hnsw_from` vectors; past it the index is rebuilt as HNSW (M 32, efConstruction 40), searched
  // with efSearch 128. Errors: data_loss (unreadable, or built for another model or dimension:
  // `model` and `dim` must match its header).
  static Result<std::unique_ptr<VectorIndex>> load(const std::string& path,
                                                   const std::string& model, int32_t dim,
                                                   int64_t hnsw_from);
  ~VectorIndex();

  int64_t change() const { return change_; }
  int64_t size() const;
  bool hnsw() const { return hnsw_; }
  // HNSW cannot remove vectors: the store rebuilds it (reset, then add everything).
  bool can_remove() const { return !hnsw_; }

  void reset();
  // Adds n vectors of dim floats (row-major) under the chunk ids; switches to HNSW past hnsw_from.
  void add(const std::vector<int64_t>& ids, const std::vector<float>& vectors);
  void remove(const std::vector<int64_t>& ids);
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
};

}  // namespace troika::retrieval::detail
