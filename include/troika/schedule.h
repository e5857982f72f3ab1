// The scheduler: continuous batching of many requests over one loaded model.
//
// Contract: a Scheduler owns one inference context (a unified KV cache shared by up to
// `n_seq_max` sequences) and one step thread. submit() and score() are thread-safe and return
// at once; results arrive through a Handle (a future plus a cancel switch) and, for generation,
// through an optional streaming callback. Every step packs the next token of each running
// sequence and a bounded chunk of pending prompt prefill into one batch, so a long prompt delays
// running streams by at most `step_token_budget` tokens of work per step.
//
// Sharing: n > 1 samples prefill the prompt once and fork its KV cells; score() prefills a prefix
// once and evaluates all continuations in one batch; a prefix cache keeps recent prompts' KV
// cells so that a request starting with a cached prefix skips that prefill.
//
// Memory: a request is admitted when its worst case (prompt + n * max_tokens cells) fits beside
// the running ones, evicting cached prefixes first; otherwise it waits. A request that can never
// fit fails at once with invalid_argument (the request is too large: retrying cannot help; a
// server answers 400, not 429). KV exhaustion never crashes the process.
//
// Determinism: see Request::reproducible. Callbacks run on the step thread: keep them short,
// and do not block on another request's result inside them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troika/engine.h"
#include "troika/generate.h"
#include "troika/status.h"

namespace troika::schedule {

using engine::Token;

// A decoding constraint, advanced along one sequence. The constrain module (JSON Schema, regex)
// implements it; ChoiceConstraint below is the simple built-in one. One instance per sequence:
// n > 1 samples clone() it after the prompt.
class Constraint {
 public:
  virtual ~Constraint() = default;
  // Sets the bits of the tokens allowed next. The mask arrives sized to the vocabulary with
  // nothing allowed. Allowing an end-of-generation token means "the output may end here".
  virtual void fill_mask(engine::TokenMask& mask) = 0;
  // Moves past `token`, which fill_mask() allowed. Errors: invalid_argument if it was not allowed.
  virtual Status advance(Token token) = 0;
  // Tokens that are the only valid continuation (jump-forward); appended without sampling.
  virtual std::vector<Token> forced() { return {}; }
  // True when the output is complete and nothing more may follow (generation stops).
  virtual bool done() const = 0;
  virtual std::unique_ptr<Constraint> clone() const = 0;
};

// Allows exactly one of a fixed list of strings (then an end-of-generation token).
class ChoiceConstraint : public Constraint {
 public:
  // Errors: invalid_argument when `choices` is empty or a choice is empty.
  static Result<std::unique_ptr<ChoiceConstraint>> create(
      std::shared_ptr<const engine::Model> model, std::vector<std::string> choices);
  void fill_mask(engine::TokenMask& mask) override;
  Status advance(Token token) override;
  std::vector<Token> forced() override;
  bool done() const override;
  std::unique_ptr<Constraint> clone() const override;
  const std::string& text() const { return text_; }

