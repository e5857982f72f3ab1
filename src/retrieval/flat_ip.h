// FAISS's flat inner-product storage with distances computed in SIMD lanes. Debian builds FAISS
// for baseline x86-64, where its inner product is a scalar loop: 89% of an HNSW build's time and
// all of a flat scan's. FlatIP is an IndexFlatIP (so FAISS writes and reads it as one) whose
// distance computer and search use dot() below, compiled for AVX-512, AVX2 and baseline, one
// chosen by the CPU on the first call. Internal to the retrieval module.
#pragma once

#include <faiss/IndexFlat.h>

#include <cstddef>

namespace troika::retrieval::detail {

// The inner product of two vectors of d floats.
float dot(const float* a, const float* b, size_t d);

struct FlatIP : faiss::IndexFlatIP {
  explicit FlatIP(faiss::Index::idx_t d) : faiss::IndexFlatIP(d) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override;
  // Exact top-k by inner product, best first; k past ntotal pads with label -1.
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
};

// Moves the vectors of a plain IndexFlatIP (as FAISS reads one back) into a FlatIP; deletes it.
FlatIP* take_flat(faiss::Index* flat);

}  // namespace troika::retrieval::detail
