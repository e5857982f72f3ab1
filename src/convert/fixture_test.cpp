// Every reference fixture converts, loads, and reproduces what transformers computed on it:
// logits for the prompt, the greedy continuation, and the tokenizer's ids.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "test_models.h"
#include "troika/convert.h"

namespace troika::convert {
namespace {

using troika::testing::fixture_dir;

struct FixtureCase {
  const char* fixture;
  const char* type;
  double logits_tol;    // the tolerances; llama.cpp's own converter reaches 2e-6 / 1.2e-3 / 3e-2
  bool parse_special;   // how the reference tokenized: HF tokenizers parse specials, sentencepiece not
};

class FixtureTest : public ::testing::TestWithParam<FixtureCase> {
 protected:
  // Each fixture converts once per test process; the logits and tokenizer tests share it.
  std::shared_ptr<engine::Model> convert_and_load(const FixtureCase& c) {
    const std::string out = troika::testing::temp_dir() + "/" + c.fixture + "-" + c.type + ".gguf";
    if (!std::filesystem::exists(out)) {
      ConvertOptions o;
      o.type = c.type;
      auto r = convert(fixture_dir(c.fixture), out, o);
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      if (!r.ok()) return nullptr;
    }
    auto m = engine::Model::load(out);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return m.ok() ? *m : nullptr;
  }
};

TEST_P(FixtureTest, ReproducesGoldenLogitsAndGreedyContinuation) {
  const FixtureCase& c = GetParam();
  auto model = convert_and_load(c);
  ASSERT_TRUE(model);
  const auto golden = troika::testing::read_golden(c.fixture);
  ASSERT_EQ(model->info().n_vocab, golden.n_vocab);
  const auto logits = troika::testing::all_logits(model, golden.prompt_ids);
  const double diff = troika::testing::max_abs_diff(logits, golden.logits);
  EXPECT_LE(diff, c.logits_tol) << c.fixture << " " << c.type;
  RecordProperty("max_abs_diff", std::to_string(diff));
  // An exact greedy match is only a fair test where the reference's own top-2 gaps are far
  // larger than our logits' error.
  if (golden.min_margin > 10 * diff) {
    EXPECT_EQ(troika::testing::greedy(model, golden.prompt_ids, static_cast<int>(golden.greedy.size())), golden.greedy);
  }
}

TEST_P(FixtureTest, TokenizerReproducesReference) {
  const FixtureCase& c = GetParam();
  std::ifstream in(fixture_dir(c.fixture) + "/golden_tokenize.json");
  if (!in) GTEST_SKIP() << c.fixture << " has no golden_tokenize.json";
  auto model = convert_and_load(c);
  ASSERT_TRUE(model);
  const auto j = nlohmann::json::parse(in);
  int n = 0;
  for (const auto& tc : j.at("cases")) {
    const std::string text = tc.at("text");
    auto ids = model->tokenize(text, false, c.parse_special);
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    EXPECT_EQ(*ids, tc.at("ids").get<std::vector<int32_t>>()) << c.fixture << ": " << nlohmann::json(text).dump();
    ++n;
  }
  EXPECT_GT(n, 20);
}

// The chat template travels into the GGUF and renders as the reference rendered it; Llama 3.1's
// several end-of-generation tokens are all recognised.
TEST(FixtureMetadataTest, Llama31ChatTemplateAndEndTokens) {
  const std::string out = troika::testing::temp_dir() + "/llama31-meta.gguf";
  ASSERT_TRUE(convert(fixture_dir("llama31"), out, ConvertOptions{.type = "f32"}).ok());
  auto model = engine::Model::load(out);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  std::ifstream tf(fixture_dir("llama31") + "/chat_template.jinja");
  const std::string tmpl((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  EXPECT_EQ((*model)->info().chat_template, tmpl);
  std::ifstream gf(fixture_dir("llama31") + "/golden.json");
  const auto golden = nlohmann::json::parse(gf);
  std::vector<engine::ChatMessage> msgs;
  for (const auto& m : golden.at("messages")) msgs.push_back({m.at("role"), m.at("content")});
  auto text = (*model)->render_chat(msgs);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  auto ids = (*model)->tokenize(*text, true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, golden.at("prompt_ids").get<std::vector<int32_t>>());
  const auto& sp = (*model)->info().special;
  EXPECT_EQ(sp.bos, 1000);
  EXPECT_EQ(sp.eos, 1004);  // tokenizer_config's eos_token, <|eot_id|>
  for (int32_t id : {1001, 1004, 1005}) EXPECT_TRUE((*model)->is_eog(id)) << id;  // end_of_text, eot, eom
  EXPECT_FALSE((*model)->is_eog(1002));
}

// llama.cpp's mixes go through an intermediate 16-bit file and its quantizer; only the result is
// left in the output folder.
TEST(FixtureMetadataTest, Q4KMMixLoadsAndLeavesOnlyItsOutput) {
  const std::string dir = troika::testing::temp_dir() + "/mix";
  std::filesystem::create_directories(dir);
  auto r = convert(fixture_dir("llama31"), dir + "/llama31-q4_k_m.gguf", ConvertOptions{.type = "q4_k_m"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->out_type, "q4_k_m");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  auto model = engine::Model::load(dir + "/llama31-q4_k_m.gguf");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->info().file_type, "Q4_K - Medium");
  const auto golden = troika::testing::read_golden("llama31");
  // 4-bit: as large as llama.cpp's Q4_0 of this touchy random model (about 1.0).
  EXPECT_LE(troika::testing::max_abs_diff(troika::testing::all_logits(*model, golden.prompt_ids), golden.logits), 1.5);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FixtureTest,
    ::testing::Values(FixtureCase{"llama31", "f32", 1e-4, true}, FixtureCase{"mistral03", "f32", 1e-4, false},
                      FixtureCase{"gemma2", "f32", 2e-3, false}, FixtureCase{"phi3", "f32", 1e-4, false},
                      FixtureCase{"llama31-bf16", "f32", 5e-2, true}, FixtureCase{"llama31-bf16", "bf16", 5e-2, true}),
    [](const auto& info) {
      std::string n = std::string(info.param.fixture) + "_" + info.param.type;
      for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return n;
    });

}  // namespace
}  // namespace troika::convert
