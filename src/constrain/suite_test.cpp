// The official JSON-Schema-Test-Suite (required tests of draft 2020-12 and draft-07) through the
// validator: every schema either compiles or is refused with unimplemented, and on the compiled
// ones the validator agrees with the suite on at least 98% of the tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "acceptor.h"
#include "schema_compile.h"
#include "troika/constrain.h"

namespace troika::constrain {
namespace {

namespace fs = std::filesystem;

fs::path suite_dir() {
  if (const char* d = std::getenv("TROIKA_JSON_SCHEMA_SUITE")) return d;
  return fs::path("..") / "shared" / "json-schema-test-suite";
}

struct Tally {
  int cases = 0, refused_cases = 0, tests = 0, agree = 0, refused_tests = 0;
  std::vector<std::string> disagreements;
  std::map<std::string, int> refusals;  // reason -> tests
};

Tally run_draft(const std::string& draft, SchemaOptions::Draft d) {
  Tally t;
  fs::path dir = suite_dir() / "tests" / draft;
  const auto remotes = load_suite_remotes((suite_dir() / "remotes").string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    Json cases = Json::parse(in);
    for (const auto& c : cases) {
      ++t.cases;
      SchemaOptions opt;
      opt.default_draft = d;
      opt.documents = remotes;
      auto schema = Schema::compile(c["schema"].dump(), opt);
      if (!schema.ok()) {
        EXPECT_EQ(schema.status().code(), Code::kUnimplemented)
            << f.filename() << ": " << c["description"] << ": " << schema.status().to_string();
        ++t.refused_cases;
        std::string reason = schema.status().message();
        reason = reason.substr(0, reason.find(" at '"));
        t.refusals[reason] += static_cast<int>(c["tests"].size());
        t.refused_tests += static_cast<int>(c["tests"].size());
        continue;
      }
      for (const auto& test : c["tests"]) {
        ++t.tests;
        auto errors = (*schema)->validate(test["data"].dump());
        EXPECT_TRUE(errors.ok());
        if (!errors.ok()) continue;
        bool valid = errors->empty();
        if (valid == test["valid"].get<bool>()) {
          ++t.agree;
        } else {
          t.disagreements.push_back(f.filename().string() + ": " +
                                    c["description"].get<std::string>() + " / " +
                                    test["description"].get<std::string>());
        }
      }
    }
  }
  return t;
}

void report(const std::string& draft, const Tally& t) {
  std::printf("%s: %d cases (%d refused, %d tests), %d of %d supported tests agree (%.2f%%)\n",
              draft.c_str(), t.cases, t.refused_cases, t.refused_tests, t.agree, t.tests,
              100.0 * t.agree / std::max(1, t.tests));
  for (const auto& d : t.disagreements) std::printf("  disagrees: %s\n", d.c_str());
  for (const auto& [r, n] : t.refusals) std::printf("  refused (%d tests): %s\n", n, r.c_str());
}

TEST(SuiteTest, Draft202012Validator) {
  Tally t = run_draft("draft2020-12", SchemaOptions::Draft::k202012);
  report("draft2020-12", t);
  ASSERT_GT(t.tests, 900);
  EXPECT_GE(t.agree, 0.98 * t.tests);
}

TEST(SuiteTest, Draft7Validator) {
  Tally t = run_draft("draft7", SchemaOptions::Draft::k7);
  report("draft7", t);
  ASSERT_GT(t.tests, 700);
  EXPECT_GE(t.agree, 0.98 * t.tests);
}

}  // namespace
}  // namespace troika::constrain
