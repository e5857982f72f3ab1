// The validator against ajv 8 (tests/oracles/ajv_validate.mjs) as an independent oracle, on
// more instances than the JSON-Schema-Test-Suite lists: the suite's schemas (draft 2020-12 and
// draft-07, those Schema::compile accepts, without "format", which ajv would not assert here)
// with the suite's instances, mutations of them (numbers moved by one, members dropped or added,
// items appended, strings changed, types swapped), and outputs of random constrained walks,
// which by the engine's claim are all valid. Skips when node or ajv is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "node_oracle.h"
#include "troika/constrain.h"

namespace troika::constrain {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// ---- Inputs -----------------------------------------------------------------------------------

fs::path suite_dir(const std::string& root) {
  if (const char* d = std::getenv("TROIKA_JSON_SCHEMA_SUITE")) return d;
  return fs::path(root) / ".." / "shared" / "json-schema-test-suite";
}

bool mentions_key(const Json& v, const std::string& key) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (k == key || mentions_key(x, key)) return true;
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (mentions_key(x, key)) return true;
    }
  }
  return false;
}

// JavaScript reads integers past 2^53 rounded (9007199254740993 becomes ...992), so ajv cannot
// judge values that hold them.
bool beyond_js_integers(const Json& v) {
  constexpr uint64_t kMaxSafe = uint64_t{1} << 53;
  if (v.is_number_unsigned()) return v.get<uint64_t>() > kMaxSafe;
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    return x > static_cast<int64_t>(kMaxSafe) || x < -static_cast<int64_t>(kMaxSafe);
  }
  if (v.is_structured()) {
    for (const auto& x : v) {
      if (beyond_js_integers(x)) return true;
    }
  }
  return false;
}

struct SuiteCase {
  std::string where;  // "draft7/items.json: a schema given for items"
  std::string draft;  // as the oracle names it: "2020-12" or "7"
  Json schema;
  std::shared_ptr<const Schema> compiled;
  std::vector<Json> instances;  // the suite's own
  std::vector<bool> expected;   // the suite's verdict on each
};

std::vector<SuiteCase> load_cases(const fs::path& suite, int* n_refused) {
  std::vector<SuiteCase> out;
  const std::pair<const char*, const char*> drafts[] = {{"draft2020-12", "2020-12"},
                                                        {"draft7", "7"}};
  for (const auto& [dir, draft] : drafts) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(suite / "tests" / dir)) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f);
      for (const auto& c : Json::parse(in)) {
        if (mentions_key(c["schema"], "format")) continue;
        SchemaOptions opt;
        opt.default_draft =
            std::string(draft) == "7" ? SchemaOptions::Draft::k7 : SchemaOptions::Draft::k202012;
        // No documents: a $ref to a remote one is refused, which leaves it out.
        auto compiled = Schema::compile(c["schema"].dump(), opt);
        if (!compiled.ok()) {
          ++*n_refused;
          continue;
        }
        SuiteCase sc{std::string(dir) + "/" + f.filename().string() + ": " +
                         c["description"].get<std::string>(),
                     draft,
                     c["schema"],
                     *compiled,
                     {}};
        for (const auto& t : c["tests"]) {
          sc.instances.push_back(t["data"]);
          sc.expected.push_back(t["valid"].get<bool>());
        }
        out.push_back(std::move(sc));
      }
    }
  }
  return out;
}

// ---- Mutations --------------------------------------------------------------------------------

void collect(Json& v, std::vector<Json*>& all) {
  all.push_back(&v);
  if (v.is_structured()) {
    for (auto& x : v) collect(x, all);
  }
}

// Drops the last code point of a UTF-8 string.
void pop_code_point(std::string& s) {
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty()) s.pop_back();
}

