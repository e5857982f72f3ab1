// Pipelines without a model: scripted roles, the tool executor, exports, the JSON entry point.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/test_clients.h"
#include "troika/pipeline.h"

namespace troika {
namespace {

using nlohmann::json;

TEST(Vote, TiesGoToTheHigherMeanLogprob) {
  testing::ScriptedClient role(
      {{"a", "stop", {}, true, -4.0, 2}, {"b", "stop", {}, true, -1.0, 2}});
  pipeline::VoteRequest r;
  r.input.prompt = "x";
  r.n = 2;
  r.extract.kind = "text";
  auto v = pipeline::vote(role, r);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->answer, "b");
  EXPECT_DOUBLE_EQ(v->confidence, 0.5);
}

TEST(Tools, ExecFileErrors) {
  const std::string dir = testing::temp_dir();
  std::ofstream(dir + "/missing.json") << R"({"f": {"command": ["/no/such/tool"]}})";
  auto r = pipeline::load_tool_commands(dir + "/missing.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/no/such/tool"), std::string::npos);
  std::ofstream(dir + "/shape.json") << R"({"f": {"cmd": "x"}})";
  EXPECT_EQ(pipeline::load_tool_commands(dir + "/shape.json").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(pipeline::load_tool_commands(dir + "/none.json").status().code(), Code::kNotFound);
  // A command that fails or hangs is an error result, fed back to the model.
  std::ofstream(dir + "/fail.json")
      << R"({"f": {"command": ["false"]}, "s": {"command": ["sleep", "5"], "timeout_s": 0.2}})";
  auto cmds = pipeline::load_tool_commands(dir + "/fail.json");
  ASSERT_TRUE(cmds.ok()) << cmds.status().to_string();
  auto exec = pipeline::command_executor(*cmds);
  EXPECT_EQ(exec({"1", "f", "{}"}).status().code(), Code::kUnavailable);
  EXPECT_EQ(exec({"2", "s", "{}"}).status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(exec({"3", "g", "{}"}).status().code(), Code::kNotFound);
}

TEST(Graph, ExportsEveryFormat) {
  pipeline::Graph g;
  g.nodes = {{"ada", "Ada \"AL\" Lovelace", "person", {{"born", "1815"}}, {"Lovelace"}},
             {"london", "London", "place", {}, {}}};
  g.edges = {{"ada", "london", "lived in", {}}};
  auto gml = pipeline::export_graph(g, "graphml");
  ASSERT_TRUE(gml.ok());
  EXPECT_NE(gml->find("<edge id=\"e0\" source=\"ada\" target=\"london\">"), std::string::npos);
  EXPECT_NE(gml->find("Ada &quot;AL&quot; Lovelace"), std::string::npos);
  auto dot = pipeline::export_graph(g, "dot");
  ASSERT_TRUE(dot.ok());
  EXPECT_NE(dot->find("\"ada\" -> \"london\" [label=\"lived in\"]"), std::string::npos);
  auto csv = pipeline::export_graph(g, "csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_NE(csv->find("ada,\"Ada \"\"AL\"\" Lovelace\",person"), std::string::npos);
  EXPECT_NE(csv->find("\nsource,target,relation,properties\nada,london,lived in,\n"),
            std::string::npos);
  auto js = pipeline::export_graph(g, "json");
  ASSERT_TRUE(js.ok());
  EXPECT_EQ(json::parse(*js)["edges"][0]["relation"], "lived in");
  EXPECT_EQ(pipeline::export_graph(g, "rdf").status().code(), Code::kInvalidArgument);
}

// Chunks are merged by normalised name, aliases kept, and edges resolve across chunks.
TEST(Graph, MergesEntitiesAcrossChunks) {
  testing::ScriptedClient role(
      {{R"({"nodes":[{"id":"a","label":"The Analytical Engine","type":"machine"},{"id":"b","label":"Ada Lovelace","type":"person"}],"edges":[{"source":"b","target":"a","relation":"described"}]})",
        "stop"},
       {R"({"nodes":[{"id":"x","label":"ada  lovelace","type":"person"},{"id":"y","label":"Charles Babbage","type":"person"}],"edges":[{"source":"y","target":"analytical engine","relation":"designed"}]})",
        "stop"}});
  pipeline::GraphRequest r;
  r.text = std::string(200, 'a') + ". " + std::string(200, 'b') + ".";
  r.chunk_tokens = 60;
  r.overlap_tokens = 0;
  auto g = pipeline::graph(role, r);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->chunks, 2);
  ASSERT_EQ(g->graph.nodes.size(), 3u);  // the chunks ran at once: any order
  const pipeline::Node* ada = nullptr;
  for (const auto& n : g->graph.nodes)
    if (n.id == "ada lovelace") ada = &n;
  ASSERT_NE(ada, nullptr);
  EXPECT_EQ(ada->aliases.size(), 1u);  // "Ada Lovelace" and "ada  lovelace"
  ASSERT_EQ(g->graph.edges.size(), 2u);
  for (const auto& e : g->graph.edges) EXPECT_TRUE(e.target == "analytical engine") << e.target;
  EXPECT_EQ(g->dropped_edges, 0);
}

TEST(Run, UnknownPipelineAndBadJson) {
  testing::ScriptedClient role(std::vector<host::ChatChoice>{{"{}", "stop"}});
  EXPECT_EQ(pipeline::run("summarise", role, "{}").status().code(), Code::kNotFound);
  EXPECT_EQ(pipeline::run("json", role, "{").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pipeline::run("json", role, "[]").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pipeline::run("json", role, R"({"prompt": 3})").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(pipeline::default_role("tools"), "fast");
  EXPECT_EQ(pipeline::default_role("rerank"), "tool");
  EXPECT_EQ(pipeline::default_role("graph"), "graph");
}

}  // namespace
}  // namespace troika
