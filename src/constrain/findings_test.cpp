// Engine bugs found by the fuzz targets (fuzz/) and the ajv oracle test, kept as disabled tests
// until they are fixed: each shows the input, what the specification asks and what the engine
// does. Enable a test with its fix (--gtest_also_run_disabled_tests runs them now).
#include <gtest/gtest.h>

#include "troika/constrain.h"

namespace troika::constrain {
namespace {

bool valid(const std::string& schema_text, const std::string& value) {
  auto schema = Schema::compile(schema_text);
  EXPECT_TRUE(schema.ok()) << schema.status().to_string();
  auto errors = (*schema)->validate(value);
  EXPECT_TRUE(errors.ok()) << errors.status().to_string();
  return errors->empty();
}

// validate.cpp's multiple_of() allows |q - round(q)| <= 1e-9 * |q| for q = x / m, a tolerance
// that reaches 0.5 at q = 5e8: from there on every number passes. multipleOf is exact in the
// specification (and 50301230 / 0.123456789 = 407439966.71 is not an integer).
TEST(FindingsTest, MultipleOfIsExactForLargeQuotients) {
  EXPECT_FALSE(valid(R"({"multipleOf":2})", "3000000001"));
  EXPECT_FALSE(valid(R"({"multipleOf":3})", "10000000000"));
  EXPECT_FALSE(valid(R"({"multipleOf":0.5})", "1000000000.3"));
  EXPECT_FALSE(valid(R"({"type":"integer","multipleOf":0.123456789})", "50301230"));
  // Small quotients are judged right, within float error.
  EXPECT_FALSE(valid(R"({"multipleOf":2})", "3001"));
  EXPECT_TRUE(valid(R"({"multipleOf":0.0001})", "0.0075"));
}

// The same bug seen from the constraint: a fractional multipleOf is checked when the number
// closes, with the validator's test, so a model may end on a number that is not a multiple
// (the ajv oracle test's random walks produce such outputs).
bool may_end_after(const std::string& schema_text, const std::string& text) {
  auto index = TokenIndex::from_pieces({"<eos>", "0", "1", "2", "3", "5", "."}, {0});
  auto schema = Schema::compile(schema_text);
  EXPECT_TRUE(schema.ok()) << schema.status().to_string();
  auto c = json_constraint(*schema, index);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  if (!(*c)->advance_bytes(text).ok()) return false;
  engine::TokenMask mask(index->n_vocab(), false);
  (*c)->fill_mask(mask);
  return mask.allows(0);
}

TEST(FindingsTest, ConstraintDoesNotEndOnANonMultiple) {
  EXPECT_FALSE(may_end_after(R"({"type":"integer","multipleOf":0.123456789})", "50301230"));
  EXPECT_FALSE(may_end_after(R"({"type":"number","multipleOf":0.5})", "1000000000.3"));
  EXPECT_FALSE(may_end_after(R"({"multipleOf":2})", "3000000001"));
  EXPECT_FALSE(may_end_after(R"({"type":"integer","multipleOf":2})", "3000000001"));
}

// Found by fuzz_schema against the working tree's exact multipleOf (validate.cpp, not yet
// committed): the constraint checks integer multipleOf on the digits, exactly, and lets a walk
// end at 25312120091212710 (= 3 * 8437373363737570); the validator reads the number as a double,
// 25312120091212712, and rejects it. Integers past 2^53 need the integer itself (nlohmann keeps
// it as int64/uint64).
TEST(FindingsTest, MultipleOfKeepsLargeIntegersExact) {
  EXPECT_TRUE(valid(R"({"type":"integer","multipleOf":3})", "25312120091212710"));
  EXPECT_TRUE(may_end_after(R"({"type":"integer","multipleOf":3})", "25312120091212710"));
  EXPECT_FALSE(valid(R"({"multipleOf":3})", "25312120091212711"));
}

}  // namespace
}  // namespace troika::constrain
