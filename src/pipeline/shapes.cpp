// JSON in and out of the pipelines: one shape each, shared by the CLI, the server and jobs.
#include "pipeline/shapes.h"

#include "troika/rag.h"

#include <set>

namespace troika::pipeline {

namespace detail {

namespace {

// Reads the fields of one JSON object, strictly.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  Status object() const {
    return j_.is_object() ? Status::Ok() : invalid_argument(where_ + ": must be a JSON object");
  }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& at(const char* key) {
    seen_.insert(key);
    return j_[key];
  }
  std::string path(const char* key) const { return where_.empty() ? key : where_ + "." + key; }

  Status str(const char* key, std::string& out) {
    seen_.insert(key);
    if (!has(key)) return Status::Ok();
    if (!j_[key].is_string()) return invalid_argument(path(key) + ": must be a string");
    out = j_[key].get<std::string>();
    return Status::Ok();
  }
  template <typename T>
  Status num(const char* key, T& out) {
    seen_.insert(key);
    if (!has(key)) return Status::Ok();
    if constexpr (std::is_integral_v<T>) {
      if (!j_[key].is_number_integer()) return invalid_argument(path(key) + ": must be an integer");
    } else if (!j_[key].is_number()) {
      return invalid_argument(path(key) + ": must be a number");
    }
    out = j_[key].get<T>();
    return Status::Ok();
  }
  Status flag(const char* key, bool& out) {
    seen_.insert(key);
    if (!has(key)) return Status::Ok();
    if (!j_[key].is_boolean()) return invalid_argument(path(key) + ": must be true or false");
    out = j_[key].get<bool>();
    return Status::Ok();
  }
  Status strings(const char* key, std::vector<std::string>& out) {
    seen_.insert(key);
    if (!has(key)) return Status::Ok();
    if (!j_[key].is_array()) return invalid_argument(path(key) + ": must be an array of strings");
    for (const auto& v : j_[key]) {
      if (!v.is_string()) return invalid_argument(path(key) + ": must be an array of strings");
      out.push_back(v.get<std::string>());
    }
    return Status::Ok();
  }
  // A JSON Schema given as a JSON value (object or boolean) or as a string holding one.
  Status schema(const char* key, std::string& out) {
    seen_.insert(key);
    if (!has(key)) return Status::Ok();
    const json& v = j_[key];
    if (v.is_object() || v.is_boolean()) {
      out = v.dump();
    } else if (v.is_string()) {
      out = v.get<std::string>();
    } else {
      return invalid_argument(path(key) + ": must be a JSON Schema (an object)");
    }
    return Status::Ok();
  }
  Status sampling(Sampling& s) {
    TROIKA_RETURN_IF_ERROR(num("max_tokens", s.max_tokens));
    TROIKA_RETURN_IF_ERROR(num("temperature", s.temperature));
    TROIKA_RETURN_IF_ERROR(num("top_p", s.top_p));
    TROIKA_RETURN_IF_ERROR(num("seed", s.seed));
    if (s.max_tokens < 1) return invalid_argument(path("max_tokens") + ": at least 1");
    if (!(s.top_p > 0 && s.top_p <= 1)) return invalid_argument(path("top_p") + ": in (0, 1]");
    return Status::Ok();
  }
  Status prompt(Prompt& p) {
    TROIKA_RETURN_IF_ERROR(str("prompt", p.prompt));
    TROIKA_RETURN_IF_ERROR(str("system", p.system));
    seen_.insert("examples");
    if (has("examples")) {
      if (!j_["examples"].is_array())
        return invalid_argument(path("examples") + ": must be an array");
      for (size_t i = 0; i < j_["examples"].size(); ++i) {
        const json& e = j_["examples"][i];
        const std::string at = path("examples") + "[" + std::to_string(i) + "]";
        if (!e.is_object() || !e.contains("input") || !e["input"].is_string() ||
            !e.contains("output")) {
          return invalid_argument(at + ": must be {\"input\": text, \"output\": text or JSON}");
        }
        p.examples.emplace_back(e["input"].get<std::string>(), e["output"].is_string()
                                                                   ? e["output"].get<std::string>()
                                                                   : e["output"].dump());
      }
    }
    seen_.insert("messages");
    if (has("messages")) {
      TROIKA_ASSIGN_OR_RETURN(p.messages, messages_from(j_["messages"], path("messages")));
    }
    return Status::Ok();
  }
  // Unknown fields are errors: a misspelt option must not be silently ignored.
  Status done() const {
    for (const auto& [k, v] : j_.items()) {
      if (!seen_.count(k)) return invalid_argument(path(k.c_str()) + ": unknown field");
    }
    return Status::Ok();
  }

