// troika generate, troika chat
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli/options.h"
#include "troika/generate.h"
#include "troika/schedule.h"

namespace troika::cli {

namespace {

struct GenFlags {
  ModelFlags model;
  int32_t n_ctx = 4096;
  int32_t n_threads = 0;
  int32_t n_predict = 128;
  engine::SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool stats = false;
  std::string flash_attn = "auto";

  void add_to(CLI::App* cmd) {
    model.add_to(cmd);
    cmd->add_option("-c,--ctx", n_ctx, "context size in tokens (0 = the model's, capped at 4096)")
        ->capture_default_str();
    cmd->add_option("-t,--threads", n_threads, "CPU threads (0 = all)");
    cmd->add_option("-n,--n-predict", n_predict, "most new tokens (-1 = until the context is full)")
        ->capture_default_str();
    cmd->add_option("--seed", sampling.seed, "sampling seed")->capture_default_str();
    cmd->add_option("--temp", sampling.temperature, "temperature; 0 = greedy")
        ->capture_default_str();
    cmd->add_option("--top-k", sampling.top_k, "top-k (0 = off)")->capture_default_str();
    cmd->add_option("--top-p", sampling.top_p, "top-p (1 = off)")->capture_default_str();
    cmd->add_option("--min-p", sampling.min_p, "min-p (0 = off)")->capture_default_str();
    cmd->add_option("--repeat-penalty", sampling.repeat_penalty, "repetition penalty (1 = off)")
        ->capture_default_str();
    cmd->add_option("--frequency-penalty", sampling.frequency_penalty, "frequency penalty");
    cmd->add_option("--presence-penalty", sampling.presence_penalty, "presence penalty");
    cmd->add_option("--stop", stop, "stop string (repeatable)");
    cmd->add_flag("--ignore-eos", ignore_eos, "keep generating past end-of-generation tokens");
    cmd->add_option("--flash-attn", flash_attn, "flash attention: auto | on | off")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    cmd->add_flag("--stats", stats,
                  "print {\"n_prompt\",\"n_generated\",\"prompt_ms\",\"gen_ms\","
                  "\"gen_tokens_per_s\"} as one JSON line to stderr");
  }
};

Result<std::unique_ptr<engine::Context>> open_context(const GenFlags& f,
                                                      std::shared_ptr<engine::Model> model) {
  engine::ContextOptions co;
  co.n_ctx = f.n_ctx;
  co.n_threads = f.n_threads;
  co.flash_attn = f.flash_attn == "on"    ? engine::FlashAttn::kOn
                  : f.flash_attn == "off" ? engine::FlashAttn::kOff
                                          : engine::FlashAttn::kAuto;
  return engine::Context::create(std::move(model), co);
}

// n samples through the scheduler: the prompt is prefilled once and forked.
int run_samples(std::shared_ptr<engine::Model> model, const std::vector<engine::Token>& prompt,
                const GenFlags& f, int32_t n, bool json, bool reproducible) {
  schedule::SchedulerOptions so;
  const int32_t budget = f.n_predict < 0 ? 512 : f.n_predict;
  so.n_ctx = static_cast<int32_t>(prompt.size()) + n * budget + 64;
  so.reproducible_n_ctx = static_cast<int32_t>(prompt.size()) + budget + 64;
  so.n_seq_max = std::max(n, 1);
  so.n_threads = f.n_threads;
  so.prefix_cache_tokens = 0;
  auto sched = schedule::Scheduler::create(model, so);
  if (!sched.ok()) return report(sched.status());
  schedule::Request r;
  r.prompt = prompt;
  r.sampling = f.sampling;
  r.max_tokens = budget;
  r.stop = f.stop;
  r.ignore_eos = f.ignore_eos;
  r.n = n;
  r.reproducible = reproducible;
  auto res = (*sched)->submit(std::move(r)).get();
  if (!res.ok()) return report(res.status());
  int32_t n_gen = 0;
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < res->samples.size(); ++i) {
    const auto& s = res->samples[i];
    n_gen += static_cast<int32_t>(s.tokens.size());
    if (json) {
      out.push_back({{"index", i},
                     {"text", s.text},
                     {"finish_reason", engine::to_string(s.finish)},
                     {"n_tokens", s.tokens.size()}});
    } else {
      std::printf("--- sample %zu (%s)\n%s\n", i, engine::to_string(s.finish), s.text.c_str());
    }
  }
  if (json) {
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  std::fflush(stdout);  // results before --stats on stderr
  if (f.stats) {
    engine::GenerateStats st;
    st.n_prompt = res->n_prompt;
    st.n_generated = n_gen;
    st.prompt_ms = res->prompt_ms;
    st.gen_ms = res->gen_ms;
    std::fprintf(stderr, "%s\n", st.to_json().c_str());
  }
  return 0;
}

// Streams to stdout; returns the generation.
Result<engine::Generation> run_generation(engine::Context& ctx,
                                          const std::vector<engine::Token>& prompt,
                                          const GenFlags& f) {
  engine::GenerateOptions go;
  go.n_predict = f.n_predict;
  go.stop = f.stop;
  go.ignore_eos = f.ignore_eos;
  go.sampling = f.sampling;
  go.on_text = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  return engine::generate(ctx, prompt, go);
}

}  // namespace

Result<std::vector<engine::ChatMessage>> read_messages(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("messages file not found: " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return invalid_argument(path + " must hold a JSON array of {\"role\": …, \"content\": …}");
  }
  std::vector<engine::ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& m = j[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      return invalid_argument(path + ": message " + std::to_string(i) +
                              " needs string fields \"role\" and \"content\"");
    }
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  if (out.empty()) return invalid_argument(path + " holds no messages");
  return out;
}

void add_generate_commands(CLI::App& app, int* exit_code) {
  {
    auto* cmd = app.add_subcommand("generate", "Generate text from a prompt or chat messages");
    auto f = std::make_shared<GenFlags>();
    auto prompt = std::make_shared<std::string>();
    auto messages = std::make_shared<std::string>();
    auto n = std::make_shared<int32_t>(1);
    auto json = std::make_shared<bool>(false);
    auto reproducible = std::make_shared<bool>(false);
    f->add_to(cmd);
    cmd->add_option("--n", *n,
                    "samples from the same prompt (prefilled once; sample i uses seed + i)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_flag("--json", *json, "print the samples as a JSON array");
    cmd->add_flag("--reproducible", *reproducible,
                  "with --n: run samples one after another so sample i equals a --n 1 run with "
                  "seed + i, bit for bit");
    auto* p = cmd->add_option("-p,--prompt", *prompt, "raw prompt text (special tokens parsed)");
    auto* msg = cmd->add_option("--messages", *messages,
                                "JSON file with [{\"role\",\"content\"}…], rendered with the "
                                "model's chat template");
    p->excludes(msg);
    msg->excludes(p);
    cmd->callback([=] {
      if (prompt->empty() && messages->empty()) {
        *exit_code = report(invalid_argument("give a prompt (-p TEXT) or --messages FILE.json"));
        return;
      }
      auto loaded = engine::Model::load(f->model.path, f->model.options());
      if (!loaded.ok()) {
        *exit_code = report(loaded.status());
        return;
      }
      std::shared_ptr<engine::Model> model = *loaded;
      std::string text = *prompt;
      if (!messages->empty()) {
        auto msgs = read_messages(*messages);
        if (!msgs.ok()) {
          *exit_code = report(msgs.status());
          return;
        }
        auto rendered = model->render_chat(*msgs);
        if (!rendered.ok()) {
          *exit_code = report(rendered.status());
          return;
        }
        text = *rendered;
      }
      auto ids = model->tokenize(text, true, true);
      if (!ids.ok()) {
        *exit_code = report(ids.status());
        return;
      }
      // Several samples go through the scheduler, which has its own context.
      if (*n > 1 || *json) {
        *exit_code = run_samples(model, *ids, *f, *n, *json, *reproducible);
        return;
      }
      auto ctx = open_context(*f, model);
      if (!ctx.ok()) {
        *exit_code = report(ctx.status());
        return;
      }
      auto gen = run_generation(**ctx, *ids, *f);
      std::printf("\n");
      std::fflush(stdout);  // the text ends before --stats goes to stderr
      if (!gen.ok()) {
        *exit_code = report(gen.status());
        return;
      }
      if (f->stats) std::fprintf(stderr, "%s\n", gen->stats.to_json().c_str());
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "chat",
        "Chat interactively; the model's template is applied to the whole history. "
        "Commands: /reset clears the history, /exit (or end of input) quits");
    auto f = std::make_shared<GenFlags>();
    auto system = std::make_shared<std::string>();
    f->n_predict = 512;
    f->add_to(cmd);
    cmd->add_option("-s,--system", *system, "system prompt");
    cmd->callback([=] {
      auto loaded = engine::Model::load(f->model.path, f->model.options());
      if (!loaded.ok()) {
        *exit_code = report(loaded.status());
        return;
      }
      std::shared_ptr<engine::Model> model = *loaded;
      auto ctx = open_context(*f, model);
      if (!ctx.ok()) {
        *exit_code = report(ctx.status());
        return;
      }
      std::vector<engine::ChatMessage> history;
      if (!system->empty()) history.push_back({"system", *system});
      const size_t base = history.size();
      std::string line;
      while (true) {
        std::printf("> ");
        std::fflush(stdout);
        if (!std::getline(std::cin, line) || line == "/exit") break;
        if (line == "/reset") {
          history.resize(base);
          continue;
        }
        if (line.empty()) continue;
        history.push_back({"user", line});
        auto rendered = model->render_chat(history);
        if (!rendered.ok()) {
          report(rendered.status());
          history.pop_back();
          continue;
        }
        auto ids = model->tokenize(*rendered, true, true);
        if (!ids.ok()) {
          *exit_code = report(ids.status());
          return;
        }
        auto gen = run_generation(**ctx, *ids, *f);
        std::printf("\n");
        std::fflush(stdout);
        if (!gen.ok()) {
          report(gen.status());
          history.pop_back();
          continue;
        }
        if (f->stats) std::fprintf(stderr, "%s\n", gen->stats.to_json().c_str());
        history.push_back({"assistant", gen->text});
      }
    });
  }
}

}  // namespace troika::cli
