// troika serve (the OpenAI-compatible HTTP server) and troika run (a resumable batch job).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/cli.h"
#include "cli/retrieval_cli.h"
#include "troika/jobs.h"
#include "troika/server.h"

namespace troika::cli {

namespace {

// The API's limits (serve, run).
struct ApiFlags {
  int32_t queue = 64, max_tokens_cap = 4096, n_cap = 16;
  double timeout_s = 600;
  std::string exec;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--queue", queue, "requests admitted per model before 429")
        ->capture_default_str();
    cmd->add_option("--max-tokens-cap", max_tokens_cap, "largest max_tokens accepted")
        ->capture_default_str();
    cmd->add_option("--n-cap", n_cap, "largest n accepted")->capture_default_str();
    cmd->add_option("--timeout", timeout_s, "seconds a request may take (then 504)")
        ->capture_default_str();
    cmd->add_option("--exec", exec,
                    "tools exec file: commands that run the tools pipeline's calls "
                    "(docs/pipelines/tools.md); without it calls come back to the client");
  }

  Result<server::ApiOptions> api_options() const {
    server::ApiOptions a;
    a.queue_per_model = queue;
    a.max_tokens_cap = max_tokens_cap;
    a.n_cap = n_cap;
    a.request_timeout_s = timeout_s;
    if (queue < 1 || max_tokens_cap < 1 || n_cap < 1 || !(timeout_s > 0)) {
      return invalid_argument("--queue, --max-tokens-cap, --n-cap and --timeout must be positive");
    }
    if (!exec.empty()) {
      TROIKA_ASSIGN_OR_RETURN(auto commands, pipeline::load_tool_commands(exec));
      a.tool_executor = pipeline::command_executor(std::move(commands));
    }
    return a;
  }
};

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that one
// thread can wait for them with sigwait().
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// "2h", "90m", "45s", "1h30m", or plain seconds. Errors: invalid_argument.
Result<double> parse_duration(const std::string& s) {
  if (s.empty()) return invalid_argument("--deadline: empty");
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s.substr(i), &used);
    } catch (...) {
      return invalid_argument("--deadline: '" + s + "' is not a duration like 2h, 90m, 45s");
    }
    i += used;
    char unit = i < s.size() ? s[i] : 's';
    if (i < s.size()) ++i;
    if (unit == 'h') {
      total += v * 3600;
    } else if (unit == 'm') {
      total += v * 60;
    } else if (unit == 's') {
      total += v;
    } else {
      return invalid_argument("--deadline: unit '" + std::string(1, unit) + "' (use h, m or s)");
    }
    any = true;
  }
  if (!any || total <= 0) return invalid_argument("--deadline: must be positive");
  return total;
}

std::string clock_text(double s) {
  if (s < 0) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", t / 60, t % 60);
  }
  return buf;
}

// --db and --embed-model for serve and run (--config and --threads are the host's).
struct KbServeFlags {
  std::string db, embed_model;
  void add_to(CLI::App* cmd) {
    cmd->add_option("--db", db, "knowledge base for the rag pipeline (built by troika index add)");
    cmd->add_option("--embed-model", embed_model,
                    "embedding GGUF of the knowledge base (instead of the config's embed role)");
  }
  // Opens the knowledge base into `api` when --db is given.
  Status open(const HostFlags& host, server::ApiOptions& api) const {
    if (db.empty()) return Status::Ok();
    KbFlags kb;
    kb.db = db;
    kb.embed_model = embed_model;
    kb.config = host.config;
    kb.threads = host.threads;
    TROIKA_ASSIGN_OR_RETURN(auto store, kb.open());
    api.knowledge_base = std::move(store);
    return Status::Ok();
  }
};

struct ServeFlags {
  HostFlags host;
  ApiFlags api;
  KbServeFlags kb;
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::string api_key_env;
  size_t max_body = 8u << 20;
  int http_threads = 0;
};

struct RunFlags {
  HostFlags host;
  ApiFlags api;
  KbServeFlags kb;
  std::string pipeline, in, out, journal, deadline;
  int32_t concurrency = 8;
  bool reproducible = false;
};

int serve(const ServeFlags& f) {
  server::ServerOptions so;
  so.host = f.bind;
  so.port = f.port;
  so.max_body_bytes = f.max_body;
  so.threads = f.http_threads;
  if (!f.api_key_env.empty()) {
    const char* key = std::getenv(f.api_key_env.c_str());
    if (!key || !*key) {
      return report(not_found("--api-key-env: the variable " + f.api_key_env + " is not set"));
    }
    so.api_key = key;
  }
  auto api = f.api.api_options();
  if (!api.ok()) return report(api.status());
  so.api = std::move(*api);
  if (Status st = f.kb.open(f.host, so.api); !st.ok()) return report(st);
  const sigset_t signals = block_stop_signals();
  auto h = f.host.up();
  if (!h.ok()) return report(h.status());
  auto s = server::Server::start(**h, so);
  if (!s.ok()) return report(s.status());
  std::string roles;
  for (const auto& r : (*h)->roles()) roles += (roles.empty() ? "" : ", ") + r.role;
  std::fprintf(stderr, "troika: serving %s on http://%s:%d/v1 %s(Ctrl-C stops)\n", roles.c_str(),
               so.host.c_str(), (*s)->port(), so.api_key.empty() ? "" : "with an API key ");
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "troika: stopping (signal %d)\n", sig);
  (*s)->stop();
  return 0;
}

