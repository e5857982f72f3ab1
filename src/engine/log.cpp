#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/internal.h"

namespace troika::engine {

namespace {
thread_local std::vector<std::string>* t_capture = nullptr;

// TROIKA_LOG=debug|info|warn (default: errors only) mirrors llama.cpp's log to stderr.
ggml_log_level verbosity() {
  static const ggml_log_level level = [] {
    const char* v = std::getenv("TROIKA_LOG");
    std::string s = v ? v : "";
    if (s == "debug") return GGML_LOG_LEVEL_DEBUG;
    if (s == "info") return GGML_LOG_LEVEL_INFO;
    if (s == "warn") return GGML_LOG_LEVEL_WARN;
    return GGML_LOG_LEVEL_NONE;
  }();
  return level;
}

void on_log(ggml_log_level level, const char* text, void* /*user*/) {
  if (t_capture && (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN)) {
    std::string line(text);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) t_capture->push_back(std::move(line));
  }
  ggml_log_level v = verbosity();
  if (v != GGML_LOG_LEVEL_NONE && level != GGML_LOG_LEVEL_CONT && level >= v) {
    std::fputs(text, stderr);
  } else if (v != GGML_LOG_LEVEL_NONE && level == GGML_LOG_LEVEL_CONT) {
    std::fputs(text, stderr);
  }
}
}  // namespace

void ensure_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(on_log, nullptr);
    llama_backend_init();
  });
}

LogCapture::LogCapture() : prev_(t_capture) { t_capture = &lines_; }
LogCapture::~LogCapture() { t_capture = prev_; }

std::string LogCapture::errors() const {
  std::string out;
  for (const auto& line : lines_) {
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

Status decode_status(int32_t rc, int32_t n_tokens, int32_t n_ctx) {
  switch (rc) {
    case 0:
      return Status::Ok();
    case 1:
      return resource_exhausted("no room in the KV cache for a batch of " +
                                std::to_string(n_tokens) + " tokens (context " +
                                std::to_string(n_ctx) +
                                " tokens); shorten the input or raise the context size");
    case 2:
      return cancelled("decode aborted on request");
    case -1:
      return invalid_argument("llama_decode rejected the batch of " + std::to_string(n_tokens) +
                              " tokens as invalid (token id out of range, position or "
                              "sequence id inconsistent with the cache)");
    default:
      return internal_error("llama_decode failed with code " + std::to_string(rc));
  }
}

}  // namespace troika::engine