 private:
  const json& j_;
  std::string where_;
  std::set<std::string> seen_;
};

// j[key] when it is a string, else "" (nlohmann's value() throws on a type mismatch).
std::string string_at(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

Result<json> parse(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument("the request is not JSON");
  if (!j.is_object()) return invalid_argument("the request must be a JSON object");
  return j;
}

std::string content_text(const json& c, const std::string& where, Status& st) {
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {  // [{"type":"text","text":...}]
    std::string out;
    for (const auto& part : c) {
      if (part.is_object() && string_at(part, "type") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        out += part["text"].get<std::string>();
      } else {
        st = invalid_argument(where + ": only text content parts are supported");
      }
    }
    return out;
  }
  st = invalid_argument(where + ": content must be a string");
  return "";
}

Result<std::vector<Tool>> tools_from(const json& j, const std::string& where) {
  if (!j.is_array()) return invalid_argument(where + ": must be an array of function tools");
  std::vector<Tool> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const json* f = &j[i];
    if (f->is_object() && f->contains("function")) {
      if (f->value("type", "function") != "function")
        return invalid_argument(at + ": only \"type\": \"function\" tools are supported");
      f = &(*f)["function"];
    }
    if (!f->is_object() || !f->contains("name") || !(*f)["name"].is_string()) {
      return invalid_argument(at + ": must be {\"type\":\"function\",\"function\":{\"name\",...}}");
    }
    Tool t;
    t.name = (*f)["name"].get<std::string>();
    if (f->contains("description") && (*f)["description"].is_string())
      t.description = (*f)["description"].get<std::string>();
    if (f->contains("parameters")) t.parameters = (*f)["parameters"].dump();
    out.push_back(std::move(t));
  }
  return out;
}

json to_json(const Tool& t) {
  return {{"type", "function"},
          {"function",
           {{"name", t.name},
            {"description", t.description},
            {"parameters", json::parse(t.parameters)}}}};
}

}  // namespace

Result<std::vector<engine::ChatMessage>> messages_from(const json& j, const std::string& where) {
  if (!j.is_array()) return invalid_argument(where + ": must be an array of messages");
  std::vector<engine::ChatMessage> out;
  static const std::set<std::string> kRoles = {"system", "user", "assistant", "tool"};
  for (size_t i = 0; i < j.size(); ++i) {
    const json& m = j[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return invalid_argument(at + ": must be {\"role\": ..., \"content\": ...}");
    }
    engine::ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (!kRoles.count(msg.role)) {
      return invalid_argument(at + ".role: '" + msg.role +
                              "' is not system, user, assistant or tool");
    }
    Status st;
    if (m.contains("content")) msg.content = content_text(m["content"], at + ".content", st);
    TROIKA_RETURN_IF_ERROR(st);
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
      for (const auto& c : m["tool_calls"]) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
          return invalid_argument(at + ".tool_calls: each must be {\"id\",\"function\":{...}}");
        engine::ToolCall call;
        call.id = string_at(c, "id");
        call.name = string_at(c["function"], "name");
        const json& a =
            c["function"].contains("arguments") ? c["function"]["arguments"] : json::object();
        call.arguments = a.is_string() ? a.get<std::string>() : a.dump();
        msg.tool_calls.push_back(std::move(call));
      }
    }
    if (m.contains("tool_call_id") && m["tool_call_id"].is_string())
      msg.tool_call_id = m["tool_call_id"].get<std::string>();
    out.push_back(std::move(msg));
  }
  return out;
}

