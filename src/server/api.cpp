// The API: routes, model resolution, queues, and the endpoints other than generation.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>

#include "server/api_impl.h"
#include "troika/rag.h"
#include "troika/schedule.h"

namespace troika::server {

namespace detail {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s%08llx%06llx", prefix,
                static_cast<unsigned long long>(salt & 0xffffffff),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffff));
  return buf;
}

Status read_int(const json& b, const char* key, int32_t& out, int32_t lo, int32_t hi) {
  if (!b.contains(key) || b[key].is_null()) return Status::Ok();
  if (!b[key].is_number_integer())
    return invalid_argument(std::string(key) + ": must be an integer");
  const int64_t v = b[key].get<int64_t>();
  if (v < lo || v > hi) {
    return invalid_argument(std::string(key) + ": " + std::to_string(v) + " is outside [" +
                            std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  out = static_cast<int32_t>(v);
  return Status::Ok();
}

Status read_float(const json& b, const char* key, float& out, float lo, float hi) {
  if (!b.contains(key) || b[key].is_null()) return Status::Ok();
  if (!b[key].is_number()) return invalid_argument(std::string(key) + ": must be a number");
  const double v = b[key].get<double>();
  if (!(v >= lo && v <= hi)) {
    return invalid_argument(std::string(key) + ": must be in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  }
  out = static_cast<float>(v);
  return Status::Ok();
}

Status read_bool(const json& b, const char* key, bool& out) {
  if (!b.contains(key) || b[key].is_null()) return Status::Ok();
  if (!b[key].is_boolean()) return invalid_argument(std::string(key) + ": must be true or false");
  out = b[key].get<bool>();
  return Status::Ok();
}

Status read_string(const json& b, const char* key, std::string& out) {
  if (!b.contains(key) || b[key].is_null()) return Status::Ok();
  if (!b[key].is_string()) return invalid_argument(std::string(key) + ": must be a string");
  out = b[key].get<std::string>();
  return Status::Ok();
}

pipeline::Control control_of(const CallContext& c, const ApiOptions& o) {
  pipeline::Control out;
  out.deadline = c.deadline
                     ? c.deadline
                     : std::optional(Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                                                        o.request_timeout_s * 1000)));
  out.cancel = c.cancel;
  out.reproducible = c.reproducible;
  return out;
}

namespace {

std::string model_id_of(const host::RoleStatus& r) {
  if (r.remote) {
    const size_t at = r.model.find(" at ");
    return at == std::string::npos ? r.model : r.model.substr(0, at);
  }
  std::string stem = std::filesystem::path(r.model).filename().string();
  if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0)
    stem.resize(stem.size() - 5);
  return stem;
}

// A Call that records its endpoint's latency and status in the metrics.
class Metered : public Api::Call {
 public:
  Metered(std::unique_ptr<Api::Call> inner, Metrics& m, std::string endpoint)
      : inner_(std::move(inner)), metrics_(m), endpoint_(std::move(endpoint)) {}
  bool streams() const override { return inner_->streams(); }
  Reply run(const CallContext& ctx) override {
    const auto t0 = Clock::now();
    Reply r = inner_->run(ctx);
    metrics_.request(endpoint_, r.status, std::chrono::duration<double>(Clock::now() - t0).count());
    inner_.reset();  // frees the queue slot
    return r;
  }

 private:
  std::unique_ptr<Api::Call> inner_;
  Metrics& metrics_;
  std::string endpoint_;
};

// A call whose work is a function of the context (the non-generative endpoints).
class FnCall : public Api::Call {
 public:
  FnCall(std::function<Reply(const CallContext&)> fn, Slot slot)
      : fn_(std::move(fn)), slot_(std::move(slot)) {}
  bool streams() const override { return false; }
  Reply run(const CallContext& ctx) override { return fn_(ctx); }

 private:
  std::function<Reply(const CallContext&)> fn_;
  Slot slot_;
};

Reply json_reply(const json& j) {
  Reply r;
  r.body = dump(j);
  return r;
}

// base64 of the little-endian float32 values (OpenAI's encoding_format "base64").
std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const size_t n = v.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b0 = p[i], b1 = i + 1 < n ? p[i + 1] : 0, b2 = i + 2 < n ? p[i + 2] : 0;
    const uint32_t x = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(x >> 18) & 63];
    out += kAlphabet[(x >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(x >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[x & 63] : '=';
  }
  return out;
}

}  // namespace

}  // namespace detail

