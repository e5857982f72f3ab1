// Log-probability helpers. The sum of exponentials over a 128k-entry row runs once per scored
// or sampled-with-logprobs token, so exp is a vectorised polynomial (glibc's expf is a call per
// element: ~0.7 ms a row on this CPU, against ~0.18 ms with SSE2 and ~0.08 ms with AVX2).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "troika/generate.h"

// The vector helpers are internal and always inlined: there is no ABI to keep (GCC warns at the
// end of the file, where the AVX2 clone is emitted).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace troika::engine {

namespace {

// Eight floats at a time with GCC/Clang vector extensions: two SSE2 registers on any x86-64 (an
// AVX2+FMA clone is picked at load time where the CPU has it), no intrinsics. A scalar loop over
// the same polynomial does not vectorise here: the max and sum reductions need -ffast-math.
typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));

// exp(x) for x <= 0 (x - max of the row): 2^n * p(r), r = x - n ln 2, |r| <= ln 2 / 2, with
// Cephes' expf polynomial (within 2 ulp of expf); below -87 it flushes to exp(-87) ~ 1.6e-38,
// which no sum over a row notices.
__attribute__((always_inline)) inline v8sf exp_nonpositive(v8sf x) {
  const v8sf lo = v8sf{} - 87.0f;
  x = x < lo ? lo : x;
  const v8sf shift = v8sf{} + 12582912.0f;          // 1.5 * 2^23
  const v8sf t = x * 1.44269504088896341f + shift;  // rounds x / ln 2 to an integer
  const v8si n = (v8si)t - (v8si)shift;
  const v8sf fn = t - shift;
  const v8sf r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
  v8sf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return (v8sf)((v8si)p + (n << 23));
}

__attribute__((always_inline)) inline v8sf load8(const float* x) {
  v8sf v;
  std::memcpy(&v, x, sizeof(v));
  return v;
}

// ThreadSanitizer cannot run an ifunc resolver (it runs before the runtime is up), so its builds
// keep the default clone only.
#if defined(__SANITIZE_THREAD__)
#define TROIKA_LSE_CLONES
#else
#define TROIKA_LSE_CLONES __attribute__((target_clones("avx2,fma", "default")))
#endif

TROIKA_LSE_CLONES float log_sum_exp_impl(const float* x, size_t n) {
  v8sf m = v8sf{} - INFINITY;  // broadcasts (x - x would be NaN for infinite x)
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8sf a = load8(x + i);
    m = a > m ? a : m;
  }
  float max = -INFINITY;
  for (int k = 0; k < 8; ++k) max = std::max(max, m[k]);
  for (size_t j = i; j < n; ++j) max = std::max(max, x[j]);
  if (!std::isfinite(max)) return max;
  // Eight partial sums keep float rounding error small on long rows.
  const v8sf vmax = v8sf{} + max;
  v8sf sums = {};
  for (i = 0; i + 8 <= n; i += 8) sums += exp_nonpositive(load8(x + i) - vmax);
  double sum = 0.0;
  for (int k = 0; k < 8; ++k) sum += sums[k];
  for (; i < n; ++i) sum += std::exp(x[i] - max);
  return max + static_cast<float>(std::log(sum));
}

}  // namespace

float log_sum_exp(std::span<const float> logits) {
  if (logits.empty()) return -INFINITY;
  if (logits.size() < 8) {
    float max = -INFINITY;
    for (float v : logits) max = std::max(max, v);
    if (!std::isfinite(max)) return max;
    double sum = 0.0;
    for (float v : logits) sum += std::exp(v - max);
    return max + static_cast<float>(std::log(sum));
  }
  return log_sum_exp_impl(logits.data(), logits.size());
}

void log_softmax(std::span<const float> logits, std::vector<float>& out) {
  out.resize(logits.size());
  if (logits.empty()) return;
  const float lse = log_sum_exp(logits);
  for (size_t j = 0; j < logits.size(); ++j) out[j] = logits[j] - lse;
}

std::vector<TokenLogprob> top_k_logprobs(std::span<const float> logits, int32_t k) {
  std::vector<TokenLogprob> out;
  if (logits.empty() || k <= 0) return out;
  k = std::min<int32_t>(k, static_cast<int32_t>(logits.size()));
  const float lse = log_sum_exp(logits);
  if (k <= 8) {
    // A few best in one pass: insertion into a short sorted list (ties: the lower id first).
    out.reserve(k);
    for (Token t = 0; t < static_cast<Token>(logits.size()); ++t) {
      const float v = logits[t];
      if (static_cast<int32_t>(out.size()) == k && !(v > out.back().logprob)) continue;
      if (static_cast<int32_t>(out.size()) == k) out.pop_back();
      auto at = std::upper_bound(out.begin(), out.end(), v,
                                 [](float a, const TokenLogprob& b) { return a > b.logprob; });
      out.insert(at, {t, v});
    }
    for (auto& e : out) e.logprob -= lse;
    return out;
  }
  std::vector<Token> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](Token a, Token b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  out.reserve(k);
  for (int32_t j = 0; j < k; ++j) out.push_back({ids[j], logits[ids[j]] - lse});
  return out;
}

}  // namespace troika::engine
