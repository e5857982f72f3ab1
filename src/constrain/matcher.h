// The matcher: a JSON document read byte by byte against a ShapeTable.
//
// State is a stack of levels (one per open value: the root, each open object or array, the
// scalar or key being read) with the live alternatives (shapes) of each level. Everything is
// held in flat vectors of trivially copyable records, so copying a state (which the token-trie
// walk does at every branch) is a few memcpys.
//
// Text: some decisions read the document text (an object key picks the member's schema, a
// "whole" check parses the closed value). step() receives the text so far, its last byte being
// the one stepped; such reads set text_used() so that the mask cache knows the result depends
// on more than the state.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "shape.h"

namespace troika::constrain {

struct MatcherOptions {
  int32_t max_whitespace = 0;  // whitespace bytes allowed between tokens (0: compact)
  int32_t max_depth = 64;      // deepest nesting of arrays and objects
  bool raw = false;            // plain text against the root's scalar DFA (regex constraints)
};

// Flags over a level's alternatives, kept inline for the usual handful (the matcher steps on
// every trie edge of a mask walk, so it must not allocate).
class Marks {
 public:
  explicit Marks(size_t n, uint8_t value = 0) : n_(n) {
    if (n > kInline)
      heap_.assign(n, value);
    else
      std::fill(inline_, inline_ + n, value);
  }
  uint8_t& operator[](size_t i) { return n_ > kInline ? heap_[i] : inline_[i]; }
  uint8_t operator[](size_t i) const { return n_ > kInline ? heap_[i] : inline_[i]; }
  size_t size() const { return n_; }
  void resize(size_t n) {
    if (n <= n_) return;
    if (n > kInline) {
      if (n_ <= kInline) heap_.assign(inline_, inline_ + n_);
      heap_.resize(n, 0);
    } else {
      std::fill(inline_ + n_, inline_ + n, 0);
    }
    n_ = n;
  }

 private:
  static constexpr size_t kInline = 32;
  size_t n_;
  uint8_t inline_[kInline];
  std::vector<uint8_t> heap_;
};

class MatchState {
 public:
  enum Kind : uint8_t { kValue, kScalar, kObject, kArray, kDone };
  enum Phase : uint8_t {
    kOpen,    // just after '{' or '['
    kKey,     // reading an object key (its DFA in the alternatives)
    kColon,   // key read, ':' next
    kMember,  // a member's or item's value is open above this level
    kAfter,   // after a member or item: ',' or the closing bracket
    kNext,    // after ',': a key or an item
  };
  struct Alt {
    int32_t shape;
    int32_t parent;  // index in the parent level's alternatives; -1 at the root
    int32_t dfa;     // scalar or key DFA state
    int32_t count;   // members or items so far
    int32_t lex;     // the DFA of the lexeme being read (the shape's, or its keys not yet used)
  };
  struct Level {
    Kind kind;
    Phase phase;
    int32_t alt_begin, alt_end;  // into alts_
    int32_t text_start;          // offset of the value's (or key's) first byte
    int32_t key_start;           // offset of the current key's opening quote
    int32_t keys_begin;          // into keys_: hashes of this object's keys
  };

  // The state before the first byte. Errors: the root shapes could not be built.
  static Result<MatchState> start(ShapeTable& table, const MatcherOptions& options);

  // Moves past `text.back()`. False (state unspecified, discard it) when no valid document
  // continues `text`.
  bool step(ShapeTable& table, std::string_view text);
  // False when step() with byte `b` certainly fails; a cheap test on the top level that spares
  // the mask walk a state copy for most bytes at structural positions.
  bool may_step(uint8_t b) const;
  // True when the document may end after `text` (one complete value).
  bool can_end(ShapeTable& table, std::string_view text) const;
  // True when the document is complete and nothing but whitespace may follow... and no
  // whitespace is allowed.
  bool done() const { return levels_.back().kind == kDone && options_.max_whitespace == 0; }

  // A lexeme (a scalar or a key) being read at the top: the walker may step one DFA alone until
  // it ends. With several alternatives reading it through different DFAs, `dfa` is their union
  // and the alternatives' own states are rebuilt from the text when the lexeme ends
  // (uniform == false).
  struct Lexeme {
    int32_t dfa = -1;  // -1: not inside a lexeme
    int32_t q = -1;    // its state after `text`
    bool uniform = true;
    int32_t begin = 0;  // offset of the lexeme's first byte
  };
  Lexeme lexeme(ShapeTable& table, std::string_view text) const;
  // REQUIRES: lexeme().uniform. Sets the DFA state of every alternative.
  void set_lexeme_state(int32_t q) {
    const Level& l = levels_.back();
    for (int32_t i = l.alt_begin; i < l.alt_end; ++i) alts_[i].dfa = q;
  }

  bool text_used() const { return text_used_; }
  void clear_text_used() { text_used_ = false; }
  // Appends a byte-exact fingerprint of the state (for mask caches).
  void fingerprint(std::string& out) const;
  size_t depth() const { return levels_.size(); }

 private:
  bool value_start(ShapeTable& table, uint8_t b, std::string_view text);
  bool lexeme(ShapeTable& table, Level& l, uint8_t b, std::string_view text, bool& consumed);
  bool end_key(ShapeTable& table, std::string_view key_text);
  bool end_value(ShapeTable& table, std::string_view value_text);
  bool push_children(ShapeTable& table, int32_t index_or_minus1, const std::string* key);
  bool close_container(ShapeTable& table, std::string_view text);
  // Hashes of the keys of the object at the top (a view into keys_).
  std::span<const uint64_t> used_keys() const;
  bool kill_if(const Marks& dead);
  bool whitespace_ok() const;

  MatcherOptions options_;
  std::vector<Level> levels_;
  std::vector<Alt> alts_;
  std::vector<uint64_t> keys_;
  int32_t ws_run_ = 0;
  bool text_used_ = false;
  bool failed_build_ = false;
};

}  // namespace troika::constrain
