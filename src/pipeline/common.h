// Pieces the pipelines share: chat input, model calls that keep Usage, prompt scoring on local
// roles.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "troika/pipeline.h"
#include "troika/schedule.h"

namespace troika::pipeline::detail {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The messages of a Prompt (see its comment). Errors: invalid_argument when it has no user turn.
Result<std::vector<engine::ChatMessage>> messages_of(const Prompt& prompt);

// Starts a Usage for `role` (backend set).
Usage start_usage(host::RoleClient& role);

// role.chat() that adds the call to `usage`.
Result<host::ChatResult> chat(host::RoleClient& role, const host::ChatRequest& request,
                              Usage& usage);

// A chat request with the sampling fields set.
host::ChatRequest chat_request(std::vector<engine::ChatMessage> messages, const Sampling& s);

// The rendered conversation (generation prompt added) split around a marker that one message
// contains, tokenized: the tokens before it (BOS included) and the text after it. Used to put
// the varying part (a document, a label) of a prompt after a shared prefix.
struct SplitPrompt {
  std::vector<engine::Token> prefix;
  std::string suffix;
};
Result<SplitPrompt> split_prompt(const engine::Model& model,
                                 const std::vector<engine::ChatMessage>& messages,
                                 std::string_view marker);

// Scores continuations after a prefix on a local scheduler, in groups that fit its sequences.
Result<schedule::ScoreResult> score(schedule::Scheduler& sched, schedule::ScoreRequest request,
                                    Usage& usage);

// The model's end-of-turn token (eot, else eos; -1 when neither).
engine::Token end_of_turn(const engine::Model& model);

// A single-token id for `text` tokenized without BOS (the last token when it takes several).
engine::Token last_token(const engine::Model& model, std::string_view text);

// Softmax of `x` into probabilities (sums to 1; empty stays empty).
std::vector<double> softmax(const std::vector<double>& x);

// Collapses whitespace runs to one space and trims.
std::string squash_spaces(std::string_view s);

}  // namespace troika::pipeline::detail
