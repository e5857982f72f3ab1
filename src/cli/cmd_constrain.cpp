// troika json, troika validate, troika repair, troika constrain-bench
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/pipeline_cli.h"
#include "constrain/acceptor.h"
#include "troika/constrain.h"
#include "troika/schedule.h"

namespace troika::cli {

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("file not found: " + path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

namespace {

Result<std::shared_ptr<const constrain::Schema>> load_schema(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto schema = constrain::Schema::compile(*text);
  if (!schema.ok()) {
    return Status(schema.status().code(), path + ": " + schema.status().message());
  }
  return schema;
}

void print_errors(const std::vector<constrain::ValidationError>& errors) {
  for (const auto& e : errors) {
    std::fprintf(stderr, "  at '%s' (schema '%s'): %s\n", e.instance_path.c_str(),
                 e.schema_path.c_str(), e.message.c_str());
  }
}

struct JsonFlags {
  ModelFlags model;
  PipelineFlags pipe;  // the pipeline form: --role, --in, --request, --system
  std::string schema, prompt, messages;
  int32_t n_ctx = 4096, n_threads = 0, max_tokens = 512;
  engine::SamplingParams sampling;
  int32_t max_whitespace = 0;
  bool no_jump_forward = false, stats = false;
};

// The json pipeline (chat prompt, repair and retry, roles, JSONL batches).
int run_json_pipeline(const JsonFlags& f, const std::string& system) {
  PipelineFlags p = f.pipe;
  p.model = f.model.path;
  p.threads = f.n_threads;
  p.ctx = f.n_ctx;
  nlohmann::json j = nlohmann::json::object();
  if (!f.prompt.empty()) j["prompt"] = f.prompt;
  if (!system.empty()) j["system"] = system;
  if (!f.messages.empty()) {
    auto text = read_file(f.messages);
    if (!text.ok()) return report(text.status());
    j["messages"] = nlohmann::json::parse(*text, nullptr, false);
  }
  if (!f.schema.empty()) {
    auto text = read_file(f.schema);
    if (!text.ok()) return report(text.status());
    auto schema = nlohmann::json::parse(*text, nullptr, false);
    if (schema.is_discarded()) return report(invalid_argument(f.schema + ": not JSON"));
    j["schema"] = schema;
  }
  j["max_tokens"] = f.max_tokens;
  j["temperature"] = f.sampling.temperature;
  j["seed"] = f.sampling.seed;
  return run_pipeline("json", p, j, [](const nlohmann::json& out) {
    std::printf("%s\n", out["value"].dump().c_str());
    for (const auto& fix : out["fixes"]) std::fprintf(stderr, "repair: %s\n", fix.get<std::string>().c_str());
  });
}

int run_json(const JsonFlags& f) {
  if (f.prompt.empty() && f.messages.empty()) {
    return report(invalid_argument("give a prompt (-p TEXT) or --messages FILE.json"));
  }
  auto schema = load_schema(f.schema);
  if (!schema.ok()) return report(schema.status());
  auto loaded = engine::Model::load(f.model.path, f.model.options());
  if (!loaded.ok()) return report(loaded.status());
  std::shared_ptr<const engine::Model> model = *loaded;
  std::string text = f.prompt;
  if (!f.messages.empty()) {
    auto msgs = read_messages(f.messages);
    if (!msgs.ok()) return report(msgs.status());
    auto rendered = model->render_chat(*msgs);
    if (!rendered.ok()) return report(rendered.status());
    text = *rendered;
  }
  auto prompt = model->tokenize(text, true, true);
  if (!prompt.ok()) return report(prompt.status());
  auto index = constrain::TokenIndex::create(model);
  if (!index.ok()) return report(index.status());
  constrain::ConstraintOptions co;
  co.max_whitespace = f.max_whitespace;
  co.jump_forward = !f.no_jump_forward;
  auto constraint = constrain::json_constraint(*schema, *index, co);
  if (!constraint.ok()) return report(constraint.status());
  // The scheduler runs clones and frees the original; a clone kept here shares their counters.
  std::unique_ptr<schedule::Constraint> stats_view = (*constraint)->clone();

  schedule::SchedulerOptions so;
  so.n_ctx = static_cast<int32_t>(prompt->size()) + f.max_tokens + 64;
  so.n_seq_max = 1;
  so.n_threads = f.n_threads;
  so.prefix_cache_tokens = 0;
  auto sched = schedule::Scheduler::create(model, so);
  if (!sched.ok()) return report(sched.status());
  schedule::Request r;
  r.prompt = *prompt;
  r.sampling = f.sampling;
  r.max_tokens = f.max_tokens;
  r.constraint = std::move(*constraint);
  auto res = (*sched)->submit(std::move(r)).get();
  if (!res.ok()) return report(res.status());
  const auto& sample = res->samples.at(0);
  if (sample.finish == engine::FinishReason::kLength) {
    return report(resource_exhausted("the output reached --max-tokens " +
                                     std::to_string(f.max_tokens) +
                                     " before the JSON value closed; raise --max-tokens"));
  }
  auto errors = (*schema)->validate(sample.text);
  if (!errors.ok() || !errors->empty()) {
    if (errors.ok()) print_errors(*errors);
    return report(internal_error("the constrained output failed validation: " + sample.text));
  }
  std::printf("%s\n", sample.text.c_str());
  std::fflush(stdout);
  if (f.stats) {
    const auto& st = static_cast<const constrain::TextConstraint&>(*stats_view).stats();
    nlohmann::ordered_json j = {
        {"n_prompt", res->n_prompt},
        {"n_generated", sample.tokens.size()},
        {"forced_tokens", st.forced_tokens},
        {"prompt_ms", res->prompt_ms},
        {"gen_ms", res->gen_ms},
        {"gen_tokens_per_s",
         res->gen_ms > 0 ? 1000.0 * static_cast<double>(sample.tokens.size()) / res->gen_ms : 0.0},
        {"masks", st.masks},
        {"mask_us_mean", st.masks ? st.mask_us / static_cast<double>(st.masks) : 0.0},
        {"mask_us_max", st.max_mask_us}};
    std::fprintf(stderr, "%s\n", j.dump().c_str());
  }
  return 0;
}

}  // namespace

void add_constrain_commands(CLI::App& app, int* exit_code) {
  {
    auto* cmd = app.add_subcommand(
        "json", "Generate one JSON value that is valid against a JSON Schema (printed to stdout)");
    auto f = std::make_shared<JsonFlags>();
    auto system = std::make_shared<std::string>();
    f->model.add_to(cmd, /*required=*/false);
    cmd->add_option("--schema", f->schema, "JSON Schema file (draft 2020-12 or draft-07)");
    cmd->add_option("--system", *system, "pipeline form: a system turn (-p is then the user turn)");
    cmd->add_option("--role", f->pipe.role, "pipeline form: run on this role (default fast)");
    cmd->add_option("--config", f->pipe.config, "pipeline form: troika.toml");
    cmd->add_option("--in", f->pipe.in, "pipeline form: JSONL requests, responses in order");
    cmd->add_option("--request", f->pipe.request, "pipeline form: the request as JSON");
    cmd->add_flag("--json", f->pipe.json, "pipeline form: print the whole JSON response");
    auto* p = cmd->add_option("-p,--prompt", f->prompt, "raw prompt text (special tokens parsed)");
    auto* m = cmd->add_option("--messages", f->messages,
                              "JSON file with [{\"role\",\"content\"}…], rendered with the "
                              "model's chat template");
    p->excludes(m);
    m->excludes(p);
    cmd->add_option("-c,--ctx", f->n_ctx, "context size in tokens")->capture_default_str();
    cmd->add_option("-t,--threads", f->n_threads, "CPU threads (0 = all)");
    cmd->add_option("-n,--max-tokens", f->max_tokens, "most tokens of output")
        ->capture_default_str();
    cmd->add_option("--seed", f->sampling.seed, "sampling seed")->capture_default_str();
    cmd->add_option("--temp", f->sampling.temperature, "temperature; 0 = greedy")
        ->capture_default_str();
    cmd->add_option("--whitespace", f->max_whitespace,
                    "whitespace bytes allowed between JSON tokens (0 = compact)")
        ->capture_default_str();
    cmd->add_flag("--no-jump-forward", f->no_jump_forward,
                  "sample every token, even where the schema allows only one continuation");
    cmd->add_flag("--stats", f->stats,
                  "print {\"n_prompt\",\"n_generated\",\"forced_tokens\",\"prompt_ms\","
                  "\"gen_ms\",\"gen_tokens_per_s\",\"masks\",\"mask_us_mean\",\"mask_us_max\"} "
                  "as one JSON line to stderr");
    cmd->callback([=] {
      const bool pipeline_form = f->model.path.empty() || !f->pipe.role.empty() ||
                                 !f->pipe.in.empty() || !f->pipe.request.empty() ||
                                 !system->empty() || f->pipe.json;
      if (!pipeline_form && f->schema.empty()) {
        *exit_code = report(invalid_argument("--schema is required with -m and -p"));
        return;
      }
      f->pipe.stats = f->stats;
      *exit_code = pipeline_form ? run_json_pipeline(*f, *system) : run_json(*f);
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "validate", "Validate a JSON file against a JSON Schema (exit 0 valid, 2 invalid)");
    auto schema = std::make_shared<std::string>();
    auto data = std::make_shared<std::string>();
    cmd->add_option("--schema", *schema, "JSON Schema file")->required();
    cmd->add_option("data", *data, "JSON file to validate")->required();
    cmd->callback([=] {
      auto s = load_schema(*schema);
      if (!s.ok()) {
        *exit_code = report(s.status());
        return;
      }
      auto text = read_file(*data);
      if (!text.ok()) {
        *exit_code = report(text.status());
        return;
      }
      auto errors = (*s)->validate(*text);
      if (!errors.ok()) {
        *exit_code =
            report(Status(errors.status().code(), *data + ": " + errors.status().message()));
        return;
      }
      if (errors->empty()) {
        std::printf("valid\n");
        return;
      }
      print_errors(*errors);
      *exit_code = report(invalid_argument(*data + " is not valid against " + *schema + " (" +
                                           std::to_string(errors->size()) + " errors)"));
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "repair", "Repair near-JSON from stdin into JSON on stdout (fixes listed on stderr)");
    auto schema = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    cmd->add_option("--schema", *schema, "also validate the repaired value against this schema");
    cmd->add_flag("-q,--quiet", *quiet, "do not list the fixes");
    cmd->callback([=] {
      std::string in(std::istreambuf_iterator<char>(std::cin), {});
      std::shared_ptr<const constrain::Schema> s;
      if (!schema->empty()) {
        auto loaded = load_schema(*schema);
        if (!loaded.ok()) {
          *exit_code = report(loaded.status());
          return;
        }
        s = *loaded;
      }
      auto r = constrain::repair_json(in);
      if (!r.ok()) {
        *exit_code = report(r.status());
        return;
      }
      if (!*quiet) {
        for (const auto& fix : r->fixes) std::fprintf(stderr, "repair: %s\n", fix.c_str());
      }
      if (s) {
        auto errors = s->validate(r->json);
        if (!errors.ok() || !errors->empty()) {
          if (errors.ok()) print_errors(*errors);
          std::printf("%s\n", r->json.c_str());
          *exit_code = report(invalid_argument(
              "the repaired value is not valid against " + *schema +
              "; a constrained retry through a model is `troika json` with this schema"));
          return;
        }
      }
      std::printf("%s\n", r->json.c_str());
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "constrain-bench",
        "Walk schema test files token by token through the masks; print one JSON summary");
    auto vocab = std::make_shared<std::string>();
    auto paths = std::make_shared<std::vector<std::string>>();
    auto json = std::make_shared<bool>(false);
    auto verbose = std::make_shared<bool>(false);
    cmd->add_option("--vocab", *vocab, "GGUF whose tokenizer to use (weights are not loaded)")
        ->required();
    cmd->add_option("paths", *paths,
                    "files or folders: JSON-Schema-Test-Suite files (arrays of {schema, tests}) "
                    "or MaskBench files ({schema, tests})")
        ->required();
    cmd->add_flag("--json", *json, "print only the JSON summary (the default prints it too)");
    cmd->add_flag("-v,--verbose", *verbose, "list every failure on stderr");
    cmd->callback([=] {
      ModelFlags mf;
      mf.path = *vocab;
      auto model = engine::Model::load(*vocab, mf.options(true));
      if (!model.ok()) {
        *exit_code = report(model.status());
        return;
      }
      auto r = constrain::run_acceptor(*paths, *model);
      if (!r.ok()) {
        *exit_code = report(r.status());
        return;
      }
      if (*verbose) {
        for (const auto& f : r->failures) std::fprintf(stderr, "%s\n", f.c_str());
        for (const auto& [us, where] : r->slowest) {
          std::fprintf(stderr, "slow mask %.0f us: %s\n", us, where.c_str());
        }
      }
      std::printf("%s\n", r->to_json().c_str());
    });
  }
}

}  // namespace troika::cli
