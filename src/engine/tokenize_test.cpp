// Tokenization must equal llama.cpp's own test vectors (models/ggml-vocab-*.gguf.inp/.out),
// tokenized as llama.cpp's test-tokenizer-0 does: add_special off, parse_special off.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_models.h"
#include "troika/engine.h"

namespace troika::engine {
namespace {

struct VocabCase {
  std::string text;
  std::vector<Token> ids;
};

std::vector<VocabCase> read_vectors(const std::string& base) {
  std::ifstream inp(base + ".inp", std::ios::binary), out(base + ".out");
  EXPECT_TRUE(inp && out) << "missing test vectors at " << base << ".inp/.out";
  std::string raw((std::istreambuf_iterator<char>(inp)), std::istreambuf_iterator<char>());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < raw.size();) {
    size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    VocabCase c;
    if (i < texts.size()) c.text = texts[i];
    std::istringstream ss(line);
    for (Token t; ss >> t;) c.ids.push_back(t);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << base;
  return cases;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, MatchLlamaCpp) {
  const std::string base = testing::llama_models_dir() + "/ggml-vocab-" + GetParam() + ".gguf";
  auto model = Model::load(base, {.vocab_only = true});
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto cases = read_vectors(base);
  ASSERT_GT(cases.size(), 10u);
  int n_ok = 0;
  for (const auto& c : cases) {
    auto ids = (*model)->tokenize(c.text, false, false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, c.ids) << "text: '" << c.text << "'";
    n_ok += *ids == c.ids;
  }
  EXPECT_EQ(n_ok, static_cast<int>(cases.size()));
}

INSTANTIATE_TEST_SUITE_P(Vocabs, VocabVectors,
                         ::testing::Values("llama-bpe", "llama-spm", "phi-3", "bert-bge"));

TEST(Tokenize, SpecialTokensParsedOnlyWhenAsked) {
  auto model =
      Model::load(testing::llama_models_dir() + "/ggml-vocab-llama-bpe.gguf", {.vocab_only = true});
  ASSERT_TRUE(model.ok());
  auto plain = (*model)->tokenize("<|eot_id|>", false, false);
  auto special = (*model)->tokenize("<|eot_id|>", false, true);
  ASSERT_TRUE(plain.ok() && special.ok());
  EXPECT_EQ(*special, std::vector<Token>{128009});
  EXPECT_GT(plain->size(), 1u);
  auto with_bos = (*model)->tokenize("Hello", true, false);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->front(), 128000);
  EXPECT_EQ((*model)->detokenize(*special, true), "<|eot_id|>");
  EXPECT_EQ((*model)->detokenize(*special, false), "");
  EXPECT_TRUE((*model)->is_eog(128009));
}

TEST(Tokenize, RoundTripsRussianAndCode) {
  auto model =
      Model::load(testing::llama_models_dir() + "/ggml-vocab-llama-bpe.gguf", {.vocab_only = true});
  ASSERT_TRUE(model.ok());
  for (std::string text :
       {"Привет, мир! Как дела?", "int main() { return 0; }\n\t// ok", "{\"a\": [1, 2.5, null]}"}) {
    auto ids = (*model)->tokenize(text, false, false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ((*model)->detokenize(*ids), text);
  }
}

}  // namespace
}  // namespace troika::engine
