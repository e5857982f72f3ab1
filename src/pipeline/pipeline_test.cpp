// Pipelines against naive implementations, the tool loop with a fake executable, exports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/test_clients.h"
#include "troika/pipeline.h"

namespace troika {
namespace {

using nlohmann::json;

// Classification by scoring each label in a request of its own (no shared prefix, no forks).
TEST(Classify, MatchesScoringEachLabelSeparately) {
  host::RoleClient& role = testing::local_role("llama");
  pipeline::ClassifyRequest r;
  r.text = "The match ended two all.";
  r.labels = {{"sport", ""}, {"politics", ""}, {"weather", "rain, sun"}};
  auto got = pipeline::classify(role, r);
  ASSERT_TRUE(got.ok()) << got.status().to_string();

  const engine::Model& model = role.scheduler()->model();
  const std::string user =
      "Classify the text into one of these labels.\n\nLabels:\n- sport\n- politics\n- weather: "
      "rain, sun\n\nText:\nThe match ended two all.\n\nAnswer with the label only.";
  const std::vector<engine::ChatMessage> msgs = {{"user", user}};
  auto prompt = model.tokenize(*model.render_chat(msgs), true, true);
  ASSERT_TRUE(prompt.ok());
  std::vector<double> lp;
  for (const auto& l : r.labels) {
    schedule::ScoreRequest one;
    one.prefix = *prompt;
    auto ids = *model.tokenize(l.name, false, false);
    ids.push_back(model.info().special.eot);
    one.continuations = {ids};
    auto s = role.scheduler()->score(one).get();
    ASSERT_TRUE(s.ok());
    lp.push_back(s->scores[0].logprob);
  }
  double z = 0;
  for (double v : lp) z += std::exp(v);
  for (size_t i = 0; i < lp.size(); ++i) {
    // Batched and single scoring sum the same fp32 terms in another order: a relative bound
    // (a random-weight model gives labels log-probabilities near -36, where 2e-3 is 6e-5).
    EXPECT_NEAR(got->scores[i].logprob, lp[i], std::max(2e-3, 1e-4 * std::abs(lp[i])))
        << r.labels[i].name;
    EXPECT_NEAR(got->scores[i].p, std::exp(lp[i]) / z, 1e-3);
  }
}

// Reranking all documents at once (one prefix, forked) equals reranking one at a time.
TEST(Rerank, MatchesOneDocumentAtATime) {
  host::RoleClient& role = testing::local_role("phi3");
  pipeline::RerankRequest r;
  r.query = "how do plants make food";
  r.documents = {"Photosynthesis turns light into sugar.", "Cars need fuel.",
                 "Leaves hold chlorophyll.", "The stock market fell.", "Roots take up water."};
  auto all = pipeline::rerank(role, r);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->results.size(), 5u);
  for (const auto& hit : all->results) {
    pipeline::RerankRequest one = r;
    one.documents = {r.documents[hit.index]};
    auto alone = pipeline::rerank(role, one);
    ASSERT_TRUE(alone.ok());
    // Batches of other shapes round differently on the CPU; a wrong prefix or document
    // would be off by whole units.
    EXPECT_NEAR(alone->results[0].logit, hit.logit, 1e-2) << r.documents[hit.index];
  }
  pipeline::RerankRequest top = r;
  top.top_k = 2;
  auto best = pipeline::rerank(role, top);
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->results.size(), 2u);
  EXPECT_EQ(best->results[0].index, all->results[0].index);
  EXPECT_EQ(best->results[1].index, all->results[1].index);
}

// Samples under an enum: every sample answers, the counts add up, ties go by log-probability.
TEST(Vote, CountsAddUpOnALocalRole) {
  host::RoleClient& role = testing::local_role("mistral");
  pipeline::VoteRequest r;
  r.input.prompt = "Choose.";
  r.n = 7;
  r.extract.kind = "text";
  r.schema = R"({"enum":["x","y"]})";
  r.return_samples = true;
  auto v = pipeline::vote(role, r);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->n_answered, 7);
  ASSERT_EQ(v->samples.size(), 7u);
  int sum = 0;
  for (const auto& t : v->tally) sum += t.count;
  EXPECT_EQ(sum, 7);
  for (const auto& s : v->samples) EXPECT_TRUE(s.has_logprob);
  EXPECT_NEAR(v->confidence, v->tally[0].count / 7.0, 1e-12);
}