using detail::json;

Api::Impl::Impl(host::Host& h, ApiOptions o) : host(h), options(std::move(o)) {
  for (const auto& r : host.roles()) {
    const std::string owner = r.shared_with.empty() ? r.role : r.shared_with;
    auto& q = queues[owner];
    if (!q) {
      q = std::make_unique<detail::Queue>();
      q->cap = options.queue_per_model;
    }
    detail::Target t;
    t.role = r.role;
    t.model_id = detail::model_id_of(r);
    t.client = host.role(r.role);
    t.queue = q.get();
    if (q->model.empty()) q->model = t.model_id;
    targets.push_back(std::move(t));
  }
}

Result<const detail::Target*> Api::Impl::resolve(const std::string& model,
                                                 const std::vector<std::string>& fallback) const {
  if (targets.empty()) return not_found("no role is configured");
  if (model.empty()) {
    for (const auto& f : fallback) {
      for (const auto& t : targets) {
        if (t.role == f) return &t;
      }
    }
    return &targets.front();
  }
  for (const auto& t : targets) {
    if (t.role == model) return &t;
  }
  for (const auto& t : targets) {
    if (t.model_id == model) return &t;
  }
  std::string names;
  for (const auto& t : targets) names += (names.empty() ? "" : ", ") + t.role;
  return not_found("model '" + model + "' is not served; give a role (" + names +
                   ") or a model id that GET /v1/models lists");
}

Result<detail::Slot> Api::Impl::admit(const detail::Target& t) {
  const int32_t now = t.queue->admitted.fetch_add(1) + 1;
  detail::Slot slot(t.queue);
  if (now > t.queue->cap) {
    return resource_exhausted("the queue of model '" + t.queue->model + "' is full (" +
                              std::to_string(t.queue->cap) +
                              " requests admitted); retry after a moment");
  }
  return slot;
}

Result<engine::Embedder*> Api::Impl::embedder(const detail::Target& t) {
  schedule::Scheduler* s = t.client->scheduler();
  if (!s) return unimplemented("embeddings of a remote role are not served; use its endpoint");
  std::lock_guard<std::mutex> lock(embed_mu);
  auto& e = embedders[s];
  if (!e) {
    engine::EmbedderOptions eo;
    eo.n_ctx = options.embedding_ctx;
    eo.n_threads = s->options().n_threads;
    TROIKA_ASSIGN_OR_RETURN(e, engine::Embedder::create(s->shared_model(), eo));
  }
  return e.get();
}

Api::Api(host::Host& host, ApiOptions options)
    : impl_(std::make_unique<Impl>(host, std::move(options))) {}
Api::~Api() = default;

Reply Api::error_reply(const Status& s) {
  Reply r;
  r.status = http_status(s.code());
  const char* type = "server_error";
  switch (r.status / 100) {
    case 4:
      type = "invalid_request_error";
      break;
    default:
      break;
  }
  if (r.status == 404) type = "not_found_error";
  if (r.status == 429) {
    type = "rate_limit_error";
    r.retry_after_s = 1;
  }
  if (r.status == 401) type = "authentication_error";
  r.body = detail::dump({{"error",
                          {{"message", s.message()},
                           {"type", type},
                           {"param", nullptr},
                           {"code", to_string(s.code())}}}});
  return r;
}

