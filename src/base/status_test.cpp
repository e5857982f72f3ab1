#include "troika/status.h"

#include <gtest/gtest.h>

#include <set>

namespace troika {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = not_found("model file not found: x.gguf");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.to_string(), "not_found: model file not found: x.gguf");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = invalid_argument("no");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST(Codes, EachHasDistinctExitCodeAndName) {
  std::set<int> exits;
  std::set<std::string> names;
  for (int c = 0; c <= static_cast<int>(Code::kBadOutput); ++c) {
    auto code = static_cast<Code>(c);
    exits.insert(exit_code(code));
    names.insert(to_string(code));
    EXPECT_GE(http_status(code), 200);
  }
  EXPECT_EQ(exits.size(), 11u);
  EXPECT_EQ(names.size(), 11u);
  EXPECT_EQ(exit_code(Code::kOk), 0);
  EXPECT_EQ(http_status(Code::kInvalidArgument), 400);
  EXPECT_EQ(http_status(Code::kNotFound), 404);
}

}  // namespace
}  // namespace troika