// The tool loop: the model calls, a real executable runs the call, its output is fed back.
TEST(Tools, LoopRunsAFakeToolAndFeedsItBack) {
  host::RoleClient& role = testing::local_role("mistral");
  const std::string dir = testing::temp_dir();
  const std::string exec = dir + "/exec.json";
  std::ofstream(exec) << json({{"get_weather",
                                {{"command",
                                  {testing::repo_root() + "/tests/cases/tools/bin/fake_weather"}},
                                 {"timeout_s", 10}}}})
                             .dump();
  auto commands = pipeline::load_tool_commands(exec);
  ASSERT_TRUE(commands.ok()) << commands.status().to_string();
  pipeline::ToolsRequest r;
  r.messages = {{"user", "Weather in Oslo?"}};
  r.tools = {
      {"get_weather", "weather",
       R"({"type":"object","properties":{"city":{"enum":["Oslo","Rome"]}},"required":["city"],"additionalProperties":false})"}};
  r.tool_choice = "required";
  r.max_steps = 2;
  r.sampling.max_tokens = 48;
  auto out = pipeline::tools(role, r, pipeline::command_executor(*commands));
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->format, "mistral");
  ASSERT_GE(out->messages.size(), 3u);
  const auto& call = out->messages[1];
  ASSERT_EQ(call.tool_calls.size(), 1u);
  EXPECT_EQ(call.tool_calls[0].name, "get_weather");
  const auto& result = out->messages[2];
  EXPECT_EQ(result.role, "tool");
  EXPECT_EQ(result.tool_call_id, call.tool_calls[0].id);
  auto j = json::parse(result.content);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["args"], json::parse(call.tool_calls[0].arguments));
  EXPECT_TRUE(out->finish == "stop" || out->finish == "max_steps") << out->finish;
  EXPECT_LE(out->steps, 2);
}

}  // namespace
}  // namespace troika

namespace troika {
namespace {

// The family templates render the tools, the calls and the results in their own formats.
TEST(Tools, FamilyTemplatesRenderToolsCallsAndResults) {
  std::vector<engine::ChatMessage> msgs = {{"user", "Weather in Oslo?"}};
  engine::ChatMessage call{"assistant", ""};
  call.tool_calls = {{"call00001", "get_weather", R"({"city":"Oslo"})"}};
  engine::ChatMessage result{"tool", "{\"temp\": 3}"};
  result.tool_call_id = "call00001";
  msgs.push_back(call);
  msgs.push_back(result);
  engine::ChatRenderOptions o;
  o.tools = {{"get_weather", "Current weather",
              R"({"type":"object","properties":{"city":{"type":"string"}}})"}};
  auto mistral = testing::local_role("mistral").scheduler()->model().render_chat(msgs, o);
  ASSERT_TRUE(mistral.ok()) << mistral.status().to_string();
  EXPECT_NE(mistral->find("[AVAILABLE_TOOLS]"), std::string::npos) << *mistral;
  EXPECT_NE(mistral->find("[TOOL_CALLS]"), std::string::npos) << *mistral;
  EXPECT_NE(mistral->find("[TOOL_RESULTS]"), std::string::npos) << *mistral;
  EXPECT_NE(mistral->find("call00001"), std::string::npos) << *mistral;
  auto llama = testing::local_role("llama").scheduler()->model().render_chat(msgs, o);
  ASSERT_TRUE(llama.ok()) << llama.status().to_string();
  EXPECT_NE(llama->find("Environment: ipython"), std::string::npos) << *llama;
  EXPECT_NE(llama->find("\"get_weather\""), std::string::npos) << *llama;
  EXPECT_NE(llama->find("<|start_header_id|>ipython<|end_header_id|>"), std::string::npos)
      << *llama;
}

}  // namespace
}  // namespace troika