namespace {

using detail::Target;

Reply models_reply(Api::Impl& api) {
  json data = json::array();
  std::map<std::string, std::vector<std::string>> by_model;
  for (const auto& t : api.targets) by_model[t.model_id].push_back(t.role);
  const int64_t created = detail::unix_now();
  for (const auto& r : api.host.roles()) {
    data.push_back({{"id", r.role},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "troika"},
                    {"role", r.role},
                    {"model", detail::model_id_of(r)},
                    {"remote", r.remote},
                    {"family", r.family},
                    {"gguf_type", r.gguf_type},
                    {"n_ctx", r.n_ctx}});
  }
  for (const auto& [id, roles] : by_model) {
    // A model file named like a role ("brain.gguf") is listed once, as the role.
    if (api.host.role(id)) continue;
    data.push_back({{"id", id},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "troika"},
                    {"roles", roles}});
  }
  return detail::json_reply({{"object", "list"}, {"data", data}});
}

Reply metrics_reply(Api::Impl& api) {
  std::string out;
  api.metrics.write(out);
  out += "# HELP troika_queue_depth Requests admitted per model (running or waiting).\n";
  out += "# TYPE troika_queue_depth gauge\n";
  for (const auto& [owner, q] : api.queues) {
    out += "troika_queue_depth{model=\"" + q->model + "\"} " + std::to_string(q->admitted.load()) +
           "\n";
  }
  out += "# HELP troika_queue_capacity Requests a model admits before answering 429.\n";
  out += "# TYPE troika_queue_capacity gauge\n";
  for (const auto& [owner, q] : api.queues) {
    out += "troika_queue_capacity{model=\"" + q->model + "\"} " + std::to_string(q->cap) + "\n";
  }
  struct Row {
    std::string model;
    schedule::SchedulerStats s;
    int32_t n_ctx;
  };
  std::vector<Row> rows;
  std::vector<const schedule::Scheduler*> seen;
  for (const auto& t : api.targets) {
    schedule::Scheduler* s = t.client->scheduler();
    if (!s || std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
    seen.push_back(s);
    rows.push_back({t.model_id, s->stats(), s->options().n_ctx});
  }
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& r : rows) {
      out += std::string(name) + "{model=\"" + r.model + "\"} " + std::to_string(value(r)) + "\n";
    }
  };
  family("troika_kv_cells_total", "gauge", "KV cells of the model's context.",
         [](const Row& r) { return static_cast<int64_t>(r.n_ctx); });
  family("troika_kv_cells_reserved", "gauge", "KV cells promised to running requests.",
         [](const Row& r) { return static_cast<int64_t>(r.s.cells_reserved); });
  family("troika_kv_cells_cached", "gauge", "KV cells held by the prefix cache.",
         [](const Row& r) { return static_cast<int64_t>(r.s.cells_cached); });
  family("troika_sequences_running", "gauge", "Sequences decoding or prefilling.",
         [](const Row& r) { return static_cast<int64_t>(r.s.running); });
  family("troika_requests_waiting", "gauge", "Requests in the scheduler not yet admitted.",
         [](const Row& r) { return static_cast<int64_t>(r.s.waiting); });
  family("troika_tokens_decoded_total", "counter", "Sampled tokens decoded.",
         [](const Row& r) { return r.s.tokens_decoded; });
  family("troika_tokens_prefilled_total", "counter", "Prompt tokens run through the model.",
         [](const Row& r) { return r.s.tokens_prefilled; });
  family("troika_tokens_cached_total", "counter", "Prompt tokens served from shared prefixes.",
         [](const Row& r) { return r.s.tokens_cached; });
  Reply r;
  r.body = std::move(out);
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

Result<std::vector<std::string>> inputs_of(const json& b) {
  if (!b.contains("input")) return invalid_argument("input: required");
  const json& in = b["input"];
  std::vector<std::string> out;
  if (in.is_string()) {
    out.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty()) {
    for (const auto& x : in) {
      if (!x.is_string())
        return invalid_argument(
            "input: a string or an array of strings (token arrays are not served)");
      out.push_back(x.get<std::string>());
    }
  } else {
    return invalid_argument("input: a string or a non-empty array of strings");
  }
  if (out.size() > 2048) return invalid_argument("input: at most 2048 texts a request");
  return out;
}

