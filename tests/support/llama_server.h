// llama-server (from the same llama.cpp tree) on a loopback port, serving a model, for tests of
// remote roles; stopped when the object goes. Readiness is checked by the caller (a chat request
// that is not `unavailable`).
#pragma once

#include <string>
#include <vector>

namespace troika::testing {

// A TCP port on 127.0.0.1 that nothing listens on now.
int free_port();

class LlamaServer {
 public:
  // `server` is the llama-server executable; `extra` more arguments ("--jinja", ...).
  LlamaServer(const std::string& server, const std::string& model, const std::string& api_key,
              const std::vector<std::string>& extra = {});
  ~LlamaServer();
  LlamaServer(const LlamaServer&) = delete;
  LlamaServer& operator=(const LlamaServer&) = delete;

  bool started() const { return ok_; }
  std::string url() const;  // "http://127.0.0.1:PORT/v1"
  std::string log() const;  // what the server printed

 private:
  int port_;
  int pid_ = -1;
  bool ok_ = false;
  std::string log_;
};

}  // namespace troika::testing