// Each kind of mutation once where the instance has a place for it, at a random such place.
std::vector<Json> mutations(const Json& instance, std::mt19937& rng) {
  std::vector<Json> out;
  for (int kind = 0; kind < 6; ++kind) {
    Json m = instance;
    std::vector<Json*> all;
    collect(m, all);
    std::vector<Json*> spots;
    for (Json* p : all) {
      const bool fits = (kind == 0 && p->is_number()) ||
                        (kind == 1 && p->is_object() && !p->empty()) ||
                        (kind == 2 && p->is_object() && !p->contains("zz")) ||
                        (kind == 3 && p->is_array()) || (kind == 4 && p->is_string()) || kind == 5;
      if (fits) spots.push_back(p);
    }
    if (spots.empty()) continue;
    Json& v = *spots[rng() % spots.size()];
    const bool up = rng() % 2 == 0;
    switch (kind) {
      case 0:  // a number moved by one, keeping its kind
        if (v.is_number_float()) {
          v = v.get<double>() + (up ? 1.0 : -1.0);
        } else if (v.is_number_unsigned() && !up && v.get<uint64_t>() == 0) {
          v = -1;
        } else if (v.is_number_unsigned()) {
          v = up ? v.get<uint64_t>() + 1 : v.get<uint64_t>() - 1;
        } else {
          v = v.get<int64_t>() + (up ? 1 : -1);
        }
        break;
      case 1: {  // a member dropped
        auto it = v.begin();
        std::advance(it, rng() % v.size());
        v.erase(it.key());
        break;
      }
      case 2:  // a member added
        v["zz"] = 1;
        break;
      case 3:  // an item appended: a copy of the last one tests uniqueItems and maxItems
        v.push_back(v.empty() ? Json(1) : Json(v.back()));
        break;
      case 4: {  // the last character changed
        std::string s = v.get<std::string>();
        const bool was_a = !s.empty() && s.back() == 'a';
        pop_code_point(s);
        s += was_a ? 'b' : 'a';
        v = s;
        break;
      }
      case 5:  // the type swapped
        if (v.is_null()) {
          v = 0;
        } else if (v.is_boolean()) {
          v = v.get<bool>() ? "true" : "false";
        } else if (v.is_number()) {
          v = v.dump();
        } else if (v.is_string()) {
          v = up ? Json(static_cast<int64_t>(v.get<std::string>().size())) : Json(nullptr);
        } else if (v.is_array()) {
          Json o = Json::object();
          for (size_t i = 0; i < v.size(); ++i) o[std::to_string(i)] = v[i];
          v = o;
        } else {
          Json a = Json::array();
          for (const auto& x : v) a.push_back(x);
          v = a;
        }
        break;
    }
    out.push_back(std::move(m));
  }
  return out;
}

// ---- Constrained walks ------------------------------------------------------------------------

// The vocabulary of constrain_test.cpp plus digits and a few letters, so that walks can spell
// more of the suite's enums, patterns and numbers.
std::shared_ptr<const TokenIndex> walk_vocab() {
  std::vector<std::string> pieces = {
      "<eos>", "{",  "}",  "[",   "]",   ",",     ":",     "\"",    "\":", "\",", "\"}",  "{\"",
      "a",     "b",  "ab", "foo", "bar", "\"foo", "\"bar", "baz",   "0",   "1",   "2",    "3",
      "4",     "5",  "6",  "7",   "8",   "9",     "12",    "-",     ".",   "e",   "true", "false",
      "null",  "tr", "ue", "nu",  "\\",  "n",     "\"\\",  "é",     "x",   "y",   "1.5",  "\":\"",
      "\"]",   "],", "},", "@",   "id",  "\"id",  "c",     "d",     "A",   "+",   "E",    "u",
      "\\u",   "00", "💩",  "\"a", "\"b", "\"c",   "\"x",   "\"\":", " ",   "\n"};
  return TokenIndex::from_pieces(std::move(pieces), {0});
}

// Walks with random allowed tokens, ending whenever the end is allowed half of the time and
// preferring short continuations (closers, digits) a third of the time, so that most walks end
// within the step budget. Returns the texts of the walks that ended, without repeats.
std::vector<std::string> random_walks(const std::shared_ptr<const Schema>& schema,
                                      const std::shared_ptr<const TokenIndex>& index,
                                      std::mt19937& rng, int n_walks, int* n_refused) {
  static const std::set<std::string> kShort = {"}", "]",    "\"}", "\"]", "\"",  "0",
                                               "1", "null", "\":", "\",", "{\"", "a"};
  auto proto = json_constraint(schema, index);
  if (!proto.ok()) {
    ++*n_refused;
    return {};
  }
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (int w = 0; w < n_walks; ++w) {
    auto c = (*proto)->clone();
    auto* text_c = static_cast<TextConstraint*>(c.get());
    bool ended = false;
    for (int step = 0; step < 64 && !ended && !c->done(); ++step) {
      engine::TokenMask mask(index->n_vocab(), false);
      c->fill_mask(mask);
      std::vector<engine::Token> allowed, short_ones;
      for (engine::Token t = 0; t < index->n_vocab(); ++t) {
        if (!mask.allows(t)) continue;
        allowed.push_back(t);
        if (kShort.count(index->piece(t))) short_ones.push_back(t);
      }
      if (allowed.empty()) break;
      engine::Token t = allowed[rng() % allowed.size()];
      if (!short_ones.empty() && rng() % 3 == 0) t = short_ones[rng() % short_ones.size()];
      if (mask.allows(0) && rng() % 2 == 0) t = 0;
      EXPECT_TRUE(c->advance(t).ok());
      ended = index->is_eog(t);
    }
    if ((ended || c->done()) && seen.insert(text_c->text()).second) {
      out.push_back(text_c->text());
    }
  }
  return out;
}

