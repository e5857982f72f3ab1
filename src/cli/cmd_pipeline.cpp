// troika tools | classify | rerank | vote | graph (and the pipeline form of troika json): one
// request from flags or --request, or many from --in FILE.jsonl, on a model (-m) or a role.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/pipeline_cli.h"
#include "troika/pipeline.h"
#include "troika/schedule.h"

namespace troika::cli {

namespace {

using nlohmann::json;

// Where the pipeline runs: a model loaded here, or a role brought up from the config.
struct Target {
  std::unique_ptr<host::Host> host;
  std::unique_ptr<host::RoleClient> own;
  host::RoleClient* client = nullptr;
};

Result<Target> open_target(const std::string& pipeline, const PipelineFlags& f) {
  Target t;
  if (!f.model.empty()) {
    engine::ModelOptions mo;
    mo.n_gpu_layers = f.gpu_layers;
    TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<engine::Model> model, engine::Model::load(f.model, mo));
    schedule::SchedulerOptions so;
    so.n_ctx = f.ctx;
    so.n_seq_max = f.parallel;
    so.n_threads = f.threads;
    TROIKA_ASSIGN_OR_RETURN(auto sched, schedule::Scheduler::create(model, so));
    t.own = host::local_client(std::shared_ptr<schedule::Scheduler>(std::move(sched)), f.model);
    t.client = t.own.get();
    return t;
  }
  const std::string role = f.role.empty() ? pipeline::default_role(pipeline) : f.role;
  TROIKA_ASSIGN_OR_RETURN(catalog::Catalog cat, load_catalog(""));
  TROIKA_ASSIGN_OR_RETURN(host::HostConfig config, host_config(f.config, f.dirs, cat));
  // Only the role asked for (and the one whose model it shares) is brought up.
  host::HostConfig only = config;
  only.roles.clear();
  std::string share;
  for (const auto& rc : config.roles)
    if (rc.role == role) share = rc.share;
  for (const auto& rc : config.roles)
    if (rc.role == role || rc.role == share) only.roles.push_back(rc);
  if (only.roles.empty()) {
    return not_found("role '" + role + "' is not configured (" +
                     (f.config.empty() ? std::string("no GGUF found for it") : f.config) +
                     "); give -m MODEL, or --role one of those `troika up` lists");
  }
  host::UpOptions uo;
  uo.smoke = false;
  uo.n_threads = f.threads;
  TROIKA_ASSIGN_OR_RETURN(t.host, host::Host::up(only, cat, uo));
  t.client = t.host->role(role);
  return t;
}

json error_json(const Status& s) {
  return {{"error",
           {{
                "code",
                to_string(s.code()),
            },
            {"message", s.message()}}}};
}

}  // namespace

int run_pipeline(const std::string& name, const PipelineFlags& f, const json& from_flags,
                 const Printer& print) {
  if (!f.model.empty() && !f.role.empty())
    return report(invalid_argument("give -m or --role, not both"));
  pipeline::ToolExecutor exec;
  if (!f.exec.empty()) {
    auto commands = pipeline::load_tool_commands(f.exec);
    if (!commands.ok()) return report(commands.status());
    exec = pipeline::command_executor(std::move(*commands));
  }
  // Requests: the JSONL file's lines, or one from --request merged with the flags.
  std::vector<std::string> requests;
  if (!f.in.empty()) {
    std::ifstream in(f.in);
    if (!in) return report(not_found("input file not found: " + f.in));
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) requests.push_back(line);
    }
  } else {
    json req = json::object();
    if (!f.request.empty()) {
      req = json::parse(f.request, nullptr, false);
      if (req.is_discarded() || !req.is_object()) {
        return report(invalid_argument("--request is not a JSON object"));
      }
    }
    for (const auto& [k, v] : from_flags.items()) req[k] = v;
    requests.push_back(req.dump());
  }
  auto target = open_target(name, f);
  if (!target.ok()) return report(target.status());
  host::RoleClient& client = *target->client;
  // Every request is in flight at once (a local scheduler batches them); results in order.
  std::vector<std::future<Result<std::string>>> runs;
  for (const auto& r : requests) {
    runs.push_back(
        std::async(std::launch::async, [&, r] { return pipeline::run(name, client, r, exec); }));
  }
  int failed = 0;
  Status last;
  for (size_t i = 0; i < runs.size(); ++i) {
    Result<std::string> r = runs[i].get();
    if (!r.ok()) {
      ++failed;
      last = r.status();
      if (f.in.empty()) return report(r.status());
      std::printf("%s\n", error_json(r.status()).dump().c_str());
      std::fprintf(stderr, "troika: line %zu: %s\n", i + 1, r.status().to_string().c_str());
      continue;
    }
    const json out = json::parse(*r);
    if (f.json || !f.in.empty()) {
      std::printf("%s\n", r->c_str());
    } else {
      print(out);
    }
    std::fflush(stdout);
    if (f.stats) std::fprintf(stderr, "%s\n", out["usage"].dump().c_str());
  }
  if (failed) {
    return report(Status(last.code(), std::to_string(failed) + " of " +
                                          std::to_string(requests.size()) +
                                          " requests failed; the last: " + last.message()));
  }
  return 0;
}

void PipelineFlags::add_to(CLI::App* cmd, bool model_flag) {
  if (model_flag) cmd->add_option("-m,--model", model, "GGUF model to run on (instead of a role)");
  cmd->add_option("--role", role, "the role to run on (default: the pipeline's own)");
  cmd->add_option("--config", config, "troika.toml (default: discovery over --models-dir)");
  cmd->add_option("--models-dir", dirs, "folders to discover models in (repeatable)");
  cmd->add_option("--in", in, "JSONL file: one request per line, responses in order on stdout");
  cmd->add_option("--request", request, "the request as a JSON object (flags override fields)");
  cmd->add_flag("--json", json, "print the JSON response");
  cmd->add_flag("--stats", stats, "print each response's usage as one JSON line to stderr");
  cmd->add_option("-t,--threads", threads, "CPU threads (0 = all)");
  cmd->add_option("-c,--ctx", ctx, "with -m: KV cells shared by the requests")
      ->capture_default_str();
  cmd->add_option("--parallel", parallel, "with -m: sequences at once")->capture_default_str();
  cmd->add_option("--gpu-layers", gpu_layers, "with -m: layers on the GPU (-1 = all)");
}

}  // namespace troika::cli
