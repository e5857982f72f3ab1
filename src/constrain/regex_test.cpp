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

}  // namespace
}  // namespace troika::constrain