Result<std::unique_ptr<Api::Call>> embeddings_call(Api::Impl& api, const Target& t, const json& b,
                                                   detail::Slot slot) {
  TROIKA_ASSIGN_OR_RETURN(std::vector<std::string> inputs, inputs_of(b));
  std::string format = "float", model = t.role;
  TROIKA_RETURN_IF_ERROR(detail::read_string(b, "encoding_format", format));
  TROIKA_RETURN_IF_ERROR(detail::read_string(b, "model", model));
  if (format != "float" && format != "base64") {
    return invalid_argument("encoding_format: \"float\" or \"base64\"");
  }
  if (b.contains("dimensions") && !b["dimensions"].is_null()) {
    return invalid_argument("dimensions: not served (the model's own size is returned)");
  }
  TROIKA_ASSIGN_OR_RETURN(engine::Embedder * e, api.embedder(t));
  auto fn = [&api, e, inputs = std::move(inputs), format, model,
             id = t.model_id](const CallContext&) {
    int64_t n_tokens = 0;
    auto vectors = e->embed(inputs, &n_tokens);
    if (!vectors.ok()) return Api::error_reply(vectors.status());
    json data = json::array();
    for (size_t i = 0; i < vectors->size(); ++i) {
      json item = {{"object", "embedding"}, {"index", i}};
      if (format == "base64") {
        item["embedding"] = detail::base64_floats((*vectors)[i]);
      } else {
        item["embedding"] = (*vectors)[i];
      }
      data.push_back(std::move(item));
    }
    api.metrics.tokens(id, n_tokens, 0);
    return detail::json_reply(
        {{"object", "list"},
         {"data", data},
         {"model", model},
         {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}});
  };
  return std::unique_ptr<Api::Call>(
      std::make_unique<detail::FnCall>(std::move(fn), std::move(slot)));
}

Result<std::unique_ptr<Api::Call>> rerank_call(Api::Impl& api, const Target& t, const json& b,
                                               detail::Slot slot) {
  pipeline::RerankRequest rr;
  TROIKA_RETURN_IF_ERROR(detail::read_string(b, "query", rr.query));
  if (rr.query.empty()) return invalid_argument("query: required");
  if (!b.contains("documents") || !b["documents"].is_array() || b["documents"].empty()) {
    return invalid_argument("documents: a non-empty array of strings (or {\"text\": ...} objects)");
  }
  for (const auto& d : b["documents"]) {
    if (d.is_string()) {
      rr.documents.push_back(d.get<std::string>());
    } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
      rr.documents.push_back(d["text"].get<std::string>());
    } else {
      return invalid_argument("documents: each a string or a {\"text\": ...} object");
    }
  }
  int32_t top_n = 0;
  bool return_documents = false;
  TROIKA_RETURN_IF_ERROR(detail::read_int(b, "top_n", top_n, 0, 1 << 20));
  TROIKA_RETURN_IF_ERROR(detail::read_bool(b, "return_documents", return_documents));
  rr.top_k = top_n;
  std::string model = t.role;
  TROIKA_RETURN_IF_ERROR(detail::read_string(b, "model", model));
  auto fn = [&api, client = t.client, id = t.model_id, rr = std::move(rr), return_documents,
             model](const CallContext& ctx) {
    pipeline::ScopedControl scope(detail::control_of(ctx, api.options));
    auto res = pipeline::rerank(*client, rr);
    if (!res.ok()) return Api::error_reply(res.status());
    json results = json::array();
    for (const auto& h : res->results) {
      json item = {{"index", h.index}, {"relevance_score", h.score}};
      if (return_documents) item["document"] = {{"text", rr.documents[h.index]}};
      results.push_back(std::move(item));
    }
    api.metrics.tokens(id, res->usage.prompt_tokens, res->usage.completion_tokens);
    return detail::json_reply(
        {{"object", "list"},
         {"model", model},
         {"results", results},
         {"usage",
          {{"prompt_tokens", res->usage.prompt_tokens},
           {"total_tokens", res->usage.prompt_tokens + res->usage.completion_tokens}}}});
  };
  return std::unique_ptr<Api::Call>(
      std::make_unique<detail::FnCall>(std::move(fn), std::move(slot)));
}

