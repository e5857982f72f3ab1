// troika-bench-pipelines: the pipelines' throughput on a synthetic model, and the workloads the
// anchor (llama-server) runs for the same prompts.
//   --emit FILE --scenario classify|rerank|vote --model M   writes the rendered prompts as JSON
//   --run FILE --model M --threads T                          runs the pipeline, prints JSON
//   --throughput json|tools|graph --model M --threads T       our side only (no anchor)
// The prompts are the pipelines' own (docs/pipelines/classify.md, rerank.md), rendered with the
// model's chat template, so both sides see the same text.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "troika/host.h"
#include "troika/pipeline.h"
#include "troika/schedule.h"

using namespace troika;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double since_ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

const char* kWords[] = {"the",   "parcel", "arrived", "late",    "and",    "broken",  "service",
                        "was",   "great",  "price",   "too",     "high",   "weather", "rain",
                        "city",  "river",  "engine",  "machine", "plants", "light",   "sugar",
                        "water", "market", "stock",   "fell",    "happy",  "sad",     "question"};

std::string words(std::mt19937& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
  }
  return s + ".";
}

const std::vector<std::string> kLabels = {"complaint", "praise", "question", "request", "other"};

json workload(const std::string& sc) {
  std::mt19937 rng(1234);
  json w = {{"scenario", sc}};
  if (sc == "classify") {  // 64 texts x 5 labels
    w["labels"] = kLabels;
    for (int i = 0; i < 64; ++i) w["texts"].push_back(words(rng, 40));
  } else if (sc == "rerank") {  // 8 queries x 16 documents
    for (int q = 0; q < 8; ++q) {
      json docs = json::array();
      for (int d = 0; d < 16; ++d) docs.push_back(words(rng, 48));
      w["queries"].push_back({{"query", words(rng, 8)}, {"documents", docs}});
    }
  } else if (sc == "vote") {  // 8 questions, n = 8, 64 new tokens
    for (int i = 0; i < 8; ++i) w["questions"].push_back(words(rng, 120) + " What is the answer?");
    w["n"] = 8;
    w["max_tokens"] = 64;
  }
  return w;
}

std::string render(const engine::Model& m, const std::string& user) {
  const std::vector<engine::ChatMessage> msgs = {{"user", user}};
  return *m.render_chat(msgs);
}

// The user turns the pipelines write (see the docs named at the top).
std::string classify_turn(const std::string& text) {
  std::string s = "Classify the text into one of these labels.\n\nLabels:\n";
  for (const auto& l : kLabels) s += "- " + l + "\n";
  return s + "\nText:\n" + text + "\n\nAnswer with the label only.";
}
std::string rerank_turn(const std::string& query, const std::string& doc) {
  return "Judge whether the document answers the query or contains information relevant to it."
         "\n\nQuery: " +
         query + "\n\nDocument: " + doc +
         "\n\nIs the document relevant to the query? Answer yes or no.";
}

int emit(const std::string& file, const std::string& sc, const std::string& model_path) {
  engine::ModelOptions mo;
  mo.vocab_only = true;
  auto model = engine::Model::load(model_path, mo);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  json w = workload(sc);
  if (sc == "classify") {
    for (const auto& t : w["texts"]) w["prompts"].push_back(render(**model, classify_turn(t)));
  } else if (sc == "rerank") {
    for (const auto& q : w["queries"])
      for (const auto& d : q["documents"])
        w["prompts"].push_back(render(**model, rerank_turn(q["query"], d)));
  } else {
    for (const auto& q : w["questions"]) w["prompts"].push_back(render(**model, q));
  }
  std::ofstream(file) << w.dump();
  return 0;
}

struct Local {
  std::unique_ptr<host::RoleClient> client;
  schedule::Scheduler* sched = nullptr;
};

Local open(const std::string& path, int threads) {
  auto model = engine::Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    std::exit(1);
  }
  schedule::SchedulerOptions so;
  so.n_threads = threads;
  so.n_seq_max = 64;
  so.n_ctx = 32768;
  so.prefix_cache_tokens = 4096;
  auto sched = schedule::Scheduler::create(*model, so);
  if (!sched.ok()) {
    std::fprintf(stderr, "%s\n", sched.status().to_string().c_str());
    std::exit(1);
  }
  std::shared_ptr<schedule::Scheduler> s(std::move(*sched));
  Local l;
  l.sched = s.get();
  l.client = host::local_client(s, path);
  return l;
}

// Runs `f(i)` for i in [0, n) all at once and returns the wall time; exits on an error.
template <typename F>
double all_at_once(int n, F f, int64_t* tokens) {
  const auto t0 = Clock::now();
  std::vector<std::future<Result<pipeline::Usage>>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(std::async(std::launch::async, f, i));
  for (auto& x : fs) {
    auto r = x.get();
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      std::exit(1);
    }
    *tokens += r->completion_tokens;
  }
  return since_ms(t0);
}