// ---- Oracle -----------------------------------------------------------------------------------

struct Pair {
  int case_index;
  Json data;
  enum Kind { kSuite, kMutation, kWalk } kind;
  int suite_test = -1;  // kSuite: which of the case's instances
};

const char* kind_name(Pair::Kind k) {
  return k == Pair::kSuite ? "suite" : k == Pair::kMutation ? "mutation" : "walk";
}

// Runs ajv on every pair in one node process; empty with `skip` set when node or ajv is missing,
// empty with `error` set when the oracle ran but did not answer properly.
std::vector<Json> ajv_answers(const std::vector<SuiteCase>& cases, const std::vector<Pair>& pairs,
                              std::string* skip, std::string* error) {
  Json requests = Json::array();
  for (const auto& p : pairs) {
    const auto& c = cases[p.case_index];
    requests.push_back({{"schema", c.schema}, {"data", p.data}, {"draft", c.draft}});
  }
  auto run = testing::run_oracle("ajv_validate.mjs", "ajv", requests.dump());
  if (run.missing) {
    *skip = "node or ajv missing; run scripts/setup";
    return {};
  }
  const Json& answers = run.answer;
  if (!run.error.empty() || !answers.is_array() || answers.size() != pairs.size()) {
    *error = run.error.empty() ? "ajv_validate.mjs answered " + answers.dump().substr(0, 200)
                               : run.error;
    return {};
  }
  return answers.get<std::vector<Json>>();
}

