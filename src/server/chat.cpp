// /v1/chat/completions and /v1/completions: OpenAI's request and response shapes over the
// scheduler (local roles: streaming, log-probabilities, schema masks, the tools pipeline for
// function calls) or over a remote role's client.
#include <condition_variable>
#include <random>

#include "server/api_impl.h"
#include "troika/constrain.h"
#include "troika/schedule.h"

namespace troika::server::detail {

namespace {

// The parsed request, shared by both endpoints.
struct GenSpec {
  bool chat = true;
  std::string model;  // echoed back
  std::vector<engine::ChatMessage> messages;
  std::vector<std::string> prompts;  // completions
  engine::SamplingParams sampling;
  int32_t max_tokens = 0;
  int32_t n = 1;
  std::vector<std::string> stop;
  bool logprobs = false;
  int32_t top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;
  std::string schema;  // JSON Schema text; "" = free
  std::vector<pipeline::Tool> tools;
  std::string tool_choice = "auto";
  bool parallel_tool_calls = true;
  bool reproducible = false;
  bool ignore_eos = false;  // llama-server's extension: generate exactly max_tokens
};

Status read_stop(const json& b, std::vector<std::string>& out) {
  if (!b.contains("stop") || b["stop"].is_null()) return Status::Ok();
  const json& s = b["stop"];
  if (s.is_string()) {
    out.push_back(s.get<std::string>());
  } else if (s.is_array()) {
    for (const auto& v : s) {
      if (!v.is_string()) return invalid_argument("stop: must be a string or an array of strings");
      out.push_back(v.get<std::string>());
    }
  } else {
    return invalid_argument("stop: must be a string or an array of strings");
  }
  if (out.size() > 16) return invalid_argument("stop: at most 16 strings");
  for (const auto& x : out) {
    if (x.empty()) return invalid_argument("stop: strings must not be empty");
  }
  return Status::Ok();
}

// A message's content: a string, null, or an array of {"type":"text","text":...} parts.
Result<std::string> content_of(const json& m, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  if (!m.contains("content") || m["content"].is_null()) return std::string();
  const json& c = m["content"];
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) return invalid_argument(where + ": must be a string or an array of parts");
  std::string out;
  for (const auto& part : c) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
        !part.contains("text") || !part["text"].is_string()) {
      return invalid_argument(where +
                              ": only {\"type\": \"text\", \"text\": ...} parts are served");
    }
    out += part["text"].get<std::string>();
  }
  return out;
}

Result<std::vector<engine::ChatMessage>> read_messages(const json& b) {
  if (!b.contains("messages") || !b["messages"].is_array() || b["messages"].empty()) {
    return invalid_argument("messages: must be a non-empty array");
  }
  std::vector<engine::ChatMessage> out;
  const json& ms = b["messages"];
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return invalid_argument(where + ": must be an object with a role");
    }
    engine::ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool") {
      return invalid_argument(where + ".role: must be system, developer, user, assistant or tool");
    }
    TROIKA_ASSIGN_OR_RETURN(msg.content, content_of(m, i));
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (!m["tool_calls"].is_array()) return invalid_argument(where + ".tool_calls: an array");
      for (const auto& tc : m["tool_calls"]) {
        if (!tc.is_object() || !tc.contains("function") || !tc["function"].is_object() ||
            !tc["function"].contains("name") || !tc["function"]["name"].is_string()) {
          return invalid_argument(where + ".tool_calls: each needs function.name");
        }
        engine::ToolCall call;
        call.name = tc["function"]["name"].get<std::string>();
        const json& args = tc["function"].value("arguments", json("{}"));
        call.arguments = args.is_string() ? args.get<std::string>() : args.dump();
        if (tc.contains("id") && tc["id"].is_string()) call.id = tc["id"].get<std::string>();
        msg.tool_calls.push_back(std::move(call));
      }
    }
    if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) {
      msg.tool_call_id = m["tool_call_id"].get<std::string>();
    }
    out.push_back(std::move(msg));
  }
  return out;
}

