#include "constrain/dfa.h"

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

Dfa must(Result<Dfa> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : Dfa();
}

Dfa full(std::string_view pattern) { return must(regex_full_dfa(pattern)); }
Dfa search(std::string_view pattern) { return must(regex_dfa(pattern)); }

// Every string over `alphabet` of length 0..max_len.
std::vector<std::string> all_strings(std::string_view alphabet, int max_len) {
  std::vector<std::string> out{""};
  for (size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int>(out[i].size()) == max_len) continue;
    for (char c : alphabet) out.push_back(out[i] + c);
  }
  return out;
}

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

// ---- Regex -----------------------------------------------------------------------------------

TEST(RegexTest, SearchAndAnchoredSemantics) {
  const Dfa d = search("a");
  EXPECT_TRUE(d.matches("a"));
  EXPECT_TRUE(d.matches("xay"));
  EXPECT_TRUE(d.matches("\n\xe2\x80\xa8 a \n"));  // the search prefix takes any code point
  EXPECT_FALSE(d.matches("xyz"));
  EXPECT_FALSE(d.matches("a\xff"));  // but only well-formed UTF-8
  EXPECT_TRUE(search("^ab").matches("abz"));
  EXPECT_FALSE(search("^ab").matches("zab"));
  EXPECT_TRUE(search("ab$").matches("zab"));
  EXPECT_FALSE(search("ab$").matches("abz"));
  EXPECT_TRUE(search("^ab$").matches("ab"));
  EXPECT_FALSE(search("^ab$").matches("abab"));
  // Each branch is anchored on its own.
  const Dfa alt = search("^a|b$");
  EXPECT_TRUE(alt.matches("axx"));
  EXPECT_TRUE(alt.matches("xxb"));
  EXPECT_FALSE(alt.matches("xax"));
  EXPECT_FALSE(alt.matches("bxx"));
  EXPECT_TRUE(search("(?:^a|b)c").matches("zbc"));
  EXPECT_FALSE(search("(?:^a|b)c").matches("zac"));
  EXPECT_TRUE(search("(?:^a|b)c").matches("acz"));
  // Assertions that can never hold make the branch fail rather than an error.
  EXPECT_TRUE(search("a^b").empty());
  EXPECT_TRUE(search("a$b|c").matches("c"));
  EXPECT_TRUE(search("$^").matches(""));
  EXPECT_FALSE(search("$^").matches("a"));
  EXPECT_TRUE(search("").matches("anything"));
  // Full matches.
  EXPECT_TRUE(full("a|b").matches("b"));
  EXPECT_FALSE(full("a|b").matches("ab"));
  EXPECT_TRUE(full("^a$").matches("a"));
  EXPECT_TRUE(full("").matches(""));
  EXPECT_FALSE(full("").matches("a"));
}

TEST(RegexTest, AgreesWithStdRegexOnAsciiPatterns) {
  const std::vector<std::string> patterns{"a",
                                          "ab|ba",
                                          "^a",
                                          "a$",
                                          "^(a|b)*$",
                                          "a*b+",
                                          "a{2}",
                                          "a{1,2}b",
                                          "(ab){0,2}$",
                                          "^a?b?$",
                                          "[ab]",
                                          "[^a]",
                                          ".",
                                          "^.$",
                                          "^.*$",
                                          "a.b",
                                          "\\n",
                                          "\\s",
                                          "\\S",
                                          "\\w\\W",
                                          "\\d",
                                          "[\\s\\S]b",
                                          "(?:a|)b",
                                          "a{2,}",
                                          "^(?:a|ab)(?:c|bcd)?$",
                                          "b{0}",
                                          "^(a*)*$",
                                          "^[a-c]{2,3}$",
                                          "a+?b",
                                          "a??$",
                                          "(a|b)*a(a|b)",
                                          "^[ab]*a[ab]{2}$",
                                          "^\\n*a",
                                          "a|^b|c$",
                                          "[\\]a]",
                                          "[a\\-]b",
                                          "^(?:a)b",
                                          "a{2}?b",
                                          "[.]",
                                          "\\.",
                                          "^$"};
  const auto strings = all_strings("ab\nc1 .]-", 4);
  for (const std::string& p : patterns) {
    const Dfa d = search(p);
    const std::regex re(p, std::regex::ECMAScript);
    for (const std::string& s : strings) {
      ASSERT_EQ(d.matches(s), std::regex_search(s, re)) << "/" << p << "/ on '" << s << "'";
    }
  }
}