int run_job(const RunFlags& f) {
  jobs::JobOptions jo;
  jo.pipeline = f.pipeline == "openai" ? "" : f.pipeline;
  jo.in = f.in;
  jo.out = f.out;
  jo.journal = f.journal;
  jo.concurrency = f.concurrency;
  jo.reproducible = f.reproducible;
  if (!f.deadline.empty()) {
    auto d = parse_duration(f.deadline);
    if (!d.ok()) return report(d.status());
    jo.deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(*d * 1000));
  }
  auto api_opts = f.api.api_options();
  if (!api_opts.ok()) return report(api_opts.status());
  // The job's own lines must never be refused by the queue.
  api_opts->queue_per_model = std::max(api_opts->queue_per_model, f.concurrency);
  if (Status st = f.kb.open(f.host, *api_opts); !st.ok()) return report(st);
  const sigset_t signals = block_stop_signals();
  auto h = f.host.up();
  if (!h.ok()) return report(h.status());
  server::Api api(**h, std::move(*api_opts));
  jo.stop = std::make_shared<std::atomic<bool>>(false);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread waiter([signals, stop = jo.stop, finished] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (!finished->load()) {
      std::fprintf(stderr, "\ntroika: stopping: lines in flight are left for the next run\n");
      stop->store(true);
    }
  });
  const bool tty = isatty(fileno(stderr));
  auto last_line = std::chrono::steady_clock::now();
  jo.on_progress = [&, tty](const jobs::Progress& p) {
    if (tty) {
      const int width = 30;
      const int filled = p.total ? static_cast<int>(width * p.done / p.total) : width;
      std::fprintf(stderr, "\r[%s%s] %lld/%lld  %.1f tok/s  ETA %s  ",
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                   static_cast<long long>(p.done), static_cast<long long>(p.total), p.tokens_per_s,
                   clock_text(p.eta_s).c_str());
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_line < std::chrono::seconds(10) && p.done < p.total) return;
    last_line = now;
    std::fprintf(stderr, "troika: %lld/%lld lines, %lld failed, %.1f tok/s, ETA %s\n",
                 static_cast<long long>(p.done), static_cast<long long>(p.total),
                 static_cast<long long>(p.failed), p.tokens_per_s, clock_text(p.eta_s).c_str());
  };
  auto r = jobs::run(api, jo);
  if (tty) std::fprintf(stderr, "\n");
  // Wake the signal waiter if no signal came.
  finished->store(true);
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!r.ok()) return report(r.status());
  const jobs::Progress& p = r->progress;
  std::fprintf(
      stderr,
      "troika: %lld of %lld lines done (%lld resumed from the journal, %lld error records) "
      "in %.1f s; %s\n",
      static_cast<long long>(p.done), static_cast<long long>(p.total),
      static_cast<long long>(p.resumed), static_cast<long long>(p.failed), p.elapsed_s,
      f.out.c_str());
  if (!r->complete) {
    std::fprintf(stderr, "troika: %lld lines remain; run the same command again to finish them\n",
                 static_cast<long long>(r->remaining));
    return exit_code(Code::kDeadlineExceeded);
  }
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve the roles over an OpenAI-compatible HTTP API (chat, completions, embeddings, rerank, "
      "pipelines, metrics); docs/server.md");
  auto sf = std::make_shared<ServeFlags>();
  sf->host.add_to(cmd);
  sf->api.add_to(cmd);
  sf->kb.add_to(cmd);
  cmd->add_option("--host", sf->bind, "address to bind (loopback by default)")
      ->capture_default_str();
  cmd->add_option("--port", sf->port, "port (0 = any free one)")->capture_default_str();
  cmd->add_option("--api-key-env", sf->api_key_env,
                  "environment variable holding the API key clients must send as a bearer token");
  cmd->add_option("--max-body", sf->max_body, "largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--http-threads", sf->http_threads, "HTTP worker threads (0 = per queue)");
  cmd->callback([=] { *exit_code = serve(*sf); });

  auto* run = app.add_subcommand(
      "run",
      "Run a JSONL file of requests as a resumable job: pipeline request lines or OpenAI Batch "
      "lines, a journal beside the output, output in input order; docs/jobs.md");
  auto rf = std::make_shared<RunFlags>();
  run->add_option("PIPELINE", rf->pipeline,
                  "json, tools, classify, rerank, vote, graph, rag (with --db); or openai for a "
                  "file of OpenAI Batch "
                  "lines only (those run in any file)")
      ->required();
  run->add_option("--in", rf->in, "input JSONL")->required();
  run->add_option("--out", rf->out, "output JSONL (rewritten atomically when the run ends)")
      ->required();
  run->add_option("--journal", rf->journal, "journal database (default: OUT.journal)");
  run->add_option("--deadline", rf->deadline,
                  "stop starting lines after this long (2h, 90m, 45s); a rerun resumes");
  run->add_option("--concurrency", rf->concurrency, "lines in flight at once")
      ->capture_default_str();
  run->add_flag("--reproducible", rf->reproducible,
                "generate in the scheduler's reproducible mode (same seeds, same output)");
  rf->host.add_to(run);
  rf->api.add_to(run);
  rf->kb.add_to(run);
  run->callback([=] { *exit_code = run_job(*rf); });
}

}  // namespace troika::cli