Status read_tools(const json& b, GenSpec& g) {
  if (b.contains("tools") && !b["tools"].is_null()) {
    if (!b["tools"].is_array()) return invalid_argument("tools: must be an array");
    for (size_t i = 0; i < b["tools"].size(); ++i) {
      const json& t = b["tools"][i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || t.value("type", std::string("function")) != "function" ||
          !t.contains("function") || !t["function"].is_object()) {
        return invalid_argument(where + ": must be {\"type\": \"function\", \"function\": {...}}");
      }
      const json& f = t["function"];
      pipeline::Tool tool;
      TROIKA_RETURN_IF_ERROR(read_string(f, "name", tool.name));
      if (tool.name.empty()) return invalid_argument(where + ".function.name: required");
      TROIKA_RETURN_IF_ERROR(read_string(f, "description", tool.description));
      if (f.contains("parameters") && f["parameters"].is_object()) {
        tool.parameters = f["parameters"].dump();
      }
      g.tools.push_back(std::move(tool));
    }
  }
  if (b.contains("tool_choice") && !b["tool_choice"].is_null()) {
    const json& c = b["tool_choice"];
    if (c.is_string()) {
      g.tool_choice = c.get<std::string>();
      if (g.tool_choice != "auto" && g.tool_choice != "none" && g.tool_choice != "required") {
        return invalid_argument("tool_choice: \"auto\", \"none\", \"required\" or a function");
      }
    } else if (c.is_object() && c.contains("function") && c["function"].is_object() &&
               c["function"].contains("name") && c["function"]["name"].is_string()) {
      g.tool_choice = c["function"]["name"].get<std::string>();
    } else {
      return invalid_argument("tool_choice: \"auto\", \"none\", \"required\" or a function");
    }
  }
  TROIKA_RETURN_IF_ERROR(read_bool(b, "parallel_tool_calls", g.parallel_tool_calls));
  return Status::Ok();
}

Status read_response_format(const json& b, GenSpec& g) {
  if (!b.contains("response_format") || b["response_format"].is_null()) return Status::Ok();
  const json& rf = b["response_format"];
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string()) {
    return invalid_argument("response_format: must be an object with a type");
  }
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return Status::Ok();
  if (type == "json_object") {
    g.schema = "{\"type\":\"object\"}";
    return Status::Ok();
  }
  if (type != "json_schema") {
    return invalid_argument("response_format.type: text, json_object or json_schema");
  }
  if (!rf.contains("json_schema") || !rf["json_schema"].is_object()) {
    return invalid_argument("response_format.json_schema: must be an object with a schema");
  }
  const json& js = rf["json_schema"];
  if (!js.contains("schema"))
    return invalid_argument("response_format.json_schema.schema: required");
  const json& s = js["schema"];
  if (!s.is_object() && !s.is_boolean()) {
    return invalid_argument("response_format.json_schema.schema: must be a JSON Schema object");
  }
  g.schema = s.dump();
  return Status::Ok();
}

