#include "constrain/dfa.h"
#include "constrain/dfa_test_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace troika::constrain {
namespace {
// A reference UTF-8 validator, written independently of the automaton.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    int n;
    uint32_t cp;
    if (b < 0x80) {
      n = 1, cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (int j = 1; j < n; ++j) {
      const auto c = static_cast<uint8_t>(s[i + j]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// ---- Dfa core --------------------------------------------------------------------------------

TEST(DfaTest, DefaultIsTheEmptyLanguage) {
  Dfa d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.start(), Dfa::kDead);
  EXPECT_EQ(d.n_states(), 0);
  EXPECT_FALSE(d.matches(""));
  EXPECT_FALSE(d.matches("a"));
  EXPECT_EQ(d.walk("a"), Dfa::kDead);
}

TEST(DfaTest, FromTableTrimsDeadEnds) {
  // Over classes {0: other, 1: 'a', 2: 'b'}: 0 -a-> 1 (accepting), 0 -b-> 2 -a-> 3 (a dead end
  // with no way to acceptance), and an unreachable accepting state 4.
  std::array<uint8_t, 256> class_of{};
  class_of['a'] = 1;
  class_of['b'] = 2;
  std::vector<int32_t> next(5 * 3, Dfa::kDead);
  next[0 * 3 + 1] = 1;
  next[0 * 3 + 2] = 2;
  next[2 * 3 + 1] = 3;
  next[3 * 3 + 1] = 3;
  std::vector<uint8_t> accept{0, 1, 0, 0, 1};
  const Dfa d = Dfa::from_table(0, 3, class_of, next, accept);
  EXPECT_EQ(d.n_states(), 2);
  EXPECT_TRUE(d.matches("a"));
  // 'b' has no completion, so it is refused at once rather than a byte later.
  EXPECT_EQ(d.step(d.start(), 'b'), Dfa::kDead);
  EXPECT_EQ(d.walk("b"), Dfa::kDead);
  // Nothing accepted at all: the empty language.
  std::vector<uint8_t> none(5, 0);
  EXPECT_TRUE(Dfa::from_table(0, 3, class_of, next, none).empty());
}

TEST(DfaTest, TrimmedAfterEveryConstruction) {
  const Dfa d = full("abc|abd");
  EXPECT_NE(d.walk("ab"), Dfa::kDead);
  EXPECT_EQ(d.walk("abe"), Dfa::kDead);
  EXPECT_EQ(d.walk("x"), Dfa::kDead);
  EXPECT_EQ(d.walk("abcd"), Dfa::kDead);
  // Every state of every automaton reaches acceptance.
  for (const Dfa& a : {d, search("x[0-9]+y"), full("(a|b)*abb"), must(format_dfa("ipv6"))}) {
    for (int32_t s = 0; s < a.n_states(); ++s) {
      std::vector<bool> seen(a.n_states());
      std::vector<int32_t> stack{s};
      bool ok = false;
      while (!stack.empty() && !ok) {
        const int32_t q = stack.back();
        stack.pop_back();
        ok = a.accepting(q);
        for (int b = 0; b < 256; ++b) {
          const int32_t t = a.step(q, static_cast<uint8_t>(b));
          if (t != Dfa::kDead && !seen[t]) {
            seen[t] = true;
            stack.push_back(t);
          }
        }
      }
      EXPECT_TRUE(ok) << "state " << s << " cannot reach acceptance";
    }
  }
}

TEST(DfaTest, Minimises) {
  // The textbook (a|b)*abb: four states in the minimal automaton.
  EXPECT_EQ(full("(a|b)*abb").n_states(), 4);
  EXPECT_EQ(full("(?:a|b)*abb").n_states(), full("[ab]*abb").n_states());
  // Redundant alternatives collapse.
  EXPECT_EQ(full("abc|abc|a(b)c").n_states(), 4);
  EXPECT_EQ(full("a*").n_states(), 1);
  // A hand-made table with two equivalent accepting states.
  std::array<uint8_t, 256> class_of{};
  class_of['a'] = 1;
  std::vector<int32_t> next{Dfa::kDead, 1, Dfa::kDead, 2, Dfa::kDead, 1};
  const Dfa d = Dfa::from_table(0, 2, class_of, next, {0, 1, 1});
  EXPECT_EQ(d.n_states(), 2);
  EXPECT_TRUE(d.matches("aaa"));
  EXPECT_FALSE(d.matches(""));
  // keep_states leaves them apart.
  EXPECT_EQ(Dfa::from_table(0, 2, class_of, next, {0, 1, 1}, true).n_states(), 3);
}

TEST(DfaTest, Literals) {
  const std::vector<std::string> words{"foo", "bar", "foobar", "", "foo"};
  const Dfa d = Dfa::literals(words);
  for (const char* w : {"foo", "bar", "foobar", ""}) EXPECT_TRUE(d.matches(w)) << w;
  for (const char* w : {"fo", "foob", "barfoo", "x", "foobarx"}) {
    EXPECT_FALSE(d.matches(w)) << w;
  }
  EXPECT_EQ(d.literal_of(d.walk("foo")), 0);  // the first of the duplicates
  EXPECT_EQ(d.literal_of(d.walk("bar")), 1);
  EXPECT_EQ(d.literal_of(d.walk("foobar")), 2);
  EXPECT_EQ(d.literal_of(d.start()), 3);
  EXPECT_EQ(d.literal_of(d.walk("fo")), -1);
  EXPECT_EQ(d.walk("fox"), Dfa::kDead);
  // Other constructions carry no tags.
  const Dfa r = full("foo");
  EXPECT_EQ(r.literal_of(r.walk("foo")), -1);
  EXPECT_TRUE(Dfa::literals({}).empty());
  const Dfa bytes = Dfa::literals({std::string("\0\xff", 2)});
  EXPECT_TRUE(bytes.matches(std::string("\0\xff", 2)));
}

TEST(DfaTest, AnyUtf8MatchesTheReferenceOnAllShortStrings) {
  const Dfa d = Dfa::any_utf8();
  EXPECT_TRUE(d.matches(""));
  for (const char* ok : {"abc", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                         "\xed\x9f\xbf", "\xee\x80\x80", "\x7f"}) {
    EXPECT_TRUE(d.matches(ok)) << ok;
  }
  for (const char* bad :
       {"\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xe2\x82", "\xff"}) {
    EXPECT_FALSE(d.matches(bad)) << bad;
  }
  // Exhaustive over all 1- and 2-byte strings, and 3-byte strings over bytes that matter.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::string s{static_cast<char>(a), static_cast<char>(b)};
      ASSERT_EQ(d.matches(s), valid_utf8(s)) << a << " " << b;
      ASSERT_EQ(d.matches(s.substr(0, 1)), valid_utf8(s.substr(0, 1)));
    }
  }
  const std::vector<int> interesting{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                     0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                     0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  for (int a : interesting) {
    for (int b : interesting) {
      for (int c : interesting) {
        for (int e : {0x41, 0x80, 0x8f, 0x90, 0xbf, 0xc2}) {
          const std::string s{char(a), char(b), char(c), char(e)};
          ASSERT_EQ(d.matches(s), valid_utf8(s));
          ASSERT_EQ(d.matches(s.substr(0, 3)), valid_utf8(s.substr(0, 3)));
        }
      }
    }
  }
}

// A random automaton over {a, b, c} with n states.
Dfa random_dfa(std::mt19937* rng, int n) {
  std::array<uint8_t, 256> class_of{};
  class_of['a'] = 1;
  class_of['b'] = 2;
  class_of['c'] = 3;
  std::vector<int32_t> next(n * 4, Dfa::kDead);
  std::vector<uint8_t> accept(n);
  std::uniform_int_distribution<int> target(-1, n - 1), coin(0, 2);
  for (int s = 0; s < n; ++s) {
    for (int c = 1; c < 4; ++c) next[s * 4 + c] = target(*rng);
    accept[s] = coin(*rng) == 0;
  }
  return Dfa::from_table(0, 4, class_of, next, accept);
}

TEST(DfaTest, ProductsAgreeWithBruteForce) {
  std::mt19937 rng(7);
  const auto strings = all_strings("abcd", 6);
  for (int round = 0; round < 60; ++round) {
    const Dfa a = random_dfa(&rng, 1 + round % 5);
    const Dfa b = random_dfa(&rng, 1 + round % 4);
    const Dfa i = must(intersect(a, b));
    const Dfa u = must(unite(a, b));
    for (const std::string& s : strings) {
      ASSERT_EQ(i.matches(s), a.matches(s) && b.matches(s)) << s;
      ASSERT_EQ(u.matches(s), a.matches(s) || b.matches(s)) << s;
    }
  }
  EXPECT_TRUE(must(intersect(full("a+"), full("b+"))).empty());
  EXPECT_TRUE(must(intersect(Dfa(), full("a"))).empty());
  EXPECT_TRUE(must(unite(Dfa(), full("a"))).matches("a"));
  EXPECT_TRUE(must(unite(full("a"), Dfa())).matches("a"));
  // Products of regexes over UTF-8.
  const Dfa both = must(intersect(search("é"), full("[^x]*")));
  EXPECT_TRUE(both.matches("café"));
  EXPECT_FALSE(both.matches("xé"));
}

TEST(DfaTest, ProductsRespectLimits) {
  const Dfa a = full("[ab]*a[ab]{6}");
  const Dfa b = full("[ab]*b[ab]{6}");
  const Result<Dfa> r = intersect(a, b, DfaLimits{.max_states = 20});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("max_states"), std::string::npos);
  EXPECT_FALSE(unite(a, b, DfaLimits{.max_states = 20}).ok());
  EXPECT_TRUE(intersect(a, b).ok());
}

// ---- length_dfa ------------------------------------------------------------------------------

TEST(LengthTest, CountsCodePoints) {
  const Dfa d = must(length_dfa(2, 3));
  EXPECT_FALSE(d.matches("a"));
  EXPECT_TRUE(d.matches("ab"));
  EXPECT_TRUE(d.matches("a\xc3\xa9\xf0\x9f\x98\x80"));  // 3 code points, 7 bytes
  EXPECT_FALSE(d.matches("abcd"));
  EXPECT_FALSE(d.matches("a\xff"));
  EXPECT_EQ(d.walk("abc\xc3"), Dfa::kDead);  // a fourth code point cannot complete
  const Dfa at_least = must(length_dfa(2, -1));
  EXPECT_FALSE(at_least.matches("\xc3\xa9"));
  EXPECT_TRUE(at_least.matches("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
  EXPECT_TRUE(must(length_dfa(0, -1)).matches(""));
  EXPECT_TRUE(must(length_dfa(0, 0)).matches(""));
  EXPECT_FALSE(must(length_dfa(0, 0)).matches("a"));
  EXPECT_TRUE(must(length_dfa(3, 2)).empty());
  // Exhaustive over a small alphabet of 1-, 2- and 3-byte characters.
  const std::vector<std::string> pieces{"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (int min = 0; min < 4; ++min) {
    for (int max = -1; max < 4; ++max) {
      const Result<Dfa> r = length_dfa(min, max);
      ASSERT_TRUE(r.ok());
      for (const std::string& idx : all_strings("0123", 4)) {
        std::string s;
        for (char c : idx) s += pieces[c - '0'];
        const bool want = idx.size() >= size_t(min) && (max < 0 || idx.size() <= size_t(max));
        ASSERT_EQ(r->matches(s), want) << min << " " << max << " " << idx;
        ASSERT_EQ(r->matches(s + "\x80"), false);
      }
    }
  }
}

TEST(LengthTest, LargeBounds) {
  const Dfa d = must(length_dfa(0, 5000));
  EXPECT_TRUE(d.matches(std::string(5000, 'x')));
  EXPECT_FALSE(d.matches(std::string(5001, 'x')));
  EXPECT_TRUE(must(length_dfa(4000, -1)).matches(std::string(4000, 'x')));
  const auto t0 = std::chrono::steady_clock::now();
  const Result<Dfa> big = length_dfa(0, 10000);
  EXPECT_LT(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      1000);
  // Eight states per counted code point: past the default limit, but fine when raised.
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kResourceExhausted);
  EXPECT_NE(big.status().message().find("max_states"), std::string::npos);
  const Result<Dfa> raised = length_dfa(0, 10000, DfaLimits{.max_states = 100000});
  ASSERT_TRUE(raised.ok());
  EXPECT_TRUE(raised->matches(std::string(10000, 'x')));
  EXPECT_FALSE(raised->matches(std::string(10001, 'x')));
  EXPECT_FALSE(length_dfa(1LL << 40, -1).ok());
}

// ---- JSON scalars ----------------------------------------------------------------------------

TEST(JsonDfaTest, Number) {
  const Dfa d = json_number_dfa();
  for (const char* ok : {"0", "-0", "12", "-12.5", "1e5", "1E+5", "1.0e-10", "0.5"}) {
    EXPECT_TRUE(d.matches(ok)) << ok;
  }
  for (const char* bad : {"", "01", "+1", ".5", "1.", "1e", "--1", "0x1", "1.5.5", " 1", "NaN"}) {
    EXPECT_FALSE(d.matches(bad)) << bad;
  }
}

TEST(JsonDfaTest, IntegerRangesExhaustively) {
  const std::vector<std::optional<int64_t>> bounds{std::nullopt, -37, -1, 0, 5, 10, 123, 999};
  for (int64_t m : {0, 1, 3, 7, 10, -4}) {
    for (const auto& lo : bounds) {
      for (const auto& hi : bounds) {
        const Result<Dfa> r = json_integer_dfa(lo, hi, m);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        for (int64_t v = -1000; v <= 1000; ++v) {
          const bool want = (!lo || v >= *lo) && (!hi || v <= *hi) && (m == 0 || v % m == 0);
          ASSERT_EQ(r->matches(std::to_string(v)), want)
              << v << " in [" << (lo ? *lo : -9999) << ", " << (hi ? *hi : 9999) << "] m " << m;
        }
        for (const char* bad : {"-0", "01", "+1", "", "-", "00", "-01", "1.0", "1e2", " 1"}) {
          ASSERT_FALSE(r->matches(bad)) << bad;
        }
      }
    }
  }
}

TEST(JsonDfaTest, IntegerExtremes) {
  const int64_t kMin = INT64_MIN, kMax = INT64_MAX;
  const Dfa all = must(json_integer_dfa(std::nullopt, std::nullopt));
  EXPECT_TRUE(all.matches("123456789012345678901234567890"));  // unbounded: any length
  EXPECT_TRUE(all.matches("-0") == false);
  const Dfa i64 = must(json_integer_dfa(kMin, kMax));
  EXPECT_TRUE(i64.matches("9223372036854775807"));
  EXPECT_FALSE(i64.matches("9223372036854775808"));
  EXPECT_TRUE(i64.matches("-9223372036854775808"));
  EXPECT_FALSE(i64.matches("-9223372036854775809"));
  EXPECT_FALSE(i64.matches("10000000000000000000"));
  EXPECT_TRUE(must(json_integer_dfa(5, 5)).matches("5"));
  EXPECT_TRUE(must(json_integer_dfa(6, 5)).empty());
  EXPECT_TRUE(must(json_integer_dfa(1, 2, 5)).empty());
  const Dfa big_multiple = must(json_integer_dfa(0, 1000000000000LL, 100000000000LL));
  EXPECT_TRUE(big_multiple.matches("300000000000"));
  EXPECT_FALSE(big_multiple.matches("300000000001"));
  EXPECT_TRUE(big_multiple.matches("0"));
  const Dfa min_multiple = must(json_integer_dfa(-20, 20, kMin));
  EXPECT_TRUE(min_multiple.matches("0"));
  EXPECT_FALSE(min_multiple.matches("1"));
  const Dfa even = must(json_integer_dfa(std::nullopt, std::nullopt, 2));
  EXPECT_TRUE(even.matches("-123456789012345678901234567890"));
  EXPECT_FALSE(even.matches("123456789012345678901234567891"));
  const Result<Dfa> r = json_integer_dfa(std::nullopt, std::nullopt, 1000003, DfaLimits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
}

TEST(JsonDfaTest, StringEscapesCanonically) {
  const Dfa quote = must(json_string_dfa(search("^a\"b$")));
  EXPECT_TRUE(quote.matches("\"a\\\"b\""));
  EXPECT_FALSE(quote.matches("\"a\"b\""));
  EXPECT_FALSE(quote.matches("\"a\\u0022b\""));
  EXPECT_FALSE(quote.matches("a\\\"b"));
  const Dfa control = must(json_string_dfa(full("\\x1f")));
  EXPECT_TRUE(control.matches("\"\\u001f\""));
  EXPECT_FALSE(control.matches("\"\\u001F\""));
  EXPECT_FALSE(control.matches("\"\x1f\""));
  const Dfa any = must(json_string_dfa(Dfa::any_utf8()));
  EXPECT_TRUE(any.matches("\"\""));
  EXPECT_TRUE(any.matches("\"\\\\\\b\\f\\n\\r\\t\\u0000\\u0001\\u000b\\u001e/\x7f\xc3\xa9\""));
  for (const char* bad : {"", "\"", "\"\\u0008\"", "\"\\u000a\"", "\"\\/\"", "\"\\x\"",
                          "\"\\u0020\"", "\"\n\"", "\"\xff\"", "\"a\"b\"", "\"a\"\""}) {
    EXPECT_FALSE(any.matches(bad)) << bad;
  }
  // Against a reference escaper, every value of up to two bytes from a mixed alphabet.
  auto escape = [](const std::string& v) {
    std::string out = "\"";
    for (char ch : v) {
      const auto b = static_cast<uint8_t>(ch);
      switch (b) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case 0x08:
          out += "\\b";
          break;
        case 0x0C:
          out += "\\f";
          break;
        case 0x0A:
          out += "\\n";
          break;
        case 0x0D:
          out += "\\r";
          break;
        case 0x09:
          out += "\\t";
          break;
        default:
          if (b < 0x20) {
            const char* hex = "0123456789abcdef";
            out += "\\u00";
            out += hex[b >> 4];
            out += hex[b & 15];
          } else {
            out += ch;
          }
      }
    }
    return out + "\"";
  };
  const Dfa value = full("[\\x00-\\x22\\\\a\\u00e9]{0,2}");
  const Dfa text = must(json_string_dfa(value));
  std::string alphabet;
  for (int b = 0; b <= 0x22; ++b) alphabet += static_cast<char>(b);
  alphabet += "\\au";
  for (const std::string& v : all_strings(alphabet, 2)) {
    ASSERT_EQ(text.matches(escape(v)), value.matches(v)) << escape(v);
  }
  EXPECT_TRUE(text.matches("\"\xc3\xa9\""));
  EXPECT_TRUE(must(json_string_dfa(Dfa())).empty());
  EXPECT_FALSE(json_string_dfa(Dfa::any_utf8(), DfaLimits{.max_states = 5}).ok());
}

}  // namespace
}  // namespace troika::constrain
