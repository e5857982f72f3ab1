#include "schedule/sample_state.h"

#include <cmath>

namespace troika::schedule {

Status SampleState::init(const engine::Model& model, const Request& req, int32_t i, int32_t seq_id,
                         engine::Pos n_prompt) {
  index = i;
  seq = seq_id;
  n_past = n_prompt;
  stream = engine::TextStream(req.stop);
  if (req.constraint) constraint = req.constraint->clone();
  engine::SamplingParams p = req.sampling;
  p.seed = req.sampling.seed + static_cast<uint32_t>(i);
  auto made = engine::Sampler::create(model, p);
  if (!made.ok()) return made.status();
  sampler = std::move(*made);
  return Status::Ok();
}

namespace {
TokenInfo logprob_info(std::span<const float> logits, Token tok, int32_t k) {
  TokenInfo info;
  info.token = tok;
  if (logits.empty()) return info;
  info.top = engine::top_k_logprobs(logits, k);
  // log p(tok) = logit - logsumexp; recover logsumexp from the best entry.
  const float lse = logits[info.top[0].token] - info.top[0].logprob;
  info.logprob = logits[tok] - lse;
  return info;
}
}  // namespace

bool SampleState::take_token(Token tok, std::span<const float> logits, const Request& req,
                             const engine::Model& model) {
  out.tokens.push_back(tok);
  if (req.top_logprobs > 0) {
    out.logprobs.push_back(logprob_info(logits, tok, req.top_logprobs));
  } else if (req.logprobs && !logits.empty()) {
    out.logprobs.push_back({tok, logits[tok] - engine::log_sum_exp(logits), {}});
  }
  if (!req.ignore_eos && model.is_eog(tok)) {
    out.finish = engine::FinishReason::kEndOfGeneration;
    return false;
  }
  if (stream.append(model.token_to_piece(tok, false))) {
    out.finish = engine::FinishReason::kStopString;
    return false;
  }
  std::string_view piece = stream.settle(false);
  if (!piece.empty() && req.on_text) req.on_text({index, piece});
  if (constraint && constraint->done()) {
    out.finish = engine::FinishReason::kEndOfGeneration;
    return false;
  }
  if (static_cast<int32_t>(out.tokens.size()) >= req.max_tokens) {
    out.finish = engine::FinishReason::kLength;
    return false;
  }
  return true;
}

Status SampleState::on_logits(std::span<const float> logits, const Request& req,
                              const engine::Model& model, int32_t n_ctx_left) {
  to_feed.clear();
  Token tok;
  if (constraint) {
    mask.reset(model.info().n_vocab, false);
    constraint->fill_mask(mask);
    if (mask.count() == 0) {
      return internal_error("the constraint allows no token after " +
                            std::to_string(out.tokens.size()) +
                            " generated tokens (output so far: '" + stream.text() + "')");
    }
    tok = sampler->sample(logits, &mask);
    if (!model.is_eog(tok)) TROIKA_RETURN_IF_ERROR(constraint->advance(tok));
  } else {
    tok = sampler->sample(logits);
  }
  bool more = take_token(tok, logits, req, model);
  // Jump-forward: tokens the constraint admits as the only continuation, fed without sampling.
  while (more && constraint && !constraint->done()) {
    std::vector<Token> forced = constraint->forced();
    if (forced.empty()) break;
    for (Token f : forced) {
      if (!more) break;
      TROIKA_RETURN_IF_ERROR(constraint->advance(f));
      sampler->accept(f);
      to_feed.push_back(tok);
      tok = f;
      more = take_token(f, {}, req, model);
    }
  }
  if (more && static_cast<int32_t>(to_feed.size()) + 1 > n_ctx_left) {
    out.finish = engine::FinishReason::kLength;
    more = false;
  }
  if (!more) {
    finished = true;
    to_feed.clear();
    std::string_view rest = stream.settle(true);
    if (!rest.empty() && req.on_text) req.on_text({index, rest});
    out.text = stream.text();
    return Status::Ok();
  }
  to_feed.push_back(tok);
  return Status::Ok();
}

}  // namespace troika::schedule
