// The matcher and the masks on a small hand-made vocabulary: masks agree exactly with stepping
// each token, random constrained walks always end in schema-valid JSON, valid instances are
// accepted, jump-forward bytes are the only continuation.
#include <gtest/gtest.h>

#include <random>

#include "grammar.h"
#include "schema_impl.h"
#include "troika/constrain.h"

namespace troika::constrain {
namespace {

std::shared_ptr<const TokenIndex> small_vocab() {
  std::vector<std::string> pieces = {
      "<eos>", "{",   "}",  "[",  "]",    ",",   ":",      "\"",    "\":",   "\",",    "\"}",
      "{\"",   "a",   "b",  "ab", "name", "age", "\"name", "\"age", "tags",  "\"tags", "0",
      "1",     "2",   "12", "-",  ".",    "5",   "e",      "true",  "false", "null",   "tr",
      "ue",    "nu",  "\\", "n",  "\"\\", " ",   "\n",     "é",     "x",     "y",      "1.5",
      "\":\"", "\"]", "],", "},", "@",    "id",  "\"id"};
  return TokenIndex::from_pieces(pieces, {0});
}

std::unique_ptr<TextConstraint> make(const std::string& schema_text,
                                     std::shared_ptr<const TokenIndex> index,
                                     ConstraintOptions o = {}) {
  auto schema = Schema::compile(schema_text);
  EXPECT_TRUE(schema.ok()) << schema.status().to_string();
  auto c = json_constraint(*schema, index, o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return std::move(*c);
}

// Every token: allowed by the mask exactly when advancing a clone by it succeeds.
void expect_exact_mask(TextConstraint& c, const TokenIndex& index) {
  engine::TokenMask mask(index.n_vocab(), false);
  c.fill_mask(mask);
  for (engine::Token t = 0; t < index.n_vocab(); ++t) {
    auto probe = c.clone();
    bool ok = probe->advance(t).ok();
    EXPECT_EQ(mask.allows(t), ok) << "token '" << index.piece(t) << "' after '" << c.text() << "'";
  }
}

const std::vector<std::string> kSchemas = {
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":3},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false})",
    R"({"type":"array","items":{"enum":["a","b",12,true,null]},"minItems":1,"maxItems":3,"uniqueItems":true})",
    R"({"anyOf":[{"type":"string","pattern":"^a+$"},{"type":"integer","multipleOf":2},{"type":"null"}]})",
    R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"}}},"additionalProperties":{"type":"boolean"},"minProperties":1,"maxProperties":2})",
    R"({"$defs":{"node":{"type":"object","properties":{"id":{"type":"integer"},"name":{"$ref":"#/$defs/node"}},"required":["id"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
    R"({"oneOf":[{"type":"integer","minimum":10},{"type":"integer","maximum":15}]})",
    R"({"not":{"type":"string"}})",
    R"(true)",
};

TEST(ConstrainTest, MasksMatchSteppingEveryToken) {
  auto index = small_vocab();
  std::mt19937 rng(7);
  for (const auto& s : kSchemas) {
    for (int run = 0; run < 20; ++run) {
      auto c = make(s, index);
      for (int step = 0; step < 24 && !c->done(); ++step) {
        expect_exact_mask(*c, *index);
        engine::TokenMask mask(index->n_vocab(), false);
        c->fill_mask(mask);
        std::vector<engine::Token> allowed;
        for (engine::Token t = 0; t < index->n_vocab(); ++t) {
          if (mask.allows(t)) allowed.push_back(t);
        }
        if (allowed.empty()) break;  // a dead end (allowed by design for whole-value checks)
        engine::Token t = allowed[rng() % allowed.size()];
        ASSERT_TRUE(c->advance(t).ok());
        if (index->is_eog(t)) break;
      }
    }
  }
}

TEST(ConstrainTest, RandomWalksEndInValidJson) {
  auto index = small_vocab();
  std::mt19937 rng(11);
  for (const auto& s : kSchemas) {
    auto schema = Schema::compile(s);
    ASSERT_TRUE(schema.ok());
    int completed = 0;
    for (int run = 0; run < 300; ++run) {
      auto c = *json_constraint(*schema, index);
      bool ended = false;
      for (int step = 0; step < 40 && !ended; ++step) {
        if (c->done()) {
          ended = true;
          break;
        }
        engine::TokenMask mask(index->n_vocab(), false);
        c->fill_mask(mask);
        std::vector<engine::Token> allowed;
        for (engine::Token t = 0; t < index->n_vocab(); ++t) {
          if (mask.allows(t)) allowed.push_back(t);
        }
        if (allowed.empty()) break;
        // Prefer ending and closing, so that walks finish.
        engine::Token t = allowed[rng() % allowed.size()];
        if (mask.allows(0) && rng() % 3 == 0) t = 0;
        ASSERT_TRUE(c->advance(t).ok());
        if (index->is_eog(t)) ended = true;
      }
      if (!ended) continue;
      ++completed;
      auto errors = (*schema)->validate(c->text());
      ASSERT_TRUE(errors.ok()) << "not JSON: " << c->text() << " for " << s;
      EXPECT_TRUE(errors->empty())
          << c->text() << " accepted for " << s << ": " << (*errors)[0].message;
    }
    EXPECT_GT(completed, 10) << s;
  }
}

TEST(ConstrainTest, AcceptsValidInstancesByteByByte) {
  auto index = small_vocab();
  struct Case {
    int schema;
    std::string text;
    bool valid;
  };
  const std::vector<Case> cases = {
      {0, R"({"name":"ab","age":12})", true},
      {0, R"({"age":0,"name":""})", true},
      {0, R"({"name":"abcd","age":1})", false},
      {0, R"({"name":"a","age":121})", false},
      {0, R"({"name":"a"})", false},
      {0, R"({"name":"a","age":1,"x":1})", false},
      {0, R"({"name":"a","name":"b","age":1})", false},
      {1, R"(["a",12,null])", true},
      {1, R"(["a","a"])", false},
      {1, R"([])", false},
      {1, R"(["a","b",12,true])", false},
      {2, R"("aaa")", true},
      {2, R"(12)", true},
      {2, R"(13)", false},
      {2, R"("ab")", false},
      {2, R"(null)", true},
      {3, R"({"tags":["x"],"ok":true})", true},
      {3, R"({})", false},
      {3, R"({"a":true,"b":false,"c":true})", false},
      {3, R"({"a":1})", false},
      {4, R"({"id":1,"name":{"id":2}})", true},
      {4, R"({"id":1,"name":{"name":{"id":3}}})", false},
      {5, R"(9)", true},
      {5, R"(12)", false},
      {5, R"(16)", true},
      {6, R"(12)", true},
      {6, R"("a")", false},
      {7, R"([{"a":[1,2.5e-3,"\n"]},null])", true},
  };
  for (const auto& k : cases) {
    auto c = make(kSchemas[k.schema], index);
    bool ok = c->advance_bytes(k.text).ok();
    if (ok) {
      engine::TokenMask mask(index->n_vocab(), false);
      c->fill_mask(mask);
      ok = mask.allows(0);
    }
    EXPECT_EQ(ok, k.valid) << k.text << " against " << kSchemas[k.schema];
  }
}

TEST(ConstrainTest, WhitespaceIsOffByDefaultAndBoundedWhenOn) {
  auto index = small_vocab();
  auto compact = make(R"({"type":"array"})", index);
  EXPECT_FALSE(compact->advance_bytes("[ 1]").ok());
  ConstraintOptions o;
  o.max_whitespace = 2;
  auto loose = make(R"({"type":"array"})", index, o);
  EXPECT_TRUE(loose->advance_bytes("[ 1,\n 2 ]").ok());
  auto loose2 = make(R"({"type":"array"})", index, o);
  EXPECT_FALSE(loose2->advance_bytes("[   1]").ok());
}

TEST(ConstrainTest, ForcedBytesAreTheOnlyContinuation) {
  auto schema = Schema::compile(
      R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  ASSERT_TRUE(schema.ok());
  auto index = small_vocab();
  Grammar g(*schema, (*schema)->impl().compiled, index, MatcherOptions{});
  auto s = MatchState::start(g.table(), g.options());
  ASSERT_TRUE(s.ok());
  std::string text;
  EXPECT_EQ(g.forced_bytes(*s, text, 64), "{\"name\":\"");
}

TEST(ConstrainTest, RegexConstraint) {
  auto index = small_vocab();
  auto c = regex_constraint("(ab)+x?", index);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE((*c)->advance_bytes("abab").ok());
  engine::TokenMask mask(index->n_vocab(), false);
  (*c)->fill_mask(mask);
  EXPECT_TRUE(mask.allows(0));
  EXPECT_FALSE((*c)->advance_bytes("b").ok());
  EXPECT_EQ(regex_constraint("(?=a)", index).status().code(), Code::kUnimplemented);
}

TEST(ConstrainTest, UnsupportedKeywordsAreErrorsWithTheirPointer) {
  auto r = Schema::compile(R"({"properties":{"a":{"$recursiveRef":"#"}}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnimplemented);
  EXPECT_NE(r.status().message().find("$recursiveRef"), std::string::npos);
  EXPECT_NE(r.status().message().find("/properties/a"), std::string::npos);
  auto f = Schema::compile(R"({"format":"idn-email"})");
  EXPECT_EQ(f.status().code(), Code::kUnimplemented);
  auto remote = Schema::compile(R"({"$ref":"http://example.com/s.json"})");
  EXPECT_EQ(remote.status().code(), Code::kUnimplemented);
  EXPECT_EQ(Schema::compile("{").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Schema::compile(R"({"type":"strng"})").status().code(), Code::kInvalidArgument);
}

TEST(ConstrainTest, ValidatorReportsPaths) {
  auto s = Schema::compile(kSchemas[0]);
  ASSERT_TRUE(s.ok());
  auto errors = (*s)->validate(R"({"name":"abcd","age":-1})");
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 2u);
  std::set<std::string> paths;
  for (const auto& e : *errors) paths.insert(e.instance_path + " " + e.schema_path);
  EXPECT_TRUE(paths.count("/name /properties/name/maxLength"));
  EXPECT_TRUE(paths.count("/age /properties/age/minimum"));
  EXPECT_EQ((*s)->validate("{").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace troika::constrain
