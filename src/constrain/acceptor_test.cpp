// The official suite as an acceptor (what `troika constrain-bench` measures) with the Llama 3
// vocabulary: most tests pass, none is falsely accepted, and the rest are refused schemas.
#include <gtest/gtest.h>

#include "acceptor.h"
#include "test_models.h"

namespace troika::constrain {
namespace {

std::shared_ptr<const engine::Model> llama3_vocab() {
  engine::ModelOptions o;
  o.vocab_only = true;
  auto m = engine::Model::load(testing::llama_models_dir() + "/ggml-vocab-llama-bpe.gguf", o);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::shared_ptr<const engine::Model>(*m) : nullptr;
}

void check(const std::string& draft) {
  auto model = llama3_vocab();
  ASSERT_TRUE(model);
  std::string dir = testing::repo_root() + "/../shared/json-schema-test-suite/tests/" + draft;
  auto r = run_acceptor({dir}, model);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::printf("%s: %s\n", draft.c_str(), r->to_json().c_str());
  for (const auto& f : r->failures) std::printf("  %s\n", f.c_str());
  EXPECT_EQ(r->false_accept, 0);
  EXPECT_EQ(r->schema_errors, 0);
  EXPECT_GE(r->pass, 0.90 * static_cast<double>(r->tests));
  EXPECT_EQ(r->pass + r->refused + r->false_reject, r->tests);
}

TEST(AcceptorTest, Draft202012) { check("draft2020-12"); }
TEST(AcceptorTest, Draft7) { check("draft7"); }

}  // namespace
}  // namespace troika::constrain