 private:
  ChoiceConstraint(std::shared_ptr<const engine::Model> model, std::vector<std::string> choices,
                   std::shared_ptr<const std::vector<std::string>> pieces);
  bool is_choice(const std::string& s) const;
  std::shared_ptr<const engine::Model> model_;
  std::vector<std::string> choices_;
  std::shared_ptr<const std::vector<std::string>> pieces_;  // [n_vocab] token texts
  std::string text_;                                        // matched so far
  bool ended_ = false;
};

struct TokenInfo {
  Token token = -1;
  float logprob = 0;                      // of the chosen token under the raw distribution
  std::vector<engine::TokenLogprob> top;  // top_logprobs best alternatives, best first
};

// A piece of streamed output.
struct StreamEvent {
  int32_t index = 0;      // which of the n samples
  std::string_view text;  // newly settled text (never half a UTF-8 character)
};

struct Request {
  std::vector<Token> prompt;                  // token prompt; or, when empty,
  std::vector<engine::ChatMessage> messages;  // chat messages rendered with the model's template
  engine::SamplingParams sampling;            // sample i uses seed sampling.seed + i
  int32_t max_tokens = 128;                   // new tokens per sample
  std::vector<std::string> stop;              // stop strings
  bool ignore_eos = false;
  int32_t n = 1;             // samples sharing the prompt (prefilled once)
  int32_t top_logprobs = 0;  // > 0: per-token log-probabilities with this many alternatives
  bool logprobs = false;     // per-token log-probabilities of the sampled tokens only
  // Absolute deadline; the request fails with deadline_exceeded when it passes.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int32_t priority = 0;  // higher is admitted first; equal priorities are first-come first-served
  // Built once per sample (cloned after the prompt); nullptr = unconstrained.
  std::unique_ptr<Constraint> constraint;
  // Reproducible mode: the request runs alone in a dedicated context, samples one after another
  // in the same KV cells, without the prefix cache, so its output is bit-identical to running it
  // alone and sample i equals an independent n = 1 run with seed + i, whatever else is running.
  // Costs throughput; see docs/scheduler.md.
  bool reproducible = false;
  std::function<void(const StreamEvent&)> on_text;  // streaming; may be empty
};

struct Sample {
  std::string text;
  std::vector<Token> tokens;
  std::vector<TokenInfo> logprobs;  // filled when Request::top_logprobs > 0 or logprobs
  engine::FinishReason finish = engine::FinishReason::kLength;
};

struct Completion {
  std::vector<Sample> samples;  // n of them, in index order
  int32_t n_prompt = 0;
  int32_t n_prompt_cached = 0;  // prompt tokens served from the prefix cache
  double queue_ms = 0;          // submit to admission
  double prompt_ms = 0;         // admission to first sampled token
  double gen_ms = 0;            // first to last sampled token
};

// Log-probabilities of given continuations after one shared prefix.
struct ScoreRequest {
  std::vector<Token> prefix;  // shared context (e.g. a prompt ending in "Label:")
  std::vector<std::vector<Token>> continuations;  // K candidates, tokenized without BOS
  // Tokens whose log-probability right after each whole continuation is also returned
  // (Score::next_logprobs), e.g. " yes" and " no" after "...Relevant?" for relevance scoring.
  std::vector<Token> next_tokens;
  // false: only next_tokens are read, so the continuations' own tokens are decoded without
  // output rows (Score::token_logprobs stays empty, logprob 0) - far less work on a large
  // vocabulary. Requires next_tokens.
  bool token_logprobs = true;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int32_t priority = 0;
};

struct Score {
  double logprob = 0;                 // sum of token log-probabilities
  double mean_logprob = 0;            // logprob / number of tokens (length-normalised)
  std::vector<float> token_logprobs;  // one per continuation token
  std::vector<float> next_logprobs;   // one per ScoreRequest::next_tokens entry
};

struct ScoreResult {
  std::vector<Score> scores;  // one per continuation, in order
  int32_t n_prefix_cached = 0;
};

template <typename T>
class Handle {
 public:
  Handle() = default;
  Handle(std::shared_future<Result<T>> result, std::shared_ptr<std::atomic<bool>> cancel)
      : result_(std::move(result)), cancel_(std::move(cancel)) {}
  // Blocks until the request finishes and returns a copy of the result (safe to keep after the
  // handle is gone). Errors: cancelled, deadline_exceeded, resource_exhausted,
  // invalid_argument (bad request), and engine errors.
  Result<T> get() const { return result_.get(); }
  bool ready() const {
    return result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // Waits at most `d` for the result; true when it is ready.
  bool wait_for(std::chrono::milliseconds d) const {
    return result_.wait_for(d) == std::future_status::ready;
  }
  // Asks the scheduler to stop the request; get() then returns cancelled (soon, not at once).
  void cancel() const {
    if (cancel_) cancel_->store(true);
  }
  // get(), cancelling the request as soon as `*cancel` turns true (polled every few ms); a null
  // switch is a plain get().
  Result<T> get(const std::atomic<bool>* cancel) const {
    if (cancel) {
      while (!wait_for(std::chrono::milliseconds(5))) {
        if (cancel->load()) this->cancel();
      }
    }
    return get();
  }

 private:
  std::shared_future<Result<T>> result_;
  std::shared_ptr<std::atomic<bool>> cancel_;
};

struct SchedulerOptions {
  int32_t n_ctx = 8192;    // KV cells shared by all sequences
  int32_t n_seq_max = 64;  // concurrent sequences (running samples + cached prefixes), <= 256
  int32_t step_token_budget = 512;     // most tokens (decode + prefill) per step
  int32_t prefix_cache_tokens = 4096;  // KV cells kept for cached prefixes; 0 disables the cache
  int32_t min_cached_prefix = 16;      // shorter matches are not worth a fork
  int32_t n_threads = 0;               // 0 = all hardware threads
  int32_t reproducible_n_ctx = 4096;   // size of the dedicated context of reproducible requests
  engine::FlashAttn flash_attn = engine::FlashAttn::kAuto;
  engine::KvType kv_type = engine::KvType::kF16;  // q8_0 halves the KV cache
  bool swa_full = true;  // sliding-window layers keep a full-size cache (see ContextOptions)
};

struct SchedulerStats {
  int64_t steps = 0;
  int64_t tokens_decoded = 0;    // sampled-token decodes
  int64_t tokens_prefilled = 0;  // prompt tokens run through the model
  int64_t tokens_cached = 0;     // prompt tokens served from the prefix cache or shared forks
  int64_t requests_done = 0;
  double decode_ms = 0;        // inside llama_decode
  double sample_ms = 0;        // masks, sampling, log-probabilities
  double overhead_ms = 0;      // the scheduler's own bookkeeping
  int32_t running = 0;         // sequences now decoding or prefilling
  int32_t waiting = 0;         // requests not yet admitted
  int32_t cells_reserved = 0;  // KV cells promised to running requests
  int32_t cells_cached = 0;    // KV cells held by the prefix cache
};

class Scheduler {
 public:
  // Creates the context and starts the step thread. Errors: invalid_argument (options),
  // resource_exhausted (KV cache does not fit).
  static Result<std::unique_ptr<Scheduler>> create(std::shared_ptr<const engine::Model> model,
                                                   const SchedulerOptions& options = {});
  // Fails every unfinished request with cancelled and joins the step thread.
  ~Scheduler();

  Handle<Completion> submit(Request request);
  Handle<ScoreResult> score(ScoreRequest request);

  const engine::Model& model() const;
  std::shared_ptr<const engine::Model> shared_model() const;  // the same model, for sharing
  const SchedulerOptions& options() const;
  SchedulerStats stats() const;

  struct Impl;

 private:
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::schedule