json to_json(const std::vector<engine::ToolCall>& calls) {
  json out = json::array();
  for (const auto& c : calls) {
    out.push_back({{"id", c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return out;
}

json to_json(const std::vector<engine::ChatMessage>& messages) {
  json out = json::array();
  for (const auto& m : messages) {
    json j = {{"role", m.role}, {"content", m.content}};
    if (!m.tool_calls.empty()) j["tool_calls"] = to_json(m.tool_calls);
    if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
    out.push_back(std::move(j));
  }
  return out;
}

json to_json(const Usage& u) {
  return {{"backend", u.backend},
          {"calls", u.calls},
          {"prompt_tokens", u.prompt_tokens},
          {"cached_tokens", u.cached_tokens},
          {"completion_tokens", u.completion_tokens},
          {"ms", u.ms},
          {"notes", u.notes}};
}

json to_json(const Graph& g) {
  json nodes = json::array(), edges = json::array();
  for (const Node& n : g.nodes) {
    json j = {{"id", n.id}, {"label", n.label}, {"type", n.type}, {"properties", n.properties}};
    if (!n.aliases.empty()) j["aliases"] = n.aliases;
    nodes.push_back(std::move(j));
  }
  for (const Edge& e : g.edges) {
    edges.push_back({{"source", e.source},
                     {"target", e.target},
                     {"relation", e.relation},
                     {"properties", e.properties}});
  }
  return {{"nodes", nodes}, {"edges", edges}};
}

}  // namespace detail

namespace {

using detail::Fields;
using detail::json;
using detail::to_json;

Result<json> run_json(host::RoleClient& role, const json& j) {
  JsonRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.prompt(r.input));
  TROIKA_RETURN_IF_ERROR(f.schema("schema", r.schema));
  TROIKA_RETURN_IF_ERROR(f.sampling(r.sampling));
  TROIKA_RETURN_IF_ERROR(f.num("max_attempts", r.max_attempts));
  TROIKA_RETURN_IF_ERROR(f.flag("constrained", r.constrained));
  TROIKA_RETURN_IF_ERROR(f.done());
  TROIKA_ASSIGN_OR_RETURN(auto res, pipeline::json(role, r));
  return json{{"value", json::parse(res.json)},
              {"attempts", res.attempts},
              {"repaired", res.repaired},
              {"fixes", res.fixes},
              {"usage", to_json(res.usage)}};
}

Result<json> run_tools(host::RoleClient& role, const json& j, const ToolExecutor& execute) {
  ToolsRequest r;
  Fields f(j, "");
  if (!f.has("messages")) return invalid_argument("messages: required");
  TROIKA_ASSIGN_OR_RETURN(r.messages, detail::messages_from(f.at("messages"), "messages"));
  if (!f.has("tools")) return invalid_argument("tools: required");
  TROIKA_ASSIGN_OR_RETURN(r.tools, detail::tools_from(f.at("tools"), "tools"));
  if (f.has("tool_choice")) {
    const json& c = f.at("tool_choice");
    if (c.is_string()) {
      r.tool_choice = c.get<std::string>();
    } else if (c.is_object() && c.contains("function") && c["function"].is_object() &&
               c["function"].contains("name") && c["function"]["name"].is_string()) {
      r.tool_choice = c["function"]["name"].get<std::string>();
    } else {
      return invalid_argument(
          "tool_choice: must be \"auto\", \"none\", \"required\" or "
          "{\"type\":\"function\",\"function\":{\"name\":...}}");
    }
  }
  TROIKA_RETURN_IF_ERROR(f.flag("parallel_tool_calls", r.parallel));
  TROIKA_RETURN_IF_ERROR(f.str("format", r.format));
  TROIKA_RETURN_IF_ERROR(f.num("max_steps", r.max_steps));
  TROIKA_RETURN_IF_ERROR(f.sampling(r.sampling));
  TROIKA_RETURN_IF_ERROR(f.done());
  TROIKA_ASSIGN_OR_RETURN(auto res, tools(role, r, execute));
  return json{{"messages", to_json(res.messages)},
              {"tool_calls", to_json(res.tool_calls)},
              {"content", res.content},
              {"finish", res.finish},
              {"steps", res.steps},
              {"format", res.format},
              {"usage", to_json(res.usage)}};
}

Result<json> run_classify(host::RoleClient& role, const json& j) {
  ClassifyRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.str("text", r.text));
  if (f.has("labels")) {
    const json& l = f.at("labels");
    if (!l.is_array()) return invalid_argument("labels: must be an array");
    for (size_t i = 0; i < l.size(); ++i) {
      if (l[i].is_string()) {
        r.labels.push_back({l[i].get<std::string>(), ""});
      } else if (l[i].is_object() && l[i].contains("name") && l[i]["name"].is_string() &&
                 (!l[i].contains("description") || l[i]["description"].is_string())) {
        r.labels.push_back(
            {l[i]["name"].get<std::string>(), detail::string_at(l[i], "description")});
      } else {
        return invalid_argument("labels[" + std::to_string(i) +
                                "]: must be a name or {\"name\", \"description\"}");
      }
    }
  }
  TROIKA_RETURN_IF_ERROR(f.str("instruction", r.instruction));
  TROIKA_RETURN_IF_ERROR(f.str("normalise", r.normalise));
  TROIKA_RETURN_IF_ERROR(f.flag("multi_label", r.multi_label));
  TROIKA_RETURN_IF_ERROR(f.num("threshold", r.threshold));
  TROIKA_RETURN_IF_ERROR(f.flag("calibrate", r.calibrate));
  TROIKA_RETURN_IF_ERROR(f.done());
  if (r.text.empty()) return invalid_argument("text: required");
  TROIKA_ASSIGN_OR_RETURN(auto res, classify(role, r));
  json scores = json::array();
  for (const auto& s : res.scores) {
    scores.push_back({{"label", s.label},
                      {"p", s.p},
                      {"p_raw", s.p_raw},
                      {"p_mean", s.p_mean},
                      {"logprob", s.logprob},
                      {"mean_logprob", s.mean_logprob},
                      {"n_tokens", s.n_tokens},
                      {"selected", s.selected}});
  }
  return json{{"label", res.label},
              {"labels", res.labels},
              {"scores", scores},
              {"method", res.method},
              {"usage", to_json(res.usage)}};
}

Result<json> run_rerank(host::RoleClient& role, const json& j) {
  RerankRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.str("query", r.query));
  if (f.has("documents")) {
    const json& d = f.at("documents");
    if (!d.is_array()) return invalid_argument("documents: must be an array");
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i].is_string()) {
        r.documents.push_back(d[i].get<std::string>());
      } else if (d[i].is_object() && d[i].contains("text") && d[i]["text"].is_string()) {
        r.documents.push_back(d[i]["text"].get<std::string>());
      } else {
        return invalid_argument("documents[" + std::to_string(i) +
                                "]: must be a string or {\"text\": ...}");
      }
    }
  }
  TROIKA_RETURN_IF_ERROR(f.num("top_k", r.top_k));
  TROIKA_RETURN_IF_ERROR(f.str("instruction", r.instruction));
  TROIKA_RETURN_IF_ERROR(f.flag("listwise", r.listwise));
  TROIKA_RETURN_IF_ERROR(f.num("max_document_tokens", r.max_document_tokens));
  TROIKA_RETURN_IF_ERROR(f.done());
  TROIKA_ASSIGN_OR_RETURN(auto res, rerank(role, r));
  json results = json::array();
  for (const auto& h : res.results)
    results.push_back({{"index", h.index}, {"score", h.score}, {"logit", h.logit}});
  return json{{"results", results}, {"method", res.method}, {"usage", to_json(res.usage)}};
}

