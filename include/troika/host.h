// The host: brings every role up on one machine and hands each a client with one interface,
// whether its model runs here or behind a remote OpenAI-compatible endpoint.
//
// Contract: Host::up() is the readiness check that `troika up`, `serve` and `run` perform. It
// resolves each role's model (a path, a catalog variant or family found by discovery), checks the
// whole configuration against the memory plan BEFORE loading anything (resource_exhausted, with
// the plan's best alternatives, when it does not fit), loads each distinct model once (roles may
// share one), starts one scheduler per model, binds the roles, and checks every remote role with
// a request to its endpoint. Pipelines talk to a role only through RoleClient, so they run
// unchanged against a local model or a remote one.
//
// Errors: invalid_argument (a config that breaks the schema: unknown role or key, a role both
// local and remote), not_found (a model file, catalog id or API-key variable that does not
// exist), resource_exhausted (over budget), unavailable (a remote endpoint that cannot be
// reached or answers with an error), and the engine's load errors. Every message names the role.
// Thread safety: a Host is immutable after up(); RoleClient::chat() may be called from any number
// of threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troika/catalog.h"
#include "troika/engine.h"
#include "troika/plan.h"
#include "troika/status.h"

namespace troika::schedule {
class Scheduler;
}

namespace troika::host {

// [roles.embed] names the knowledge base's embedding model (a local BERT-class .gguf). The host
// does not load it: index, search, ask and serve --db do (docs/rag.md).
inline constexpr const char* kEmbedRole = "embed";

// One [roles.NAME] table of troika.toml (docs/host.md).
struct RoleConfig {
  std::string role;
  std::string model;     // a .gguf path, a catalog variant id, or a catalog family id
  std::string type;      // with a catalog id: the GGUF type to look for ("Q4_K_M")
  std::string share;     // another role whose loaded model this one uses
  int32_t ctx = 0;       // 0 = the catalog role's default
  int32_t parallel = 0;  // 0 = the catalog role's default
  int32_t gpu_layers = -1;
  std::string remote;        // OpenAI-compatible base URL ("http://gpu-box:8000/v1")
  std::string remote_model;  // the model name the endpoint serves
  std::string api_key_env;   // environment variable holding the bearer token ("" = none)
  double timeout_s = 120;    // per remote request
};

struct HostConfig {
  std::vector<RoleConfig> roles;
  uint64_t vram_bytes = 0;  // 0 = the catalog's default
  uint64_t ram_bytes = 0;   // 0 = not checked on GPU builds; CPU builds check available memory
  std::string kv_type;      // "" = the catalog's default
  bool gpu = true;          // false: plan for system memory only (a CPU build does anyway)
  std::vector<std::string> model_dirs;  // where catalog ids are looked for (before the defaults)
  std::string origin;                   // the file it came from, for messages
};

// Errors: invalid_argument naming the key and line; not_found for a missing file.
Result<HostConfig> parse_config(std::string_view toml, std::string_view origin);
Result<HostConfig> load_config(const std::string& path);
// The catalog's roles bound to the GGUF models discovery found (a role whose backbone and
// alternatives are not on disk is left out, with a note naming what to fetch or convert).
HostConfig default_config(const catalog::Catalog& catalog, const std::vector<catalog::Found>& found,
                          std::vector<std::string>* notes);

struct ChatRequest {
  std::vector<engine::ChatMessage> messages;
  int32_t max_tokens = 128;
  float temperature = 0;  // <= 0: greedy
  float top_p = 1;
  uint32_t seed = 0;
  std::vector<std::string> stop;
  int32_t n = 1;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // The answer must be one JSON value valid against this JSON Schema text. Local roles decode
  // under the schema's token mask (always valid unless cut off by max_tokens); remote ones send
  // OpenAI's response_format {"type":"json_schema"} and the endpoint enforces it as it can, so
  // callers validate what comes back.
  std::string json_schema;
  bool logprobs = false;  // fill ChatChoice::logprob (remote: if the endpoint returns them)
  // Remote roles only: OpenAI function tools, passed through (local roles answer
  // invalid_argument; the tools pipeline renders the family's own format instead).
  std::vector<engine::ChatTool> tools;
  std::string tool_choice;  // "" (endpoint default), "auto", "none", "required", or a tool name
  // Local roles: turning it true cancels the generation (chat() then answers cancelled); remote
  // roles ignore it (the HTTP call runs to its timeout).
  std::shared_ptr<const std::atomic<bool>> cancel;
  // Local roles: the scheduler's reproducible mode (schedule::Request::reproducible); the same
  // request and seed give the same text whatever else runs. Remote roles ignore it.
  bool reproducible = false;
};

struct ChatChoice {
  std::string text;
  std::string finish_reason;                 // "stop" | "length" | "tool_calls"
  std::vector<engine::ToolCall> tool_calls;  // remote endpoints that call tools natively
  bool has_logprob = false;                  // logprob and n_tokens are known
  double logprob = 0;                        // sum over the sampled tokens
  int32_t n_tokens = 0;
};

struct ChatResult {
  std::vector<ChatChoice> choices;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens served from a prefix cache (local roles)
  double ms = 0;
};

// One role as pipelines see it. Thread-safe.
class RoleClient {
 public:
  virtual ~RoleClient() = default;
  // Errors: invalid_argument (bad request), resource_exhausted, deadline_exceeded, cancelled;
  // remote: unavailable (unreachable, 5xx, 429), not_found (unknown model), invalid_argument (4xx).
  virtual Result<ChatResult> chat(const ChatRequest& request) = 0;
  virtual bool is_remote() const = 0;
  virtual std::string describe() const = 0;  // the model file, or "MODEL at URL"
  // The local scheduler (scores, constraints, streaming); nullptr for remote roles.
  virtual schedule::Scheduler* scheduler() { return nullptr; }
};

// A client over a scheduler of this process (what Host binds local roles to); `describe` names
// the model for messages.
std::unique_ptr<RoleClient> local_client(std::shared_ptr<schedule::Scheduler> scheduler,
                                         std::string describe);

// A client for any OpenAI-compatible /v1/chat/completions endpoint. `base_url` is the part
// before /chat/completions ("http://127.0.0.1:8080/v1"). Errors: invalid_argument (not an
// http:// URL; https needs a TLS build of the HTTP library, which Troika does not ship).
Result<std::unique_ptr<RoleClient>> remote_client(const std::string& base_url,
                                                  const std::string& model,
                                                  const std::string& api_key, double timeout_s);

struct RoleStatus {
  std::string role;
  bool remote = false;
  std::string model;        // file path or "MODEL at URL"
  std::string shared_with;  // the role whose model this one uses ("" = its own)
  std::string family, gguf_type;
  int32_t n_ctx = 0, n_seq = 0;
  uint64_t planned_bytes = 0;  // the model's planned memory (on the owner's row)
  double load_ms = 0;
  std::string smoke;  // the smoke generation's text (one line), when run
  double smoke_ms = 0;
};

struct UpOptions {
  bool smoke = true;  // one short generation per role
  int32_t smoke_tokens = 12;
  int32_t n_threads = 0;                                // 0 = all
  std::function<void(const std::string&)> on_progress;  // "loading ... for brain", may be empty
};

class Host {
 public:
  static Result<std::unique_ptr<Host>> up(const HostConfig& config, const catalog::Catalog& catalog,
                                          const UpOptions& options = {});
  ~Host();

  RoleClient* role(std::string_view name) const;  // nullptr when the role is not configured
  const std::vector<RoleStatus>& roles() const;   // in brain, rag, fast, tool, graph order
  const plan::Plan& plan() const;                 // the plan of the local models

  struct Impl;

 private:
  explicit Host(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::host