TEST(RegexTest, EscapesAndClasses) {
  EXPECT_TRUE(full("\\d+").matches("0123456789"));
  EXPECT_FALSE(full("\\d").matches("a"));
  EXPECT_FALSE(full("\\d").matches("\xd9\xa3"));  // ARABIC-INDIC DIGIT THREE is not \d
  EXPECT_TRUE(full("\\D").matches("\xd9\xa3"));
  EXPECT_TRUE(full("\\w+").matches("azAZ09_"));
  EXPECT_FALSE(full("\\w").matches("\xc3\xa9"));
  EXPECT_TRUE(full("\\W").matches("\xc3\xa9"));
  EXPECT_FALSE(full("\\W").matches("_"));
  for (const char* space : {"\t", "\n", "\v", "\f", "\r", " ", "\xc2\xa0", "\xe1\x9a\x80",
                            "\xe2\x80\x80", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9",
                            "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80", "\xef\xbb\xbf"}) {
    EXPECT_TRUE(full("\\s").matches(space)) << space;
    EXPECT_FALSE(full("\\S").matches(space)) << space;
  }
  EXPECT_FALSE(full("\\s").matches("\xe2\x80\x8b"));  // ZERO WIDTH SPACE is not \s
  EXPECT_TRUE(full("\\S").matches("\xe2\x80\x8b"));
  EXPECT_TRUE(full("\\n\\r\\t\\f\\v\\0").matches(std::string("\n\r\t\f\v\0", 6)));
  EXPECT_TRUE(full("\\x41\\u0042\\u{43}\\u{1F600}").matches("ABC\xf0\x9f\x98\x80"));
  EXPECT_TRUE(full("\\uD83D\\uDE00").matches("\xf0\x9f\x98\x80"));  // a surrogate pair
  EXPECT_TRUE(full("\\cJ").matches("\n"));
  EXPECT_TRUE(
      full("\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\\\/\\-").matches(".*+?()[]{}|^$\\/-"));
  EXPECT_TRUE(full("[\\b]").matches("\b"));
  EXPECT_TRUE(full("[a-c\\d]+").matches("ab9c"));
  EXPECT_TRUE(full("[\\w-]+").matches("a-b"));
  EXPECT_TRUE(full("[-a]").matches("-"));
  EXPECT_TRUE(full("[a-]").matches("-"));
  EXPECT_TRUE(full("[\\d-z]").matches("-"));  // Annex B: a class escape cannot end a range
  EXPECT_FALSE(full("[\\d-z]").matches("y"));
  EXPECT_TRUE(full("[]").empty());
  EXPECT_TRUE(full("[^]").matches("\xe2\x80\xa8"));
  EXPECT_TRUE(full("]}").matches("]}"));
  EXPECT_TRUE(full("a{,2}").matches("a{,2}"));  // Annex B: not a quantifier, so literal
  EXPECT_TRUE(full("x{").matches("x{"));
  // `.` is any code point but the line terminators.
  EXPECT_TRUE(full(".").matches("\xf0\x9f\x98\x80"));
  for (const char* lt : {"\n", "\r", "\xe2\x80\xa8", "\xe2\x80\xa9"}) {
    EXPECT_FALSE(full(".").matches(lt));
  }
  EXPECT_TRUE(full(".").matches("\v"));
}

