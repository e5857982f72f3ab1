#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "troika/catalog.h"
#include "troika/plan.h"

namespace troika::plan {
namespace {

const catalog::Catalog& seed() {
  static catalog::Catalog c = *catalog::Catalog::embedded();
  return c;
}

ModelShape family(const char* id) { return shape_of(*seed().family(id)); }

TEST(PlanMemory, TensorListsCountTheRealParameters) {
  for (const catalog::Family& f : seed().families()) {
    auto t = tensors_for(shape_of(f), "f16");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    uint64_t n = 0;
    for (const Tensor& x : *t) n += static_cast<uint64_t>(x.ne0) * x.ne1;
    // Llama 3.1's GGUF adds its 64-entry rope_freqs to the checkpoint's parameters.
    EXPECT_EQ(n, f.n_params + (f.rope_freqs ? f.head_dim / 2 : 0)) << f.id;
  }
}

TEST(PlanMemory, MixesFollowLlamaCppRules) {
  auto t = tensors_for(family("llama31-8b"), "q4_k_m");
  ASSERT_TRUE(t.ok());
  int q6 = 0, q4 = 0;
  for (const Tensor& x : *t) {
    if (x.name == "output.weight") {
      EXPECT_EQ(x.type, 14) << "Q6_K head";  // GGML_TYPE_Q6_K
    }
    if (x.name.find("_norm") != std::string::npos) {
      EXPECT_EQ(x.type, 0) << x.name;  // F32
    }
    if (x.type == 14) ++q6;
    if (x.type == 12) ++q4;  // GGML_TYPE_Q4_K
  }
  EXPECT_GT(q4, q6);
  EXPECT_GT(q6, 1);  // some attn_v / ffn_down layers get more bits
  EXPECT_FALSE(tensors_for(family("llama31-8b"), "q9_x").ok());
}

TEST(PlanMemory, KvCacheByLayerAndWindow) {
  ContextSpec spec;
  spec.gpu = false;
  spec.n_ctx = 8192;
  auto llama = family("llama31-8b");
  auto t = *tensors_for(llama, "q8_0");
  // 32 layers x 8192 cells x (K + V) x 8 heads x 128 x 2 bytes = 1 GiB.
  EXPECT_EQ(estimate(llama, t, spec).host.kv, 1ull << 30);
  spec.kv_type = KvType::kQ8_0;
  EXPECT_EQ(estimate(llama, t, spec).host.kv, (1ull << 30) / 64 * 34);
  // Gemma 2: even layers slide over 4096 tokens; sized to the window + one micro-batch.
  auto gemma = family("gemma2-9b");
  auto gt = *tensors_for(gemma, "q4_k_m");
  spec.kv_type = KvType::kF16;
  spec.swa_full = false;
  Estimate e = estimate(gemma, gt, spec);
  EXPECT_EQ(e.kv_cells, 8192u);
  EXPECT_EQ(e.kv_cells_swa, 4608u);
  const uint64_t per_cell = 2ull * 8 * 256 * 2;
  EXPECT_EQ(e.host.kv, 21 * 8192 * per_cell + 21 * 4608 * per_cell);
  spec.swa_full = true;
  EXPECT_EQ(estimate(gemma, gt, spec).host.kv, 42 * 8192 * per_cell);
  // Context sizes round up to 256 cells, as llama.cpp pads them.
  spec.n_ctx = 1000;
  EXPECT_EQ(estimate(llama, t, spec).kv_cells, 1024u);
}

TEST(PlanMemory, GpuPlacementKeepsEmbeddingsOnTheHost) {
  ContextSpec spec;
  spec.n_ctx = 4096;
  auto llama = family("llama31-8b");
  auto t = *tensors_for(llama, "q8_0");
  Estimate e = estimate(llama, t, spec);
  uint64_t embd = 0;
  for (const Tensor& x : t)
    if (x.name == "token_embd.weight") embd = x.bytes;
  EXPECT_GE(e.host.weights, embd);
  EXPECT_LT(e.host.weights, embd + 4096);
  EXPECT_GT(e.device.weights, 6ull << 30);
  // Gemma 2 ties its head to the embeddings: a second copy on the GPU.
  auto gemma = family("gemma2-9b");
  auto gt = *tensors_for(gemma, "q8_0");
  Estimate g = estimate(gemma, gt, spec);
  uint64_t gembd = 0, all = 0;
  for (const Tensor& x : gt) {
    all += x.bytes;
    if (x.name == "token_embd.weight") gembd = x.bytes;
  }
  EXPECT_NEAR(static_cast<double>(g.device.weights), static_cast<double>(all), 1e6);
  EXPECT_GE(g.host.weights, gembd);
  // Half the layers on the GPU: about half the block weights move to the host.
  spec.n_gpu_layers = 17;
  Estimate half = estimate(llama, t, spec);
  EXPECT_LT(half.device.weights, e.device.weights * 6 / 10);
  EXPECT_GT(half.host.kv, 0u);
}

TEST(Plan, SeedMapFitsTwentyGiB) {
  auto p = make_plan(seed(), {});
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->fits);
  ASSERT_EQ(p->models.size(), 4u);  // rag shares brain's model
  EXPECT_EQ(p->models[0].roles, (std::vector<std::string>{"brain", "rag"}));
  EXPECT_EQ(p->models[0].context.n_ctx, 8192 + 16384);
  EXPECT_EQ(p->models[0].context.n_seq, 4 + 2);
  EXPECT_LE(p->device_bytes + p->headroom_bytes, p->vram_bytes);
  auto j = nlohmann::json::parse(p->to_json());
  EXPECT_EQ(j["models"].size(), 4u);
}

TEST(Plan, OverBudgetRanksAlternativesThatFit) {
  PlanRequest r;
  r.vram_bytes = 16ull << 30;
  r.kv_type = KvType::kF16;
  auto p = make_plan(seed(), r);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->fits);
  ASSERT_FALSE(p->alternatives.empty());
  EXPECT_TRUE(p->alternatives.front().fits);
  EXPECT_LE(p->alternatives.front().device_bytes + (512ll << 20), 16ll << 30);
  bool has_share = false, has_offload = false, has_type = false, has_kv = false;
  for (const auto& a : p->alternatives) {
    has_share |= a.flag.find("--share") != std::string::npos;
    has_offload |= a.flag.find("--gpu-layers") != std::string::npos;
    has_type |= a.flag.find("--type") != std::string::npos;
    has_kv |= a.flag.find("--kv-type q8_0") != std::string::npos;
  }
  EXPECT_TRUE(has_share);
  EXPECT_TRUE(has_offload);
  EXPECT_TRUE(has_type);
  EXPECT_TRUE(has_kv);
}

