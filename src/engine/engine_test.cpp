// Engine behaviour on tiny synthetic models: determinism, logits, sequences, stop strings,
// embeddings, and the error paths a user can hit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_models.h"
#include "troika/engine.h"
#include "troika/generate.h"
#include "troika/synth.h"

namespace troika::engine {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<Model> load_tiny(const std::string& arch) {
  auto m = Model::load(testing::tiny_model(arch));
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? *m : nullptr;
}

std::unique_ptr<Context> make_ctx(std::shared_ptr<Model> m, ContextOptions o = {}) {
  if (o.n_ctx == 0) o.n_ctx = 512;
  o.f32_kv = true;
  auto c = Context::create(std::move(m), o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

Generation run(Context& ctx, const std::vector<Token>& prompt, GenerateOptions o) {
  auto g = generate(ctx, prompt, o);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? *g : Generation{};
}

TEST(Engine, InfoOfSyntheticModel) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  const ModelInfo& i = m->info();
  EXPECT_EQ(i.architecture, "llama");
  EXPECT_EQ(i.n_vocab, 128256);
  EXPECT_EQ(i.n_embd, 256);
  EXPECT_EQ(i.n_layer, 4);
  EXPECT_EQ(i.n_head_kv, 2);
  EXPECT_EQ(i.special.bos, 128000);
  EXPECT_EQ(i.special.eot, 128009);
  EXPECT_FALSE(i.chat_template.empty());
  EXPECT_GT(i.n_params, 0u);
}

TEST(Engine, SameSeedSameOutput) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  auto ctx = make_ctx(m);
  auto prompt = *m->tokenize("Once upon a time", true, false);
  GenerateOptions o;
  o.n_predict = 24;
  o.ignore_eos = true;
  o.sampling.temperature = 0.9f;
  o.sampling.seed = 1234;
  Generation a = run(*ctx, prompt, o);
  Generation b = run(*ctx, prompt, o);
  EXPECT_EQ(a.tokens.size(), 24u);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  o.sampling.seed = 99;
  Generation c = run(*ctx, prompt, o);
  EXPECT_NE(a.tokens, c.tokens) << "different seeds gave identical samples";
}

TEST(Engine, GreedyFollowsArgmaxOfLogits) {
  auto m = load_tiny("phi3");
  ASSERT_TRUE(m);
  auto ctx = make_ctx(m);
  auto prompt = *m->tokenize("The quick brown fox", true, false);
  ASSERT_TRUE(ctx->prefill(prompt, 0, 0, true).ok());
  auto row = ctx->logits(-1);
  ASSERT_EQ(row.size(), static_cast<size_t>(m->info().n_vocab));
  auto top = top_k_logprobs(row, 5);
  ASSERT_EQ(top.size(), 5u);
  EXPECT_LE(top[1].logprob, top[0].logprob);
  GenerateOptions o;
  o.n_predict = 1;
  o.ignore_eos = true;
  o.sampling.temperature = 0;
  Generation g = run(*ctx, prompt, o);
  ASSERT_EQ(g.tokens.size(), 1u);
  EXPECT_EQ(g.tokens[0], top[0].token);
}

TEST(Engine, SequencesAreIndependentAndCopyable) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  ContextOptions co;
  co.n_seq_max = 3;
  auto ctx = make_ctx(m, co);
  auto prompt = *m->tokenize("shared prefix for two requests", true, false);
  ASSERT_TRUE(ctx->prefill(prompt, 0, 0, true).ok());
  std::vector<float> ref(ctx->logits(-1).begin(), ctx->logits(-1).end());
  // The same prompt in sequence 1 alone gives the same logits.
  ASSERT_TRUE(ctx->prefill(prompt, 1, 0, true).ok());
  auto again = ctx->logits(-1);
  for (size_t j = 0; j < ref.size(); j += 97) EXPECT_NEAR(again[j], ref[j], 1e-3) << j;
  // Sequence 2 shares sequence 0's cells; one more token in both gives equal rows.
  ctx->seq_copy(0, 2);
  EXPECT_EQ(ctx->seq_pos_max(2), static_cast<Pos>(prompt.size()) - 1);
  Batch b;
  Pos p = static_cast<Pos>(prompt.size());
  b.add(42, p, 0, true);
  b.add(42, p, 2, true);
  ASSERT_TRUE(ctx->decode(b).ok());
  auto r0 = ctx->logits(0), r2 = ctx->logits(1);
  for (size_t j = 0; j < r0.size(); j += 97) EXPECT_NEAR(r0[j], r2[j], 1e-3) << j;
  EXPECT_TRUE(ctx->seq_remove(2));
  EXPECT_EQ(ctx->seq_pos_max(2), -1);
}

