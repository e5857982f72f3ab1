// FlatIP: SIMD inner products under FAISS's flat storage.
#include "flat_ip.h"

#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissAssert.h>

#include <algorithm>
#include <vector>

namespace troika::retrieval::detail {

namespace {

// Sixteen independent partial sums, which the compiler keeps in vector registers (one order of
// additions for any d and any instruction set, so a vector's score does not depend on the CPU).
[[gnu::always_inline]] inline float dot_lanes(const float* a, const float* b, size_t d) {
  float acc[16] = {};
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    for (size_t j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float tail = 0;
  for (; i < d; ++i) tail += a[i] * b[i];
  float s = 0;
  for (float x : acc) s += x;
  return s + tail;
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, size_t d) {
  return dot_lanes(a, b, d);
}
__attribute__((target("avx2"))) float dot_avx2(const float* a, const float* b, size_t d) {
  return dot_lanes(a, b, d);
}
float dot_baseline(const float* a, const float* b, size_t d) { return dot_lanes(a, b, d); }

// Chosen on the first call. Not an ifunc (target_clones): an ifunc's
// resolver runs while the program is being relocated, before a sanitizer's runtime is up.
using DotFn = float (*)(const float*, const float*, size_t);
DotFn pick_dot() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return dot_avx512;
  if (__builtin_cpu_supports("avx2")) return dot_avx2;
  return dot_baseline;
}

}  // namespace

float dot(const float* a, const float* b, size_t d) {
  static const DotFn chosen = pick_dot();
  return chosen(a, b, d);
}

namespace {

struct Computer : faiss::FlatCodesDistanceComputer {
  const float* base;
  size_t d;
  const float* q = nullptr;
  explicit Computer(const FlatIP& index)
      : faiss::FlatCodesDistanceComputer(index.codes.data(), index.code_size),
        base(reinterpret_cast<const float*>(index.codes.data())),
        d(static_cast<size_t>(index.d)) {}
  void set_query(const float* x) override { q = x; }
  float distance_to_code(const uint8_t* code) override {
    return dot(q, reinterpret_cast<const float*>(code), d);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return dot(base + static_cast<size_t>(i) * d, base + static_cast<size_t>(j) * d, d);
  }
};

}  // namespace

faiss::FlatCodesDistanceComputer* FlatIP::get_FlatCodesDistanceComputer() const {
  return new Computer(*this);
}

void FlatIP::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                    const faiss::SearchParameters* params) const {
  FAISS_THROW_IF_NOT_MSG(!params || !params->sel, "FlatIP: no ID selectors");
  const auto* base = reinterpret_cast<const float*>(codes.data());
  const auto dd = static_cast<size_t>(d);
  const auto kk = static_cast<size_t>(std::min(k, ntotal));
  // The best kk so far in a heap whose top is the worst of them: one pass, no buffer of ntotal.
  using Scored = std::pair<float, idx_t>;
  auto better = [](const Scored& a, const Scored& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<Scored> best;
  best.reserve(kk + 1);
  for (idx_t q = 0; q < n; ++q) {
    const float* query = x + static_cast<size_t>(q) * dd;
    best.clear();
    for (idx_t i = 0; i < ntotal && kk > 0; ++i) {
      const Scored s{dot(query, base + static_cast<size_t>(i) * dd, dd), i};
      if (best.size() < kk) {
        best.push_back(s);
        std::push_heap(best.begin(), best.end(), better);
      } else if (better(s, best.front())) {
        std::pop_heap(best.begin(), best.end(), better);
        best.back() = s;
        std::push_heap(best.begin(), best.end(), better);
      }
    }
    std::sort_heap(best.begin(), best.end(), better);
    for (idx_t r = 0; r < k; ++r) {
      const size_t at = static_cast<size_t>(q * k + r);
      const bool held = static_cast<size_t>(r) < best.size();
      labels[at] = held ? best[static_cast<size_t>(r)].second : -1;
      distances[at] = held ? best[static_cast<size_t>(r)].first : 0;
    }
  }
}

FlatIP* take_flat(faiss::Index* flat) {
  auto* plain = dynamic_cast<faiss::IndexFlatIP*>(flat);
  FAISS_THROW_IF_NOT_MSG(plain, "not a flat inner-product index");
  auto* out = new FlatIP(plain->d);
  out->codes = std::move(plain->codes);
  out->ntotal = plain->ntotal;
  delete plain;
  return out;
}

}  // namespace troika::retrieval::detail
