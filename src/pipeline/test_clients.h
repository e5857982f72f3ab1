// Clients for the pipeline tests: a tiny local model per family, and a scripted "remote" one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test_models.h"
#include "troika/host.h"
#include "troika/schedule.h"

namespace troika::testing {

// A local role over a tiny random model of `arch`, made once per process.
inline host::RoleClient& local_role(const std::string& arch) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<host::RoleClient>> clients;
  std::lock_guard<std::mutex> lock(mu);
  auto& c = clients[arch];
  if (!c) {
    auto model = engine::Model::load(tiny_model(arch));
    if (!model.ok()) std::abort();
    schedule::SchedulerOptions so;
    so.n_ctx = 16384;
    so.n_seq_max = 16;
    so.n_threads = 2;
    auto sched = schedule::Scheduler::create(*model, so);
    if (!sched.ok()) std::abort();
    c = host::local_client(std::shared_ptr<schedule::Scheduler>(std::move(*sched)), arch);
  }
  return *c;
}

// A remote-like role that answers with scripted choices, in order (the last repeats), and keeps
// the requests it got.
class ScriptedClient : public host::RoleClient {
 public:
  explicit ScriptedClient(std::vector<host::ChatChoice> script) : script_(std::move(script)) {}
  Result<host::ChatResult> chat(const host::ChatRequest& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests.push_back(r);
    host::ChatResult out;
    for (int32_t i = 0; i < r.n; ++i) {
      out.choices.push_back(script_[std::min(next_, script_.size() - 1)]);
      ++next_;
    }
    out.prompt_tokens = 10;
    out.completion_tokens = 5 * r.n;
    return out;
  }
  bool is_remote() const override { return true; }
  std::string describe() const override { return "scripted"; }
  std::vector<host::ChatRequest> requests;

 private:
  std::mutex mu_;
  std::vector<host::ChatChoice> script_;
  size_t next_ = 0;
};

}  // namespace troika::testing