// A pipeline's JSON answer as the reply, its usage counted in the model's metrics.
Reply pipeline_reply(Api::Impl& api, const std::string& id, const Result<std::string>& out) {
  if (!out.ok()) return Api::error_reply(out.status());
  Reply r;
  r.body = *out;
  const json j = json::parse(*out, nullptr, false);
  if (j.is_object() && j.contains("usage") && j["usage"].is_object()) {
    api.metrics.tokens(id, j["usage"].value("prompt_tokens", 0),
                       j["usage"].value("completion_tokens", 0));
  }
  return r;
}

Result<std::unique_ptr<Api::Call>> pipeline_call(Api::Impl& api, const std::string& name,
                                                 const Target& t, json body, detail::Slot slot) {
  body.erase("model");
  auto fn = [&api, name, client = t.client, id = t.model_id,
             body = body.dump()](const CallContext& ctx) {
    auto out = pipeline::run(name, *client, body, api.options.tool_executor,
                             detail::control_of(ctx, api.options));
    return pipeline_reply(api, id, out);
  };
  return std::unique_ptr<Api::Call>(
      std::make_unique<detail::FnCall>(std::move(fn), std::move(slot)));
}

// /v1/pipelines/rag: the rag role answers from the knowledge base; the tool role judges.
Result<std::unique_ptr<Api::Call>> rag_call(Api::Impl& api, const Target& t, json body,
                                            detail::Slot slot) {
  if (!api.options.knowledge_base) {
    return not_found(
        "no knowledge base is served: start troika serve with --db kb.sqlite (built by troika "
        "index add)");
  }
  body.erase("model");
  host::RoleClient* judge = api.host.role("tool");
  auto fn = [&api, client = t.client, id = t.model_id, judge,
             body = body.dump()](const CallContext& ctx) {
    auto out = pipeline::run_rag(*client, *api.options.knowledge_base, body, judge,
                                 detail::control_of(ctx, api.options));
    return pipeline_reply(api, id, out);
  };
  return std::unique_ptr<Api::Call>(
      std::make_unique<detail::FnCall>(std::move(fn), std::move(slot)));
}

const std::vector<std::string> kPostRoutes = {"/v1/chat/completions", "/v1/completions",
                                              "/v1/embeddings", "/v1/rerank"};

}  // namespace