TEST(Engine, StopStringsCutTextAndStreamingMatches) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  auto ctx = make_ctx(m);
  auto prompt = *m->tokenize("A list:", true, false);
  GenerateOptions o;
  o.n_predict = 40;
  o.ignore_eos = true;
  o.sampling.temperature = 0;
  Generation full = run(*ctx, prompt, o);
  ASSERT_GT(full.text.size(), 20u);
  // Stop on a piece of text that appears in the middle of the free run.
  std::string stop = full.text.substr(full.text.size() / 2, 3);
  size_t first = full.text.find(stop);
  o.stop = {stop};
  std::string streamed;
  o.on_text = [&](std::string_view piece) {
    streamed += piece;
    return true;
  };
  Generation cut = run(*ctx, prompt, o);
  EXPECT_EQ(cut.finish, FinishReason::kStopString);
  EXPECT_EQ(cut.text, full.text.substr(0, first));
  EXPECT_EQ(streamed, cut.text);
  // A callback returning false stops the run.
  int calls = 0;
  o.stop.clear();
  o.on_text = [&](std::string_view) { return ++calls < 3; };
  Generation early = run(*ctx, prompt, o);
  EXPECT_EQ(early.finish, FinishReason::kCallback);
  EXPECT_EQ(calls, 3);
}

TEST(Engine, EmbeddingsFromBert) {
  auto m = load_tiny("bert");
  ASSERT_TRUE(m);
  ContextOptions co;
  co.embeddings = true;
  co.pooling = Pooling::kCls;
  auto ctx = make_ctx(m, co);
  auto ids = *m->tokenize("hello world", true, false);
  ASSERT_TRUE(ctx->prefill(ids, 0, 0, false).ok());
  auto e = ctx->sequence_embedding(0);
  ASSERT_EQ(e.size(), 128u);
  double norm = 0;
  for (float v : e) norm += v * v;
  EXPECT_GT(norm, 0.0);
  EXPECT_TRUE(std::isfinite(norm));
}

TEST(Errors, MissingFileIsNotFound) {
  auto m = Model::load("/nonexistent/model.gguf");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kNotFound);
  EXPECT_NE(m.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(Errors, WrongMagicIsDataLoss) {
  std::string p = testing::temp_dir() + "/not-a-model.gguf";
  std::ofstream(p) << "PK\x03\x04 this is a zip file, not a model";
  auto m = Model::load(p);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kDataLoss);
  EXPECT_NE(m.status().message().find("not a GGUF"), std::string::npos) << m.status().message();
}

TEST(Errors, TruncatedAndCorruptFilesAreDataLoss) {
  const std::string src = testing::tiny_model("mistral");
  std::ifstream in(src, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t keep : {size_t{3}, size_t{100}, bytes.size() / 2, bytes.size() - 1000}) {
    std::string p = testing::temp_dir() + "/truncated-" + std::to_string(keep) + ".gguf";
    std::ofstream(p, std::ios::binary).write(bytes.data(), keep);
    auto m = Model::load(p);
    ASSERT_FALSE(m.ok()) << "loaded a file cut to " << keep << " bytes";
    EXPECT_EQ(m.status().code(), Code::kDataLoss) << m.status().to_string();
  }
  // A KV count of 2^62 in the header: llama.cpp must refuse it, not allocate.
  std::string corrupt = bytes;
  for (int i = 0; i < 8; ++i) corrupt[16 + i] = (i == 7) ? 0x40 : 0;
  std::string p = testing::temp_dir() + "/corrupt.gguf";
  std::ofstream(p, std::ios::binary).write(corrupt.data(), corrupt.size());
  auto m = Model::load(p);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kDataLoss) << m.status().to_string();
}

