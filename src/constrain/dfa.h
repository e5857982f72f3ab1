// Deterministic automata over bytes: the lexical half of the constraint engine.
//
// Every string-shaped constraint (a JSON Schema `pattern`, `format`, `minLength`/`maxLength`, a
// literal enum, an integer range, a property-name set) compiles to a Dfa. The matcher runs the
// Dfa one byte at a time, so a step is two table loads. Dfas are immutable once built and safe to
// share between threads.
//
// Invariant: every Dfa is trimmed. Each state can reach an accepting state, so step() returning
// kDead means no continuation of the bytes read so far can be accepted. The empty language has
// start() == kDead.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::constrain {

class Dfa {
 public:
  static constexpr int32_t kDead = -1;

  Dfa() = default;  // the empty language

  int32_t start() const { return start_; }
  int32_t n_states() const { return static_cast<int32_t>(accept_.size()); }
  bool empty() const { return start_ == kDead; }
  // REQUIRES: 0 <= state < n_states().
  int32_t step(int32_t state, uint8_t byte) const {
    return next_[static_cast<size_t>(state) * n_classes_ + class_of_[byte]];
  }
  bool accepting(int32_t state) const { return accept_[state] != 0; }
  // True when the whole of `bytes` is in the language.
  bool matches(std::string_view bytes) const;
  // The state after `bytes` from start(), or kDead.
  int32_t walk(std::string_view bytes) const;

  // Exactly the given byte strings. Unminimised: it is the trie of the strings, and
  // literal_of(state) tells which string an accepting state completes (-1 for other states).
  static Dfa literals(const std::vector<std::string>& strings);
  int32_t literal_of(int32_t state) const {
    return state < static_cast<int32_t>(literal_.size()) ? literal_[state] : -1;
  }
  // Every well-formed UTF-8 string, the empty one included (no overlongs, no surrogates).
  static Dfa any_utf8();

  // Low-level construction, for the builders: `next` is [n_states * n_classes] with kDead for
  // a missing transition, `class_of` maps each byte to its class. The result is trimmed (and,
  // unless `keep_states`, minimised); `literal` (optional) is carried only when keep_states.
  static Dfa from_table(int32_t start, int32_t n_classes, const std::array<uint8_t, 256>& class_of,
                        std::vector<int32_t> next, std::vector<uint8_t> accept,
                        bool keep_states = false, std::vector<int32_t> literal = {});

 private:
  int32_t start_ = kDead;
  int32_t n_classes_ = 1;
  std::array<uint8_t, 256> class_of_{};
  std::vector<int32_t> next_;     // [n_states * n_classes_]
  std::vector<uint8_t> accept_;   // [n_states]
  std::vector<int32_t> literal_;  // [n_states] for literals(), else empty
  friend struct DfaAccess;
};

// Bounds the size of built automata; a construction that would exceed it fails with
// resource_exhausted naming the limit (a pathological pattern must not eat the machine).
struct DfaLimits {
  int32_t max_states = 50000;
};

// Product constructions. Errors: resource_exhausted past limits.
Result<Dfa> intersect(const Dfa& a, const Dfa& b, const DfaLimits& limits = {});
Result<Dfa> unite(const Dfa& a, const Dfa& b, const DfaLimits& limits = {});

// An ECMA-262 regular expression with JSON Schema `pattern` semantics: the string matches when
// the pattern matches some substring (so "a" accepts "xay"); ^ and $ anchor at the ends of the
// string. Code points, not bytes: the Dfa reads UTF-8. Supported: literals and escapes (\n \r \t
// \f \v \0 \xHH \uHHHH \u{H...} and escaped metacharacters), `.` (any code point but line
// terminators), classes [...] / [^...] with ranges, \d \D \w \W \s \S (ECMA definitions, \s
// including the Unicode spaces), groups (...) and (?:...), named groups, alternation, the
// quantifiers * + ? {n} {n,} {n,m} and their lazy forms (same language), ^ and $ (anywhere: each
// holds only at its end of the string, so `^a|b$` anchors each branch alone and `a^b` matches
// nothing). Annex B leniencies: a '{' that opens no quantifier, and a lone ']' or '}', are
// literals; in a class, `[\d-z]` is \d, '-' and 'z'.
// Errors: unimplemented naming the construct and its offset for lookarounds, backreferences,
// \b \B, \p{...} and octal escapes; invalid_argument for a malformed pattern (naming the
// offset); resource_exhausted past limits (large {n,m} counts included).
Result<Dfa> regex_dfa(std::string_view pattern, const DfaLimits& limits = {});
// A regex that must match the whole string (as if written ^(?:pattern)$).
Result<Dfa> regex_full_dfa(std::string_view pattern, const DfaLimits& limits = {});

// UTF-8 strings of min_chars..max_chars code points (max_chars < 0: unbounded).
// Errors: resource_exhausted when the bounds need more states than limits allow: counting to
// n code points takes 8n states, so n above limits.max_states / 8 (6250 by default) fails.
Result<Dfa> length_dfa(int64_t min_chars, int64_t max_chars, const DfaLimits& limits = {});

// JSON Schema formats as languages: date, time, date-time (RFC 3339, with the calendar's day
// counts, Gregorian leap years, and second 60 only at 23:59:60 UTC once the offset is applied),
// uuid, email, ipv4, ipv6, uri, hostname; formats.cpp lists exactly what each accepts. Built once
// per process and copied out; time and date-time have about 11k states, hostname and email
// about 24k (the 253-character limit crossed with the 63-character label limit).
// Errors: unimplemented for any other name.
Result<Dfa> format_dfa(std::string_view format);

// JSON number text: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
Dfa json_number_dfa();
// Canonical JSON integer text -?(0|[1-9][0-9]*), without "-0", for integers within the
// inclusive bounds (unbounded when absent) that are multiples of `multiple_of` (0 = any).
// Errors: resource_exhausted when the automaton would exceed limits.
Result<Dfa> json_integer_dfa(std::optional<int64_t> min, std::optional<int64_t> max,
                             int64_t multiple_of = 0, const DfaLimits& limits = {});
// The quoted JSON string text of every value `value` accepts, escaped canonically: \" \\ \b \f
// \n \r \t, \u00XX (lowercase hex) for the other control characters, everything else raw UTF-8.
// The result starts with the opening quote and ends with the closing one.
Result<Dfa> json_string_dfa(const Dfa& value, const DfaLimits& limits = {});

}  // namespace troika::constrain
