// Log-probability helpers. The sum of exponentials over a 128k-entry row runs once per scored
// token: float exp (glibc's FMA expf) with eight partial sums, not double exp per entry.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "troika/generate.h"

namespace troika::engine {

float log_sum_exp(std::span<const float> logits) {
  if (logits.empty()) return -INFINITY;
  float max = -INFINITY;
  for (float v : logits) max = std::max(max, v);
  if (!std::isfinite(max)) return max;
  // Eight partial sums keep float rounding error small on long rows and let the loop vectorise.
  float sums[8] = {};
  const float* x = logits.data();
  const size_t n = logits.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t k = 0; k < 8; ++k) sums[k] += std::exp(x[i + k] - max);
  }
  double sum = 0.0;
  for (; i < n; ++i) sum += std::exp(x[i] - max);
  for (float v : sums) sum += v;
  return max + static_cast<float>(std::log(sum));
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
  std::vector<Token> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](Token a, Token b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const float lse = log_sum_exp(logits);
  out.reserve(k);
  for (int32_t j = 0; j < k; ++j) out.push_back({ids[j], logits[ids[j]] - lse});
  return out;
}

}  // namespace troika::engine
