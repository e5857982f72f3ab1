// The string half of the repair parser: quotes of every kind, escapes, unescaped inner quotes,
// and the UTF-8 helpers both halves share. Decisions that are guesses say so.
#include <cstdint>
#include <string>

#include "repair_parse.h"

namespace troika::constrain::repair_internal {

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int hex_value(int c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the UTF-8 sequence at s[p], or U+FFFD for a byte that does not start one (counted
// in *n_bad), so that keys which differ only in broken bytes stay equal to what the dump
// shows. Returns the bytes consumed.
size_t append_utf8_or_replacement(std::string& out, std::string_view s, size_t p, size_t end,
                                  size_t* n_bad) {
  uint32_t cp = 0;
  const size_t n = utf8_at(s, p, end, &cp);
  if (n == 0) {
    out += "\xEF\xBF\xBD";
    ++*n_bad;
    return 1;
  }
  out.append(s.substr(p, n));
  return n;
}

}  // namespace

// The length of the well-formed UTF-8 sequence at s[p] (1 for ASCII), or 0 when the bytes
// there are not UTF-8; *cp gets the code point.
size_t utf8_at(std::string_view s, size_t p, size_t end, uint32_t* cp) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[p + i]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t v = 0;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07;
  } else {
    return 0;
  }
  if (p + n > end) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return n;
}

