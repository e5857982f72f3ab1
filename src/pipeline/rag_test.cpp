// The rag pipeline over a small knowledge base: citations checked against the chunks they name
// (a verbatim quote passes, a fabricated or misattributed one is flagged), "the sources do not
// say", source ids constrained to those given, the source budget, the judge, and the JSON shape.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_clients.h"
#include "troika/rag.h"

namespace troika::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::unique_ptr<retrieval::Store> knowledge_base(const std::string& name) {
  const std::string p = testing::temp_dir() + "/" + name;
  for (const std::string& x : {p, p + ".xapian", p + "-wal", p + "-shm"}) fs::remove_all(x);
  auto s = retrieval::Store::open(p);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  const std::vector<retrieval::Document> docs = {
      {"fox.txt", "Foxes", "Red foxes live in forests and hunt small rodents at night.", {}},
      {"dog.txt", "Dogs", "Dogs guard the house and bark at foxes in the garden.", {}},
      {"bonds.txt", "Bonds", "Bond prices fall when interest rates rise.", {}},
      {"лиса.txt", "Лисы", "Лисы живут в лесу и охотятся на мышей ночью.", {}}};
  EXPECT_TRUE((*s)->add(docs).ok());
  return std::move(*s);
}

host::ChatChoice answer(const json& j) {
  host::ChatChoice c;
  c.text = j.dump();
  c.finish_reason = "stop";
  return c;
}

TEST(Rag, CitationsAreCheckedAgainstTheChunkTheyName) {
  auto kb = knowledge_base("rag-check.sqlite");
  RagRequest r;
  r.question = "Where do foxes live and what do dogs do?";
  r.k = 3;
  // Which source number each chunk gets follows the search; read it from a first run.
  testing::ScriptedClient probe({answer({{"answer", "x"}, {"citations", json::array()}})});
  auto first = rag(probe, *kb, r);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_GE(first->sources.size(), 2u);
  int fox = 0, dog = 0;
  for (const auto& s : first->sources) {
    if (s.hit.source == "fox.txt") fox = s.id;
    if (s.hit.source == "dog.txt") dog = s.id;
  }
  ASSERT_TRUE(fox && dog);
  // The prompt shows the numbered sources and the question.
  const std::string& prompt = probe.requests.at(0).messages.back().content;
  EXPECT_NE(prompt.find("[" + std::to_string(fox) + "] Foxes\nRed foxes live"), std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("Question: " + r.question), std::string::npos);
  EXPECT_TRUE(first->answered);

  testing::ScriptedClient model({answer(
      {{"answer", "Foxes live in forests; dogs bark at them."},
       {"citations",
        {{{"source", fox}, {"quote", "Red foxes live in forests"}},                  // verbatim
         {{"source", dog}, {"quote", "\u201cbark at  foxes\nin the garden\u201d"}},  // spacing
         {{"source", fox}, {"quote", "Foxes are the fastest animals on earth"}},     // fabricated
         {{"source", fox}, {"quote", "Dogs guard the house"}}}}})});                 // other source
  auto res = rag(model, *kb, r);
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  ASSERT_EQ(res->citations.size(), 4u);
  EXPECT_TRUE(res->citations[0].verbatim);
  EXPECT_TRUE(res->citations[0].supported);
  EXPECT_TRUE(res->citations[1].verbatim) << res->citations[1].problem;
  EXPECT_FALSE(res->citations[2].verbatim);
  EXPECT_FALSE(res->citations[2].supported);
  EXPECT_EQ(res->citations[2].problem, "the quote is not in source " + std::to_string(fox));
  EXPECT_FALSE(res->citations[3].supported);
  EXPECT_EQ(res->citations[3].problem,
            "the quote is from source " + std::to_string(dog) + ", not " + std::to_string(fox));
  EXPECT_EQ(res->unsupported, 2);
  EXPECT_EQ(res->citations[0].support, -1);  // not judged
}