TEST(RegexTest, Utf8Classes) {
  const Dfa not_a = full("[^a]");
  EXPECT_TRUE(not_a.matches("\xc3\xa9"));
  EXPECT_TRUE(not_a.matches("\xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(not_a.matches("a"));
  EXPECT_FALSE(not_a.matches("\xc3"));
  EXPECT_FALSE(not_a.matches("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(not_a.matches("\xc0\x80"));      // an overlong NUL
  EXPECT_FALSE(not_a.matches("\xff"));
  const Dfa greek = full("[α-ω]+");
  EXPECT_TRUE(greek.matches("αβγω"));
  EXPECT_FALSE(greek.matches("αa"));
  EXPECT_TRUE(full("é").matches("é"));
  EXPECT_FALSE(full("é").matches("e"));
  EXPECT_TRUE(full("[\\u0800-\\uFFFF]").matches("\xe0\xa0\x80"));
  EXPECT_TRUE(full("[\\u0800-\\uFFFF]").matches("\xef\xbf\xbf"));
  EXPECT_FALSE(full("[\\u0800-\\uFFFF]").matches("\xf0\x90\x80\x80"));
  EXPECT_TRUE(full("\\uD800").empty());  // a lone surrogate has no UTF-8 form
  // Every code point boundary case against a direct check.
  const Dfa range = full("[\\u007F-\\u0801\\uD7FF-\\uE001\\u{FFFF}-\\u{10001}\\u{10FFFF}]");
  auto in = [](uint32_t c) {
    return (c >= 0x7F && c <= 0x801) ||
           (c >= 0xD7FF && c <= 0xE001 && !(c >= 0xD800 && c <= 0xDFFF)) ||
           (c >= 0xFFFF && c <= 0x10001) || c == 0x10FFFF;
  };
  for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x11000 ? 1 : 0x1001)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    std::string s;
    if (c < 0x80) {
      s = {char(c)};
    } else if (c < 0x800) {
      s = {char(0xC0 | (c >> 6)), char(0x80 | (c & 0x3F))};
    } else if (c < 0x10000) {
      s = {char(0xE0 | (c >> 12)), char(0x80 | ((c >> 6) & 0x3F)), char(0x80 | (c & 0x3F))};
    } else {
      s = {char(0xF0 | (c >> 18)), char(0x80 | ((c >> 12) & 0x3F)), char(0x80 | ((c >> 6) & 0x3F)),
           char(0x80 | (c & 0x3F))};
    }
    ASSERT_EQ(range.matches(s), in(c)) << std::hex << c;
  }
}

TEST(RegexTest, Quantifiers) {
  const Dfa d = full("a{2,4}");
  EXPECT_FALSE(d.matches("a"));
  EXPECT_TRUE(d.matches("aa"));
  EXPECT_TRUE(d.matches("aaaa"));
  EXPECT_FALSE(d.matches("aaaaa"));
  EXPECT_TRUE(full("a{3}").matches("aaa"));
  EXPECT_FALSE(full("a{3}").matches("aa"));
  EXPECT_TRUE(full("a{3,}").matches("aaaaaaa"));
  EXPECT_FALSE(full("a{3,}").matches("aa"));
  EXPECT_TRUE(full("a{0}").matches(""));
  EXPECT_TRUE(full("(?:ab){2}").matches("abab"));
  // Lazy forms accept the same language.
  for (const char* p : {"a*?", "a+?", "a??", "a{2,4}?", "a{2}?", "a{2,}?"}) {
    const std::string greedy(p, std::string(p).size() - 1);
    for (const std::string& s : all_strings("ab", 6)) {
      ASSERT_EQ(full(p).matches(s), full(greedy).matches(s)) << p << " " << s;
    }
  }
  // Large counts are fine within limits, and refused past them without hanging.
  const Dfa many = full("[a-z]{1000}");
  EXPECT_TRUE(many.matches(std::string(1000, 'q')));
  EXPECT_FALSE(many.matches(std::string(999, 'q')));
  for (const char* huge : {"a{1000000}", "(?:a{1000}){1000}", "((a{100}){100}){100}",
                           "a{0,1000000000}", "a{2147483648}", "[ab]*a[ab]{40}"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const Result<Dfa> r = regex_dfa(huge);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_FALSE(r.ok()) << huge;
    EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << huge;
    EXPECT_NE(r.status().message().find("max_states"), std::string::npos);
    EXPECT_LT(ms, 5000) << huge;  // a guard against hangs, not a benchmark
  }
  EXPECT_FALSE(regex_dfa("a{20}", DfaLimits{.max_states = 10}).ok());
}

TEST(RegexTest, NamedGroupsAndNesting) {
  EXPECT_TRUE(full("(?<year>\\d{4})-(?<m>\\d\\d)").matches("2024-01"));
  EXPECT_TRUE(full("((((a))))").matches("a"));
  EXPECT_TRUE(full("(a|(b|(c|d)))+").matches("abcd"));
  EXPECT_TRUE(full("(|a)").matches(""));
  EXPECT_TRUE(full("a||b").matches(""));
}

void expect_error(std::string_view pattern, Code code, std::string_view needle) {
  const Result<Dfa> r = regex_dfa(pattern);
  ASSERT_FALSE(r.ok()) << pattern;
  EXPECT_EQ(r.status().code(), code) << pattern << ": " << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << pattern << ": " << r.status().message();
}

TEST(RegexTest, Errors) {
  expect_error("a(?=b)", Code::kUnimplemented, "lookahead (?= is not supported at offset 1");
  expect_error("a(?!b)", Code::kUnimplemented,
               "negative lookahead (?! is not supported at offset 1");
  expect_error("(?<=a)b", Code::kUnimplemented, "lookbehind (?<= is not supported at offset 0");
  expect_error("(?<!a)b", Code::kUnimplemented, "negative lookbehind");
  expect_error("(a)\\1", Code::kUnimplemented, "backreference \\1 is not supported at offset 3");
  expect_error("(?<x>a)\\k<x>", Code::kUnimplemented, "backreference \\k");
  expect_error("a\\b", Code::kUnimplemented, "\\b is not supported at offset 1");
  expect_error("\\Ba", Code::kUnimplemented, "\\B");
  expect_error("\\p{L}", Code::kUnimplemented, "\\p");
  expect_error("x\\P{L}", Code::kUnimplemented, "\\P");
  expect_error("(a", Code::kInvalidArgument, "unterminated group at offset 0");
  expect_error("a)", Code::kInvalidArgument, "unmatched ')' at offset 1");
  expect_error("[a", Code::kInvalidArgument, "unterminated character class");
  expect_error("[z-a]", Code::kInvalidArgument, "out of order");
  expect_error("a{3,1}", Code::kInvalidArgument, "maximum below its minimum at offset 1");
  expect_error("*a", Code::kInvalidArgument, "nothing to repeat at offset 0");
  expect_error("a**", Code::kInvalidArgument, "nothing to repeat");
  expect_error("a{2}{3}", Code::kInvalidArgument, "nothing to repeat");
  expect_error("{2}", Code::kInvalidArgument, "nothing to repeat");
  expect_error("^*", Code::kInvalidArgument, "quantifier on an assertion");
  expect_error("a\\", Code::kInvalidArgument, "end of the pattern");
  expect_error("\\x4", Code::kInvalidArgument, "\\x");
  expect_error("\\u12", Code::kInvalidArgument, "\\u");
  expect_error("\\u{110000}", Code::kInvalidArgument, "\\u{");
  expect_error("\\q", Code::kInvalidArgument, "unknown escape \\q");
  expect_error("(?i)a", Code::kInvalidArgument, "unknown group syntax");
  expect_error("(?<>a)", Code::kInvalidArgument, "group name");
  expect_error("\xff", Code::kInvalidArgument, "not valid UTF-8");
  expect_error(std::string(300, '(') + std::string(300, ')'), Code::kResourceExhausted, "nested");
  // The message quotes the pattern.
  expect_error("abc(?=d)", Code::kUnimplemented, "/abc(?=d)/");
}

TEST(RegexTest, TypicalPatternsCompileQuickly) {
  // Not a benchmark: a guard that construction stays in the microsecond-to-millisecond range.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    search("^[A-Z][a-z]+(?: [A-Z][a-z]+)*$");
    search("^\\+?[0-9]{1,3}[-. ]?\\(?[0-9]{3}\\)?[-. ]?[0-9]{3}[-. ]?[0-9]{4}$");
    search("[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}");
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(ms, 2000);
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

// ---- Formats ---------------------------------------------------------------------------------

struct FormatCase {
  const char* format;
  std::string_view data;
  bool valid;
  const char* description;
};

#include "constrain/format_cases_test.inc"

// Hostname cases that need IDNA (Punycode decoding and the RFC 5892 contextual rules), which an
// automaton over the ASCII text cannot check: they are accepted as well-formed LDH labels.
const std::set<std::string> kIdnaOnly = {"xn--X",
                                         "xn--07jt112bpxg.xn--9t4b11yi5a",
                                         "xn--hello-txk",
                                         "xn--hello-zed",
                                         "xn--hello-6bf",
                                         "xn--chb89f",
                                         "xn--07jceefgh4c",
                                         "xn--al-0ea",
                                         "xn--l-fda",
                                         "xn--la-0ea",
                                         "xn--l-gda",
                                         "xn--S-jib3p",
                                         "xn--wva3j",
                                         "xn--A-2hc5h",
                                         "xn--5db1e",
                                         "xn--A-2hc8h",
                                         "xn--5db3e",
                                         "xn--defabc-k64e",
                                         "xn--vek",
                                         "xn--ngb6iyr",
                                         "xn--11b2er09f",
                                         "xn--02b508i",
                                         "XN--aa---o47jg78q"};

TEST(FormatTest, JsonSchemaTestSuite) {
  int checked = 0;
  for (const FormatCase& c : kFormatCases) {
    const Result<Dfa> d = format_dfa(c.format);
    ASSERT_TRUE(d.ok()) << c.format << ": " << d.status().to_string();
    if (std::string(c.format) == "hostname" && kIdnaOnly.count(std::string(c.data))) continue;
    EXPECT_EQ(d->matches(c.data), c.valid) << c.format << " '" << c.data << "': " << c.description;
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST(FormatTest, Dates) {
  const Dfa d = must(format_dfa("date"));
  // Every day of a 400-year cycle, against the calendar.
  for (int year = 1600; year < 2000; ++year) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int month = 1; month <= 12; ++month) {
      for (int day = 0; day <= 32; ++day) {
        char buf[16];
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
        ASSERT_EQ(d.matches(buf), day >= 1 && day <= days[month - 1]) << buf;
      }
    }
  }
  EXPECT_TRUE(d.matches("0000-02-29"));
  EXPECT_TRUE(d.matches("9999-12-31"));
}

TEST(FormatTest, LeapSecondsAgainstTheOffset) {
  const Dfa t = must(format_dfa("time"));
  int accepted = 0;
  for (int h = 0; h < 24; ++h) {
    for (int m = 0; m < 60; ++m) {
      for (int oh = 0; oh < 24; oh += 1) {
        for (int om : {0, 1, 30, 59}) {
          for (int sign : {1, -1}) {
            char buf[32];
            snprintf(buf, sizeof buf, "%02d:%02d:60.5%c%02d:%02d", h, m, sign > 0 ? '+' : '-', oh,
                     om);
            const int utc = ((h * 60 + m - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
            ASSERT_EQ(t.matches(buf), utc == 1439) << buf;
            accepted += utc == 1439;
          }
        }
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_TRUE(t.matches("23:59:60Z"));
  EXPECT_TRUE(t.matches("23:59:60.123z"));
  EXPECT_FALSE(t.matches("23:58:60Z"));
  EXPECT_TRUE(t.matches("00:00:59+23:59"));
}

TEST(FormatTest, MoreCases) {
  const Dfa v4 = must(format_dfa("ipv4"));
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(v4.matches("1.2.3." + std::to_string(i)), i <= 255);
    ASSERT_FALSE(v4.matches("1.2.3.0" + std::to_string(i)));
  }
  const Dfa v6 = must(format_dfa("ipv6"));
  for (const char* ok :
       {"1:2:3:4:5:6:7:8", "::", "1::", "::8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "FFFF::ffff"}) {
    EXPECT_TRUE(v6.matches(ok)) << ok;
  }
  for (const char* bad : {"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:1.2.3.4", "1::2::3",
                          ":::", "1:2:3:4:5:6:7", "12345::", "::1.2.3", "g::"}) {
    EXPECT_FALSE(v6.matches(bad)) << bad;
  }
  const Dfa host = must(format_dfa("hostname"));
  std::string name = std::string(63, 'a');
  for (int i = 0; i < 3; ++i) name += "." + std::string(63, 'b');
  EXPECT_FALSE(host.matches(name));            // 255 characters
  EXPECT_TRUE(host.matches(name.substr(2)));   // 253
  EXPECT_FALSE(host.matches(name.substr(1)));  // 254
  const Dfa email = must(format_dfa("email"));
  EXPECT_TRUE(email.matches(std::string(64, 'a') + "@example.com"));
  EXPECT_FALSE(email.matches(std::string(65, 'a') + "@example.com"));
  EXPECT_TRUE(email.matches("\"a\\\"b\"@x.org"));
  EXPECT_FALSE(email.matches("a@b@c"));
  const Dfa uri = must(format_dfa("uri"));
  EXPECT_TRUE(uri.matches("urn:isbn:0451450523"));
  EXPECT_TRUE(uri.matches("http://[v1.fe80::a+en1]/"));
  EXPECT_TRUE(uri.matches("x:"));
  EXPECT_FALSE(uri.matches("http://a b"));
  const Dfa uuid = must(format_dfa("uuid"));
  EXPECT_TRUE(uuid.matches("2eb8aa08-aa98-11ea-b4aa-73b441d16380"));
  EXPECT_FALSE(uuid.matches("2eb8aa08-aa98-11ea-b4aa-73b441d16380\n"));
  const Result<Dfa> unknown = format_dfa("duration");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kUnimplemented);
  EXPECT_NE(unknown.status().message().find("duration"), std::string::npos);
}

TEST(FormatTest, AsJsonStrings) {
  const Dfa text = must(json_string_dfa(must(format_dfa("date-time"))));
  EXPECT_TRUE(text.matches("\"2024-02-29T12:00:00Z\""));
  EXPECT_FALSE(text.matches("\"2023-02-29T12:00:00Z\""));
}

}  // namespace
}  // namespace troika::constrain
