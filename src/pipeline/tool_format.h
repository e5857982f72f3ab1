// Tool calling on a local model: the family formats (Mistral v0.3, Llama 3.1, prompted JSON),
// rendered, decided and decoded under the tools' schemas.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "troika/constrain.h"
#include "troika/pipeline.h"
#include "troika/schedule.h"

namespace troika::pipeline::detail {

// One model turn: calls, or an answer.
struct Turn {
  std::vector<engine::ToolCall> calls;
  std::string text;
};

// "mistral", "llama3" or "json" for a requested format ("auto" reads the chat template).
std::string resolve_format(const std::string& requested, const engine::Model& model);

// A call id as Mistral v0.3 requires: 9 alphanumeric characters ("call00001").
std::string call_id(int32_t n);

// One turn on a local scheduler. `choice` is "auto", "none", "required" or a tool name.
Result<Turn> local_turn(schedule::Scheduler& sched, const ToolsRequest& request,
                        const std::string& format, const std::vector<engine::ChatMessage>& messages,
                        const std::string& choice, Usage& usage);

// Generates on a local scheduler under an optional schema; adds the call to usage.
Result<schedule::Sample> generate(schedule::Scheduler& sched, std::vector<engine::Token> prompt,
                                  const Sampling& sampling, const std::string& schema,
                                  Usage& usage);

}  // namespace troika::pipeline::detail