TEST(Errors, PromptLongerThanContext) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  ContextOptions co;
  co.n_ctx = 64;
  auto ctx = make_ctx(m, co);
  // llama.cpp may round the context up; overflow whatever it became.
  const int32_t n = ctx->n_ctx() + 36;
  std::vector<Token> prompt(n, 1000);
  auto g = generate(*ctx, prompt, {});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Code::kInvalidArgument);
  EXPECT_NE(g.status().message().find(std::to_string(n) + " tokens"), std::string::npos)
      << g.status().message();
  EXPECT_EQ(generate(*ctx, {}, {}).status().code(), Code::kInvalidArgument);
}

TEST(Errors, BadTokenAndSequenceIds) {
  auto m = load_tiny("llama");
  ASSERT_TRUE(m);
  auto ctx = make_ctx(m);
  Batch b;
  b.add(m->info().n_vocab + 5, 0, 0, true);
  EXPECT_EQ(ctx->decode(b).code(), Code::kInvalidArgument);
  b.clear();
  b.add(1, 0, 7, true);
  EXPECT_EQ(ctx->decode(b).code(), Code::kInvalidArgument);
  SamplingParams sp;
  sp.top_p = 0;
  EXPECT_EQ(Sampler::create(*m, sp).status().code(), Code::kInvalidArgument);
}

TEST(Synth, SameSeedSameBytes) {
  SynthOptions o;
  o.arch = "phi3";
  o.shape = {64, 1, 2, 2, 128, 32, 256};
  o.vocab_path = testing::llama_models_dir() + "/ggml-vocab-phi-3.gguf";
  o.type = "f16";
  auto write = [&](const std::string& name, uint64_t seed) {
    o.out_path = testing::temp_dir() + "/" + name;
    o.seed = seed;
    EXPECT_TRUE(make_random_model(o).ok());
    std::ifstream f(o.out_path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  std::string a = write("a.gguf", 7), b = write("b.gguf", 7), c = write("c.gguf", 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (const auto& e : fs::directory_iterator(testing::temp_dir())) {
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST(Synth, QuantizedModelLoadsWithItsType) {
  SynthOptions o;
  o.arch = "llama";
  o.shape = {256, 2, 4, 2, 512, 64, 1024};
  o.vocab_path = testing::llama_models_dir() + "/ggml-vocab-llama-spm.gguf";
  o.type = "q8_0";
  o.out_path = testing::temp_dir() + "/q8.gguf";
  ASSERT_TRUE(make_random_model(o).ok());
  auto m = Model::load(o.out_path);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->info().file_type, "Q8_0");
}

TEST(Synth, BadOptionsAreInvalidArgument) {
  SynthOptions o;
  o.arch = "gpt5";
  EXPECT_EQ(make_random_model(o).code(), Code::kInvalidArgument);
  EXPECT_EQ(synth_shape("llama", "70b").status().code(), Code::kInvalidArgument);
  o.arch = "llama";
  o.shape = {256, 2, 3, 2, 512, 0, 1024};  // 3 heads over 2 kv heads
  o.out_path = testing::temp_dir() + "/bad.gguf";
  EXPECT_EQ(make_random_model(o).code(), Code::kInvalidArgument);
  o.shape = {256, 2, 4, 2, 512, 64, 1024};
  o.vocab_path = "/nonexistent/vocab.gguf";
  EXPECT_EQ(make_random_model(o).code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(o.out_path));
}

}  // namespace
}  // namespace troika::engine