Result<json> run_vote(host::RoleClient& role, const json& j) {
  VoteRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.prompt(r.input));
  TROIKA_RETURN_IF_ERROR(f.num("n", r.n));
  TROIKA_RETURN_IF_ERROR(f.sampling(r.sampling));
  if (f.has("extract")) {
    const json& x = f.at("extract");
    if (x.is_string()) {
      r.extract.kind = x.get<std::string>();
    } else {
      Fields e(x, "extract");
      TROIKA_RETURN_IF_ERROR(e.object());
      TROIKA_RETURN_IF_ERROR(e.str("kind", r.extract.kind));
      TROIKA_RETURN_IF_ERROR(e.str("field", r.extract.field));
      TROIKA_RETURN_IF_ERROR(e.str("pattern", r.extract.pattern));
      TROIKA_RETURN_IF_ERROR(e.done());
    }
  }
  if (f.has("normalise")) {
    Fields n(f.at("normalise"), "normalise");
    TROIKA_RETURN_IF_ERROR(n.object());
    TROIKA_RETURN_IF_ERROR(n.flag("lowercase", r.normalise.lowercase));
    TROIKA_RETURN_IF_ERROR(n.flag("whitespace", r.normalise.whitespace));
    TROIKA_RETURN_IF_ERROR(n.flag("numbers", r.normalise.numbers));
    TROIKA_RETURN_IF_ERROR(n.done());
  }
  TROIKA_RETURN_IF_ERROR(f.schema("schema", r.schema));
  TROIKA_RETURN_IF_ERROR(f.flag("return_samples", r.return_samples));
  TROIKA_RETURN_IF_ERROR(f.done());
  TROIKA_ASSIGN_OR_RETURN(auto res, vote(role, r));
  json tally = json::array(), samples = json::array();
  for (const auto& t : res.tally)
    tally.push_back({{"answer", t.answer}, {"count", t.count}, {"mean_logprob", t.mean_logprob}});
  for (const auto& s : res.samples) {
    json js = {{"text", s.text}, {"answer", s.answer}};
    if (s.has_logprob) js["mean_logprob"] = s.mean_logprob;
    samples.push_back(std::move(js));
  }
  json out = {{"answer", res.answer},
              {"confidence", res.confidence},
              {"n_answered", res.n_answered},
              {"tally", tally}};
  if (r.return_samples) out["samples"] = samples;
  out["usage"] = to_json(res.usage);
  return out;
}