Result<GenSpec> read_spec(const json& b, bool chat, const ApiOptions& o) {
  GenSpec g;
  g.chat = chat;
  TROIKA_RETURN_IF_ERROR(read_string(b, "model", g.model));
  if (chat) {
    TROIKA_ASSIGN_OR_RETURN(g.messages, read_messages(b));
  } else {
    if (!b.contains("prompt")) return invalid_argument("prompt: required");
    const json& p = b["prompt"];
    if (p.is_string()) {
      g.prompts.push_back(p.get<std::string>());
    } else if (p.is_array() && !p.empty() && p[0].is_string()) {
      for (const auto& x : p) {
        if (!x.is_string()) return invalid_argument("prompt: a string or an array of strings");
        g.prompts.push_back(x.get<std::string>());
      }
    } else {
      return invalid_argument(
          "prompt: a string or an array of strings (token arrays are not served)");
    }
    bool echo = false;
    TROIKA_RETURN_IF_ERROR(read_bool(b, "echo", echo));
    if (echo) return invalid_argument("echo: not served");
  }
  // OpenAI's defaults: temperature 1, top_p 1, nothing else filtering.
  engine::SamplingParams& s = g.sampling;
  s.temperature = 1;
  s.top_p = 1;
  s.top_k = 0;
  s.min_p = 0;
  TROIKA_RETURN_IF_ERROR(read_float(b, "temperature", s.temperature, 0, 2));
  TROIKA_RETURN_IF_ERROR(read_float(b, "top_p", s.top_p, 0, 1));
  if (s.top_p <= 0) return invalid_argument("top_p: must be in (0, 1]");
  TROIKA_RETURN_IF_ERROR(read_int(b, "top_k", s.top_k, 0, 1 << 20));
  TROIKA_RETURN_IF_ERROR(read_float(b, "min_p", s.min_p, 0, 1));
  TROIKA_RETURN_IF_ERROR(read_float(b, "presence_penalty", s.presence_penalty, -2, 2));
  TROIKA_RETURN_IF_ERROR(read_float(b, "frequency_penalty", s.frequency_penalty, -2, 2));
  TROIKA_RETURN_IF_ERROR(read_float(b, "repeat_penalty", s.repeat_penalty, 0, 10));
  if (b.contains("seed") && !b["seed"].is_null()) {
    if (!b["seed"].is_number_integer()) return invalid_argument("seed: must be an integer");
    s.seed = static_cast<uint32_t>(b["seed"].get<int64_t>());
  } else {
    s.seed = std::random_device{}();
  }
  g.max_tokens = o.default_max_tokens;
  TROIKA_RETURN_IF_ERROR(read_int(b, "max_tokens", g.max_tokens, 1, o.max_tokens_cap));
  TROIKA_RETURN_IF_ERROR(read_int(b, "max_completion_tokens", g.max_tokens, 1, o.max_tokens_cap));
  TROIKA_RETURN_IF_ERROR(read_int(b, "n", g.n, 1, o.n_cap));
  TROIKA_RETURN_IF_ERROR(read_stop(b, g.stop));
  if (chat) {
    TROIKA_RETURN_IF_ERROR(read_bool(b, "logprobs", g.logprobs));
    TROIKA_RETURN_IF_ERROR(read_int(b, "top_logprobs", g.top_logprobs, 0, 20));
    if (g.top_logprobs > 0 && !g.logprobs) {
      return invalid_argument("top_logprobs: needs \"logprobs\": true");
    }
    TROIKA_RETURN_IF_ERROR(read_tools(b, g));
    TROIKA_RETURN_IF_ERROR(read_response_format(b, g));
  } else if (b.contains("logprobs") && !b["logprobs"].is_null()) {
    TROIKA_RETURN_IF_ERROR(read_int(b, "logprobs", g.top_logprobs, 0, 5));
    g.logprobs = true;
  }
  TROIKA_RETURN_IF_ERROR(read_bool(b, "stream", g.stream));
  if (b.contains("stream_options") && b["stream_options"].is_object()) {
    TROIKA_RETURN_IF_ERROR(read_bool(b["stream_options"], "include_usage", g.include_usage));
  }
  TROIKA_RETURN_IF_ERROR(read_bool(b, "reproducible", g.reproducible));
  TROIKA_RETURN_IF_ERROR(read_bool(b, "ignore_eos", g.ignore_eos));
  if (g.ignore_eos && !g.schema.empty()) {
    return invalid_argument("ignore_eos: not with a response_format (the value must end)");
  }
  if (b.contains("logit_bias") && b["logit_bias"].is_object() && !b["logit_bias"].empty()) {
    return invalid_argument("logit_bias: not served");
  }
  if (!g.tools.empty() && g.tool_choice != "none") {
    if (!g.schema.empty()) return invalid_argument("give tools or response_format, not both");
    if (g.n > 1) return invalid_argument("n: must be 1 with tools");
  }
  return g;
}

