// Private to src/server: the API's state and the pieces its endpoints share.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "troika/server.h"

namespace troika::engine {
class Embedder;
}

namespace troika::server {

namespace detail {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A loaded model's (or a remote endpoint's) bounded queue of admitted requests.
struct Queue {
  std::string model;
  int32_t cap = 0;
  std::atomic<int32_t> admitted{0};
};

// One admitted request's place in a queue, released when it is destroyed.
class Slot {
 public:
  Slot() = default;
  explicit Slot(Queue* q) : q_(q) {}
  Slot(Slot&& o) noexcept : q_(o.q_) { o.q_ = nullptr; }
  Slot& operator=(Slot&& o) noexcept {
    release();
    q_ = o.q_;
    o.q_ = nullptr;
    return *this;
  }
  ~Slot() { release(); }

 private:
  void release() {
    if (q_) q_->admitted.fetch_sub(1);
    q_ = nullptr;
  }
  Queue* q_ = nullptr;
};

// A role as the API serves it.
struct Target {
  std::string role;
  std::string model_id;  // the GGUF file's stem, or a remote role's model name
  host::RoleClient* client = nullptr;
  Queue* queue = nullptr;
};

// The JSON dump the API sends: invalid UTF-8 (half a character in a token) is replaced, not
// thrown.
inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t unix_now();
std::string new_id(const char* prefix);  // "chatcmpl-..." unique within the process

// Reads optional JSON fields type-checked; errors name the field.
Status read_int(const json& body, const char* key, int32_t& out, int32_t lo, int32_t hi);
Status read_float(const json& body, const char* key, float& out, float lo, float hi);
Status read_bool(const json& body, const char* key, bool& out);
Status read_string(const json& body, const char* key, std::string& out);

// The control a call's model work runs under (deadline from the context or the timeout).
pipeline::Control control_of(const CallContext& context, const ApiOptions& options);

}  // namespace detail

struct Api::Impl {
  Impl(host::Host& h, ApiOptions o);

  host::Host& host;
  ApiOptions options;
  detail::Metrics metrics;
  std::map<std::string, std::unique_ptr<detail::Queue>> queues;  // by owning role
  std::vector<detail::Target> targets;                           // one per role
  std::mutex embed_mu;
  std::map<const void*, std::unique_ptr<engine::Embedder>> embedders;  // by scheduler

  // The role a request's `model` names (a role or a model id); `fallback` roles in order when
  // it names none. Errors: not_found naming what is served.
  Result<const detail::Target*> resolve(const std::string& model,
                                        const std::vector<std::string>& fallback) const;
  // Admits a request to the target's queue. Errors: resource_exhausted (full).
  Result<detail::Slot> admit(const detail::Target& target);
  Result<engine::Embedder*> embedder(const detail::Target& target);
};

namespace detail {

// /v1/chat/completions and /v1/completions: the body checked, the call ready to run.
Result<std::unique_ptr<Api::Call>> chat_call(Api::Impl& api, const Target& target, const json& body,
                                             Slot slot);
Result<std::unique_ptr<Api::Call>> completion_call(Api::Impl& api, const Target& target,
                                                   const json& body, Slot slot);

}  // namespace detail

}  // namespace troika::server