Result<json> run_graph(host::RoleClient& role, const json& j) {
  GraphRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.str("text", r.text));
  TROIKA_RETURN_IF_ERROR(f.strings("node_types", r.node_types));
  TROIKA_RETURN_IF_ERROR(f.strings("relation_types", r.relation_types));
  TROIKA_RETURN_IF_ERROR(f.str("mode", r.mode));
  TROIKA_RETURN_IF_ERROR(f.num("chunk_tokens", r.chunk_tokens));
  TROIKA_RETURN_IF_ERROR(f.num("overlap_tokens", r.overlap_tokens));
  TROIKA_RETURN_IF_ERROR(f.num("max_nodes", r.max_nodes));
  TROIKA_RETURN_IF_ERROR(f.num("max_edges", r.max_edges));
  TROIKA_RETURN_IF_ERROR(f.num("max_name_chars", r.max_name_chars));
  TROIKA_RETURN_IF_ERROR(f.sampling(r.sampling));
  TROIKA_RETURN_IF_ERROR(f.done());
  TROIKA_ASSIGN_OR_RETURN(auto res, graph(role, r));
  return json{{"graph", to_json(res.graph)},
              {"chunks", res.chunks},
              {"dropped_edges", res.dropped_edges},
              {"usage", to_json(res.usage)}};
}

