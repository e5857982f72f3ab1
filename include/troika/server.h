// The OpenAI-compatible API over a Host's roles, and the HTTP server that serves it.
//
//   GET  /health                   ready roles (no API key needed)
//   GET  /metrics                  Prometheus text: queue depth, tokens/s, latency, KV use
//   GET  /v1/models                the roles and the models behind them
//   POST /v1/chat/completions      messages, stream (SSE), tools, response_format, n, logprobs
//   POST /v1/completions           prompt text, stream, n, logprobs
//   POST /v1/embeddings            mean-pooled (decoder) or the encoder's own pooling
//   POST /v1/rerank                {query, documents, top_n} -> relevance per document
//   POST /v1/pipelines/NAME        json, tools, classify, rerank, vote, graph (docs/pipelines/)
//   POST /v1/pipelines/rag         cited answers from ApiOptions::knowledge_base
//
// `model` names a role ("fast") or a model id (the GGUF file's name without .gguf, or a remote
// role's model); GET /v1/models lists both. docs/server.md has every field.
//
// Contract: Api is transport-free: handle() takes a method, a path and a JSON body and returns
// the status and JSON body the server sends; batch jobs call it the same way. Every request is
// checked before it runs (unknown route, bad JSON, unknown model, caps on max_tokens and n, a
// schema that does not compile) and admitted to its model's bounded queue (full: 429 with
// Retry-After). A request with a JSON schema is decoded under the schema's token mask on local
// roles and validated on remote ones: the API never returns unconstrained output for it.
// Errors are OpenAI's error object {"error": {"message", "type", "code"}} with the HTTP status of
// the troika Code (docs/errors.md). Thread safety: handle() may be called from any number of
// threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "troika/host.h"
#include "troika/pipeline.h"
#include "troika/retrieval.h"
#include "troika/status.h"

namespace troika::server {

struct ApiOptions {
  int32_t max_tokens_cap = 4096;      // a larger max_tokens is refused (400)
  int32_t default_max_tokens = 1024;  // when the request names none
  int32_t n_cap = 16;                 // a larger n is refused (400)
  // Requests admitted per loaded model (running or waiting in its scheduler); one more is
  // answered 429 with Retry-After. Roles that share a model share its queue.
  int32_t queue_per_model = 64;
  double request_timeout_s = 600;  // then the request fails with 504 (deadline_exceeded)
  int32_t embedding_ctx = 2048;    // longest input of /v1/embeddings, in tokens
  // Runs the calls of /v1/pipelines/tools (empty: calls come back to the client to run).
  pipeline::ToolExecutor tool_executor;
  // The knowledge base /v1/pipelines/rag answers from (null: that route says how to give one).
  std::shared_ptr<const retrieval::Store> knowledge_base;
};

// What the server sends back for one request.
struct Reply {
  int status = 200;
  std::string body;  // JSON (or Prometheus text for /metrics)
  std::string content_type = "application/json";
  int retry_after_s = 0;  // with 429
};

// How one request runs.
struct CallContext {
  // Set true (e.g. when the client disconnects) to cancel the request's generation.
  std::shared_ptr<const std::atomic<bool>> cancel;
  // Overrides ApiOptions::request_timeout_s.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Runs generations in the scheduler's reproducible mode (same request and seed, same text).
  bool reproducible = false;
  // For "stream": true: receives each server-sent event ("data: {...}\n\n", then
  // "data: [DONE]\n\n"); returns false when the client has gone (the request is cancelled).
  // Without it a streaming request is refused.
  std::function<bool(std::string_view event)> write;
};

class Api {
 public:
  Api(host::Host& host, ApiOptions options = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // A request checked and admitted to its model's queue, ready to run once. Holding it holds
  // the queue slot.
  class Call {
   public:
    virtual ~Call() = default;
    // True when the request asked for "stream": true: run() then sends its events through
    // CallContext::write and returns the reply to use only if nothing was written yet.
    virtual bool streams() const = 0;
    virtual Reply run(const CallContext& context) = 0;
  };

  // Route, JSON, model, limits and queue admission. A request that fails them gets its error
  // reply instead of a Call.
  struct Prepared {
    std::unique_ptr<Call> call;
    Reply error;  // when call is null
  };
  Prepared prepare(std::string_view method, std::string_view path, std::string_view body);

  // prepare() then run().
  Reply handle(std::string_view method, std::string_view path, std::string_view body,
               const CallContext& context = {});

  // The OpenAI error reply for a status ("invalid_request_error", ...).
  static Reply error_reply(const Status& status);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";    // loopback unless told otherwise
  int port = 8080;                   // 0 = any free port (Server::port() says which)
  std::string api_key;               // "" = no key; else "Authorization: Bearer KEY" is required
  size_t max_body_bytes = 8u << 20;  // larger bodies are refused with 413
  int32_t threads = 0;               // HTTP workers; 0 = enough for every model's queue + 8
  ApiOptions api;
};

class Server {
 public:
  // Binds and starts serving on background threads. Errors: unavailable (the address cannot be
  // bound, naming it).
  static Result<std::unique_ptr<Server>> start(host::Host& host, ServerOptions options);
  ~Server();  // stops
  int port() const;
  void stop();  // stops accepting, cancels the requests in flight, joins
  void wait();  // blocks until stop()

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troika::server
