// The pipeline commands as a user runs them: one input, JSONL batches in order, roles from a
// troika.toml, tools run from an exec file, and exit codes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_run.h"
#include "test_models.h"

namespace troika {
namespace {

using nlohmann::json;

using testing::CliRun;
using testing::troika;

std::string write(const std::string& name, const std::string& text) {
  const std::string path = testing::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::vector<json> lines(const std::string& out) {
  std::vector<json> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(json::parse(l));
  return v;
}

TEST(PipelinesCli, ClassifyOneInputAndStats) {
  const std::string m = testing::tiny_model("phi3");
  CliRun r = troika("classify -m " + m + " --text 'I loved it' -l positive -l negative --json --stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_EQ(out["scores"].size(), 2u);
  EXPECT_EQ(json::parse(r.err.substr(r.err.rfind('{')))["backend"], "local");
  // Bad input: one label only.
  CliRun bad = troika("classify -m " + m + " --text x -l only");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("at least two labels"), std::string::npos) << bad.err;
}

TEST(PipelinesCli, JsonlBatchAnswersInOrderAndReportsBadLines) {
  const std::string m = testing::tiny_model("llama");
  const std::string in = write("rerank.jsonl",
                               R"({"query": "a", "documents": ["x", "y", "z"], "top_k": 1})"
                               "\n"
                               R"({"query": "b", "documents": ["x", "y"]})"
                               "\n"
                               R"({"query": "c", "documents": []})"
                               "\n"
                               R"({"query": "d", "documents": ["only"]})"
                               "\n");
  CliRun r = troika("rerank -m " + m + " --in " + in);
  EXPECT_EQ(r.exit_code, 2) << r.err;  // the bad line's invalid_argument, after the others ran
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 4u) << r.out;
  EXPECT_EQ(out[0]["results"].size(), 1u);
  EXPECT_EQ(out[1]["results"].size(), 2u);
  EXPECT_EQ(out[2]["error"]["code"], "invalid_argument");
  EXPECT_EQ(out[3]["results"].size(), 1u);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
}

TEST(PipelinesCli, RoleFromAConfigAndTheJsonPipeline) {
  const std::string m = testing::tiny_model("mistral");
  const std::string config = write("pipe.toml", "[roles.fast]\nmodel = \"" + m + "\"\nctx = 2048\n");
  const std::string schema = write("age.json", R"({"type":"object","properties":{"age":{"type":"integer","minimum":0,"maximum":9}},"required":["age"],"additionalProperties":false})");
  CliRun r = troika("json --config " + config + " --system 'Extract.' -p 'Ada is 7' --schema " + schema);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json v = json::parse(r.out);
  EXPECT_TRUE(v["age"].is_number_integer()) << r.out;
  // A role that is not configured.
  CliRun missing = troika("json --config " + config + " --role tool -p x --schema " + schema);
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("role 'tool'"), std::string::npos) << missing.err;
}

TEST(PipelinesCli, ToolsRunFromAnExecFileOnly) {
  const std::string m = testing::tiny_model("mistral");
  const std::string tools = write("tools.json", R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"enum":["Oslo","Rome"]}},"required":["city"],"additionalProperties":false}}}])");
  // Without --exec: the calls come back.
  CliRun calls = troika("tools -m " + m + " --tools " + tools + " -p 'Weather?' --tool-choice required --json");
  ASSERT_EQ(calls.exit_code, 0) << calls.err;
  json c = json::parse(calls.out);
  EXPECT_EQ(c["finish"], "tool_calls");
  EXPECT_EQ(c["tool_calls"][0]["function"]["name"], "get_weather");
  // With --exec: the fake tool runs and its output is fed back.
  const std::string exec = write("exec.json", json({{"get_weather", {{"command", {testing::repo_root() + "/tests/cases/tools/bin/fake_weather"}}}}}).dump());
  CliRun ran = troika("tools -m " + m + " --tools " + tools +
                      " -p 'Weather?' --tool-choice required --exec " + exec + " --max-steps 2 --max-tokens 160 --json");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  json out = json::parse(ran.out);
  ASSERT_GE(out["messages"].size(), 3u);
  EXPECT_EQ(out["messages"][2]["role"], "tool");
  EXPECT_EQ(json::parse(out["messages"][2]["content"].get<std::string>())["ok"], true);
  // An exec file naming a missing command fails before anything runs.
  const std::string bad = write("bad-exec.json", R"({"get_weather": {"command": ["no-such-tool-xyz"]}})");
  CliRun b = troika("tools -m " + m + " --tools " + tools + " -p x --exec " + bad);
  EXPECT_EQ(b.exit_code, 3) << b.err;
  EXPECT_NE(b.err.find("no-such-tool-xyz"), std::string::npos) << b.err;
}

TEST(PipelinesCli, VoteAndGraphExports) {
  const std::string m = testing::tiny_model("phi3");
  CliRun v = troika("vote -m " + m + " -p 'Pick' -n 3 --extract text --request '{\"schema\":{\"enum\":[\"a\",\"b\"]}}' --json");
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(json::parse(v.out)["n_answered"], 3);
  const std::string req = R"('{"max_nodes":3,"max_edges":2,"max_name_chars":8,"temperature":0.8}')";
  for (const std::string fmt : {"graphml", "dot", "csv"}) {
    CliRun g = troika("graph -m " + m + " --text 'Ada met Charles.' --max-tokens 300 --format " + fmt + " --request " + req);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    if (fmt == "graphml") {
      EXPECT_NE(g.out.find("<graphml"), std::string::npos);
    } else if (fmt == "dot") {
      EXPECT_EQ(g.out.rfind("digraph G {", 0), 0u);
    } else {
      EXPECT_EQ(g.out.rfind("id,label,type,aliases,properties\n", 0), 0u);
    }
  }
  EXPECT_EQ(troika("graph -m " + m + " --text x --format rdf").exit_code, 2);
}

}  // namespace
}  // namespace troika