Result<json> run_rag_parsed(host::RoleClient& role, const retrieval::Store& store, const json& j,
                            host::RoleClient* judge) {
  RagRequest r;
  Fields f(j, "");
  TROIKA_RETURN_IF_ERROR(f.object());
  TROIKA_RETURN_IF_ERROR(f.str("question", r.question));
  TROIKA_RETURN_IF_ERROR(f.num("k", r.k));
  TROIKA_RETURN_IF_ERROR(f.str("mode", r.mode));
  TROIKA_RETURN_IF_ERROR(f.num("source_tokens", r.source_tokens));
  TROIKA_RETURN_IF_ERROR(f.flag("judge", r.judge));
  TROIKA_RETURN_IF_ERROR(f.sampling(r.sampling));
  TROIKA_RETURN_IF_ERROR(f.done());
  if (r.question.empty()) return invalid_argument("question: required");
  TROIKA_ASSIGN_OR_RETURN(auto res, rag(role, store, r, judge));
  json citations = json::array();
  for (const auto& c : res.citations) {
    json cj = {{"source", c.source},
               {"quote", c.quote},
               {"verbatim", c.verbatim},
               {"supported", c.supported}};
    if (c.support >= 0) cj["support"] = c.support;
    if (!c.problem.empty()) cj["problem"] = c.problem;
    citations.push_back(std::move(cj));
  }
  json sources = json::array();
  for (const auto& s : res.sources) {
    sources.push_back({{"id", s.id},
                       {"source", s.hit.source},
                       {"title", s.hit.title},
                       {"chunk_id", s.hit.chunk_id},
                       {"start", s.hit.start},
                       {"end", s.hit.end},
                       {"score", s.hit.score},
                       {"text", s.hit.text}});
  }
  return json{{"answer", res.answer},   {"answered", res.answered},
              {"citations", citations}, {"unsupported", res.unsupported},
              {"sources", sources},     {"usage", to_json(res.usage)}};
}

Result<std::string> run_parsed(std::string_view pipeline, host::RoleClient& role,
                               const nlohmann::json& j, const ToolExecutor& execute) {
  Result<nlohmann::json> out = invalid_argument("");
  if (pipeline == "json") {
    out = run_json(role, j);
  } else if (pipeline == "tools") {
    out = run_tools(role, j, execute);
  } else if (pipeline == "classify") {
    out = run_classify(role, j);
  } else if (pipeline == "rerank") {
    out = run_rerank(role, j);
  } else if (pipeline == "vote") {
    out = run_vote(role, j);
  } else if (pipeline == "graph") {
    out = run_graph(role, j);
  } else {
    return not_found("no pipeline '" + std::string(pipeline) +
                     "' (json, tools, classify, rerank, vote, graph)");
  }
  if (!out.ok()) return out.status();
  return out->dump();
}

}  // namespace

const std::vector<std::string>& names() {
  static const std::vector<std::string> kNames = {"json",   "tools", "classify",
                                                  "rerank", "vote",  "graph"};
  return kNames;
}

std::string default_role(std::string_view pipeline) {
  if (pipeline == "json" || pipeline == "tools") return "fast";
  if (pipeline == "graph") return "graph";
  return "tool";
}

Result<std::string> run(std::string_view pipeline, host::RoleClient& role,
                        std::string_view request_json, const ToolExecutor& execute,
                        const Control& control) {
  TROIKA_ASSIGN_OR_RETURN(nlohmann::json j, detail::parse(request_json));
  Control c = control;
  if (j.is_object() && j.contains("reproducible")) {
    if (!j["reproducible"].is_boolean()) {
      return invalid_argument("reproducible: must be true or false");
    }
    c.reproducible = c.reproducible || j["reproducible"].get<bool>();
    j.erase("reproducible");
  }
  ScopedControl scope(std::move(c));
  try {
    return run_parsed(pipeline, role, j, execute);
  } catch (const nlohmann::json::exception& e) {
    // The shape checks above are meant to leave none; a request that still trips the JSON
    // library is named as bad input, not a crash.
    return invalid_argument(std::string("the request has a field of the wrong type (") + e.what() +
                            ")");
  }
}

Result<std::string> run_rag(host::RoleClient& role, const retrieval::Store& store,
                            std::string_view request_json, host::RoleClient* judge,
                            const Control& control) {
  TROIKA_ASSIGN_OR_RETURN(nlohmann::json j, detail::parse(request_json));
  Control c = control;
  if (j.is_object() && j.contains("reproducible")) {
    if (!j["reproducible"].is_boolean()) {
      return invalid_argument("reproducible: must be true or false");
    }
    c.reproducible = c.reproducible || j["reproducible"].get<bool>();
    j.erase("reproducible");
  }
  ScopedControl scope(std::move(c));
  try {
    TROIKA_ASSIGN_OR_RETURN(auto out, run_rag_parsed(role, store, j, judge));
    return out.dump();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("the request has a field of the wrong type (") + e.what() +
                            ")");
  }
}

}  // namespace troika::pipeline
