// A role behind an OpenAI-compatible endpoint (vLLM, llama-server, another troika).
#include <cpp-httplib/httplib.h>
#include <chrono>
#include <nlohmann/json.hpp>

#include "troika/host.h"

namespace troika::host {

namespace {

using json = nlohmann::json;

class RemoteClient : public RoleClient {
 public:
  RemoteClient(std::string origin, std::string prefix, std::string url, std::string model,
               std::string api_key, double timeout_s)
      : origin_(std::move(origin)),
        prefix_(std::move(prefix)),
        url_(std::move(url)),
        model_(std::move(model)),
        api_key_(std::move(api_key)),
        timeout_s_(timeout_s) {}

  bool is_remote() const override { return true; }
  std::string describe() const override { return model_ + " at " + url_; }

  Result<ChatResult> chat(const ChatRequest& r) override {
    json body = {{"model", model_},
                 {"max_tokens", r.max_tokens},
                 {"temperature", std::max(0.0f, r.temperature)},
                 {"top_p", r.top_p},
                 {"seed", r.seed},
                 {"n", r.n}};
    body["messages"] = json::array();
    for (const auto& m : r.messages) {
      json msg = {{"role", m.role}, {"content", m.content}};
      for (const auto& c : m.tool_calls) {
        msg["tool_calls"].push_back({{"id", c.id},
                                     {"type", "function"},
                                     {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      if (!m.tool_call_id.empty()) msg["tool_call_id"] = m.tool_call_id;
      body["messages"].push_back(std::move(msg));
    }
    if (!r.stop.empty()) body["stop"] = r.stop;
    if (!r.json_schema.empty()) {
      json schema = json::parse(r.json_schema, nullptr, false);
      if (schema.is_discarded()) return invalid_argument("json_schema is not JSON");
      body["response_format"] = {
          {"type", "json_schema"},
          {"json_schema", {{"name", "output"}, {"strict", true}, {"schema", schema}}}};
    }
    if (r.logprobs) body["logprobs"] = true;
    for (const auto& t : r.tools) {
      json params = json::parse(t.parameters.empty() ? "{}" : t.parameters, nullptr, false);
      if (params.is_discarded())
        return invalid_argument("tool " + t.name + ": parameters are not JSON");
      body["tools"].push_back(
          {{"type", "function"},
           {"function",
            {{"name", t.name}, {"description", t.description}, {"parameters", params}}}});
    }
    if (r.tool_choice == "auto" || r.tool_choice == "none" || r.tool_choice == "required") {
      body["tool_choice"] = r.tool_choice;
    } else if (!r.tool_choice.empty()) {  // one named tool
      body["tool_choice"] = {{"type", "function"}, {"function", {{"name", r.tool_choice}}}};
    }
    double timeout = timeout_s_;
    if (r.deadline) {
      const double left =
          std::chrono::duration<double>(*r.deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0)
        return Status(Code::kDeadlineExceeded, "deadline passed before the request to " + url_);
      timeout = std::min(timeout, left);
    }
    httplib::Client cli(origin_);
    cli.set_connection_timeout(
        std::chrono::milliseconds(static_cast<int64_t>(std::min(timeout, 10.0) * 1000)));
    cli.set_read_timeout(std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
    httplib::Headers headers;
    if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
    const auto t0 = std::chrono::steady_clock::now();
    auto res = cli.Post(prefix_ + "/chat/completions", headers, body.dump(), "application/json");
    if (!res) {
      return unavailable("cannot reach " + url_ + " (" + httplib::to_string(res.error()) +
                         "); check the URL and that the server is running");
    }
    TROIKA_RETURN_IF_ERROR(http_status(res->status, res->body));
    json j = json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.contains("choices") || !j["choices"].is_array()) {
      return unavailable(url_ + " answered with something that is not a chat completion: " +
                         res->body.substr(0, 200));
    }
    ChatResult out;
    for (const auto& c : j["choices"]) {
      ChatChoice choice;
      if (c.contains("message") && c["message"].is_object() && c["message"].contains("content") &&
          c["message"]["content"].is_string())
        choice.text = c["message"]["content"].get<std::string>();
      if (c.contains("finish_reason") && c["finish_reason"].is_string())
        choice.finish_reason = c["finish_reason"].get<std::string>();
      read_tool_calls(c, choice);
      read_logprobs(c, choice);
      out.choices.push_back(std::move(choice));
    }
    if (j.contains("usage") && j["usage"].is_object()) {
      const json& u = j["usage"];
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer())
        out.prompt_tokens = u["prompt_tokens"].get<int32_t>();
      if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
        out.completion_tokens = u["completion_tokens"].get<int32_t>();
    }
    out.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

 private:
  static void read_tool_calls(const json& c, ChatChoice& choice) {
    if (!c.contains("message") || !c["message"].is_object()) return;
    const json& m = c["message"];
    if (!m.contains("tool_calls") || !m["tool_calls"].is_array()) return;
    for (const json& t : m["tool_calls"]) {
      if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) continue;
      const json& f = t["function"];
      engine::ToolCall call;
      if (t.contains("id") && t["id"].is_string()) call.id = t["id"].get<std::string>();
      if (f.contains("name") && f["name"].is_string()) call.name = f["name"].get<std::string>();
      if (f.contains("arguments"))
        call.arguments =
            f["arguments"].is_string() ? f["arguments"].get<std::string>() : f["arguments"].dump();
      choice.tool_calls.push_back(std::move(call));
    }
  }
  static void read_logprobs(const json& c, ChatChoice& choice) {
    if (!c.contains("logprobs") || !c["logprobs"].is_object()) return;
    const json& l = c["logprobs"];
    if (!l.contains("content") || !l["content"].is_array()) return;
    for (const json& t : l["content"]) {
      if (!t.is_object() || !t.contains("logprob") || !t["logprob"].is_number()) return;
      choice.logprob += t["logprob"].get<double>();
      ++choice.n_tokens;
    }
    choice.has_logprob = true;
  }

  // An HTTP status as a Status, with the server's own message.
  Status http_status(int status, const std::string& body) const {
    if (status >= 200 && status < 300) return Status::Ok();
    std::string said = body.substr(0, 300);
    json j = json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.contains("error")) {
      const json& e = j["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string()) said = e["message"];
      if (e.is_string()) said = e.get<std::string>();
    }
    const std::string m = url_ + " answered HTTP " + std::to_string(status) + ": " + said;
    if (status == 401 || status == 403)
      return invalid_argument(m + " (check the API key variable)");
    if (status == 404) return not_found(m + " (is '" + model_ + "' the name the endpoint serves?)");
    if (status == 429 || status >= 500) return unavailable(m);
    return invalid_argument(m);
  }

  std::string origin_, prefix_, url_, model_, api_key_;
  double timeout_s_;
};

}  // namespace

Result<std::unique_ptr<RoleClient>> remote_client(const std::string& base_url,
                                                  const std::string& model,
                                                  const std::string& api_key, double timeout_s) {
  const std::string scheme = "http://";
  if (base_url.starts_with("https://")) {
    return invalid_argument(
        "remote " + base_url + ": https is not supported by this build (the " +
        "HTTP client has no TLS); use http:// on a trusted network or a local proxy");
  }
  if (!base_url.starts_with(scheme) || base_url.size() <= scheme.size()) {
    return invalid_argument("remote '" + base_url +
                            "' is not an http:// URL such as http://host:8000/v1");
  }
  const size_t slash = base_url.find('/', scheme.size());
  const std::string origin = slash == std::string::npos ? base_url : base_url.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : base_url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return std::unique_ptr<RoleClient>(
      new RemoteClient(origin, prefix, base_url, model, api_key, timeout_s));
}

}  // namespace troika::host
