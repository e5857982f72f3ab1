// Private to src/engine: the llama.cpp handles behind the public engine types.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "llama.h"
#include "troika/engine.h"

struct common_chat_templates;

namespace troika::engine {

struct Model::Impl {
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  ModelInfo info;
  // Parsed lazily on the first render_chat(); guarded by chat_mu.
  mutable std::mutex chat_mu;
  mutable common_chat_templates* chat = nullptr;
  ~Impl();
};

struct Context::Impl {
  llama_context* ctx = nullptr;
  int32_t last_logits_row = -1;  // batch index of the last entry that asked for logits
  std::atomic<bool> abort{false};
  ~Impl();
};

// Initialises llama.cpp's backends once and routes its log through capture_log().
void ensure_backend();

// llama.cpp reports load failures only through its log; this keeps the last error lines of
// the calling thread so that a failed call can put them into its Status message.
class LogCapture {
 public:
  LogCapture();                // starts capturing on this thread
  ~LogCapture();               // stops
  std::string errors() const;  // "; "-joined error and warning lines seen meanwhile

 private:
  std::vector<std::string>* prev_;
  std::vector<std::string> lines_;
};

// The llama.cpp parameters for a context (shared by Context::create and measure_memory).
// REQUIRES: options already validated.
llama_context_params context_params(const ModelInfo& info, const ContextOptions& options);

// llama.cpp's file type for a name of file_types() ("q4_k_m", "f16", ...; any case). False when
// unknown.
bool ftype_by_name(std::string_view name, llama_ftype* out);

// Maps a non-zero llama_decode() return code to a Status.
Status decode_status(int32_t rc, int32_t n_tokens, int32_t n_ctx);

}  // namespace troika::engine
