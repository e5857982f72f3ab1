// The json pipeline: one schema-valid value, with repair and retry.
#include <nlohmann/json.hpp>

#include "pipeline/common.h"
#include "troika/constrain.h"

namespace troika::pipeline {

namespace {

std::string describe_errors(const std::vector<constrain::ValidationError>& errors) {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < 5; ++i) {
    if (!out.empty()) out += "; ";
    out += "at '" + errors[i].instance_path + "': " + errors[i].message;
  }
  if (errors.size() > 5) out += "; and " + std::to_string(errors.size() - 5) + " more";
  return out;
}

// Why `text` is not a valid value ("" when it is), after repair when needed; `out` gets the value.
std::string check(const constrain::Schema& schema, const std::string& text, JsonResult& out) {
  auto errors = schema.validate(text);
  if (errors.ok() && errors->empty()) {
    out.json = nlohmann::json::parse(text).dump();
    out.repaired = false;
    out.fixes.clear();
    return "";
  }
  auto fixed = constrain::repair_json(text);
  if (!fixed.ok()) return "the answer is not JSON (" + fixed.status().message() + ")";
  auto again = schema.validate(fixed->json);
  if (again.ok() && again->empty()) {
    out.json = fixed->json;
    out.repaired = true;
    out.fixes = fixed->fixes;
    return "";
  }
  return again.ok() ? describe_errors(*again) : again.status().message();
}

}  // namespace

Result<JsonResult> json(host::RoleClient& role, const JsonRequest& request) {
  const auto t0 = detail::Clock::now();
  if (request.max_attempts < 1) return invalid_argument("max_attempts must be at least 1");
  const std::string schema_text = request.schema.empty() ? "true" : request.schema;
  auto schema = constrain::Schema::compile(schema_text);
  if (!schema.ok()) {
    return Status(schema.status().code(), "schema: " + schema.status().message());
  }
  TROIKA_ASSIGN_OR_RETURN(auto messages, detail::messages_of(request.input));
  JsonResult out;
  out.usage = detail::start_usage(role);
  const bool constrained = request.constrained || role.is_remote();
  if (role.is_remote() && !request.constrained) {
    out.usage.notes.push_back(
        "constrained=false is ignored by remote roles (response_format sent)");
  }
  if (!request.constrained && !role.is_remote()) {
    // Unconstrained: tell the model the schema, since nothing else will.
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if (it->role != "user") continue;
      it->content +=
          "\n\nAnswer with one JSON value valid against this JSON Schema:\n" + schema_text;
      break;
    }
  }
  std::string why;
  for (int32_t attempt = 1; attempt <= request.max_attempts; ++attempt) {
    host::ChatRequest chat = detail::chat_request(messages, request.sampling);
    if (constrained) chat.json_schema = schema_text;
    chat.seed = request.sampling.seed + static_cast<uint32_t>(attempt - 1);
    TROIKA_ASSIGN_OR_RETURN(host::ChatResult r, detail::chat(role, chat, out.usage));
    const std::string text = r.choices.empty() ? "" : r.choices[0].text;
    out.attempts = attempt;
    why = check(**schema, text, out);
    if (why.empty()) {
      out.usage.ms = detail::ms_since(t0);
      return out;
    }
    if (!r.choices.empty() && r.choices[0].finish_reason == "length") {
      why += " (the answer was cut off at max_tokens " +
             std::to_string(request.sampling.max_tokens) + ")";
    }
    messages.push_back({"assistant", text});
    messages.push_back({"user", "That answer is not valid: " + why +
                                    ". Answer again with only the corrected JSON value."});
  }
  return bad_output("no valid JSON value in " + std::to_string(request.max_attempts) +
                    " attempts; the last: " + why +
                    " (raise max_tokens or max_attempts, or use a local role, which decodes "
                    "under the schema)");
}

}  // namespace troika::pipeline