std::string finish_name(engine::FinishReason f) {
  return f == engine::FinishReason::kLength ? "length" : "stop";
}

json bytes_of(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

// One answer of either endpoint, as the response assembles it.
struct Choice {
  std::string text;
  std::string finish;
  std::vector<engine::ToolCall> tool_calls;
  std::vector<schedule::TokenInfo> logprobs;
};

struct Outcome {
  std::vector<Choice> choices;
  int32_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

class GenCall : public Api::Call {
 public:
  GenCall(Api::Impl& api, const Target& target, GenSpec spec, Slot slot)
      : api_(api), target_(target), spec_(std::move(spec)), slot_(std::move(slot)) {
    id_ = new_id(spec_.chat ? "chatcmpl-" : "cmpl-");
    created_ = unix_now();
    if (spec_.model.empty()) spec_.model = target_.role;
  }

  // Checks what can fail before anything is sent: the schema compiles and binds to the
  // vocabulary; the prompts tokenize.
  Status check() {
    if (!spec_.schema.empty()) {
      auto compiled = constrain::Schema::compile(spec_.schema);
      if (!compiled.ok()) {
        return Status(compiled.status().code(), "response_format: " + compiled.status().message());
      }
      schema_ = *compiled;
    }
    if (!spec_.tools.empty() && spec_.tool_choice == "none") spec_.tools.clear();
    schedule::Scheduler* s = target_.client->scheduler();
    if (!s) {
      if (spec_.top_logprobs > 0)
        return invalid_argument("top_logprobs: not served by remote roles");
      if (!spec_.chat) return invalid_argument("/v1/completions: not served by remote roles");
      return Status::Ok();
    }
    if (schema_) {
      TROIKA_ASSIGN_OR_RETURN(index_, constrain::TokenIndex::shared(s->shared_model()));
      TROIKA_ASSIGN_OR_RETURN(auto probe, constrain::json_constraint(schema_, index_));
      (void)probe;
    }
    for (const auto& p : spec_.prompts) {
      TROIKA_ASSIGN_OR_RETURN(auto ids, s->model().tokenize(p, true, false));
      prompt_ids_.push_back(std::move(ids));
    }
    return Status::Ok();
  }

  bool streams() const override { return spec_.stream; }

  Reply run(const CallContext& ctx) override {
    if (spec_.stream && !ctx.write)
      return Api::error_reply(invalid_argument("stream: not served here"));
    const pipeline::Control control = control_of(ctx, api_.options);
    cancel_ = control.cancel;
    Result<Outcome> out = invalid_argument("");
    if (!spec_.tools.empty()) {
      out = run_tools(control);
    } else if (target_.client->scheduler()) {
      out = run_local(control, ctx);
    } else {
      out = run_remote(control);
    }
    if (!out.ok()) {
      if (spec_.stream && started_) {
        // Headers went out with 200: the error is the last event. The reply's status (with an
        // empty body) is what the metrics record.
        Reply e = Api::error_reply(out.status());
        send(ctx, json{{"error", json::parse(e.body)["error"]}});
        if (!gone_) ctx.write("data: [DONE]\n\n");
        e.body.clear();
        return e;
      }
      return Api::error_reply(out.status());
    }
    api_.metrics.tokens(target_.model_id, out->prompt_tokens, out->completion_tokens);
    if (spec_.stream) {
      finish_stream(ctx, *out);
      return {};
    }
    Reply r;
    r.body = dump(response(*out));
    return r;
  }

 private:
  Result<Outcome> run_tools(const pipeline::Control& control) {
    pipeline::ScopedControl scope(control);
    pipeline::ToolsRequest tr;
    tr.messages = spec_.messages;
    tr.tools = spec_.tools;
    tr.tool_choice = spec_.tool_choice;
    tr.parallel = spec_.parallel_tool_calls;
    tr.max_steps = 1;
    tr.sampling.max_tokens = spec_.max_tokens;
    tr.sampling.temperature = spec_.sampling.temperature;
    tr.sampling.top_p = spec_.sampling.top_p;
    tr.sampling.seed = spec_.sampling.seed;
    TROIKA_ASSIGN_OR_RETURN(pipeline::ToolsResult r, pipeline::tools(*target_.client, tr));
    Outcome o;
    Choice c;
    c.text = r.content;
    c.tool_calls = r.tool_calls;
    c.finish = r.tool_calls.empty() ? "stop" : "tool_calls";
    o.choices.push_back(std::move(c));
    o.prompt_tokens = r.usage.prompt_tokens;
    o.completion_tokens = r.usage.completion_tokens;
    o.cached_tokens = r.usage.cached_tokens;
    return o;
  }

  Result<Outcome> run_remote(const pipeline::Control& control) {
    host::ChatRequest q;
    q.messages = spec_.messages;
    q.max_tokens = spec_.max_tokens;
    q.temperature = spec_.sampling.temperature;
    q.top_p = spec_.sampling.top_p;
    q.seed = spec_.sampling.seed;
    q.stop = spec_.stop;
    q.n = spec_.n;
    q.deadline = control.deadline;
    q.json_schema = spec_.schema;
    q.logprobs = spec_.logprobs;
    TROIKA_ASSIGN_OR_RETURN(host::ChatResult r, target_.client->chat(q));
    Outcome o;
    for (auto& c : r.choices) {
      if (schema_) {
        // The endpoint enforces schemas as it can: what it returns is checked here.
        auto errors = schema_->validate(c.text);
        if (!errors.ok() || !errors->empty()) {
          return bad_output("the remote role's answer is not valid against the schema: " +
                            (errors.ok() ? errors->front().message : errors.status().message()));
        }
      }
      o.choices.push_back({c.text, c.finish_reason, c.tool_calls, {}});
    }
    o.prompt_tokens = r.prompt_tokens;
    o.completion_tokens = r.completion_tokens;
    return o;
  }

  // One scheduler request per prompt (chat: one), each with n samples.
  Result<Outcome> run_local(const pipeline::Control& control, const CallContext& ctx) {
    schedule::Scheduler& sched = *target_.client->scheduler();
    const size_t n_prompts = spec_.chat ? 1 : prompt_ids_.size();
    struct Pending {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<std::pair<int32_t, std::string>> pieces;  // (choice index, text)
    };
    auto pending = std::make_shared<Pending>();
    std::vector<schedule::Handle<schedule::Completion>> handles;
    for (size_t p = 0; p < n_prompts; ++p) {
      schedule::Request q;
      if (spec_.chat) {
        q.messages = spec_.messages;
      } else {
        q.prompt = prompt_ids_[p];
      }
      q.sampling = spec_.sampling;
      q.max_tokens = spec_.max_tokens;
      q.stop = spec_.stop;
      q.n = spec_.n;
      q.logprobs = spec_.logprobs;
      q.top_logprobs = spec_.top_logprobs;
      q.deadline = control.deadline;
      q.reproducible = control.reproducible || spec_.reproducible;
      q.ignore_eos = spec_.ignore_eos;
      if (schema_) {
        TROIKA_ASSIGN_OR_RETURN(q.constraint, constrain::json_constraint(schema_, index_));
      }
      if (spec_.stream) {
        const int32_t base = static_cast<int32_t>(p) * spec_.n;
        q.on_text = [pending, base](const schedule::StreamEvent& e) {
          std::lock_guard<std::mutex> lock(pending->mu);
          pending->pieces.emplace_back(base + e.index, std::string(e.text));
          pending->cv.notify_one();
        };
      }
      handles.push_back(sched.submit(std::move(q)));
    }
    auto cancel_all = [&] {
      for (auto& h : handles) h.cancel();
    };
    if (spec_.stream) {
      start_stream(ctx);
      for (size_t p = 0; p < handles.size(); ++p) {
        for (;;) {
          std::vector<std::pair<int32_t, std::string>> got;
          {
            std::unique_lock<std::mutex> lock(pending->mu);
            pending->cv.wait_for(lock, std::chrono::milliseconds(20),
                                 [&] { return !pending->pieces.empty(); });
            got.swap(pending->pieces);
          }
          for (auto& [i, text] : got) {
            sent_[i] += text;
            if (!send(ctx, chunk(i, {{"content", text}}, nullptr))) cancel_all();
          }
          if ((cancel_ && cancel_->load())) cancel_all();
          if (got.empty() && handles[p].ready()) break;
        }
      }
    }
    Outcome o;
    for (auto& h : handles) {
      TROIKA_ASSIGN_OR_RETURN(schedule::Completion c, h.get(cancel_.get()));
      o.prompt_tokens += c.n_prompt;
      o.cached_tokens += c.n_prompt_cached;
      for (auto& s : c.samples) {
        o.completion_tokens += static_cast<int32_t>(s.tokens.size());
        o.choices.push_back({std::move(s.text), finish_name(s.finish), {}, std::move(s.logprobs)});
      }
    }
    return o;
  }

  std::string token_text(engine::Token t) const {
    const engine::Token one[1] = {t};
    return target_.client->scheduler()->model().detokenize(one, true);
  }

  json chat_logprobs(const Choice& c) const {
    json content = json::array();
    for (const auto& t : c.logprobs) {
      const std::string tok = token_text(t.token);
      json top = json::array();
      for (const auto& alt : t.top) {
        const std::string a = token_text(alt.token);
        top.push_back({{"token", a}, {"logprob", alt.logprob}, {"bytes", bytes_of(a)}});
      }
      content.push_back({{"token", tok},
                         {"logprob", t.logprob},
                         {"bytes", bytes_of(tok)},
                         {"top_logprobs", top}});
    }
    return {{"content", content}};
  }

  json completion_logprobs(const Choice& c) const {
    json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
    size_t off = 0;
    for (const auto& t : c.logprobs) {
      const std::string tok = token_text(t.token);
      tokens.push_back(tok);
      lps.push_back(t.logprob);
      json top = json::object();
      for (const auto& alt : t.top) top[token_text(alt.token)] = alt.logprob;
      tops.push_back(top);
      offs.push_back(off);
      off += tok.size();
    }
    return {
        {"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
  }

  static json tool_calls_json(const std::vector<engine::ToolCall>& calls) {
    json a = json::array();
    for (size_t i = 0; i < calls.size(); ++i) {
      a.push_back({{"index", i},
                   {"id", calls[i].id.empty() ? "call_" + std::to_string(i) : calls[i].id},
                   {"type", "function"},
                   {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}});
    }
    return a;
  }

  json usage(const Outcome& o) const {
    return {{"prompt_tokens", o.prompt_tokens},
            {"completion_tokens", o.completion_tokens},
            {"total_tokens", o.prompt_tokens + o.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", o.cached_tokens}}}};
  }

  json response(const Outcome& o) const {
    json choices = json::array();
    for (size_t i = 0; i < o.choices.size(); ++i) {
      const Choice& c = o.choices[i];
      json ch = {{"index", i}, {"finish_reason", c.finish}};
      const bool with_lp = spec_.logprobs && target_.client->scheduler() && !c.logprobs.empty();
      if (spec_.chat) {
        json msg = {{"role", "assistant"}, {"content", c.text}};
        if (!c.tool_calls.empty()) {
          msg["tool_calls"] = tool_calls_json(c.tool_calls);
          if (c.text.empty()) msg["content"] = nullptr;
        }
        ch["message"] = msg;
        ch["logprobs"] = with_lp ? chat_logprobs(c) : json(nullptr);
      } else {
        ch["text"] = c.text;
        ch["logprobs"] = with_lp ? completion_logprobs(c) : json(nullptr);
      }
      choices.push_back(std::move(ch));
    }
    return {{"id", id_},
            {"object", spec_.chat ? "chat.completion" : "text_completion"},
            {"created", created_},
            {"model", spec_.model},
            {"system_fingerprint", "troika"},
            {"choices", choices},
            {"usage", usage(o)}};
  }

  // ---- streaming ----

  json chunk(int32_t index, json delta, json finish) const {
    json ch = {{"index", index}, {"finish_reason", finish}};
    if (spec_.chat) {
      ch["delta"] = std::move(delta);
      ch["logprobs"] = nullptr;
    } else {
      ch["text"] = delta.value("content", std::string());
    }
    return {{"id", id_},
            {"object", spec_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", spec_.model},
            {"system_fingerprint", "troika"},
            {"choices", json::array({ch})}};
  }

  bool send(const CallContext& ctx, const json& event) {
    if (gone_) return false;
    started_ = true;
    if (!ctx.write("data: " + dump(event) + "\n\n")) gone_ = true;
    return !gone_;
  }

  void start_stream(const CallContext& ctx) {
    if (!spec_.chat) return;
    const int32_t total = static_cast<int32_t>(spec_.chat ? spec_.n : prompt_ids_.size() * spec_.n);
    for (int32_t i = 0; i < total; ++i)
      send(ctx, chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr));
  }

  void finish_stream(const CallContext& ctx, const Outcome& o) {
    if (!started_) start_stream(ctx);
    for (size_t i = 0; i < o.choices.size(); ++i) {
      const Choice& c = o.choices[i];
      const int32_t idx = static_cast<int32_t>(i);
      // What was not streamed yet (remote roles, tool answers, a tail the stream held back).
      const std::string& sent = sent_[idx];
      if (c.text.size() > sent.size() && c.text.compare(0, sent.size(), sent) == 0) {
        send(ctx, chunk(idx, {{"content", c.text.substr(sent.size())}}, nullptr));
      }
      if (!c.tool_calls.empty())
        send(ctx, chunk(idx, {{"tool_calls", tool_calls_json(c.tool_calls)}}, nullptr));
      send(ctx, chunk(idx, json::object(), c.finish));
    }
    if (spec_.include_usage) {
      json u = chunk(0, json::object(), nullptr);
      u["choices"] = json::array();
      u["usage"] = usage(o);
      send(ctx, u);
    }
    if (!gone_) ctx.write("data: [DONE]\n\n");
  }

  Api::Impl& api_;
  Target target_;
  GenSpec spec_;
  Slot slot_;
  std::string id_;
  int64_t created_ = 0;
  std::shared_ptr<const constrain::Schema> schema_;
  std::shared_ptr<const constrain::TokenIndex> index_;
  std::vector<std::vector<engine::Token>> prompt_ids_;
  std::shared_ptr<const std::atomic<bool>> cancel_;
  std::map<int32_t, std::string> sent_;
  bool started_ = false, gone_ = false;
};

Result<std::unique_ptr<Api::Call>> gen_call(Api::Impl& api, const Target& target, const json& body,
                                            Slot slot, bool chat) {
  TROIKA_ASSIGN_OR_RETURN(GenSpec spec, read_spec(body, chat, api.options));
  auto call = std::make_unique<GenCall>(api, target, std::move(spec), std::move(slot));
  TROIKA_RETURN_IF_ERROR(call->check());
  return std::unique_ptr<Api::Call>(std::move(call));
}

}  // namespace

Result<std::unique_ptr<Api::Call>> chat_call(Api::Impl& api, const Target& target, const json& body,
                                             Slot slot) {
  return gen_call(api, target, body, std::move(slot), true);
}

Result<std::unique_ptr<Api::Call>> completion_call(Api::Impl& api, const Target& target,
                                                   const json& body, Slot slot) {
  return gen_call(api, target, body, std::move(slot), false);
}

}  // namespace troika::server::detail
