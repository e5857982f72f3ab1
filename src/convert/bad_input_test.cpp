// Bad input gets a clear error naming the file and tensor, and leaves no output behind; plus
// variants of the fixtures as other publishers lay them out (Mistral native, the 2024 config
// form, unsloth's Mistral-fied Phi-3), each of which must give the fixture's own logits.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.h"
#include "fixtures.h"
#include "test_models.h"
#include "troika/convert.h"

namespace troika::convert {
namespace {

namespace fs = std::filesystem;
using troika::testing::FloatTensor;

// A copy of the llama31 fixture whose tensors and config a test may edit before writing.
struct Scratch {
  std::string dir;
  nlohmann::json config;
  std::vector<FloatTensor> tensors;

  explicit Scratch(const std::string& name, const std::string& fixture = "llama31") {
    dir = troika::testing::temp_dir() + "/" + name;
    fs::create_directories(dir);
    const std::string src = troika::testing::fixture_dir(fixture);
    for (const auto& e : fs::directory_iterator(src)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("tokenizer", 0) == 0 || n == "chat_template.jinja" || n == "generation_config.json") {
        fs::copy_file(e.path(), dir + "/" + n);
      }
    }
    std::ifstream(src + "/config.json") >> config;
    tensors = troika::testing::read_float_tensors(src);
  }
  void write() {
    std::ofstream(dir + "/config.json") << config.dump();
    std::vector<troika::testing::StoredTensor> stored;
    for (const auto& t : tensors) stored.push_back(troika::testing::stored_f32(t));
    ASSERT_TRUE(troika::testing::write_safetensors(dir + "/model.safetensors", stored).ok());
  }
  FloatTensor* find(const std::string& name) {
    for (auto& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

// Converts and expects failure with `code`, a message containing every string of `mentions`,
// and nothing left in the output folder.
void expect_refused(const std::string& src, Code code, const std::vector<std::string>& mentions) {
  const std::string out_dir = troika::testing::temp_dir() + "/out-" + fs::path(src).filename().string();
  fs::create_directories(out_dir);
  auto r = convert(src, out_dir + "/model.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  for (const auto& m : mentions) EXPECT_NE(r.status().message().find(m), std::string::npos) << "'" << m << "' not in: " << r.status().message();
  EXPECT_TRUE(fs::is_empty(out_dir)) << "a failed conversion left files in " << out_dir;
}

TEST(BadInputTest, UnknownArchitecture) {
  Scratch s("unknown-arch");
  s.config["architectures"] = {"FalconForCausalLM"};
  s.write();
  expect_refused(s.dir, Code::kUnimplemented, {"FalconForCausalLM", "config.json"});
}

TEST(BadInputTest, MissingTensor) {
  Scratch s("missing");
  std::erase_if(s.tensors, [](const FloatTensor& t) { return t.name == "model.layers.1.mlp.down_proj.weight"; });
  s.write();
  expect_refused(s.dir, Code::kDataLoss, {"model.layers.1.mlp.down_proj.weight", "missing"});
}

TEST(BadInputTest, ExtraTensor) {
  Scratch s("extra");
  s.tensors.push_back({"model.layers.0.mlp.extra_proj.weight", {4, 4}, std::vector<float>(16, 0.1f)});
  s.write();
  expect_refused(s.dir, Code::kDataLoss, {"model.layers.0.mlp.extra_proj.weight", "model.safetensors"});
}

TEST(BadInputTest, ShapeMismatch) {
  Scratch s("shape");
  FloatTensor* t = s.find("model.layers.0.self_attn.k_proj.weight");
  ASSERT_TRUE(t);
  t->shape = {t->shape[0] / 2, t->shape[1]};
  t->data.resize(t->data.size() / 2);
  s.write();
  expect_refused(s.dir, Code::kDataLoss, {"model.layers.0.self_attn.k_proj.weight", "model.safetensors", "[16, 64]"});
}

TEST(BadInputTest, TruncatedSafetensors) {
  Scratch s("truncated");
  s.write();
  const std::string f = s.dir + "/model.safetensors";
  fs::resize_file(f, fs::file_size(f) - 100);
  expect_refused(s.dir, Code::kDataLoss, {"model.safetensors", "truncated"});
}

TEST(BadInputTest, CorruptHeader) {
  Scratch s("corrupt");
  s.write();
  {
    std::fstream f(s.dir + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.write("#!garbage", 9);
  }
  expect_refused(s.dir, Code::kDataLoss, {"model.safetensors", "not JSON"});
}

TEST(BadInputTest, NanWeightLeavesNoPartialFileAndKeepsAnExistingOutput) {
  Scratch s("nan");
  s.find("lm_head.weight")->data[3] = NAN;  // the last tensor written: the file is nearly complete
  s.write();
  const std::string out_dir = troika::testing::temp_dir() + "/nan-out";
  fs::create_directories(out_dir);
  std::ofstream(out_dir + "/model.gguf") << "previous";
  auto r = convert(s.dir, out_dir + "/model.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_NE(r.status().message().find("lm_head.weight"), std::string::npos) << r.status().message();
  EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
  std::ifstream in(out_dir + "/model.gguf");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "previous");
}

TEST(BadInputTest, NoTokenizer) {
  Scratch s("no-tokenizer");
  s.write();
  fs::remove(s.dir + "/tokenizer.json");
  expect_refused(s.dir, Code::kNotFound, {"tokenizer"});
}

TEST(BadInputTest, UnknownOutputType) {
  auto r = convert(troika::testing::fixture_dir("llama31"), troika::testing::temp_dir() + "/x.gguf", ConvertOptions{.type = "q3_0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("q4_k_m"), std::string::npos) << "the error should list the types";
}

// Mistral's own release layout: params.json + consolidated.safetensors with native names and
// q/k rows already in rotary-pair order, tokenizer.model.v3.
TEST(LayoutTest, MistralNativeReproducesGoldenLogits) {
  const std::string src = troika::testing::fixture_dir("mistral03");
  const std::string dir = troika::testing::temp_dir() + "/mistral-native";
  fs::create_directories(dir);
  fs::copy_file(src + "/tokenizer.model", dir + "/tokenizer.model.v3");
  nlohmann::json cfg;
  std::ifstream(src + "/config.json") >> cfg;
  const int64_t n_head = cfg["num_attention_heads"], n_kv = cfg["num_key_value_heads"], hd = cfg["head_dim"];
  std::ofstream(dir + "/params.json") << nlohmann::json{{"dim", cfg["hidden_size"]}, {"n_layers", cfg["num_hidden_layers"]},
                                                        {"head_dim", hd}, {"hidden_dim", cfg["intermediate_size"]},
                                                        {"n_heads", n_head}, {"n_kv_heads", n_kv}, {"norm_eps", 1e-5},
                                                        {"vocab_size", cfg["vocab_size"]}, {"rope_theta", 1e6}}.dump();
  // Hugging Face's conversion script permuted Mistral's rows to half-split order; undo it.
  auto to_native = [hd](FloatTensor t, int64_t heads) {
    const int64_t cols = t.shape[1], half = hd / 2;
    std::vector<float> out(t.data.size());
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i)
        for (int64_t j = 0; j < 2; ++j)
          std::copy_n(&t.data[(h * hd + j * half + i) * cols], cols, &out[(h * hd + 2 * i + j) * cols]);
    t.data = std::move(out);
    return t;
  };
  const std::vector<std::pair<std::string, std::string>> names = {
      {"self_attn.q_proj", "attention.wq"}, {"self_attn.k_proj", "attention.wk"}, {"self_attn.v_proj", "attention.wv"},
      {"self_attn.o_proj", "attention.wo"}, {"mlp.gate_proj", "feed_forward.w1"}, {"mlp.down_proj", "feed_forward.w2"},
      {"mlp.up_proj", "feed_forward.w3"}, {"input_layernorm", "attention_norm"}, {"post_attention_layernorm", "ffn_norm"}};
  std::vector<troika::testing::StoredTensor> stored;
  for (FloatTensor t : troika::testing::read_float_tensors(src)) {
    std::string n = t.name;
    if (n == "model.embed_tokens.weight") n = "tok_embeddings.weight";
    else if (n == "model.norm.weight") n = "norm.weight";
    else if (n == "lm_head.weight") n = "output.weight";
    for (const auto& [hf, native] : names) {
      const std::string key = "." + hf + ".weight";
      if (n.find(key) != std::string::npos) {
        if (hf == "self_attn.q_proj") t = to_native(t, n_head);
        if (hf == "self_attn.k_proj") t = to_native(t, n_kv);
        n = "layers." + n.substr(13, n.find('.', 13) - 13) + "." + native + ".weight";
      }
    }
    t.name = n;
    stored.push_back(troika::testing::stored_f32(t));
  }
  ASSERT_TRUE(troika::testing::write_safetensors(dir + "/consolidated.safetensors", stored).ok());
  auto r = convert(dir, dir + ".gguf", ConvertOptions{.type = "f32"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto model = engine::Model::load(dir + ".gguf");
  ASSERT_TRUE(model.ok());
  const auto golden = troika::testing::read_golden("mistral03");
  EXPECT_LE(troika::testing::max_abs_diff(troika::testing::all_logits(*model, golden.prompt_ids), golden.logits), 1e-4);
}

// The published 2024 checkpoints write rope settings as top-level rope_theta + rope_scaling;
// transformers 5 (the fixtures) as rope_parameters. Both must give the same model.
TEST(LayoutTest, Llama31ConfigIn2024FormGivesTheSameLogits) {
  Scratch s("llama31-2024-config");
  nlohmann::json rp = s.config["rope_parameters"];
  s.config.erase("rope_parameters");
  s.config["rope_theta"] = rp["rope_theta"];
  rp.erase("rope_theta");
  s.config["rope_scaling"] = rp;
  s.write();
  auto r = convert(s.dir, s.dir + ".gguf", ConvertOptions{.type = "f32"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto model = engine::Model::load(s.dir + ".gguf");
  ASSERT_TRUE(model.ok());
  const auto golden = troika::testing::read_golden("llama31");
  EXPECT_LE(troika::testing::max_abs_diff(troika::testing::all_logits(*model, golden.prompt_ids), golden.logits), 1e-4);
}

// unsloth's "Mistral-fied" Phi-3: MistralForCausalLM with split q/k/v and gate/up and a sliding
// window llama.cpp's llama architecture ignores. Converted as llama (rotary pairs permuted), it
// must compute what the phi3 fixture computes.
TEST(LayoutTest, MistralifiedPhi3ReproducesPhi3Logits) {
  Scratch s("phi3-mistralified", "phi3");
  for (const char* f : {"added_tokens.json"}) fs::copy_file(troika::testing::fixture_dir("phi3") + "/" + f, s.dir + "/" + f);
  const int64_t hidden = s.config["hidden_size"], ff = s.config["intermediate_size"];
  s.config["architectures"] = {"MistralForCausalLM"};
  s.config["model_type"] = "mistral";
  s.config["sliding_window"] = 2048;
  s.config["rope_theta"] = 10000.0;
  s.config.erase("rope_parameters");
  std::vector<FloatTensor> split;
  for (FloatTensor& t : s.tensors) {
    auto rows = [&](const std::string& name, int64_t r0, int64_t n) {
      split.push_back({name, {n, t.shape[1]}, std::vector<float>(t.data.begin() + r0 * t.shape[1], t.data.begin() + (r0 + n) * t.shape[1])});
    };
    const size_t q = t.name.find("qkv_proj"), g = t.name.find("gate_up_proj");
    if (q != std::string::npos) {
      const std::string p = t.name.substr(0, q);
      rows(p + "q_proj.weight", 0, hidden), rows(p + "k_proj.weight", hidden, hidden), rows(p + "v_proj.weight", 2 * hidden, hidden);
    } else if (g != std::string::npos) {
      const std::string p = t.name.substr(0, g);
      rows(p + "gate_proj.weight", 0, ff), rows(p + "up_proj.weight", ff, ff);
    } else {
      split.push_back(std::move(t));
    }
  }
  s.tensors = std::move(split);
  s.write();
  auto r = convert(s.dir, s.dir + ".gguf", ConvertOptions{.type = "f32"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->architecture, "llama");
  EXPECT_FALSE(r->notes.empty()) << "the ignored sliding window should be reported";
  auto model = engine::Model::load(s.dir + ".gguf");
  ASSERT_TRUE(model.ok());
  const auto golden = troika::testing::read_golden("phi3");
  EXPECT_LE(troika::testing::max_abs_diff(troika::testing::all_logits(*model, golden.prompt_ids), golden.logits), 1e-4);
}

}  // namespace
}  // namespace troika::convert
