// The yes/no next-token judgement that multi-label classify and pointwise rerank read.
#pragma once

#include <cmath>
#include <vector>

#include "troika/engine.h"
#include "troika/generate.h"

namespace troika::pipeline::detail {

// The tokens a model answers "yes" or "no" with after a chat template's assistant header, in
// both casings: p(yes) sums "yes" and "Yes", p(no) "no" and "No".
struct YesNo {
  std::vector<engine::Token> yes, no;
  std::vector<engine::Token> tokens() const {
    std::vector<engine::Token> t = yes;
    t.insert(t.end(), no.begin(), no.end());
    return t;
  }
  // Log-probabilities of yes and of no from next_logprobs laid out as tokens().
  std::pair<double, double> logprobs(const std::vector<float>& next) const {
    std::vector<float> y(next.begin(), next.begin() + static_cast<long>(yes.size()));
    std::vector<float> n(next.begin() + static_cast<long>(yes.size()), next.end());
    return {engine::log_sum_exp(y), engine::log_sum_exp(n)};
  }
  double p_yes(const std::vector<float>& next) const {
    auto [y, n] = logprobs(next);
    return 1.0 / (1.0 + std::exp(n - y));
  }
};

inline YesNo yes_no_tokens(const engine::Model& model) {
  YesNo out;
  auto add = [&](std::vector<engine::Token>& to, const char* word) {
    auto ids = model.tokenize(word, false, false);
    if (ids.ok() && !ids->empty()) {
      for (engine::Token t : to)
        if (t == ids->front()) return;
      to.push_back(ids->front());
    }
  };
  add(out.yes, "yes");
  add(out.yes, "Yes");
  add(out.no, "no");
  add(out.no, "No");
  return out;
}

}  // namespace troika::pipeline::detail