TEST(Plan, RoleOptionsApply) {
  PlanRequest r;
  r.roles = {{"brain"}, {"tool"}};
  r.roles[0].gguf_type = "Q8_0";
  r.roles[0].ctx = 32768;
  r.roles[1].family = "phi3-mini-4k";
  r.kv_type = KvType::kF16;
  auto p = make_plan(seed(), r);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_EQ(p->models.size(), 2u);
  EXPECT_EQ(p->models[0].gguf_type, "Q8_0");
  EXPECT_EQ(p->models[0].memory.device.kv, 4ull << 30);
  // rag alone (brain not planned) loads its own model.
  PlanRequest alone;
  alone.roles = {{"rag"}};
  auto q = make_plan(seed(), alone);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->models.size(), 1u);
}

TEST(Plan, BadRequestsAreClear) {
  auto expect = [](PlanRequest r, const std::string& needle) {
    auto p = make_plan(seed(), r);
    ASSERT_FALSE(p.ok()) << needle;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_NE(p.status().message().find(needle), std::string::npos) << p.status().message();
  };
  PlanRequest a;
  a.roles = {{"chef"}};
  expect(a, "unknown role 'chef'");
  PlanRequest b;
  b.roles = {{"brain"}};
  b.roles[0].family = "gpt-5";
  expect(b, "unknown family 'gpt-5'");
  PlanRequest c;
  c.roles = {{"tool"}};
  c.roles[0].gguf_type = "Q9_X";
  expect(c, "unknown file type");
  PlanRequest d;
  d.roles = {{"tool"}};
  d.roles[0].share_with = "tool";
  expect(d, "cannot share with itself");
  PlanRequest e;
  e.roles = {{"tool"}};
  e.roles[0].path = "/nonexistent.gguf";
  EXPECT_EQ(make_plan(seed(), e).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace troika::plan
