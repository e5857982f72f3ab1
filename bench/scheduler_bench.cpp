// Scheduler workloads for bench/scheduler.sh. Two modes:
//   --emit FILE   writes the workload (token prompts, lengths) as JSON for the anchor's client
//   --run FILE    runs it through troika's scheduler and prints one JSON line of results
// Both sides read the same token ids, so they do the same work.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "troika/schedule.h"

using nlohmann::json;
using namespace troika;

namespace {

using Clock = std::chrono::steady_clock;

double since_ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::vector<engine::Token> random_tokens(std::mt19937& rng, int n) {
  // Plain word pieces of the 128k Llama 3 vocabulary, no special tokens.
  std::uniform_int_distribution<int> d(1000, 100000);
  std::vector<engine::Token> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

// The workload of a scenario as data.
json make_workload(const std::string& scenario, uint32_t seed) {
  std::mt19937 rng(seed);
  json w = {{"scenario", scenario}};
  if (scenario == "a") {  // 32 independent requests, prompt 256, 128 new tokens
    w["max_tokens"] = 128;
    w["n"] = 1;
    for (int i = 0; i < 32; ++i) w["prompts"].push_back(random_tokens(rng, 256));
  } else if (scenario == "b300" || scenario == "b1500") {  // self-consistency, n = 8
    w["max_tokens"] = 64;
    w["n"] = 8;
    w["prompts"].push_back(random_tokens(rng, scenario == "b300" ? 300 : 1500));
  } else if (scenario == "c") {  // 5 labels x 200 texts
    std::vector<std::string> labels = {"positive", "negative", "neutral", "mixed", "unclear"};
    w["labels"] = labels;
    for (int i = 0; i < 200; ++i) w["prompts"].push_back(random_tokens(rng, 40));
  } else if (scenario == "d") {  // shared 1500-token prefix + 50 short inputs
    w["max_tokens"] = 16;
    w["n"] = 1;
    auto prefix = random_tokens(rng, 1500);
    for (int i = 0; i < 50; ++i) {
      auto p = prefix;
      auto tail = random_tokens(rng, 24);
      p.insert(p.end(), tail.begin(), tail.end());
      w["prompts"].push_back(p);
    }
  }
  return w;
}

int run(const std::string& model_path, const json& w, int threads) {
  auto model = engine::Model::load(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  const std::string sc = w["scenario"];
  schedule::SchedulerOptions so;
  so.n_threads = threads;
  so.n_seq_max = 64;
  so.n_ctx = 32768;
  so.step_token_budget = 512;
  so.prefix_cache_tokens = 4096;
  auto sched = schedule::Scheduler::create(*model, so);
  if (!sched.ok()) {
    std::fprintf(stderr, "%s\n", sched.status().to_string().c_str());
    return 1;
  }
  schedule::Scheduler& s = **sched;
  int64_t tokens = 0;
  const auto t0 = Clock::now();
  if (sc == "c") {
    std::vector<std::vector<engine::Token>> conts;
    for (const auto& l : w["labels"])
      conts.push_back(*(*model)->tokenize(l.get<std::string>(), false, false));
    std::vector<schedule::Handle<schedule::ScoreResult>> hs;
    for (const auto& p : w["prompts"]) {
      schedule::ScoreRequest r;
      r.prefix = p.get<std::vector<engine::Token>>();
      r.continuations = conts;
      hs.push_back(s.score(std::move(r)));
    }
    for (auto& h : hs) {
      auto res = h.get();
      if (!res.ok()) {
        std::fprintf(stderr, "%s\n", res.status().to_string().c_str());
        return 1;
      }
      tokens += static_cast<int64_t>(res->scores.size());
    }
  } else {
    std::vector<schedule::Handle<schedule::Completion>> hs;
    for (const auto& p : w["prompts"]) {
      schedule::Request r;
      r.prompt = p.get<std::vector<engine::Token>>();
      r.max_tokens = w["max_tokens"];
      r.n = w["n"];
      r.ignore_eos = true;
      r.sampling.temperature = 0;
      hs.push_back(s.submit(std::move(r)));
    }
    for (auto& h : hs) {
      auto res = h.get();
      if (!res.ok()) {
        std::fprintf(stderr, "%s\n", res.status().to_string().c_str());
        return 1;
      }
      for (const auto& smp : res->samples) tokens += static_cast<int64_t>(smp.tokens.size());
    }
  }
  const double wall = since_ms(t0);
  auto st = s.stats();
  const double step_ms = st.decode_ms + st.sample_ms + st.overhead_ms;
  json out = {{"scenario", sc},
              {"wall_ms", wall},
              {"tokens", tokens},
              {"tokens_per_s", tokens * 1000.0 / wall},
              {"steps", st.steps},
              {"decode_ms", st.decode_ms},
              {"sample_ms", st.sample_ms},
              {"overhead_ms", st.overhead_ms},
              {"overhead_share", step_ms > 0 ? st.overhead_ms / step_ms : 0},
              {"tokens_cached", st.tokens_cached},
              {"tokens_prefilled", st.tokens_prefilled}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, file, model, scenario;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--emit" || k == "--run") {
      mode = k;
      file = v;
    } else if (k == "--model") {
      model = v;
    } else if (k == "--scenario") {
      scenario = v;
    } else if (k == "--threads") {
      threads = std::stoi(v);
    }
  }
  if (mode == "--emit") {
    std::ofstream(file) << make_workload(scenario, 1234).dump();
    return 0;
  }
  if (mode == "--run") {
    std::ifstream f(file);
    std::stringstream ss;
    ss << f.rdbuf();
    return run(model, json::parse(ss.str()), threads);
  }
  std::fprintf(stderr,
               "usage: troika-bench-scheduler --emit FILE --scenario a|b300|b1500|c|d\n"
               "       troika-bench-scheduler --run FILE --model GGUF [--threads N]\n");
  return 2;
}
