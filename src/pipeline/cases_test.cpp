// Data-driven pipeline cases (tests/cases/<pipeline>/*.json), each
//   {"role": "llama" | "mistral" | "phi3" | "gemma2" | "scripted",
//    "script": [answer texts, for the scripted role],
//    "request": {...},
//    "expect": {"error": "invalid_argument", "message": "substring"}   or
//              {"equals": {"/json/pointer": value, ...}}}
// and, whatever the case says, the structural checks of its pipeline on every response.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "pipeline/test_clients.h"
#include "troika/constrain.h"
#include "troika/pipeline.h"

namespace troika {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void check_json(const json& req, const json& out) {
  const std::string schema = req.contains("schema") ? req["schema"].dump() : "true";
  auto s = constrain::Schema::compile(schema);
  ASSERT_TRUE(s.ok());
  auto errors = (*s)->validate(out["value"].dump());
  ASSERT_TRUE(errors.ok());
  EXPECT_TRUE(errors->empty()) << out.dump();
}

void check_classify(const json& req, const json& out) {
  ASSERT_EQ(out["scores"].size(), req["labels"].size());
  double sum = 0, best = -1;
  std::string argmax;
  for (const auto& s : out["scores"]) {
    const double p = s["p"];
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 1.0);
    sum += p;
    if (p > best) {
      best = p;
      argmax = s["label"];
    }
  }
  EXPECT_EQ(out["label"], argmax);
  if (!req.value("multi_label", false)) {
    EXPECT_NEAR(sum, 1.0, 1e-6) << out.dump();
    double raw = 0, mean = 0;
    for (const auto& s : out["scores"])
      raw += s["p_raw"].get<double>(), mean += s["p_mean"].get<double>();
    EXPECT_NEAR(raw, 1.0, 1e-6);
    EXPECT_NEAR(mean, 1.0, 1e-6);
  } else {
    const double t = req.value("threshold", 0.5);
    for (const auto& s : out["scores"])
      EXPECT_EQ(s["selected"].get<bool>(), s["p"].get<double>() >= t);
  }
}

void check_rerank(const json& req, const json& out) {
  const size_t n = req["documents"].size();
  const size_t k = req.value("top_k", 0);
  EXPECT_EQ(out["results"].size(), k ? std::min(k, n) : n);
  std::set<int> seen;
  double prev = 2;
  for (const auto& h : out["results"]) {
    const int i = h["index"];
    EXPECT_TRUE(i >= 0 && static_cast<size_t>(i) < n);
    EXPECT_TRUE(seen.insert(i).second) << "index twice";
    EXPECT_LE(h["score"].get<double>(), prev) << "not best first";
    prev = h["score"];
  }
}

void check_vote(const json& req, const json& out) {
  int total = 0, prev = 1 << 30;
  for (const auto& t : out["tally"]) {
    total += t["count"].get<int>();
    EXPECT_LE(t["count"].get<int>(), prev);
    prev = t["count"];
  }
  EXPECT_EQ(total, out["n_answered"].get<int>());
  const int n = req.value("n", 5);
  EXPECT_LE(total, n);
  if (!out["tally"].empty()) {
    EXPECT_EQ(out["answer"], out["tally"][0]["answer"]);
    EXPECT_NEAR(out["confidence"].get<double>(), out["tally"][0]["count"].get<double>() / n, 1e-9);
  }
}

void check_graph(const json&, const json& out) {
  std::set<std::string> ids;
  for (const auto& n : out["graph"]["nodes"])
    EXPECT_TRUE(ids.insert(n["id"]).second) << "node twice";
  std::set<std::string> edges;
  for (const auto& e : out["graph"]["edges"]) {
    EXPECT_TRUE(ids.count(e["source"])) << "edge from a missing node: " << e.dump();
    EXPECT_TRUE(ids.count(e["target"])) << "edge to a missing node: " << e.dump();
    EXPECT_TRUE(edges.insert(e.dump()).second) << "edge twice";
  }
}

