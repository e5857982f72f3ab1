// troika score: log-probabilities of given continuations after one shared prefix.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/options.h"
#include "troika/schedule.h"

namespace troika::cli {

void add_score_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "score",
      "Score continuations after a shared prefix: per choice, the total and length-normalised "
      "log-probability and the probability among the choices. The prefix is prefilled once");
  struct Flags {
    ModelFlags model;
    std::string prefix;
    std::vector<std::string> choices;
    bool json = false;
    bool stats = false;
    int32_t n_threads = 0;
  };
  auto f = std::make_shared<Flags>();
  f->model.add_to(cmd);
  cmd->add_option("--prefix", f->prefix, "the shared context (BOS added, special tokens parsed)")
      ->required();
  cmd->add_option("--choice", f->choices, "a continuation, verbatim (repeatable)")->required();
  cmd->add_flag("--json", f->json, "print a JSON array");
  cmd->add_flag("--stats", f->stats, "print timing as one JSON line to stderr");
  cmd->add_option("-t,--threads", f->n_threads, "CPU threads (0 = all)");
  cmd->callback([f, exit_code] {
    auto model = engine::Model::load(f->model.path, f->model.options());
    if (!model.ok()) {
      *exit_code = report(model.status());
      return;
    }
    auto prefix = (*model)->tokenize(f->prefix, true, true);
    if (!prefix.ok()) {
      *exit_code = report(prefix.status());
      return;
    }
    schedule::ScoreRequest req;
    req.prefix = *prefix;
    int32_t cells = static_cast<int32_t>(prefix->size());
    for (const auto& c : f->choices) {
      auto ids = (*model)->tokenize(c, false, false);
      if (!ids.ok()) {
        *exit_code = report(ids.status());
        return;
      }
      cells += static_cast<int32_t>(ids->size());
      req.continuations.push_back(*ids);
    }
    schedule::SchedulerOptions so;
    so.n_ctx = cells + 256;
    so.n_seq_max = std::max<int32_t>(1, static_cast<int32_t>(f->choices.size()));
    so.n_threads = f->n_threads;
    so.prefix_cache_tokens = 0;
    auto sched = schedule::Scheduler::create(*model, so);
    if (!sched.ok()) {
      *exit_code = report(sched.status());
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto res = (*sched)->score(req).get();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!res.ok()) {
      *exit_code = report(res.status());
      return;
    }
    double max_lp = -INFINITY, z = 0;
    for (const auto& s : res->scores) max_lp = std::max(max_lp, s.logprob);
    for (const auto& s : res->scores) z += std::exp(s.logprob - max_lp);
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < res->scores.size(); ++i) {
      const auto& s = res->scores[i];
      out.push_back({{"choice", f->choices[i]},
                     {"logprob", s.logprob},
                     {"mean_logprob", s.mean_logprob},
                     {"n_tokens", s.token_logprobs.size()},
                     {"p", std::exp(s.logprob - max_lp) / z}});
    }
    if (f->json) {
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("%-24s %12s %12s %8s %7s\n", "choice", "logprob", "mean", "tokens", "p");
      for (const auto& o : out) {
        std::printf("%-24.24s %12.4f %12.4f %8d %7.4f\n", o["choice"].get<std::string>().c_str(),
                    o["logprob"].get<double>(), o["mean_logprob"].get<double>(),
                    o["n_tokens"].get<int>(), o["p"].get<double>());
      }
    }
    std::fflush(stdout);  // results before --stats on stderr
    if (f->stats) {
      std::fprintf(stderr, "{\"n_prefix\":%zu,\"n_choices\":%zu,\"score_ms\":%.3f}\n",
                   req.prefix.size(), req.continuations.size(), ms);
    }
  });
}

}  // namespace troika::cli
