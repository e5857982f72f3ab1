// Chat rendering per family: the exact turn markers of each seed model (seed-models.md §1.5),
// and agreement with @huggingface/jinja as an independent oracle.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_models.h"
#include "troika/engine.h"
#include "troika/synth.h"

namespace troika::engine {
namespace {

const std::vector<ChatMessage> kSystemUser = {{"system", "You are terse."}, {"user", "Hi"}};
const std::vector<ChatMessage> kUser = {{"user", "Hi"}};
const std::vector<ChatMessage> kDialog = {
    {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};

std::shared_ptr<Model> load(const std::string& arch) {
  auto m = Model::load(testing::tiny_model(arch), {.vocab_only = true});
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? *m : nullptr;
}

// 26 Jul 2024, the date Llama 3.1's template prints when none is given.
constexpr int64_t kTemplateDay = 1721995200;

std::string render(const Model& m, const std::vector<ChatMessage>& msgs) {
  auto r = m.render_chat(msgs, {.now_unix_s = kTemplateDay});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : "";
}

TEST(Chat, Llama31) {
  auto m = load("llama");
  ASSERT_TRUE(m);
  // BOS is added by the tokenizer, so the template's <|begin_of_text|> is stripped.
  EXPECT_EQ(render(*m, kSystemUser),
            "<|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            "You are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  auto ids = m->tokenize(render(*m, kUser), true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*ids)[0], 128000);
  EXPECT_NE((*ids)[1], 128000) << "BOS doubled";
  EXPECT_EQ((*ids)[1], 128006);  // <|start_header_id|> as one special token
}

TEST(Chat, MistralV03) {
  auto m = load("mistral");
  ASSERT_TRUE(m);
  EXPECT_EQ(render(*m, kDialog), "[INST] Hi[/INST] Hello!</s>[INST] 2+2?[/INST]");
  EXPECT_EQ(render(*m, kSystemUser), "[INST] You are terse.\n\nHi[/INST]");
}

TEST(Chat, Gemma2) {
  auto m = load("gemma2");
  ASSERT_TRUE(m);
  EXPECT_EQ(render(*m, kDialog),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n");
}

TEST(Chat, Phi3) {
  auto m = load("phi3");
  ASSERT_TRUE(m);
  EXPECT_EQ(render(*m, kSystemUser),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n");
  auto ids = m->tokenize(render(*m, kUser), true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*ids)[0], 1);      // <s>
  EXPECT_EQ((*ids)[1], 32010);  // <|user|>
}

TEST(Chat, TemplateErrorIsInvalidArgument) {
  auto m = load("gemma2");
  ASSERT_TRUE(m);
  // Gemma's template raises on two user turns in a row.
  std::vector<ChatMessage> bad = {{"user", "a"}, {"user", "b"}};
  auto r = m->render_chat(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("alternate"), std::string::npos) << r.status().message();
  EXPECT_EQ(m->render_chat({}).status().code(), Code::kInvalidArgument);
}

// Renders with @huggingface/jinja through node; empty when the oracle is not installed.
std::string oracle_render(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                          const std::string& bos, const std::string& eos) {
  const std::string root = testing::repo_root();
  if (!std::filesystem::exists(root + "/node_modules/@huggingface/jinja")) return "";
  nlohmann::json req = {{"template", tmpl},
                        {"bos_token", bos},
                        {"eos_token", eos},
                        {"add_generation_prompt", true},
                        {"messages", nlohmann::json::array()}};
  for (const auto& m : msgs) req["messages"].push_back({{"role", m.role}, {"content", m.content}});
  const std::string in = testing::temp_dir() + "/oracle_in.json";
  std::ofstream(in) << req.dump();
  const std::string cmd = "node " + root + "/tests/oracles/render_chat.mjs < " + in;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  return pclose(p) == 0 ? out : "";
}

TEST(Chat, AgreesWithHuggingFaceJinja) {
  struct Case {
    std::string arch, bos, eos;
    std::vector<ChatMessage> msgs;
  };
  const std::vector<Case> cases = {
      {"llama", "<|begin_of_text|>", "<|eot_id|>", kSystemUser},
      {"llama", "<|begin_of_text|>", "<|eot_id|>", kDialog},
      {"mistral", "<s>", "</s>", kDialog},
      {"mistral", "<s>", "</s>", kSystemUser},
      {"gemma2", "<s>", "</s>", kDialog},
      {"phi3", "<s>", "<|endoftext|>", kSystemUser},
      {"phi3", "<s>", "<|endoftext|>", kDialog},
  };
  int compared = 0;
  for (const auto& c : cases) {
    auto m = load(c.arch);
    ASSERT_TRUE(m);
    std::string want = oracle_render(family_chat_template(c.arch), c.msgs, c.bos, c.eos);
    if (want.empty()) GTEST_SKIP() << "node or @huggingface/jinja missing; run scripts/setup";
    // Troika strips the BOS that the tokenizer adds by itself.
    if (m->info().special.add_bos && want.rfind(c.bos, 0) == 0) want = want.substr(c.bos.size());
    EXPECT_EQ(render(*m, c.msgs), want) << c.arch;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(cases.size()));
}

}  // namespace
}  // namespace troika::engine