void check_tools(const json& req, const json& out) {
  std::map<std::string, std::string> params;
  for (const auto& t : req["tools"]) {
    const json& f = t.contains("function") ? t["function"] : t;
    params[f["name"]] = f.contains("parameters") ? f["parameters"].dump() : "true";
  }
  for (const auto& m : out["messages"]) {
    if (!m.contains("tool_calls")) continue;
    for (const auto& c : m["tool_calls"]) {
      const std::string name = c["function"]["name"];
      ASSERT_TRUE(params.count(name)) << "unknown tool " << name;
      auto s = constrain::Schema::compile(params[name]);
      ASSERT_TRUE(s.ok());
      auto errors = (*s)->validate(c["function"]["arguments"].get<std::string>());
      ASSERT_TRUE(errors.ok());
      EXPECT_TRUE(errors->empty()) << c.dump();
      EXPECT_EQ(c["id"].get<std::string>().size(), 9u);
    }
  }
  const std::string finish = out["finish"];
  EXPECT_TRUE(finish == "stop" || finish == "tool_calls" || finish == "max_steps") << finish;
  if (finish == "tool_calls") {
    EXPECT_FALSE(out["tool_calls"].empty());
  }
}

void check_structure(const std::string& pipeline, const json& req, const json& out) {
  if (pipeline == "json") check_json(req, out);
  if (pipeline == "classify") check_classify(req, out);
  if (pipeline == "rerank") check_rerank(req, out);
  if (pipeline == "vote") check_vote(req, out);
  if (pipeline == "graph") check_graph(req, out);
  if (pipeline == "tools") check_tools(req, out);
  ASSERT_TRUE(out.contains("usage"));
}

struct Case {
  std::string pipeline, path;
};

std::vector<Case> all_cases() {
  std::vector<Case> out;
  const fs::path root = fs::path(testing::repo_root()) / "tests" / "cases";
  for (const auto& p : pipeline::names()) {
    if (!fs::exists(root / p)) continue;
    for (const auto& e : fs::directory_iterator(root / p)) {
      if (e.path().extension() != ".json") continue;
      // Two binaries share this file: the scripted cases run as unit tests (under the
      // sanitizers too), the ones on tiny models as model tests.
      std::ifstream f(e.path());
      const bool scripted = json::parse(f).value("role", "llama") == "scripted";
      if (scripted == TROIKA_SCRIPTED_CASES) out.push_back({p, e.path().string()});
    }
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.path < b.path; });
  return out;
}

class PipelineCase : public ::testing::TestWithParam<Case> {};

TEST_P(PipelineCase, Holds) {
  const Case& c = GetParam();
  std::ifstream f(c.path);
  json spec = json::parse(f);
  const std::string role = spec.value("role", "llama");
  std::unique_ptr<testing::ScriptedClient> scripted;
  host::RoleClient* client = nullptr;
  if (role == "scripted") {
    std::vector<host::ChatChoice> script;
    for (const auto& s : spec["script"]) script.push_back({s.get<std::string>(), "stop"});
    scripted = std::make_unique<testing::ScriptedClient>(script);
    client = scripted.get();
  } else {
    client = &testing::local_role(role);
  }
  auto out = pipeline::run(c.pipeline, *client, spec["request"].dump());
  const json expect = spec.value("expect", json::object());
  if (expect.contains("error")) {
    ASSERT_FALSE(out.ok()) << *out;
    EXPECT_EQ(to_string(out.status().code()), expect["error"].get<std::string>())
        << out.status().to_string();
    if (expect.contains("message")) {
      EXPECT_NE(out.status().message().find(expect["message"].get<std::string>()),
                std::string::npos)
          << out.status().message();
    }
    return;
  }
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const json response = json::parse(*out);
  check_structure(c.pipeline, spec["request"], response);
  const json equals = expect.value("equals", json::object());
  for (const auto& [ptr, want] : equals.items()) {
    EXPECT_EQ(response.at(json::json_pointer(ptr)), want) << ptr << " in " << response.dump();
  }
}

// A binary with no cases of its kind still links (and reports nothing).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PipelineCase);
INSTANTIATE_TEST_SUITE_P(Cases, PipelineCase, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n =
                               i.param.pipeline + "_" + fs::path(i.param.path).stem().string();
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace troika
