#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/internal.h"
#include "troika/generate.h"

namespace troika::engine {

struct Sampler::Impl {
  llama_sampler* chain = nullptr;
  bool plain_greedy = false;  // argmax with no penalties: sample without building candidates
  // The chain starts with top-k (no penalties before it): keep only the k best candidates
  // while scanning, instead of building all n_vocab and sorting them. Same distribution.
  int32_t prefilter_k = 0;
  std::vector<llama_token_data> candidates;
  ~Impl() {
    if (chain) llama_sampler_free(chain);
  }
};

Sampler::Sampler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sampler::~Sampler() = default;

Result<std::unique_ptr<Sampler>> Sampler::create(const Model& model, const SamplingParams& p) {
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return invalid_argument("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) {
    return invalid_argument("min_p must be in [0, 1), got " + std::to_string(p.min_p));
  }
  if (p.repeat_penalty <= 0.0f) {
    return invalid_argument("repeat_penalty must be > 0, got " + std::to_string(p.repeat_penalty));
  }
  if (p.penalty_last_n < -1) {
    return invalid_argument("penalty_last_n must be >= -1, got " +
                            std::to_string(p.penalty_last_n));
  }
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  auto impl = std::make_unique<Impl>();
  impl->chain = llama_sampler_chain_init(cp);
  llama_sampler* c = impl->chain;
  if (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    llama_sampler_chain_add(
        c, llama_sampler_init_penalties(model.info().n_vocab, p.penalty_last_n, p.repeat_penalty,
                                        p.frequency_penalty, p.presence_penalty));
  }
  if (p.temperature <= 0.0f) {
    impl->plain_greedy = llama_sampler_chain_n(c) == 0;
    llama_sampler_chain_add(c, llama_sampler_init_greedy());
  } else {
    if (p.top_k > 0) {
      if (llama_sampler_chain_n(c) == 0) impl->prefilter_k = p.top_k;
      llama_sampler_chain_add(c, llama_sampler_init_top_k(p.top_k));
    }
    if (p.top_p < 1.0f) llama_sampler_chain_add(c, llama_sampler_init_top_p(p.top_p, 1));
    if (p.min_p > 0.0f) llama_sampler_chain_add(c, llama_sampler_init_min_p(p.min_p, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp(p.temperature));
    llama_sampler_chain_add(c, llama_sampler_init_dist(p.seed));
  }
  return std::unique_ptr<Sampler>(new Sampler(std::move(impl)));
}

Token Sampler::sample(const Context& ctx, int32_t i) {
  if (i < 0) i = ctx.impl().last_logits_row;
  return llama_sampler_sample(impl_->chain, ctx.impl().ctx, i);
}

Token Sampler::sample(std::span<const float> logits, const TokenMask* mask) {
  const int32_t n = static_cast<int32_t>(logits.size());
  if (impl_->plain_greedy) {
    Token best = -1;
    float best_logit = -INFINITY;
    for (int32_t t = 0; t < n; ++t) {
      if (logits[t] > best_logit && (!mask || mask->allows(t))) {
        best_logit = logits[t];
        best = t;
      }
    }
    if (best < 0 && mask) {  // every allowed logit is -inf: take the first allowed token
      for (int32_t t = 0; t < n && best < 0; ++t) best = mask->allows(t) ? t : -1;
    }
    llama_sampler_accept(impl_->chain, best);
    return best;
  }
  auto& cand = impl_->candidates;
  cand.clear();
  const size_t k = static_cast<size_t>(impl_->prefilter_k);
  if (k > 0) {
    // A min-heap of the k best seen so far: most tokens cost one comparison.
    auto worse = [](const llama_token_data& a, const llama_token_data& b) {
      return a.logit > b.logit;
    };
    cand.reserve(k);
    float threshold = -INFINITY;  // the worst kept logit once k are kept
    auto offer = [&](int32_t t) {
      const float v = logits[t];
      if (cand.size() < k) {
        cand.push_back({t, v, 0.0f});
        if (cand.size() == k) {
          std::make_heap(cand.begin(), cand.end(), worse);
          threshold = cand.front().logit;
        }
      } else if (v > threshold) {
        std::pop_heap(cand.begin(), cand.end(), worse);
        cand.back() = {t, v, 0.0f};
        std::push_heap(cand.begin(), cand.end(), worse);
        threshold = cand.front().logit;
      }
    };
    int32_t t = 0;
    if (!mask) {
      // Eight logits at a time: a block with nothing above the threshold costs two compares.
      typedef float v4sf __attribute__((vector_size(16)));
      typedef int32_t v4si __attribute__((vector_size(16)));
      for (; t + 8 <= n; t += 8) {
        v4sf a, b;
        std::memcpy(&a, logits.data() + t, sizeof(a));
        std::memcpy(&b, logits.data() + t + 4, sizeof(b));
        const v4sf th = {threshold, threshold, threshold, threshold};
        const v4si any = (a > th) | (b > th);
        if (cand.size() == k && !(any[0] | any[1] | any[2] | any[3])) continue;
        for (int32_t j = t; j < t + 8; ++j) offer(j);
      }
    }
    for (; t < n; ++t) {
      if (!mask || mask->allows(t)) offer(t);
    }
  } else {
    cand.reserve(n);
    for (int32_t t = 0; t < n; ++t) {
      if (!mask || mask->allows(t)) cand.push_back({t, logits[t], 0.0f});
    }
  }
  llama_token_data_array arr = {cand.data(), cand.size(), -1, false};
  llama_sampler_apply(impl_->chain, &arr);
  Token tok = (arr.selected >= 0 && static_cast<size_t>(arr.selected) < arr.size)
                  ? arr.data[arr.selected].id
                  : cand.front().id;
  llama_sampler_accept(impl_->chain, tok);
  return tok;
}

int32_t TokenMask::count() const {
  int32_t n = 0;
  for (uint32_t w : words_) n += __builtin_popcount(w);
  return n;
}

void Sampler::accept(Token token) { llama_sampler_accept(impl_->chain, token); }
void Sampler::reset() { llama_sampler_reset(impl_->chain); }

}  // namespace troika::engine
