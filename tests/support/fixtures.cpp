#include "fixtures.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_models.h"

namespace troika::testing {

std::string fixture_dir(const std::string& name) { return repo_root() + "/../shared/fixtures/" + name; }

Golden read_golden(const std::string& fixture) {
  Golden g;
  const std::string dir = fixture_dir(fixture);
  std::ifstream in(dir + "/golden.json");
  EXPECT_TRUE(in) << "missing " << dir << "/golden.json";
  if (!in) return g;
  const auto j = nlohmann::json::parse(in);
  g.prompt_ids = j.at("prompt_ids").get<std::vector<int32_t>>();
  g.greedy = j.at("greedy_continuation").get<std::vector<int32_t>>();
  g.n_vocab = j.at("logits_shape")[1].get<int64_t>();
  g.min_margin = j.at("min_top1_top2_margin").get<double>();
  std::ifstream lf(dir + "/golden_logits.f32", std::ios::binary);
  g.logits.resize(g.prompt_ids.size() * static_cast<size_t>(g.n_vocab));
  lf.read(reinterpret_cast<char*>(g.logits.data()), static_cast<std::streamsize>(g.logits.size() * sizeof(float)));
  EXPECT_TRUE(lf) << dir << "/golden_logits.f32 is shorter than golden.json's logits_shape";
  return g;
}

namespace {
std::unique_ptr<engine::Context> exact_context(const std::shared_ptr<engine::Model>& model, int32_t n) {
  engine::ContextOptions co;
  co.n_ctx = n;
  co.n_batch = co.n_ubatch = n;
  co.f32_kv = true;
  co.flash_attn = engine::FlashAttn::kOff;
  auto ctx = engine::Context::create(model, co);
  EXPECT_TRUE(ctx.ok()) << ctx.status().to_string();
  return ctx.ok() ? std::move(*ctx) : nullptr;
}
}  // namespace

std::vector<float> all_logits(const std::shared_ptr<engine::Model>& model, const std::vector<int32_t>& ids) {
  auto ctx = exact_context(model, static_cast<int32_t>(ids.size()));
  if (!ctx) return {};
  engine::Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
  Status st = ctx->decode(b);
  EXPECT_TRUE(st.ok()) << st.to_string();
  if (!st.ok()) return {};
  std::vector<float> out;
  for (int32_t i = 0; i < b.size(); ++i) {
    auto row = ctx->logits(i);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::vector<int32_t> greedy(const std::shared_ptr<engine::Model>& model, const std::vector<int32_t>& ids, int n) {
  auto ctx = exact_context(model, static_cast<int32_t>(ids.size()) + n);
  if (!ctx) return {};
  std::vector<int32_t> out;
  if (!ctx->prefill(ids, 0, 0, true).ok()) return out;
  int32_t pos = static_cast<int32_t>(ids.size());
  for (int i = 0; i < n; ++i) {
    auto row = ctx->logits(-1);
    const int32_t best = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    out.push_back(best);
    engine::Batch b;
    b.add(best, pos++, 0, true);
    if (!ctx->decode(b).ok()) break;
  }
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

}  // namespace troika::testing