TEST(Rag, TheSourcesDoNotSayAndIdsOutsideTheSourcesAreRefused) {
  auto kb = knowledge_base("rag-none.sqlite");
  RagRequest r;
  r.question = "What colour are foxes?";
  r.k = 2;
  testing::ScriptedClient none(
      {answer({{"answer", std::string(kSourcesDoNotSay)}, {"citations", json::array()}})});
  auto res = rag(none, *kb, r);
  ASSERT_TRUE(res.ok());
  EXPECT_FALSE(res->answered);
  EXPECT_EQ(res->unsupported, 0);
  // A citation of a source that was not given fails the schema; the retry cites a real one.
  testing::ScriptedClient wild(
      {answer({{"answer", "Red."}, {"citations", {{{"source", 7}, {"quote", "Red"}}}}}),
       answer({{"answer", "Red."}, {"citations", {{{"source", 1}, {"quote", "Red"}}}}})});
  res = rag(wild, *kb, r);
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  EXPECT_EQ(wild.requests.size(), 2u);
  ASSERT_EQ(res->citations.size(), 1u);
  EXPECT_EQ(res->citations[0].source, 1);
}

TEST(Rag, TheSourceBudgetAndTheRequestShape) {
  auto kb = knowledge_base("rag-shape.sqlite");
  testing::ScriptedClient model({answer({{"answer", "x"}, {"citations", json::array()}})});
  RagRequest r;
  r.question = "foxes dogs bonds лисы";
  r.k = 4;
  r.source_tokens = 1;  // room for the first source only
  auto res = rag(model, *kb, r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->sources.size(), 1u);
  r.source_tokens = 0;
  res = rag(model, *kb, r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->sources.size(), 4u);
  // Russian questions find Russian sources (stemmed: лисы / лиса).
  r.question = "где живут лисы";
  res = rag(model, *kb, r);
  ASSERT_TRUE(res.ok());
  ASSERT_FALSE(res->sources.empty());
  EXPECT_EQ(res->sources[0].hit.source, "лиса.txt");

  auto out = run_rag(model, *kb, R"({"question": "foxes?", "k": 2, "max_tokens": 64})");
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const json j = json::parse(*out);
  for (const char* key : {"answer", "answered", "citations", "unsupported", "sources", "usage"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(run_rag(model, *kb, R"({"question": "x", "kk": 2})").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(run_rag(model, *kb, R"({"k": 2})").status().code(), Code::kInvalidArgument);
  auto judged = run_rag(model, *kb, R"({"question": "foxes?", "judge": true})");
  EXPECT_EQ(judged.status().code(), Code::kInvalidArgument);
  EXPECT_NE(judged.status().message().find("tool role"), std::string::npos);
  EXPECT_EQ(run_rag(model, *kb, R"({"question": "x", "mode": "dense"})").status().code(),
            Code::kInvalidArgument);  // no vectors without an embedding model
}

// A local role decodes under the schema: whatever the random model writes is a valid answer
// whose ids are the sources given; its quotes are (almost surely) not in them, and are flagged.
// The local judge scores every citation.
TEST(Rag, ALocalRoleAnswersUnderTheSchemaAndTheJudgeScores) {
  auto kb = knowledge_base("rag-local.sqlite");
  RagRequest r;
  r.question = "Where do foxes live?";
  r.k = 2;
  r.judge = true;
  r.sampling.max_tokens = 200;
  r.sampling.temperature = 0.7f;
  r.sampling.seed = 11;
  auto res = rag(testing::local_role("llama"), *kb, r, &testing::local_role("phi3"));
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  ASSERT_FALSE(res->sources.empty());
  for (const auto& c : res->citations) {
    EXPECT_GE(c.source, 1);
    EXPECT_LE(c.source, static_cast<int32_t>(res->sources.size()));
    EXPECT_GE(c.support, 0.0);
    EXPECT_LE(c.support, 1.0);
    if (!c.verbatim) {
      EXPECT_FALSE(c.supported);
    }
  }
  EXPECT_EQ(res->usage.backend, "local");
}

}  // namespace
}  // namespace troika::pipeline
