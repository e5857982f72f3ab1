// Test support: the reference fixtures in ../shared/fixtures and what the engine computes on
// a converted model, in the fixtures' own layouts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troika/engine.h"

namespace troika::testing {

// ../shared/fixtures/<name> (relative to the repository root).
std::string fixture_dir(const std::string& name);

struct Golden {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> greedy;      // greedy continuation after the prompt
  int64_t n_vocab = 0;
  double min_margin = 0;            // smallest top1-top2 gap over the prompt positions
  std::vector<float> logits;        // [n_tokens, n_vocab]
};
Golden read_golden(const std::string& fixture);

// Logits of every position of `ids` on `model`, f32 KV cache and flash attention off.
// [ids.size(), n_vocab] row-major. Fails the test (ADD_FAILURE) and returns {} on error.
std::vector<float> all_logits(const std::shared_ptr<engine::Model>& model, const std::vector<int32_t>& ids);
// Greedy decoding of n tokens after `ids`, no early stop.
std::vector<int32_t> greedy(const std::shared_ptr<engine::Model>& model, const std::vector<int32_t>& ids, int n);

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace troika::testing
