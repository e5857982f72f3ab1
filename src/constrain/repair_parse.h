// Private to repair.cpp: the tolerant recursive-descent parser behind repair_json(), in two
// halves: repair_parse.cpp (structure) and repair_strings.cpp (strings, UTF-8).
//
// Parser reads one document (a value, then possibly more top-level containers) from a window of
// the text and records each repair it makes as a sentence naming the offset in the whole text.
// It never reads past the window's end, never recurses deeper than kMaxDepth containers, and
// does not throw. One Parser parses one document; make a new one for another attempt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace troika::constrain::repair_internal {

// Ordered, so that a repaired object keeps the member order the model wrote.
using Json = nlohmann::ordered_json;

inline constexpr size_t kMaxDepth = 512;
inline constexpr size_t npos = std::string_view::npos;

inline bool is_digit(int c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_word_start(int c) { return is_alpha(c) || c == '_' || c == '$'; }
inline bool is_word_char(int c) { return is_word_start(c) || is_digit(c); }
inline bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The length of the UTF-8 sequence at s[p] (1 for ASCII; *cp gets the code point), or 0 when
// the bytes there are not UTF-8. Reads no further than `end`.
size_t utf8_at(std::string_view s, size_t p, size_t end, uint32_t* cp);
// Unicode spaces that editors and models put where JSON allows only ASCII whitespace.
bool is_special_space(uint32_t cp);
// s[begin, end) with each byte that is not UTF-8 replaced by U+FFFD, counted in *n_bad.
std::string sanitized(std::string_view s, size_t begin, size_t end, size_t* n_bad);
// A piece of the input quoted for a message: at most 40 bytes, always valid UTF-8.
std::string show(std::string_view s);
// " at offset N", the tail of every message.
std::string at(size_t offset);
// An ASCII word in lower case, for matching literals written as True, NULL, NaN.
std::string lower(std::string_view w);

class Parser {
 public:
  // Reads text[begin, end) where begin is given to parse_document(); offsets in fixes and
  // errors are offsets into `text`.
  Parser(std::string_view text, size_t end)
      : s_(text), end_(end < text.size() ? end : text.size()) {}

  // The offset of the first byte at or after `begin` that is not whitespace or a comment.
  size_t skip_prefix(size_t begin);

  // Parses the document that starts at `begin`: a value, then more containers separated by
  // whitespace or commas (newline-delimited JSON, returned as an array), then redundant
  // closing brackets and trailing prose, both dropped. A scalar followed by prose is not a
  // document (false), so that "1. Put {...}" can be tried from its bracket instead.
  bool parse_document(size_t begin, Json& out);

  // After parse_document(): the end of the last value taken (trailing prose excluded).
  size_t value_end() const { return value_end_; }
  // After parse_document(): where it stopped; on failure, at or near the offending byte.
  size_t stopped_at() const { return pos_; }
  std::vector<std::string> take_fixes() { return std::move(fixes_); }
  // Why parse_document() failed, naming the offset.
  const std::string& error() const { return error_; }
  // The failure was nesting too deep: trying another start in the same text will not help.
  bool fatal() const { return fatal_; }

 private:
  enum class Outcome { kValue, kNothing, kFailed };
  enum class Quote { kNone, kDouble, kSingle, kBacktick, kCurlyDouble, kCurlySingle };

  // bare_text_ok: unquoted text is a string here (an object member's value after a colon).
  Outcome parse_value(Json& out, bool bare_text_ok = false);
  Outcome parse_object(Json& out);
  Outcome parse_array(Json& out);
  // Between the members or items of a container closed by `close`: handles the end of input,
  // the closing bracket, stray closers, commas and ellipses. kElement: an element starts here.
  enum class Separator { kClosed, kSkipped, kElement };
  Separator separator(char close, bool& after_element, size_t& comma_at);
  Outcome parse_string_value(Json& out);
  void parse_string(bool key, std::string& out);
  void parse_escape(std::string& out);
  void close_unterminated(size_t start, size_t content_begin, std::string& out, size_t* n_control);
  Outcome parse_number(Json& out);
  Outcome parse_word(Json& out, bool bare_text_ok = false);
  bool parse_key(std::string& key);

  // Whitespace, special whitespace and comments; each skipped comment is a fix.
  void skip_ignorable();
  // Plain whitespace only, from p; no fixes, no state change (for looking ahead).
  size_t skip_spaces(size_t p, bool* saw_newline = nullptr) const;
  bool skip_ellipsis();
  Quote quote_at(size_t p, size_t* len) const;
  bool is_string_end(size_t p, Quote kind, bool look_past_pair = true) const;
  bool is_key_char(size_t p, size_t* len) const;
  bool closes_enclosing(char closer) const;
  // The value at p cannot be the start of anything: truncation is the only explanation.
  void note_truncated();
  // Records the first failure (a message naming the offset) and returns kFailed.
  Outcome fail(const std::string& what);
  void note_not_utf8(size_t n_bytes, size_t offset);
  void fix(std::string what) { fixes_.push_back(std::move(what)); }
  int peek(size_t ahead = 0) const {
    return pos_ + ahead < end_ ? static_cast<unsigned char>(s_[pos_ + ahead]) : -1;
  }
  bool at_end() const { return pos_ >= end_; }

  std::string_view s_;
  size_t end_;
  size_t pos_ = 0;
  size_t value_end_ = 0;
  std::string open_;  // open '{', '[' and '(' (call wrappers), innermost last
  std::vector<std::string> fixes_;
  bool closed_at_eof_ = false;
  std::string error_;
  bool fatal_ = false;
};

}  // namespace troika::constrain::repair_internal
