#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "troika/generate.h"

namespace troika::engine {
namespace {

TEST(LogSoftmax, MatchesDirectFormulaAndIsStable) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 1000.0f, -1000.0f};
  std::vector<float> out;
  log_softmax(logits, out);
  ASSERT_EQ(out.size(), logits.size());
  double sum = 0;
  for (float v : out) {
    EXPECT_TRUE(std::isfinite(v) || v < -1e30f);
    sum += std::exp(static_cast<double>(v));
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(out[3], 0.0f, 1e-6);
  std::vector<float> small = {0.5f, -0.25f, 2.0f};
  log_softmax(small, out);
  double z = std::exp(0.5) + std::exp(-0.25) + std::exp(2.0);
  EXPECT_NEAR(out[2], 2.0 - std::log(z), 1e-6);
}

TEST(TopK, BestFirstWithLogprobs) {
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f};
  auto top = top_k_logprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);  // ties broken by lower id
  EXPECT_EQ(top[1].token, 3);
  EXPECT_EQ(top[2].token, 4);
  std::vector<float> lp;
  log_softmax(logits, lp);
  EXPECT_NEAR(top[0].logprob, lp[1], 1e-6);
  EXPECT_NEAR(top[2].logprob, lp[4], 1e-6);
  EXPECT_EQ(top_k_logprobs(logits, 99).size(), logits.size());
  EXPECT_TRUE(top_k_logprobs({}, 3).empty());
}

// The vectorised exp against a double-precision reference on a vocabulary-sized row (with a
// tail that is not a multiple of eight, -inf entries and a wide range).
TEST(LogSumExp, MatchesDoubleReferenceOnALongRow) {
  std::vector<float> row(128257);
  uint32_t x = 12345;
  for (auto& v : row) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x >> 8) / static_cast<float>(1u << 24) * 60.0f - 40.0f;
  }
  row[7] = -INFINITY;
  row[128256] = 25.0f;
  double max = -INFINITY, sum = 0;
  for (float v : row) max = std::max(max, static_cast<double>(v));
  for (float v : row) sum += std::exp(static_cast<double>(v) - max);
  EXPECT_NEAR(log_sum_exp(row), max + std::log(sum), 1e-4);
  const std::vector<float> short_row = {0.5f, -2.0f, 3.0f};
  EXPECT_NEAR(log_sum_exp(short_row), std::log(std::exp(0.5) + std::exp(-2.0) + std::exp(3.0)), 1e-6);
}

// The one-pass path for a few best (k <= 8) and the sorting path agree, ties to the lower id.
TEST(TopK, SmallAndLargeKAgree) {
  std::vector<float> row(5000);
  for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>((i * 7919) % 1000) / 10.0f;
  const auto small = top_k_logprobs(row, 8);
  const auto large = top_k_logprobs(row, 20);
  ASSERT_EQ(small.size(), 8u);
  for (size_t j = 0; j < small.size(); ++j) {
    EXPECT_EQ(small[j].token, large[j].token) << j;
    EXPECT_FLOAT_EQ(small[j].logprob, large[j].logprob);
  }
}

}  // namespace
}  // namespace troika::engine
