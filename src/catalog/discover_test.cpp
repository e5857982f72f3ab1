// Discovery on temporary folder trees laid out as each source lays them out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ggml.h"
#include "gguf.h"
#include "troika/catalog.h"

namespace fs = std::filesystem;

namespace troika::catalog {
namespace {

class Discover : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("troika-discover-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    catalog_ = *Catalog::embedded();
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  static std::string llama_config(const char* extra = "") {
    return std::string(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
      "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 128256,
      "torch_dtype": "bfloat16")") +
           extra + "}";
  }
  // A GGUF header with the keys discovery reads and one small tensor.
  static void write_gguf(const fs::path& p, const char* arch, int n_layer, int n_embd, int n_vocab,
                         int ftype, const char* name) {
    fs::create_directories(p.parent_path());
    gguf_context* g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", arch);
    gguf_set_val_str(g, "general.name", name);
    gguf_set_val_u32(g, "general.file_type", ftype);
    std::string a = arch;
    gguf_set_val_u32(g, (a + ".block_count").c_str(), n_layer);
    gguf_set_val_u32(g, (a + ".embedding_length").c_str(), n_embd);
    gguf_set_val_u32(g, (a + ".attention.head_count").c_str(), 32);
    std::vector<std::string> toks(n_vocab);
    std::vector<const char*> ptrs;
    for (int i = 0; i < n_vocab; ++i) {
      toks[i] = "t";
      toks[i] += std::to_string(i);
      ptrs.push_back(toks[i].c_str());
    }
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
    ggml_init_params ip = {1 << 20, nullptr, false};
    ggml_context* ctx = ggml_init(ip);
    ggml_tensor* t = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 16);
    ggml_set_name(t, "output_norm.weight");
    gguf_add_tensor(g, t);
    ASSERT_TRUE(gguf_write_to_file(g, p.c_str(), false));
    gguf_free(g);
    ggml_free(ctx);
  }
  std::vector<Found> run() {
    auto r = discover(catalog_, {root_.string()});
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::vector<Found>{};
  }
  static const Found* find(const std::vector<Found>& all, const std::string& tail) {
    for (const Found& f : all)
      if (f.path.size() >= tail.size() &&
          f.path.compare(f.path.size() - tail.size(), tail.size(), tail) == 0)
        return &f;
    return nullptr;
  }

  fs::path root_;
  Catalog catalog_;
};

TEST_F(Discover, HuggingFaceFolderNamedAfterItsRepository) {
  fs::path d = root_ / "Llama-3.1-8B-Instruct-FP8";
  write(d / "config.json",
        llama_config(R"(, "quantization_config": {"quant_method": "modelopt"})"));
  write(d / "hf_quant_config.json",
        R"({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8"}})");
  write(d / "model-00001-of-00002.safetensors", std::string(100, 'x'));
  write(d / "model-00002-of-00002.safetensors", std::string(50, 'x'));
  auto all = run();
  ASSERT_EQ(all.size(), 1u);
  const Found& f = all[0];
  EXPECT_EQ(f.layout, "hf-folder");
  EXPECT_EQ(f.variant, "nvidia/Llama-3.1-8B-Instruct-FP8");
  EXPECT_EQ(f.family, "llama31-8b");
  EXPECT_EQ(f.match, "folder name");
  EXPECT_EQ(f.quant, "fp8");
  EXPECT_EQ(f.bytes, 150u);
  EXPECT_TRUE(f.needs_convert);
  EXPECT_EQ(f.convert_command,
            "troika convert " + d.string() + " -o llama-3.1-8b-instruct-fp8-auto.gguf --type auto");
  ASSERT_FALSE(f.notes.empty());
  EXPECT_NE(f.notes[0].find("licence: NVIDIA"), std::string::npos);
}

TEST_F(Discover, HuggingFaceCacheLayoutNamesTheRepository) {
  fs::path snap = root_ / "hub" / "models--google--gemma-2-9b-it" / "snapshots" / "11c9b30";
  write(snap / "config.json", R"({"model_type": "gemma2", "hidden_size": 3584,
    "num_hidden_layers": 42, "vocab_size": 256000, "torch_dtype": "bfloat16"})");
  write(snap / "model-00001-of-00004.safetensors", "x");
  write(root_ / "hub" / "models--google--gemma-2-9b-it" / "refs" / "main", "11c9b30");
  auto all = run();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].layout, "hf-cache");
  EXPECT_EQ(all[0].repo, "google/gemma-2-9b-it");
  EXPECT_EQ(all[0].variant, "google/gemma-2-9b-it");
  EXPECT_EQ(all[0].match, "repository");
  EXPECT_EQ(all[0].quant, "bf16");
  EXPECT_NE(all[0].convert_command.find("-o gemma-2-9b-it-q8_0.gguf --type q8_0"),
            std::string::npos);
  bool gated = false;
  for (const auto& n : all[0].notes) gated |= n.find("gated") != std::string::npos;
  EXPECT_TRUE(gated);
}

