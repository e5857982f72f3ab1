// The JSON request/response shapes of the pipelines (docs/pipelines/*.md), strict: an unknown
// field or a wrong type is an invalid_argument naming it.
#pragma once

#include <nlohmann/json.hpp>

#include "troika/pipeline.h"

namespace troika::pipeline::detail {

using nlohmann::json;

json to_json(const Usage& u);
json to_json(const Graph& g);
json to_json(const std::vector<engine::ChatMessage>& messages);
json to_json(const std::vector<engine::ToolCall>& calls);

Result<std::vector<engine::ChatMessage>> messages_from(const json& j, const std::string& where);

}  // namespace troika::pipeline::detail
