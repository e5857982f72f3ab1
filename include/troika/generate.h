// Sampling, log-probabilities and the single-sequence generation loop.
//
// Contract: a Sampler turns one row of logits into a token, deterministically for a given
// seed and history. generate() runs prompt prefill and decoding on one sequence of a Context,
// streaming text through a callback and stopping at end-of-generation tokens, stop strings,
// n_predict or a callback's request. Neither is thread-safe; use one per thread. The
// scheduler (troika/schedule.h) builds multi-sequence serving on the same pieces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troika/engine.h"
#include "troika/status.h"

namespace troika::engine {

struct SamplingParams {
  float temperature = 0.8f;        // <= 0: greedy (argmax), every other field but penalties ignored
  int32_t top_k = 40;              // keep the k best; <= 0 disables
  float top_p = 0.95f;             // nucleus; 1 disables
  float min_p = 0.05f;             // drop tokens below min_p * p(best); 0 disables
  float repeat_penalty = 1.0f;     // divide logits of recently seen tokens; 1 disables
  float frequency_penalty = 0.0f;  // subtract count * this; 0 disables
  float presence_penalty = 0.0f;   // subtract this once seen; 0 disables
  int32_t penalty_last_n = 64;     // history window for the penalties, in tokens
  uint32_t seed = 0;               // same seed + same inputs -> same tokens
};

// A set of allowed token ids over a vocabulary, one bit per token.
class TokenMask {
 public:
  TokenMask() = default;
  explicit TokenMask(int32_t n_vocab, bool allow_all = false) { reset(n_vocab, allow_all); }
  void reset(int32_t n_vocab, bool allow_all) {
    n_vocab_ = n_vocab;
    words_.assign((n_vocab + 31) / 32, allow_all ? ~0u : 0u);
    if (allow_all && n_vocab % 32) words_.back() = (1u << (n_vocab % 32)) - 1;
  }
  void allow(Token t) { words_[t >> 5] |= 1u << (t & 31); }
  void forbid(Token t) { words_[t >> 5] &= ~(1u << (t & 31)); }
  bool allows(Token t) const { return t >= 0 && t < n_vocab_ && (words_[t >> 5] >> (t & 31)) & 1u; }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t count() const;  // allowed tokens
  std::span<uint32_t> words() { return words_; }
  std::span<const uint32_t> words() const { return words_; }

 private:
  int32_t n_vocab_ = 0;
  std::vector<uint32_t> words_;
};

class Sampler {
 public:
  // Errors: invalid_argument for out-of-range parameters (negative temperature is greedy,
  // not an error; top_p outside (0, 1], min_p outside [0, 1) are errors).
  static Result<std::unique_ptr<Sampler>> create(const Model& model, const SamplingParams& params);
  ~Sampler();

  // Samples from the logits row `i` of ctx's last decode (see Context::logits) and records the
  // token in the penalty history.
  Token sample(const Context& ctx, int32_t i);
  // Samples from a logits row ([n_vocab] f32) restricted to `mask` when given. REQUIRES: the mask
  // allows at least one token. Records the token like sample().
  Token sample(std::span<const float> logits, const TokenMask* mask = nullptr);
  // Records a token that was not produced by sample() (e.g. a forced one).
  void accept(Token token);
  void reset();

  struct Impl;

 private:
  explicit Sampler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TokenLogprob {
  Token token = -1;
  float logprob = 0.0f;  // natural log of the softmax probability
};

// log(sum(exp(logits))), computed stably (max subtracted first).
float log_sum_exp(std::span<const float> logits);
// out[j] = logits[j] - logsumexp(logits); out.size() == logits.size(). Numerically stable.
void log_softmax(std::span<const float> logits, std::vector<float>& out);
// The k most likely tokens of a logits row, best first, with their log-probabilities.
std::vector<TokenLogprob> top_k_logprobs(std::span<const float> logits, int32_t k);

enum class FinishReason { kEndOfGeneration, kLength, kStopString, kCallback };
const char* to_string(FinishReason reason);  // "eog", "length", "stop", "callback"

// Accumulates generated text and says which part is settled: never half a UTF-8 character,
// never a tail that may still grow into a stop string.
class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop = {}) : stop_(std::move(stop)) {}
  // Appends a token's text. Returns true when a stop string matched; the text is then cut
  // before the match and nothing more should be appended.
  bool append(std::string_view piece);
  // The newly settled text since the last call (empty if none). final = true settles everything.
  std::string_view settle(bool final);
  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  std::vector<std::string> stop_;
  std::string text_;
  size_t emitted_ = 0;
};

struct GenerateOptions {
  int32_t n_predict = 128;        // most new tokens; < 0 means until the context is full
  std::vector<std::string> stop;  // stop strings; the text ends before the first match
  bool ignore_eos = false;        // keep going past end-of-generation tokens
  SamplingParams sampling;
  SeqId seq = 0;  // sequence to use in the context (cleared first)
  // Called with each newly settled piece of text (never splits a UTF-8 character, never shows
  // text that might still turn out to be a stop string). Return false to stop.
  std::function<bool(std::string_view piece)> on_text;
};

struct GenerateStats {
  int32_t n_prompt = 0;     // prompt tokens
  int32_t n_generated = 0;  // sampled tokens, including a final end-of-generation token
  double prompt_ms = 0;     // prefill wall time
  double gen_ms = 0;        // decoding wall time (first sample to last)
  double gen_tokens_per_s() const { return gen_ms > 0 ? n_generated * 1000.0 / gen_ms : 0; }
  std::string to_json() const;  // {"n_prompt":…,"n_generated":…,"prompt_ms":…,"gen_ms":…,…}
};

struct Generation {
  std::string text;           // generated text, stop string and EOG token excluded
  std::vector<Token> tokens;  // every sampled token
  FinishReason finish = FinishReason::kLength;
  GenerateStats stats;
};

// Errors: invalid_argument (empty prompt; prompt plus n_predict longer than the context, with
// both numbers in the message), and whatever Context::decode reports.
Result<Generation> generate(Context& ctx, std::span<const Token> prompt,
                            const GenerateOptions& options);

}  // namespace troika::engine
