// Private to src/schedule: one sample's decoding state, shared by the batched step loop and the
// reproducible runner. It owns the sampler, the constraint and the text stream, and turns each
// logits row into the next token(s) to feed.
#pragma once

#include <memory>
#include <vector>

#include "troika/schedule.h"

namespace troika::schedule {

struct SampleState {
  int32_t index = 0;       // sample number within its request
  int32_t seq = -1;        // sequence id in the context
  engine::Pos n_past = 0;  // tokens of this sequence in the KV cache
  std::unique_ptr<engine::Sampler> sampler;
  std::unique_ptr<Constraint> constraint;
  engine::TextStream stream;
  engine::TokenMask mask;
  Sample out;
  std::vector<Token> to_feed;  // tokens to decode next step (sampled and forced)
  bool finished = false;
  int32_t row = -1;       // batch row holding this sample's logits in the current step
  int32_t n_feeding = 0;  // tokens of to_feed in the current step's batch

  // Sets up sample `index` of `req` in sequence `seq` after `n_prompt` prompt tokens: its own
  // sampler (seed + index), a clone of the request's constraint, a text stream with its stops.
  Status init(const engine::Model& model, const Request& req, int32_t index, int32_t seq,
              engine::Pos n_prompt);

  // Chooses the next token from `logits` ([n_vocab] f32), records it, advances the constraint,
  // queues forced tokens, streams settled text and decides whether the sample is finished.
  // Errors come from the constraint (a forced or chosen token it rejects).
  Status on_logits(std::span<const float> logits, const Request& req, const engine::Model& model,
                   int32_t n_ctx_left);

 private:
  // Records one generated token; returns false when generation must stop.
  bool take_token(Token tok, std::span<const float> logits, const Request& req,
                  const engine::Model& model);
};

}  // namespace troika::schedule