Api::Prepared Api::prepare(std::string_view method, std::string_view path_in,
                           std::string_view body) {
  Impl& api = *impl_;
  std::string path(path_in);
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  auto instant = [&](Reply r) {
    Prepared p;
    p.call =
        std::make_unique<detail::FnCall>([r](const CallContext&) { return r; }, detail::Slot());
    p.call = std::make_unique<detail::Metered>(std::move(p.call), api.metrics, path);
    return p;
  };
  const auto& pipelines = pipeline::names();
  const bool is_pipeline =
      path.rfind("/v1/pipelines/", 0) == 0 &&
      (path.substr(14) == "rag" ||
       std::find(pipelines.begin(), pipelines.end(), path.substr(14)) != pipelines.end());
  const bool is_post_route =
      is_pipeline || std::find(kPostRoutes.begin(), kPostRoutes.end(), path) != kPostRoutes.end();
  auto fail = [&](const Status& s) {
    Prepared p;
    p.error = error_reply(s);
    // Unknown paths share one label, so that a scan cannot grow the metrics without bound.
    const bool known =
        is_post_route || path == "/health" || path == "/v1/models" || path == "/metrics";
    api.metrics.request(known ? path : "other", p.error.status, 0);
    return p;
  };
  if (method == "GET") {
    if (path == "/health") {
      json roles = json::array();
      for (const auto& t : api.targets) roles.push_back(t.role);
      return instant(detail::json_reply({{"status", "ok"}, {"roles", roles}}));
    }
    if (path == "/v1/models") return instant(models_reply(api));
    if (path == "/metrics") return instant(metrics_reply(api));
    if (path.rfind("/v1/models/", 0) == 0) {
      auto t = api.resolve(path.substr(11), {});
      if (!t.ok()) return fail(t.status());
      return instant(detail::json_reply({{"id", path.substr(11)},
                                         {"object", "model"},
                                         {"owned_by", "troika"},
                                         {"role", (*t)->role}}));
    }
  }
  if (method != "POST" || !is_post_route) {
    if (is_post_route || path == "/health" || path == "/v1/models" || path == "/metrics") {
      Prepared p = fail(invalid_argument(std::string(method) + " is not allowed on " + path));
      p.error.status = 405;
      return p;
    }
    if (path.rfind("/v1/pipelines/", 0) == 0) {
      return fail(not_found("no pipeline '" + path.substr(14) +
                            "' (json, tools, classify, rerank, vote, graph, rag)"));
    }
    return fail(not_found("no route " + std::string(method) + " " + path +
                          " (docs/server.md lists the endpoints)"));
  }
  json b = json::parse(body, nullptr, false);
  if (b.is_discarded()) return fail(invalid_argument("the request body is not valid JSON"));
  if (!b.is_object()) return fail(invalid_argument("the request body must be a JSON object"));
  std::string model;
  if (Status s = detail::read_string(b, "model", model); !s.ok()) return fail(s);
  std::vector<std::string> fallback;
  std::string pipeline_name;
  if (is_pipeline) {
    pipeline_name = path.substr(14);
    if (pipeline_name == "rag") {
      fallback = {"rag", "brain"};
    } else {
      fallback = {pipeline::default_role(pipeline_name)};
    }
  } else if (path == "/v1/rerank") {
    fallback = {"tool"};
  } else if (path == "/v1/embeddings") {
    fallback = {"embed", "rag", "brain"};
  } else {
    fallback = {"brain", "fast"};
  }
  auto target = api.resolve(model, fallback);
  if (!target.ok()) return fail(target.status());
  auto slot = api.admit(**target);
  if (!slot.ok()) return fail(slot.status());
  Result<std::unique_ptr<Call>> call = internal_error("unrouted");
  try {
    if (path == "/v1/chat/completions") {
      call = detail::chat_call(api, **target, b, std::move(*slot));
    } else if (path == "/v1/completions") {
      call = detail::completion_call(api, **target, b, std::move(*slot));
    } else if (path == "/v1/embeddings") {
      call = embeddings_call(api, **target, b, std::move(*slot));
    } else if (path == "/v1/rerank") {
      call = rerank_call(api, **target, b, std::move(*slot));
    } else if (pipeline_name == "rag") {
      call = rag_call(api, **target, std::move(b), std::move(*slot));
    } else {
      call = pipeline_call(api, pipeline_name, **target, std::move(b), std::move(*slot));
    }
  } catch (const json::exception& e) {
    call = invalid_argument(std::string("a field has the wrong type (") + e.what() + ")");
  }
  if (!call.ok()) return fail(call.status());
  Prepared p;
  p.call = std::make_unique<detail::Metered>(std::move(*call), api.metrics, path);
  return p;
}

Reply Api::handle(std::string_view method, std::string_view path, std::string_view body,
                  const CallContext& context) {
  Prepared p = prepare(method, path, body);
  if (!p.call) return p.error;
  return p.call->run(context);
}

}  // namespace troika::server