int run(const std::string& file, const std::string& model, int threads) {
  std::ifstream in(file);
  const json w = json::parse(in);
  const std::string sc = w["scenario"];
  Local l = open(model, threads);
  int64_t tokens = 0;
  double wall = 0;
  int items = 0;
  if (sc == "classify") {
    items = static_cast<int>(w["texts"].size());
    wall = all_at_once(
        items,
        [&](int i) -> Result<pipeline::Usage> {
          pipeline::ClassifyRequest r;
          r.text = w["texts"][i];
          for (const auto& lab : w["labels"]) r.labels.push_back({lab, ""});
          TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::classify(*l.client, r));
          return out.usage;
        },
        &tokens);
  } else if (sc == "rerank") {
    items = static_cast<int>(w["queries"].size());
    wall = all_at_once(
        items,
        [&](int i) -> Result<pipeline::Usage> {
          pipeline::RerankRequest r;
          r.query = w["queries"][i]["query"];
          r.documents = w["queries"][i]["documents"].get<std::vector<std::string>>();
          TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::rerank(*l.client, r));
          return out.usage;
        },
        &tokens);
  } else {
    items = static_cast<int>(w["questions"].size());
    wall = all_at_once(
        items,
        [&](int i) -> Result<pipeline::Usage> {
          pipeline::VoteRequest r;
          r.input.prompt = w["questions"][i];
          r.n = w["n"];
          r.sampling.max_tokens = w["max_tokens"];
          r.sampling.temperature = 0.8f;
          r.sampling.seed = static_cast<uint32_t>(i);
          TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::vote(*l.client, r));
          return out.usage;
        },
        &tokens);
  }
  const auto st = l.sched->stats();
  std::printf("%s\n", json({{"scenario", sc},
                            {"wall_ms", wall},
                            {"items", items},
                            {"tokens", tokens},
                            {"steps", st.steps},
                            {"decode_ms", st.decode_ms},
                            {"sample_ms", st.sample_ms},
                            {"overhead_ms", st.overhead_ms}})
                          .dump()
                          .c_str());
  return 0;
}

// Our side only: requests per second and generated tokens per second of a pipeline.
int throughput(const std::string& sc, const std::string& model, int threads) {
  Local l = open(model, threads);
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  for (int i = 0; i < 16; ++i) texts.push_back(words(rng, 60));
  int64_t tokens = 0;
  const int n = sc == "graph" ? 8 : 16;
  const double wall = all_at_once(
      n,
      [&](int i) -> Result<pipeline::Usage> {
        if (sc == "json") {
          pipeline::JsonRequest r;
          r.input.prompt = "Extract the person: " + texts[i];
          r.schema =
              R"({"type":"object","properties":{"name":{"type":"string","maxLength":24},"age":{"type":"integer","minimum":0,"maximum":130},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3}},"required":["name","age","tags"],"additionalProperties":false})";
          r.sampling.max_tokens = 96;
          r.sampling.temperature = 0.8f;
          r.sampling.seed = static_cast<uint32_t>(i);
          TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::json(*l.client, r));
          return out.usage;
        }
        if (sc == "tools") {
          pipeline::ToolsRequest r;
          r.messages = {{"user", texts[i]}};
          r.tools = {
              {"lookup", "find a record",
               R"({"type":"object","properties":{"id":{"type":"integer","minimum":1,"maximum":999},"kind":{"enum":["order","user"]}},"required":["id","kind"],"additionalProperties":false})"}};
          r.tool_choice = "required";
          r.parallel = false;
          r.sampling.max_tokens = 64;
          r.sampling.temperature = 0.8f;
          TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::tools(*l.client, r));
          return out.usage;
        }
        pipeline::GraphRequest r;
        r.text = texts[i] + " " + texts[(i + 1) % texts.size()];
        r.max_nodes = 6;
        r.max_edges = 6;
        r.max_name_chars = 16;
        r.sampling.max_tokens = 400;
        r.sampling.temperature = 0.8f;
        TROIKA_ASSIGN_OR_RETURN(auto out, pipeline::graph(*l.client, r));
        return out.usage;
      },
      &tokens);
  std::printf("%s\n", json({{"scenario", sc},
                            {"wall_ms", wall},
                            {"requests", n},
                            {"requests_per_s", n * 1000.0 / wall},
                            {"tokens_per_s", tokens * 1000.0 / wall}})
                          .dump()
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, arg, model, scenario;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--emit" || k == "--run" || k == "--throughput") {
      mode = k;
      arg = v;
    } else if (k == "--model") {
      model = v;
    } else if (k == "--scenario") {
      scenario = v;
    } else if (k == "--threads") {
      threads = std::stoi(v);
    }
  }
  if (mode == "--emit" && !model.empty()) return emit(arg, scenario, model);
  if (mode == "--run" && !model.empty()) return run(arg, model, threads);
  if (mode == "--throughput" && !model.empty()) return throughput(arg, model, threads);
  std::fprintf(
      stderr,
      "usage: troika-bench-pipelines --emit FILE --scenario classify|rerank|vote --model M\n"
      "       troika-bench-pipelines --run FILE --model M [--threads T]\n"
      "       troika-bench-pipelines --throughput json|tools|graph --model M [--threads T]\n");
  return 2;
}
