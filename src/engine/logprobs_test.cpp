#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace troika::engine