TEST_F(Discover, UnnamedFoldersMatchByShapeAndQuantisation) {
  write(root_ / "weights-a" / "config.json",
        R"({"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32,
            "vocab_size": 32768, "quantization_config": {"quant_method": "bitsandbytes"}})");
  write(root_ / "weights-a" / "model.safetensors", "x");
  // A Phi-3 fine-tune whose recorded name says "graph".
  write(root_ / "my-extractor" / "config.json",
        R"({"model_type": "phi3", "hidden_size": 3072, "num_hidden_layers": 32, "vocab_size": 32064,
            "_name_or_path": "EmergentMethods/Phi-3-mini-4k-instruct-graph"})");
  write(root_ / "my-extractor" / "model.safetensors", "x");
  write(root_ / "something-else" / "config.json",
        R"({"hidden_size": 1234, "num_hidden_layers": 3, "vocab_size": 99})");
  write(root_ / "something-else" / "model.safetensors", "x");
  auto all = run();
  const Found* a = find(all, "weights-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->family, "mistral7b-v03");
  EXPECT_EQ(a->variant, "unsloth/mistral-7b-instruct-v0.3-bnb-4bit");
  EXPECT_EQ(a->match, "shape");
  const Found* g = find(all, "my-extractor");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->family, "phi3-mini-4k-graph");
  const Found* x = find(all, "something-else");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->variant, "");
  EXPECT_EQ(x->family, "");
}

TEST_F(Discover, MistralNativeGemmaPytorchAndOnnxLayouts) {
  write(root_ / "Mistral-7B-Instruct-v0.3" / "params.json",
        R"({"dim": 4096, "n_layers": 32, "vocab_size": 32768})");
  write(root_ / "Mistral-7B-Instruct-v0.3" / "consolidated.safetensors", "x");
  write(root_ / "gemma-2-9b-it-pytorch" / "model.ckpt", "x");
  fs::path onnx =
      root_ / "Phi-3-mini-4k-instruct-onnx" / "cpu_and_mobile" / "cpu-int4-rtn-block-32";
  write(onnx / "genai_config.json", "{}");
  write(onnx / "phi3-mini-4k-instruct-cpu-int4-rtn-block-32.onnx", "x");
  write(onnx / "phi3-mini-4k-instruct-cpu-int4-rtn-block-32.onnx.data", "xx");
  auto all = run();
  const Found* m = find(all, "Mistral-7B-Instruct-v0.3");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->layout, "mistral-native");
  EXPECT_EQ(m->variant, "mistralai/Mistral-7B-Instruct-v0.3");
  const Found* gp = find(all, "gemma-2-9b-it-pytorch");
  ASSERT_NE(gp, nullptr);
  EXPECT_EQ(gp->layout, "gemma-pytorch");
  EXPECT_EQ(gp->variant, "google/gemma-2-9b-it-pytorch");
  const Found* o = find(all, "cpu-int4-rtn-block-32");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->layout, "onnx");
  EXPECT_EQ(o->variant, "microsoft/Phi-3-mini-4k-instruct-onnx");
  EXPECT_EQ(o->bytes, 3u);
  EXPECT_NE(o->convert_command.find("phi-3-mini-4k-instruct-onnx-cpu-int4-rtn-block-32-auto.gguf"),
            std::string::npos)
      << o->convert_command;
}

TEST_F(Discover, GgufFilesByNameAndByMetadata) {
  write_gguf(root_ / "gguf" / "gemma-2-9b-it-Q4_K_M.gguf", "gemma2", 42, 3584, 256000, 15, "gemma");
  write_gguf(root_ / "gguf" / "my-mistral.gguf", "llama", 32, 4096, 32768, 7, "Mistral 7B");
  write(root_ / "gguf" / "broken.gguf", "GGUF but nothing else");
  auto all = run();
  const Found* g = find(all, "gemma-2-9b-it-Q4_K_M.gguf");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->variant, "bartowski/gemma-2-9b-it-GGUF");
  EXPECT_EQ(g->match, "file name");
  EXPECT_EQ(g->quant, "Q4_K_M");
  EXPECT_FALSE(g->needs_convert);
  const Found* m = find(all, "my-mistral.gguf");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->family, "mistral7b-v03");
  EXPECT_EQ(m->match, "shape");
  EXPECT_EQ(m->quant, "Q8_0");
  const Found* b = find(all, "broken.gguf");
  ASSERT_NE(b, nullptr);  // reported, not fatal
  ASSERT_FALSE(b->notes.empty());
  EXPECT_NE(b->notes[0].find("cannot read the GGUF header"), std::string::npos);
}

TEST_F(Discover, MissingFolderIsNotFound) {
  auto r = discover(catalog_, {(root_ / "nope").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("--dir"), std::string::npos);
}

TEST_F(Discover, ReadsGgufHeaders) {
  write_gguf(root_ / "a.gguf", "phi3", 32, 3072, 32064, 1, "phi");
  auto info = read_gguf((root_ / "a.gguf").string());
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->architecture, "phi3");
  EXPECT_EQ(info->file_type, "F16");
  EXPECT_EQ(info->n_vocab, 32064);
  ASSERT_EQ(info->tensors.size(), 1u);
  EXPECT_EQ(info->tensors[0].type, "f32");
  EXPECT_EQ(info->tensors[0].bytes, 64u);
  EXPECT_EQ(read_gguf((root_ / "none.gguf").string()).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace troika::catalog