TEST(AjvOracleTest, ValidatorAgreesWithAjv) {
  const std::string root = testing::oracle_root();
  ASSERT_FALSE(root.empty()) << "cannot find the repository root; set TROIKA_ROOT";
  const fs::path suite = suite_dir(root);
  if (!fs::exists(suite / "tests")) GTEST_SKIP() << "no JSON-Schema-Test-Suite at " << suite;

  int n_refused = 0, n_walk_refused = 0;
  const auto cases = load_cases(suite, &n_refused);
  ASSERT_GT(cases.size(), 300u);

  const auto t0 = std::chrono::steady_clock::now();
  std::mt19937 rng(20240601);
  const auto index = walk_vocab();
  std::vector<Pair> pairs;
  for (int i = 0; i < static_cast<int>(cases.size()); ++i) {
    std::set<std::string> seen;
    auto add = [&](Json data, Pair::Kind kind, int suite_test = -1) {
      if (seen.insert(data.dump()).second) {
        pairs.push_back({i, std::move(data), kind, suite_test});
      }
    };
    for (int t = 0; t < static_cast<int>(cases[i].instances.size()); ++t) {
      add(cases[i].instances[t], Pair::kSuite, t);
    }
    for (const auto& d : cases[i].instances) {
      for (auto& m : mutations(d, rng)) add(std::move(m), Pair::kMutation);
    }
    for (const auto& text : random_walks(cases[i].compiled, index, rng, 12, &n_walk_refused)) {
      auto data = Json::parse(text, nullptr, false);
      EXPECT_FALSE(data.is_discarded())
          << "a walk produced non-JSON '" << text << "' for " << cases[i].where;
      if (!data.is_discarded()) add(std::move(data), Pair::kWalk);
    }
  }

  const auto t_pairs = std::chrono::steady_clock::now();
  std::string skip, error;
  const auto answers = ajv_answers(cases, pairs, &skip, &error);
  const auto t_ajv = std::chrono::steady_clock::now();
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(error.empty()) << error;

  // ajv is an oracle only where it passes the suite's own tests: it has known gaps
  // ($dynamicRef beyond a root anchor, unevaluatedItems next to contains, properties named
  // __proto__). A schema where it fails the suite is left out of the comparison and listed.
  std::map<int, std::string> untrusted;  // case -> why
  std::set<std::string> ajv_refused_cases;
  int n_ajv_errors = 0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const auto& p = pairs[k];
    const auto& c = cases[p.case_index];
    if (answers[k].contains("error")) {
      ++n_ajv_errors;
      ajv_refused_cases.insert(c.where + " (" + answers[k]["error"].get<std::string>() + ")");
      untrusted.emplace(p.case_index, "ajv cannot compile it");
    } else if (p.kind == Pair::kSuite &&
               answers[k]["valid"].get<bool>() != c.expected[p.suite_test]) {
      untrusted.emplace(p.case_index, "ajv fails the suite on " + p.data.dump());
    }
  }

  struct Count {
    int compared = 0, agree = 0;
  };
  Count by_kind[3];
  int n_walk_rejected = 0, n_untrusted_pairs = 0, n_beyond_js = 0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const auto& p = pairs[k];
    const auto& c = cases[p.case_index];
    if (untrusted.count(p.case_index)) {
      ++n_untrusted_pairs;
      continue;
    }
    if (beyond_js_integers(p.data)) {
      ++n_beyond_js;
      continue;
    }
    const bool ajv_valid = answers[k]["valid"].get<bool>();
    auto errors = c.compiled->validate(p.data.dump());
    ASSERT_TRUE(errors.ok()) << errors.status().to_string();
    const bool ours_valid = errors->empty();
    Count& n = by_kind[p.kind];
    ++n.compared;
    if (ours_valid == ajv_valid) {
      ++n.agree;
    } else {
      std::printf("  disagree (%s): %s\n    schema %s\n    data %s\n    ajv %s, troika %s%s\n",
                  kind_name(p.kind), c.where.c_str(), c.schema.dump().c_str(),
                  p.data.dump().c_str(), ajv_valid ? "valid" : "invalid",
                  ours_valid ? "valid" : "invalid",
                  ours_valid ? "" : (" (" + (*errors)[0].message + ")").c_str());
    }
    // A walk output is what the engine let a model write: ajv must accept it.
    if (p.kind == Pair::kWalk && !ajv_valid) {
      ++n_walk_rejected;
      ADD_FAILURE() << "unsound walk: " << p.data.dump() << " for " << c.where << " "
                    << c.schema.dump() << " (ajv invalid, troika "
                    << (ours_valid ? "valid" : "invalid") << ")";
    }
  }
  int compared = 0, agree = 0;
  for (const auto& n : by_kind) {
    compared += n.compared;
    agree += n.agree;
  }
  std::printf(
      "ajv oracle: %zu schemas compiled (%d refused by Schema::compile, %d by json_constraint), "
      "%zu pairs, %d not compiled by ajv (%zu schemas); %zu schemas (%d pairs) left out where "
      "ajv is not a reliable oracle, %d pairs with integers past 2^53\n",
      cases.size(), n_refused, n_walk_refused, pairs.size(), n_ajv_errors, ajv_refused_cases.size(),
      untrusted.size(), n_untrusted_pairs, n_beyond_js);
  for (const auto& w : ajv_refused_cases) std::printf("  ajv refused: %s\n", w.c_str());
  auto ms = [](auto a, auto b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  };
  std::printf("  time: instances and walks %lld ms, ajv %lld ms\n",
              static_cast<long long>(ms(t0, t_pairs)), static_cast<long long>(ms(t_pairs, t_ajv)));
  for (const auto& [i, why] : untrusted) {
    std::printf("  left out: %s: %s\n", cases[i].where.c_str(), why.c_str());
  }
  for (int k = 0; k < 3; ++k) {
    std::printf("  %-8s %5d of %5d agree\n", kind_name(static_cast<Pair::Kind>(k)),
                by_kind[k].agree, by_kind[k].compared);
  }
  std::printf("  all      %5d of %5d agree (%.2f%%); walk outputs ajv rejects: %d\n", agree,
              compared, 100.0 * agree / std::max(1, compared), n_walk_rejected);
  EXPECT_GT(by_kind[Pair::kWalk].compared, 200);
  EXPECT_GE(agree, 0.99 * compared);
  EXPECT_EQ(n_walk_rejected, 0);
}

}  // namespace
}  // namespace troika::constrain