// Unicode spaces that editors and models put where JSON allows only ASCII whitespace.
bool is_special_space(uint32_t cp) {
  return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

// The text s[begin, end) with bytes that are not UTF-8 replaced.
std::string sanitized(std::string_view s, size_t begin, size_t end, size_t* n_bad) {
  std::string out;
  for (size_t p = begin; p < end;) p += append_utf8_or_replacement(out, s, p, end, n_bad);
  return out;
}

// Quotes a piece of the input for a message: at most 40 bytes, and always valid UTF-8 (fixes
// end up in JSON responses, which cannot carry broken UTF-8).
std::string show(std::string_view s) {
  std::string out = "'";
  size_t i = 0;
  while (i < s.size() && i < 40) {
    uint32_t cp = 0;
    const size_t n = utf8_at(s, i, s.size(), &cp);
    if (n == 0 || cp < 0x20) {
      out.push_back('?');
      i += 1;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return out + "'";
}

std::string at(size_t offset) { return " at offset " + std::to_string(offset); }

// Lower-cased copy of an ASCII word, for matching literals written as True, NULL, NaN.
std::string lower(std::string_view w) {
  std::string out(w);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Parser::Quote Parser::quote_at(size_t p, size_t* len) const {
  if (p >= end_) return Quote::kNone;
  *len = 1;
  switch (s_[p]) {
    case '"':
      return Quote::kDouble;
    case '\'':
      return Quote::kSingle;
    case '`':
      return Quote::kBacktick;
    default:
      break;
  }
  // U+2018..U+201D are E2 80 98..9D; “ and ” pair with each other, as do ‘ and ’.
  if (p + 2 < end_ && static_cast<unsigned char>(s_[p]) == 0xE2 &&
      static_cast<unsigned char>(s_[p + 1]) == 0x80) {
    const auto c = static_cast<unsigned char>(s_[p + 2]);
    *len = 3;
    if (c == 0x9C || c == 0x9D) return Quote::kCurlyDouble;
    if (c == 0x98 || c == 0x99) return Quote::kCurlySingle;
  }
  return Quote::kNone;
}

// A guess, made when a string's closing quote shows up in the middle of a value: the quote
// ends the string when what follows can follow a string (a comma before another member or
// element, a closing bracket, the end, '+', a comment, another string); otherwise it is an
// unescaped quote inside the text ("he said "hi" twice").
bool Parser::is_string_end(size_t p, Quote kind, bool look_past_pair) const {
  size_t len = 0;
  // Two quotes in a row: "he said "hi""} ends at the second, ["a""b"] at the first.
  if (look_past_pair && quote_at(p, &len) == kind) return !is_string_end(p + len, kind, false);
  bool newline = false;
  const size_t q = skip_spaces(p, &newline);
  if (q >= end_) return true;
  const int c = static_cast<unsigned char>(s_[q]);
  const auto word_then_colon = [&](size_t w) {
    while (w < end_ && is_word_char(static_cast<unsigned char>(s_[w]))) ++w;
    w = skip_spaces(w);
    return w < end_ && s_[w] == ':';
  };
  if (c == '}' || c == ']' || c == ')' || c == '+') return true;
  if (c == '/' && q + 1 < end_ && (s_[q + 1] == '/' || s_[q + 1] == '*')) return true;
  if (quote_at(q, &len) != Quote::kNone) return true;
  if (newline && (c == '{' || c == '[')) return true;
  if (newline && is_word_start(c) && word_then_colon(q)) return true;
  if (c != ',') return false;
  const size_t r = skip_spaces(q + 1);
  if (r >= end_) return true;
  const int d = static_cast<unsigned char>(s_[r]);
  if (quote_at(r, &len) != Quote::kNone || d == '{' || d == '[' || d == '}' || d == ']' ||
      d == '-' || is_digit(d)) {
    return true;
  }
  if (d == '/' && r + 1 < end_ && (s_[r + 1] == '/' || s_[r + 1] == '*')) return true;
  if (is_word_start(d)) {
    if (word_then_colon(r)) return true;
    size_t w = r;
    while (w < end_ && is_word_char(static_cast<unsigned char>(s_[w]))) ++w;
    const std::string word = lower(s_.substr(r, w - r));
    return word == "true" || word == "false" || word == "null" || word == "none";
  }
  return false;
}

void Parser::parse_escape(std::string& out) {
  const size_t start = pos_;
  if (pos_ + 1 >= end_) {  // a backslash cut off by truncation
    pos_ = end_;
    return;
  }
  const char c = s_[pos_ + 1];
  const char* simple = nullptr;
  switch (c) {
    case '"':
      simple = "\"";
      break;
    case '\\':
      simple = "\\";
      break;
    case '/':
      simple = "/";
      break;
    case 'b':
      simple = "\b";
      break;
    case 'f':
      simple = "\f";
      break;
    case 'n':
      simple = "\n";
      break;
    case 'r':
      simple = "\r";
      break;
    case 't':
      simple = "\t";
      break;
    case '\'':
      simple = "'";
      break;
    default:
      break;
  }
  if (simple) {
    if (c == '\'') fix("removed the backslash before a single quote" + at(start));
    out += simple;
    pos_ += 2;
    return;
  }
  const auto hex4 = [&](size_t p) -> int {
    if (p + 4 > end_) return -1;
    int v = 0;
    for (size_t i = 0; i < 4; ++i) {
      const int h = hex_value(static_cast<unsigned char>(s_[p + i]));
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  };
  if (c == 'u') {
    int cp = hex4(pos_ + 2);
    if (cp < 0) {
      bool all_hex = true;
      for (size_t p = pos_ + 2; p < end_; ++p) all_hex = all_hex && hex_value(s_[p]) >= 0;
      if (all_hex) {  // "\u12" at the very end: truncated, drop it
        pos_ = end_;
        return;
      }
    } else {
      pos_ += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
        const int low = hex4(pos_ + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          pos_ += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        fix("replaced a lone surrogate escape with U+FFFD" + at(start));
        cp = 0xFFFD;
      }
      append_utf8(out, static_cast<uint32_t>(cp));
      return;
    }
  }
  // "C:\Users" and the like: the backslash was meant as text.
  fix("escaped a backslash that starts no valid escape" + at(start));
  out.push_back('\\');
  pos_ += 1;
}

void Parser::parse_string(bool key, std::string& out) {
  const size_t start = pos_;
  size_t qlen = 1;
  const Quote kind = quote_at(pos_, &qlen);
  if (kind == Quote::kSingle) fix("replaced single quotes with double quotes" + at(start));
  if (kind == Quote::kBacktick) fix("replaced backticks with double quotes" + at(start));
  if (kind == Quote::kCurlyDouble || kind == Quote::kCurlySingle) {
    fix("replaced typographic quotes with double quotes" + at(start));
  }
  pos_ += qlen;
  size_t n_control = 0;
  size_t n_not_utf8 = 0;
  const size_t content_begin = pos_;
  while (true) {
    if (at_end()) {
      close_unterminated(start, content_begin, out, &n_control);
      break;
    }
    size_t len = 1;
    if (quote_at(pos_, &len) == kind) {
      // A key's quote is text only when a letter follows at once ('it's'); otherwise it ends
      // the key even when no colon follows ({"a" 1}).
      const bool ends =
          key ? !(pos_ + len < end_ && is_word_char(static_cast<unsigned char>(s_[pos_ + len])))
              : is_string_end(pos_ + len, kind);
      if (ends) {
        pos_ += len;
        break;
      }
      fix("escaped an inner quote" + at(pos_));
      out.append(s_.substr(pos_, len));
      pos_ += len;
      continue;
    }
    const int c = peek();
    if (c == '\\') {
      parse_escape(out);
      continue;
    }
    if (c < 0x20) ++n_control;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++pos_;
    } else {
      pos_ += append_utf8_or_replacement(out, s_, pos_, end_, &n_not_utf8);
    }
  }
  if (n_control > 0) {
    fix("escaped " + std::to_string(n_control) + " raw control character" +
        (n_control == 1 ? "" : "s") + " in the string" + at(start));
  }
  note_not_utf8(n_not_utf8, start);
}

void Parser::note_not_utf8(size_t n, size_t offset) {
  if (n == 0) return;
  fix("replaced " + std::to_string(n) +
      (n == 1 ? " byte that is not UTF-8" : " bytes that are not UTF-8") + " with U+FFFD" +
      at(offset));
}

void Parser::close_unterminated(size_t start, size_t content_begin, std::string& out,
                                size_t* n_control) {
  // A line break followed only by closing brackets means the quote was forgotten at the end
  // of the line ({"a": "x<newline>}), not that the text was cut off: end the string there.
  size_t t = end_;
  while (t > content_begin && std::string_view(" \t\r\n,}]").find(s_[t - 1]) != npos) --t;
  const std::string_view tail = s_.substr(t, end_ - t);
  if (tail.find('\n') == npos || tail.find_first_of("}]") == npos || out.size() < tail.size()) {
    fix("closed a string truncated" + at(start));
    return;
  }
  // The tail bytes are plain ASCII that the loop copied as they were.
  out.resize(out.size() - tail.size());
  for (char c : tail) *n_control -= static_cast<unsigned char>(c) < 0x20 ? 1 : 0;
  pos_ = t;
  fix("closed a string that has no closing quote" + at(start));
}

Parser::Outcome Parser::parse_string_value(Json& out) {
  std::string text;
  parse_string(false, text);
  // "a" + "b": JavaScript string concatenation, common in values copied from code.
  while (true) {
    skip_ignorable();
    if (peek() != '+') break;
    const size_t plus = pos_++;
    skip_ignorable();
    size_t len = 0;
    if (quote_at(pos_, &len) == Quote::kNone) {
      fix("removed a dangling '+'" + at(plus));
      break;
    }
    std::string more;
    parse_string(false, more);
    text += more;
    fix("joined strings concatenated with '+'" + at(plus));
  }
  out = std::move(text);
  return Outcome::kValue;
}
}  // namespace troika::constrain::repair_internal
