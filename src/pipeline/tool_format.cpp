#include "pipeline/tool_format.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "pipeline/common.h"

namespace troika::pipeline::detail {

namespace {

using nlohmann::json;

// The key a format puts a call's arguments under.
const char* args_key(const std::string& format) {
  return format == "llama3" ? "parameters" : "arguments";
}

json call_schema(const ToolsRequest& r, const std::string& format, const std::string& choice) {
  json any = json::array();
  for (const Tool& t : r.tools) {
    if (choice != "auto" && choice != "required" && choice != t.name) continue;
    any.push_back({{"type", "object"},
                   {"properties",
                    {{"name", {{"const", t.name}}}, {args_key(format), json::parse(t.parameters)}}},
                   {"required", {"name", args_key(format)}},
                   {"additionalProperties", false}});
  }
  json one = any.size() == 1 ? any[0] : json{{"anyOf", any}};
  if (format == "llama3") return one;  // one call a turn
  json list = {
      {"type", "array"}, {"items", one}, {"minItems", 1}, {"maxItems", r.parallel ? 8 : 1}};
  if (format == "mistral") return list;
  json calls = {{"type", "object"},
                {"properties", {{"tool_calls", list}}},
                {"required", {"tool_calls"}},
                {"additionalProperties", false}};
  if (choice != "auto") return calls;
  json answer = {{"type", "object"},
                 {"properties", {{"answer", {{"type", "string"}}}}},
                 {"required", {"answer"}},
                 {"additionalProperties", false}};
  return {{"anyOf", {calls, answer}}};
}

// The prompted-JSON format: tools described in the first user turn (Gemma 2 has no system
// role; Phi-3's template drops tool messages), calls written back as JSON, results as user turns.
std::vector<engine::ChatMessage> json_format_messages(const ToolsRequest& r,
                                                      const std::vector<engine::ChatMessage>& in) {
  std::string head = "You can call these tools:\n";
  for (const Tool& t : r.tools) {
    head += json({{"name", t.name},
                  {"description", t.description},
                  {"parameters", json::parse(t.parameters)}})
                .dump() +
            "\n";
  }
  head +=
      "\nTo call tools, answer with {\"tool_calls\": [{\"name\": <tool name>, \"arguments\": "
      "<arguments object>}]}. To answer without a tool, answer with {\"answer\": <text>}. Tool "
      "results come back in messages that start with \"Tool result\".\n\n";
  std::map<std::string, std::string> names;  // call id -> tool name
  std::vector<engine::ChatMessage> out;
  std::string system;
  for (const auto& m : in) {
    if (m.role == "system") {
      system += m.content + "\n\n";
    } else if (m.role == "assistant" && !m.tool_calls.empty()) {
      json calls = json::array();
      for (const auto& c : m.tool_calls) {
        names[c.id] = c.name;
        calls.push_back(
            {{"name", c.name}, {"arguments", json::parse(c.arguments, nullptr, false)}});
      }
      out.push_back({"assistant", json({{"tool_calls", calls}}).dump()});
    } else if (m.role == "tool") {
      std::string text = "Tool result for " + names[m.tool_call_id] + " (call " + m.tool_call_id +
                         "):\n" + m.content + "\n";
      if (!out.empty() && out.back().role == "user" &&
          out.back().content.starts_with("Tool result")) {
        out.back().content += "\n" + text;
      } else {
        out.push_back({"user", text});
      }
    } else {
      out.push_back({m.role, m.content});
    }
  }
  for (auto& m : out) {
    if (m.role == "user") {
      m.content = system + head + m.content;
      break;
    }
  }
  return out;
}

Result<std::vector<engine::Token>> render(const engine::Model& model, const ToolsRequest& r,
                                          const std::string& format,
                                          const std::vector<engine::ChatMessage>& messages) {
  std::string text;
  if (format == "json") {
    TROIKA_ASSIGN_OR_RETURN(text, model.render_chat(json_format_messages(r, messages)));
  } else {
    engine::ChatRenderOptions o;
    for (const Tool& t : r.tools) o.tools.push_back({t.name, t.description, t.parameters});
    TROIKA_ASSIGN_OR_RETURN(text, model.render_chat(messages, o));
  }
  return model.tokenize(text, true, true);
}

// p(the model starts a call) for the native formats: the probability of the call's opening text.
Result<double> call_probability(schedule::Scheduler& sched,
                                const std::vector<engine::Token>& prompt, const std::string& format,
                                Usage& usage) {
  const std::string open = format == "mistral" ? "[TOOL_CALLS]" : "{\"name\"";
  TROIKA_ASSIGN_OR_RETURN(auto ids, sched.model().tokenize(open, false, true));
  schedule::ScoreRequest req;
  req.prefix = prompt;
  req.continuations.push_back(std::move(ids));
  TROIKA_ASSIGN_OR_RETURN(auto res, score(sched, std::move(req), usage));
  return std::exp(res.scores.at(0).logprob);
}

std::vector<engine::ToolCall> parse_calls(const json& list, const std::string& key) {
  std::vector<engine::ToolCall> calls;
  for (const json& c : list) {
    engine::ToolCall call;
    call.name = c.value("name", "");
    call.arguments = c.contains(key) ? c[key].dump() : "{}";
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace

std::string resolve_format(const std::string& requested, const engine::Model& model) {
  if (requested != "auto") return requested;
  const std::string& t = model.info().chat_template;
  if (t.find("[TOOL_CALLS]") != std::string::npos) return "mistral";
  if (t.find("<|python_tag|>") != std::string::npos || t.find("ipython") != std::string::npos) {
    return "llama3";
  }
  return "json";
}

std::string call_id(int32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "call%05d", n % 100000);
  return buf;
}

Result<schedule::Sample> generate(schedule::Scheduler& sched, std::vector<engine::Token> prompt,
                                  const Sampling& sampling, const std::string& schema,
                                  Usage& usage) {
  schedule::Request q;
  q.prompt = std::move(prompt);
  q.sampling.temperature = sampling.temperature;
  q.sampling.top_p = sampling.top_p;
  q.sampling.seed = sampling.seed;
  q.max_tokens = sampling.max_tokens;
  const Control& control = ScopedControl::current();
  q.deadline = control.deadline;
  q.reproducible = control.reproducible;
  if (!schema.empty()) {
    TROIKA_ASSIGN_OR_RETURN(auto compiled, constrain::Schema::compile(schema));
    TROIKA_ASSIGN_OR_RETURN(auto index, constrain::TokenIndex::shared(sched.shared_model()));
    TROIKA_ASSIGN_OR_RETURN(q.constraint, constrain::json_constraint(compiled, index));
  }
  TROIKA_ASSIGN_OR_RETURN(auto c, sched.submit(std::move(q)).get(control.cancel.get()));
  usage.calls += 1;
  usage.prompt_tokens += c.n_prompt;
  usage.cached_tokens += c.n_prompt_cached;
  usage.completion_tokens += static_cast<int32_t>(c.samples.at(0).tokens.size());
  if (!schema.empty() && c.samples.at(0).finish == engine::FinishReason::kLength) {
    return bad_output("the tool call reached max_tokens " + std::to_string(sampling.max_tokens) +
                      " before its JSON closed; raise max_tokens");
  }
  return std::move(c.samples.at(0));
}

Result<Turn> local_turn(schedule::Scheduler& sched, const ToolsRequest& r,
                        const std::string& format, const std::vector<engine::ChatMessage>& messages,
                        const std::string& choice, Usage& usage) {
  const engine::Model& model = sched.model();
  TROIKA_ASSIGN_OR_RETURN(auto prompt, render(model, r, format, messages));
  Turn turn;
  if (choice == "none") {
    TROIKA_ASSIGN_OR_RETURN(auto s, generate(sched, std::move(prompt), r.sampling, "", usage));
    turn.text = s.text;
    return turn;
  }
  if (format != "json" && choice == "auto") {
    TROIKA_ASSIGN_OR_RETURN(double p, call_probability(sched, prompt, format, usage));
    if (p < 0.5) {
      TROIKA_ASSIGN_OR_RETURN(auto s, generate(sched, std::move(prompt), r.sampling, "", usage));
      turn.text = s.text;
      return turn;
    }
  }
  if (format == "mistral") {
    TROIKA_ASSIGN_OR_RETURN(auto open, model.tokenize("[TOOL_CALLS]", false, true));
    prompt.insert(prompt.end(), open.begin(), open.end());
  }
  const json schema =
      call_schema(r, format, choice == "auto" && format != "json" ? "required" : choice);
  TROIKA_ASSIGN_OR_RETURN(auto s,
                          generate(sched, std::move(prompt), r.sampling, schema.dump(), usage));
  const json out = json::parse(s.text, nullptr, false);
  if (out.is_discarded()) return internal_error("a constrained tool call is not JSON: " + s.text);
  if (format == "mistral") {
    turn.calls = parse_calls(out, "arguments");
  } else if (format == "llama3") {
    turn.calls = parse_calls(json::array({out}), "parameters");
  } else if (out.contains("tool_calls")) {
    turn.calls = parse_calls(out["tool_calls"], "arguments");
  } else {
    turn.text = out.value("answer", "");
  }
  return turn;
}

}  // namespace troika::pipeline::detail
