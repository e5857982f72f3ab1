// jobs::run(): lines through the API, each finished one journaled, the output rewritten
// atomically in input order.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/hash.h"
#include "jobs/journal.h"
#include "troika/jobs.h"

namespace troika::jobs {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Line {
  int64_t number = 0;  // 1-based line number in the input
  std::string text;
};

// FNV-1a over the input's bytes: names the input a journal belongs to.
std::string input_id(const std::string& bytes) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "fnv1a64:%016llx:%zu",
                static_cast<unsigned long long>(fnv1a64(bytes)), bytes.size());
  return buf;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The output line for one input line, and whether it is final (journaled) or to be retried by a
// later run (cancelled, timed out).
struct Outcome {
  std::string output;
  bool ok = true;
  bool final = true;
  bool retry = false;  // rate-limited: try again now
  int64_t tokens = 0;
};

int64_t completion_tokens(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("usage") || !j["usage"].is_object()) return 0;
  const json& u = j["usage"];
  return u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()
             ? u["completion_tokens"].get<int64_t>()
             : 0;
}

bool transient(int status) { return status == 429; }
bool unfinished(int status) { return status == 499 || status == 504; }

Outcome run_line(server::Api& api, const JobOptions& o, const Line& line,
                 const server::CallContext& ctx) {
  Outcome out;
  const json in = json::parse(line.text, nullptr, false);
  const bool openai = in.is_object() && in.contains("custom_id") && in.contains("body");
  if (!openai) {
    auto error_line = [&](const std::string& code, const std::string& message) {
      out.ok = false;
      out.output = dump({{"error", {{"code", code}, {"message", message}}}});
      return out;
    };
    if (in.is_discarded() || !in.is_object()) {
      return error_line("invalid_argument",
                        "line " + std::to_string(line.number) + " is not a JSON object");
    }
    if (o.pipeline.empty()) {
      return error_line("invalid_argument",
                        "line " + std::to_string(line.number) +
                            " is not an OpenAI batch line (custom_id, url, body); give a pipeline "
                            "to run pipeline requests");
    }
    server::Reply r = api.handle("POST", "/v1/pipelines/" + o.pipeline, line.text, ctx);
    if (transient(r.status)) return {{}, false, false, true, 0};
    if (unfinished(r.status)) return {{}, false, false, false, 0};
    if (r.status == 200) {
      out.output = r.body;
      out.tokens = completion_tokens(r.body);
      return out;
    }
    const json e = json::parse(r.body, nullptr, false);
    out.ok = false;
    out.output =
        dump({{"error",
               {{"code", e.is_object() ? e["error"].value("code", "internal") : "internal"},
                {"message", e.is_object() ? e["error"].value("message", r.body) : r.body}}}});
    return out;
  }
  // An OpenAI Batch line.
  const json custom_id = in["custom_id"];
  const std::string id = "batch_req_" + std::to_string(line.number);
  auto batch_error = [&](const std::string& code, const std::string& message) {
    out.ok = false;
    out.output = dump({{"id", id},
                       {"custom_id", custom_id},
                       {"response", nullptr},
                       {"error", {{"code", code}, {"message", message}}}});
    return out;
  };
  const std::string method =
      in.contains("method") && in["method"].is_string() ? in["method"].get<std::string>() : "POST";
  if (!in.contains("url") || !in["url"].is_string()) {
    return batch_error("invalid_argument", "url: required (\"/v1/chat/completions\", ...)");
  }
  if (!in["body"].is_object())
    return batch_error("invalid_argument", "body: must be a JSON object");
  json body = in["body"];
  if (body.value("stream", false)) {
    return batch_error("invalid_argument", "body.stream: batch requests cannot stream");
  }
  server::Reply r = api.handle(method, in["url"].get<std::string>(), dump(body), ctx);
  if (transient(r.status)) return {{}, false, false, true, 0};
  if (unfinished(r.status)) return {{}, false, false, false, 0};
  json rbody = json::parse(r.body, nullptr, false);
  if (rbody.is_discarded()) rbody = r.body;
  out.ok = r.status == 200;
  out.tokens = completion_tokens(r.body);
  out.output = dump({{"id", id},
                     {"custom_id", custom_id},
                     {"response", {{"status_code", r.status}, {"request_id", id}, {"body", rbody}}},
                     {"error", nullptr}});
  return out;
}

