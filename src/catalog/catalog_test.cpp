#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "troika/catalog.h"

namespace troika::catalog {
namespace {

const Catalog& seed() {
  static Catalog c = [] {
    auto r = Catalog::embedded();
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : Catalog();
  }();
  return c;
}

// Every repository the seed document names (shared/seed, shared/research/seed-models.md).
TEST(Catalog, HasEverySeedRepository) {
  const char* repos[] = {
      "meta-llama/Llama-3.1-8B-Instruct",
      "nvidia/Llama-3.1-8B-Instruct-FP4",
      "nvidia/Llama-3.1-8B-Instruct-FP8",
      "mistralai/Mistral-7B-v0.3",
      "mistralai/Mistral-7B-Instruct-v0.3",
      "mistral-community/Mistral-7B-Instruct-v0.3",
      "unsloth/mistral-7b-instruct-v0.3-bnb-4bit",
      "google/gemma-2-9b-it",
      "google/gemma-2-9b-it-pytorch",
      "hugging-quants/gemma-2-9b-it-AWQ-INT4",
      "RedHatAI/gemma-2-9b-it-FP8",
      "bartowski/gemma-2-9b-it-GGUF",
      "unsloth/gemma-2-9b-it",
      "microsoft/Phi-3-mini-4k-instruct",
      "microsoft/Phi-3-mini-4k-instruct-onnx",
      "microsoft/Phi-3-mini-4k-instruct-gguf",
      "unsloth/Phi-3-mini-4k-instruct",
      "EmergentMethods/Phi-3-mini-4k-instruct-graph",
  };
  for (const char* id : repos) {
    const Variant* v = seed().variant(id);
    ASSERT_NE(v, nullptr) << id;
    EXPECT_NE(seed().family(v->family), nullptr) << id;
    EXPECT_FALSE(v->format.empty()) << id;
    EXPECT_FALSE(v->license.empty()) << id;
    // Everything llama.cpp cannot load as is names the converter's type.
    if (v->convert) {
      EXPECT_FALSE(v->convert_type.empty()) << id;
    }
    if (v->format == "gguf") {
      EXPECT_FALSE(v->files.empty()) << id;
      EXPECT_FALSE(v->convert) << id;
    }
  }
  EXPECT_EQ(seed().variants().size(), std::size(repos));
}

TEST(Catalog, FamiliesMatchTheResearchShapes) {
  const Family* llama = seed().family("llama31-8b");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(llama->n_params, 8030261248ull);
  EXPECT_EQ(llama->n_head_kv, 8);
  EXPECT_TRUE(llama->rope_freqs);
  const Family* gemma = seed().family("gemma2-9b");
  ASSERT_NE(gemma, nullptr);
  EXPECT_EQ(gemma->head_dim, 256);
  EXPECT_EQ(gemma->n_swa, 4096);
  EXPECT_EQ(gemma->swa_pattern, 2);
  EXPECT_TRUE(gemma->tied_embeddings);
  EXPECT_FLOAT_EQ(gemma->final_softcap, 30.0f);
  const Family* phi = seed().family("phi3-mini-4k");
  ASSERT_NE(phi, nullptr);
  EXPECT_EQ(phi->n_params, 3821079552ull);
  EXPECT_TRUE(phi->fused_qkv);
  EXPECT_EQ(phi->eot, 32007);
  EXPECT_EQ(seed().family("phi3-mini-4k-graph")->base, "phi3-mini-4k");
}

TEST(Catalog, EveryRoleHasABackbone) {
  for (const char* name : kRoles) {
    const Role* r = seed().role(name);
    ASSERT_NE(r, nullptr) << name;
    EXPECT_NE(seed().family(r->family), nullptr) << name;
    EXPECT_GT(r->ctx, 0);
    EXPECT_GT(r->parallel, 0);
  }
  EXPECT_EQ(seed().role("rag")->shares, "brain");
  EXPECT_EQ(seed().role("brain")->family, "llama31-8b");
  EXPECT_EQ(seed().role("fast")->family, "mistral7b-v03");
  EXPECT_EQ(seed().defaults().vram_bytes, 20ull << 30);
}

TEST(Catalog, JsonCarriesEverything) {
  auto j = nlohmann::json::parse(seed().to_json());
  EXPECT_EQ(j["variants"].size(), seed().variants().size());
  EXPECT_EQ(j["families"].size(), seed().families().size());
  EXPECT_EQ(j["roles"].size(), 5u);
}

TEST(Catalog, LookupsIgnoreCase) {
  EXPECT_NE(seed().variant("NVIDIA/llama-3.1-8b-instruct-fp8"), nullptr);
  EXPECT_EQ(seed().variant("nvidia/none"), nullptr);
}

const char* kMinimal = R"(schema = 1
[families.f]
name = "F"
architecture = "llama"
n_params = 1
n_layer = 2
n_embd = 64
n_head = 4
n_head_kv = 2
n_ff = 128
n_vocab = 100
n_ctx_train = 512
)";

void expect_refused(const std::string& text, const std::string& needle) {
  auto r = Catalog::parse(text, "my.toml");
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("my.toml"), std::string::npos) << r.status().message();
}

TEST(Catalog, ParsesAMinimalCatalog) {
  auto r = Catalog::parse(kMinimal, "my.toml");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->family("f")->head_dim, 16);  // n_embd / n_head when absent
}

TEST(Catalog, RefusesBrokenCatalogsClearly) {
  expect_refused("schema = 1\n[families.f\n", "not valid TOML");
  expect_refused("[families]\n", "schema = 1");
  expect_refused("schema = 1\ncolour = 2\n", "unknown top-level key 'colour'");
  expect_refused(std::string(kMinimal) + "n_layers = 3\n", "unknown key 'n_layers'");
  expect_refused(std::string(kMinimal) +
                     "[[variants]]\nid = \"a/b\"\nfamily = \"g\"\n"
                     "format = \"gguf\"\nquant = \"gguf\"\n",
                 "unknown family 'g'");
  expect_refused(std::string(kMinimal) + "[roles.chef]\nfamily = \"f\"\n", "roles.chef");
  expect_refused(std::string(kMinimal) + "[roles.brain]\nfamily = \"f\"\nctx = \"big\"\n",
                 "roles.brain.ctx must be a non-negative integer (line");
  expect_refused(std::string(kMinimal) + "[defaults]\nvram = \"lots\"\n", "defaults.vram");
  auto missing = Catalog::load("/nonexistent/catalog.toml");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(Catalog, FileTypeNames) {
  EXPECT_EQ(file_type_name(15), "Q4_K_M");
  EXPECT_EQ(file_type_name(7), "Q8_0");
  EXPECT_EQ(file_type_name(1), "F16");
  EXPECT_EQ(file_type_name(999), "");
}

}  // namespace
}  // namespace troika::catalog
