// The tools pipeline: function calling in the family's own format, calls constrained by their
// schemas, results fed back, a step limit.
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "pipeline/common.h"
#include "pipeline/tool_format.h"
#include "troika/constrain.h"

namespace troika::pipeline {

namespace {

using nlohmann::json;

Status check(const ToolsRequest& r,
             std::vector<std::shared_ptr<const constrain::Schema>>& schemas) {
  if (r.messages.empty()) return invalid_argument("messages: give at least one message");
  if (r.tools.empty()) return invalid_argument("tools: give at least one tool");
  static const std::regex kName("^[A-Za-z0-9_-]{1,64}$");
  std::set<std::string> names;
  for (size_t i = 0; i < r.tools.size(); ++i) {
    const Tool& t = r.tools[i];
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!std::regex_match(t.name, kName)) {
      return invalid_argument(at + ": name '" + t.name + "' must match [A-Za-z0-9_-]{1,64}");
    }
    if (!names.insert(t.name).second) return invalid_argument(at + ": '" + t.name + "' twice");
    json p = json::parse(t.parameters, nullptr, false);
    if (p.is_discarded() || !p.is_object() || (p.contains("type") && p["type"] != "object")) {
      return invalid_argument(at + " (" + t.name + "): parameters must be a JSON Schema object " +
                              "of type \"object\"");
    }
    auto s = constrain::Schema::compile(t.parameters);
    if (!s.ok()) {
      return Status(s.status().code(),
                    at + " (" + t.name + ") parameters: " + s.status().message());
    }
    schemas.push_back(*s);
  }
  const std::string& c = r.tool_choice;
  if (c != "auto" && c != "none" && c != "required" && !names.count(c)) {
    return invalid_argument("tool_choice: '" + c + "' is not auto, none, required or a tool name");
  }
  if (r.max_steps < 1) return invalid_argument("max_steps: at least 1");
  static const std::set<std::string> kFormats = {"auto", "mistral", "llama3", "json"};
  if (!kFormats.count(r.format)) {
    return invalid_argument("format: '" + r.format + "' is not auto, mistral, llama3 or json");
  }
  return Status::Ok();
}

// A call's arguments, checked against its tool's schema. Errors: bad_output naming the call.
Status validate_call(const ToolsRequest& r,
                     const std::vector<std::shared_ptr<const constrain::Schema>>& schemas,
                     const engine::ToolCall& call) {
  for (size_t i = 0; i < r.tools.size(); ++i) {
    if (r.tools[i].name != call.name) continue;
    auto errors = schemas[i]->validate(call.arguments.empty() ? "{}" : call.arguments);
    if (!errors.ok()) return bad_output("call to " + call.name + ": arguments are not JSON");
    if (!errors->empty()) {
      return bad_output("call to " + call.name + ": " + (*errors)[0].message + " at '" +
                        (*errors)[0].instance_path + "'");
    }
    return Status::Ok();
  }
  return bad_output("the model called '" + call.name + "', which is not one of the tools");
}

// One remote turn: the endpoint's own tool calling.
Result<detail::Turn> remote_turn(host::RoleClient& role, const ToolsRequest& r,
                                 const std::vector<engine::ChatMessage>& messages,
                                 const std::string& choice, Usage& usage) {
  host::ChatRequest req = detail::chat_request(messages, r.sampling);
  for (const Tool& t : r.tools) req.tools.push_back({t.name, t.description, t.parameters});
  req.tool_choice = choice;
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::chat(role, req, usage));
  detail::Turn turn;
  if (res.choices.empty()) return bad_output("the remote role returned no choice");
  turn.text = res.choices[0].text;
  turn.calls = res.choices[0].tool_calls;
  return turn;
}

}  // namespace

Result<ToolsResult> tools(host::RoleClient& role, const ToolsRequest& request,
                          const ToolExecutor& execute) {
  const auto t0 = detail::Clock::now();
  std::vector<std::shared_ptr<const constrain::Schema>> schemas;
  TROIKA_RETURN_IF_ERROR(check(request, schemas));
  ToolsResult out;
  out.usage = detail::start_usage(role);
  out.messages = request.messages;
  schedule::Scheduler* sched = role.scheduler();
  out.format = sched ? detail::resolve_format(request.format, sched->model()) : "native";
  if (!sched && request.format != "auto") {
    out.usage.notes.push_back("remote role: the endpoint's own tool calling is used, not format " +
                              request.format);
  }
  int32_t call_counter = 0;
  for (const auto& m : request.messages) call_counter += static_cast<int32_t>(m.tool_calls.size());
  for (int32_t step = 1; step <= request.max_steps; ++step) {
    // required / a named tool bind the first turn; later turns may answer.
    const std::string choice = step == 1 ? request.tool_choice : "auto";
    detail::Turn turn;
    if (sched) {
      TROIKA_ASSIGN_OR_RETURN(
          turn, detail::local_turn(*sched, request, out.format, out.messages, choice, out.usage));
    } else {
      TROIKA_ASSIGN_OR_RETURN(turn, remote_turn(role, request, out.messages, choice, out.usage));
    }
    out.steps = step;
    if (!request.parallel && turn.calls.size() > 1) turn.calls.resize(1);
    for (auto& call : turn.calls) {
      TROIKA_RETURN_IF_ERROR(validate_call(request, schemas, call));
      if (call.id.empty()) call.id = detail::call_id(++call_counter);
    }
    if (turn.calls.empty()) {
      out.messages.push_back({"assistant", turn.text});
      out.content = turn.text;
      out.finish = "stop";
      break;
    }
    engine::ChatMessage assistant{"assistant", ""};
    assistant.tool_calls = turn.calls;
    out.messages.push_back(assistant);
    if (!execute) {
      out.tool_calls = turn.calls;
      out.finish = "tool_calls";
      break;
    }
    for (const auto& call : turn.calls) {
      auto result = execute(call);
      engine::ChatMessage tool{"tool",
                               result.ok() ? *result : "error: " + result.status().message()};
      tool.tool_call_id = call.id;
      out.messages.push_back(std::move(tool));
    }
    out.finish = "max_steps";
  }
  out.usage.ms = detail::ms_since(t0);
  return out;
}

}  // namespace troika::pipeline