// Rewrites `path` atomically: a temporary beside it, fsync, rename.
Status write_atomically(const std::string& path, const detail::Journal& journal) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  bool failed = false;
  Status st = journal.each([&](int64_t, const std::string& output) {
    if (std::fwrite(output.data(), 1, output.size(), f) != output.size() ||
        std::fputc('\n', f) == EOF) {
      failed = true;
    }
  });
  failed = failed || std::fflush(f) != 0 || ::fsync(fileno(f)) != 0;
  failed = std::fclose(f) != 0 || failed;
  if (!st.ok() || failed) {
    std::remove(tmp.c_str());
    return st.ok() ? unavailable("cannot write " + tmp + " (disk full?)") : st;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return unavailable("cannot move " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<JobResult> run(server::Api& api, const JobOptions& o) {
  if (o.concurrency < 1) return invalid_argument("concurrency: at least 1");
  if (o.out.empty()) return invalid_argument("give an output file");
  if (!o.pipeline.empty()) {
    const auto& names = pipeline::names();
    if (o.pipeline != "rag" && std::find(names.begin(), names.end(), o.pipeline) == names.end()) {
      return invalid_argument("no pipeline '" + o.pipeline +
                              "' (json, tools, classify, rerank, vote, graph, rag)");
    }
  }
  std::ifstream in(o.in, std::ios::binary);
  if (!in) return not_found("input file not found: " + o.in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  std::vector<Line> lines;
  {
    std::istringstream is(bytes);
    std::string text;
    int64_t n = 0;
    while (std::getline(is, text)) {
      ++n;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (text.find_first_not_of(" \t") == std::string::npos) continue;
      lines.push_back({n, std::move(text)});
    }
  }
  const std::string journal_path = o.journal.empty() ? o.out + ".journal" : o.journal;
  TROIKA_ASSIGN_OR_RETURN(auto journal, detail::Journal::open(journal_path, input_id(bytes)));
  const std::set<int64_t> done_before = journal->done();
  std::vector<const Line*> todo;
  for (const auto& l : lines) {
    if (!done_before.count(l.number)) todo.push_back(&l);
  }

  JobResult result;
  Progress& p = result.progress;
  p.total = static_cast<int64_t>(lines.size());
  p.resumed = p.total - static_cast<int64_t>(todo.size());
  p.done = p.resumed;
  p.failed = journal->failed();
  std::mutex mu;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> finished_now{0};
  Status first_error;
  const auto t0 = Clock::now();
  auto stopped = [&] {
    return (o.stop && o.stop->load()) || (o.deadline && Clock::now() >= *o.deadline);
  };
  auto report = [&] {
    // REQUIRES: mu held.
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    p.tokens_per_s = p.elapsed_s > 0 ? static_cast<double>(p.tokens) / p.elapsed_s : 0;
    const int64_t now_done = finished_now.load();
    p.eta_s = now_done > 0 ? p.elapsed_s / static_cast<double>(now_done) *
                                 static_cast<double>(p.total - p.done)
                           : -1;
    if (o.on_progress) o.on_progress(p);
  };
  server::CallContext ctx;
  ctx.reproducible = o.reproducible;
  ctx.cancel = o.stop;
  auto worker = [&] {
    for (;;) {
      if (stopped()) return;
      const size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      const Line& line = *todo[i];
      Outcome out = run_line(api, o, line, ctx);
      for (int backoff = 50; out.retry && !stopped(); backoff = std::min(backoff * 2, 2000)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
        out = run_line(api, o, line, ctx);
      }
      if (!out.final) continue;  // cancelled or timed out: the next run does it
      Status st = journal->record(line.number, out.output, out.ok);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        if (first_error.ok()) first_error = st;
        return;
      }
      finished_now.fetch_add(1);
      p.done += 1;
      p.failed += out.ok ? 0 : 1;
      p.tokens += out.tokens;
    }
  };
  std::vector<std::thread> threads;
  const int32_t n_threads =
      std::min<int32_t>(o.concurrency, std::max<int32_t>(1, static_cast<int32_t>(todo.size())));
  for (int32_t t = 0; t < n_threads; ++t) threads.emplace_back(worker);
  // Progress about twice a second until the workers are done.
  std::atomic<bool> all_done{false};
  std::thread ticker([&] {
    while (!all_done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (all_done.load()) break;
      std::lock_guard<std::mutex> lock(mu);
      report();
    }
  });
  for (auto& t : threads) t.join();
  all_done.store(true);
  ticker.join();
  TROIKA_RETURN_IF_ERROR(first_error);
  TROIKA_RETURN_IF_ERROR(write_atomically(o.out, *journal));
  {
    std::lock_guard<std::mutex> lock(mu);
    report();
  }
  result.remaining = p.total - p.done;
  result.complete = result.remaining == 0;
  return result;
}

}  // namespace troika::jobs
