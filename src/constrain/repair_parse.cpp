// The structural half of the repair parser: values, numbers, literals, objects, arrays and the
// document around them; JSON's grammar plus the mistakes language models make, each turned back
// into JSON and reported. Decisions that are guesses say so.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "repair_parse.h"

namespace troika::constrain::repair_internal {

size_t Parser::skip_prefix(size_t begin) {
  pos_ = begin;
  skip_ignorable();
  return pos_;
}

Parser::Outcome Parser::fail(const std::string& what) {
  if (error_.empty()) error_ = what;
  return Outcome::kFailed;
}

void Parser::note_truncated() {
  if (closed_at_eof_) return;
  closed_at_eof_ = true;
  const size_t n = open_.size();
  fix("closed " + std::to_string(n) + (n == 1 ? " bracket" : " brackets") + " after truncation");
}

size_t Parser::skip_spaces(size_t p, bool* saw_newline) const {
  while (p < end_ && is_space(static_cast<unsigned char>(s_[p]))) {
    if (saw_newline && s_[p] == '\n') *saw_newline = true;
    ++p;
  }
  return p;
}

void Parser::skip_ignorable() {
  bool in_special_run = false;
  while (pos_ < end_) {
    const int c = peek();
    if (is_space(c)) {
      ++pos_;
      continue;
    }
    if (c == '#' || (c == '/' && (peek(1) == '/' || peek(1) == '*'))) {
      fix("removed a comment" + at(pos_));
      const bool block = c == '/' && peek(1) == '*';
      const size_t stop = s_.substr(0, end_).find(block ? "*/" : "\n", pos_ + (block ? 2 : 1));
      pos_ = stop == npos ? end_ : stop + (block ? 2 : 1);
      in_special_run = false;
      continue;
    }
    uint32_t cp = 0;
    const size_t n = c >= 0x80 ? utf8_at(s_, pos_, end_, &cp) : 0;
    if (n == 0 || !is_special_space(cp)) return;
    if (!in_special_run) fix("replaced special whitespace with a space" + at(pos_));
    in_special_run = true;
    pos_ += n;
  }
}

bool Parser::skip_ellipsis() {
  // "..." and U+2026 "…" are both three bytes long.
  const std::string_view rest = s_.substr(pos_, end_ - pos_);
  if (!rest.starts_with("...") && !rest.starts_with("\u2026")) return false;
  fix("removed an ellipsis" + at(pos_));
  pos_ += 3;
  while (peek() == '.') ++pos_;
  // "..., 5" leaves no element before its comma, so the comma goes with the ellipsis.
  const size_t p = skip_spaces(pos_);
  if (p < end_ && s_[p] == ',') pos_ = p + 1;
  return true;
}

Parser::Outcome Parser::parse_number(Json& out) {
  const size_t start = pos_;
  size_t p = pos_;
  std::string token;
  if (s_[p] == '+') {
    fix("removed a leading '+'" + at(p));
    ++p;
  } else if (s_[p] == '-') {
    token.push_back('-');
    ++p;
  }
  if (p < end_ && is_word_start(static_cast<unsigned char>(s_[p]))) {
    pos_ = p;  // -Infinity, +NaN: parse_word turns them into null
    return parse_word(out);
  }
  const auto digits_from = [&](size_t q) {
    while (q < end_ && is_digit(static_cast<unsigned char>(s_[q]))) ++q;
    return q;
  };
  const size_t int_end = digits_from(p);
  std::string_view int_part = s_.substr(p, int_end - p);
  if (int_part.empty()) {
    if (p + 1 < end_ && s_[p] == '.' && is_digit(static_cast<unsigned char>(s_[p + 1]))) {
      fix("added a leading zero to a number" + at(start));
      int_part = "0";
    } else {
      // A sign with no digits, the end of a number cut off before its first digit.
      fix("dropped a lone sign" + at(start));
      pos_ = p;
      return Outcome::kNothing;
    }
  } else if (int_part.size() > 1 && int_part[0] == '0') {
    fix("removed leading zeros from a number" + at(start));
    while (int_part.size() > 1 && int_part[0] == '0') int_part.remove_prefix(1);
  }
  token += int_part;
  p = int_end;
  if (p < end_ && s_[p] == '.' && !(p + 1 < end_ && s_[p + 1] == '.')) {
    const size_t frac_end = digits_from(p + 1);
    if (frac_end == p + 1) {
      fix("dropped a '.' with no digits after it" + at(p));
    } else {
      token += s_.substr(p, frac_end - p);
    }
    p = frac_end;
  }
  if (p < end_ && (s_[p] == 'e' || s_[p] == 'E')) {
    size_t q = p + 1;
    if (q < end_ && (s_[q] == '+' || s_[q] == '-')) ++q;
    const size_t exp_end = digits_from(q);
    if (exp_end > q) {
      token += s_.substr(p, exp_end - p);
      p = exp_end;
    } else if (q >= end_ || !is_word_char(static_cast<unsigned char>(s_[q]))) {
      fix("dropped an exponent with no digits" + at(p));
      p = q;
    }
  }
  // Text glued to a number (2024-01-01, 10:30, 5px) is not a number; keep it as a string.
  const auto glued = [&](size_t q) {
    if (q >= end_) return false;
    const int c = static_cast<unsigned char>(s_[q]);
    if (c == '.' && q + 1 < end_ && s_[q + 1] == '.') return false;  // an ellipsis follows
    return is_word_char(c) || c >= 0x80 || c == '-' || c == ':' || c == '.' || c == '/';
  };
  if (glued(p)) {
    size_t q = p;
    size_t len = 0;
    while (q < end_) {
      const int c = static_cast<unsigned char>(s_[q]);
      if (is_space(c) || c == ',' || c == '}' || c == ']' || c == ')' ||
          quote_at(q, &len) != Quote::kNone) {
        break;
      }
      ++q;
    }
    const std::string_view text = s_.substr(start, q - start);
    fix("quoted the unquoted text " + show(text) + at(start));
    size_t n_bad = 0;
    out = sanitized(s_, start, q, &n_bad);
    note_not_utf8(n_bad, start);
    pos_ = q;
    return Outcome::kValue;
  }
  pos_ = p;
  out = Json::parse(token.begin(), token.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {  // 1e999: JSON has no infinity
    fix("replaced the out-of-range number " + show(token) + " with null" + at(start));
    out = nullptr;
  }
  return Outcome::kValue;
}

Parser::Outcome Parser::parse_word(Json& out, bool bare_text_ok) {
  const size_t start = pos_;
  while (pos_ < end_ && is_word_char(peek())) ++pos_;
  const std::string_view word = s_.substr(start, pos_ - start);
  if (word == "true" || word == "false" || word == "null") {
    out = Json::parse(word.begin(), word.end());
    return Outcome::kValue;
  }
  const std::string w = lower(word);
  if (w == "true" || w == "false" || w == "null") {
    fix("replaced " + show(word) + " with " + w + at(start));
    out = Json::parse(w.begin(), w.end());
    return Outcome::kValue;
  }
  if (w == "none" || w == "undefined" || w == "nan" || w == "infinity") {
    const bool signed_word = start > 0 && (s_[start - 1] == '-' || s_[start - 1] == '+');
    const std::string shown(s_.substr(signed_word ? start - 1 : start, word.size() + signed_word));
    fix("replaced " + show(shown) + " with null" + at(start - signed_word));
    out = nullptr;
    return Outcome::kValue;
  }
  // "tr" at the very end: the model was cut off while writing true.
  if (at_end()) {
    for (const char* lit : {"true", "false", "null"}) {
      if (std::string_view(lit).starts_with(word)) {
        fix("completed the truncated literal " + show(word) + " as " + lit + at(start));
        out = Json::parse(std::string_view(lit));
        return Outcome::kValue;
      }
    }
  }
  // NumberLong(2), ISODate("..."), callback({...}): a call around a value; keep the value.
  const size_t paren = skip_spaces(pos_);
  if ((paren >= end_ || s_[paren] != '(') && bare_text_ok) {
    // {"status": done}: after a key and colon, unquoted text can only be a string. It runs to
    // the end of the line or the next ',', '}' or ']'.
    size_t q = pos_;
    while (q < end_ && std::string_view(",}]\r\n").find(s_[q]) == npos) ++q;
    while (q > pos_ && is_space(static_cast<unsigned char>(s_[q - 1]))) --q;
    size_t n_bad = 0;
    out = sanitized(s_, start, q, &n_bad);
    fix("quoted the unquoted text " + show(s_.substr(start, q - start)) + at(start));
    note_not_utf8(n_bad, start);
    pos_ = q;
    return Outcome::kValue;
  }
  if (paren >= end_ || s_[paren] != '(') {
    return fail("unquoted text " + show(word) + at(start) + "; expected a JSON value");
  }
  if (open_.size() >= kMaxDepth) {
    fatal_ = true;
    return fail("nesting deeper than " + std::to_string(kMaxDepth) + at(paren));
  }
  fix("removed the call " + show(word) + "(...) around a value" + at(start));
  open_.push_back('(');
  pos_ = paren + 1;
  skip_ignorable();
  Outcome result = Outcome::kValue;
  out = nullptr;
  if (!at_end() && peek() != ')') result = parse_value(out);
  if (result == Outcome::kNothing) result = Outcome::kValue;
  if (result == Outcome::kValue) {
    skip_ignorable();
    if (peek() == ')') {
      ++pos_;
    } else if (at_end()) {
      note_truncated();
    } else {
      result = fail("expected ')' to close " + show(std::string(word) + "(") + at(pos_));
    }
  }
  open_.pop_back();
  return result;
}

bool Parser::is_key_char(size_t p, size_t* len) const {
  *len = 1;
  if (p >= end_) return false;
  const int c = static_cast<unsigned char>(s_[p]);
  if (c < 0x80) return is_word_char(c);
  size_t qlen = 0;
  if (quote_at(p, &qlen) != Quote::kNone) return false;
  uint32_t cp = 0;
  const size_t n = utf8_at(s_, p, end_, &cp);
  if (n == 0) return true;  // a stray byte; parse_key replaces it and says so
  *len = n;
  return !is_special_space(cp);
}

bool Parser::parse_key(std::string& key) {
  size_t len = 0;
  if (quote_at(pos_, &len) != Quote::kNone) {
    parse_string(/*key=*/true, key);
    return true;
  }
  const size_t start = pos_;
  // Identifier-like keys, plus '-' and '.' inside them (max-tokens, v1.2).
  while (is_key_char(pos_, &len) ||
         (pos_ > start && pos_ < end_ && (s_[pos_] == '-' || s_[pos_] == '.'))) {
    pos_ += len;
  }
  if (pos_ == start) return false;
  size_t n_bad = 0;
  key = sanitized(s_, start, pos_, &n_bad);
  fix("quoted key " + show(key) + at(start));
  note_not_utf8(n_bad, start);
  return true;
}

bool Parser::closes_enclosing(char closer) const {
  const char opener = closer == ']' ? '[' : closer == '}' ? '{' : '(';
  return open_.size() >= 2 && open_.rfind(opener, open_.size() - 2) != npos;
}

Parser::Separator Parser::separator(char close, bool& after_element, size_t& comma_at) {
  skip_ignorable();
  if (at_end()) {
    note_truncated();
    return Separator::kClosed;
  }
  const int c = peek();
  if (c == close) {
    if (comma_at != npos) fix("removed a trailing comma" + at(comma_at));
    ++pos_;
    return Separator::kClosed;
  }
  if (c == '}' || c == ']' || c == ')') {
    if (closes_enclosing(static_cast<char>(c))) {
      fix(std::string("inserted a missing '") + close + "'" + at(pos_));
      return Separator::kClosed;
    }
    fix(std::string("removed a stray '") + static_cast<char>(c) + "'" + at(pos_));
    ++pos_;
    return Separator::kSkipped;
  }
  if (c == ',') {
    if (after_element) {
      comma_at = pos_;
    } else {
      fix("removed a stray comma" + at(pos_));
    }
    after_element = false;
    ++pos_;
    return Separator::kSkipped;
  }
  if (skip_ellipsis()) {
    comma_at = npos;
    return Separator::kSkipped;
  }
  if (after_element) fix("inserted a missing comma" + at(pos_));
  return Separator::kElement;
}

Parser::Outcome Parser::parse_object(Json& out) {
  if (open_.size() >= kMaxDepth) {
    fatal_ = true;
    return fail("nesting deeper than " + std::to_string(kMaxDepth) + at(pos_));
  }
  const size_t open_at = pos_;
  open_.push_back('{');
  ++pos_;
  out = Json::object();
  auto& members = out.get_ref<Json::object_t&>();
  // ordered_map looks keys up linearly; this keeps objects with many keys linear.
  std::unordered_map<std::string, size_t> index;
  bool after_member = false;  // a member was read and no comma has followed it yet
  size_t comma_at = npos;
  Outcome result = Outcome::kValue;
  while (true) {
    const Separator sep = separator('}', after_member, comma_at);
    if (sep == Separator::kClosed) break;
    if (sep == Separator::kSkipped) continue;
    std::string key;
    if (!parse_key(key)) {
      result = fail("expected a key" + at(pos_) + " in the object that opens" + at(open_at));
      break;
    }
    skip_ignorable();
    Json value = nullptr;
    const bool colon = peek() == ':';
    if (colon) {
      ++pos_;
      skip_ignorable();
    } else if (!at_end() && peek() != '}' && peek() != ',') {
      fix("inserted a missing colon after key " + show(key) + at(pos_));
    }
    if (at_end()) {
      // A member cut off before its value keeps its key, with null (as jsonrepair does).
      fix("added null for the truncated member " + show(key));
    } else if (peek() == '}' || peek() == ',') {
      fix("added null for the member " + show(key) + " that has no value");
    } else {
      const Outcome o = parse_value(value, /*bare_text_ok=*/colon);
      if (o == Outcome::kFailed) {
        result = o;
        break;
      }
    }
    const auto [it, inserted] = index.try_emplace(key, members.size());
    if (inserted) {
      members.emplace_back(std::move(key), std::move(value));
    } else {  // duplicate key: the last one wins, as in nlohmann::json::parse
      (members.begin() + static_cast<std::ptrdiff_t>(it->second))->second = std::move(value);
    }
    after_member = true;
    comma_at = npos;
  }
  open_.pop_back();
  return result;
}

Parser::Outcome Parser::parse_array(Json& out) {
  if (open_.size() >= kMaxDepth) {
    fatal_ = true;
    return fail("nesting deeper than " + std::to_string(kMaxDepth) + at(pos_));
  }
  open_.push_back('[');
  ++pos_;
  out = Json::array();
  bool after_item = false;
  size_t comma_at = npos;
  Outcome result = Outcome::kValue;
  while (true) {
    const Separator sep = separator(']', after_item, comma_at);
    if (sep == Separator::kClosed) break;
    if (sep == Separator::kSkipped) continue;
    Json item;
    const Outcome o = parse_value(item);
    if (o == Outcome::kFailed) {
      result = o;
      break;
    }
    if (o == Outcome::kValue) out.push_back(std::move(item));
    after_item = o == Outcome::kValue;
    comma_at = npos;
  }
  open_.pop_back();
  return result;
}

Parser::Outcome Parser::parse_value(Json& out, bool bare_text_ok) {
  skip_ignorable();
  if (at_end()) return Outcome::kNothing;
  const int c = peek();
  size_t len = 0;
  if (c == '{') return parse_object(out);
  if (c == '[') return parse_array(out);
  if (quote_at(pos_, &len) != Quote::kNone) return parse_string_value(out);
  if (c == '-' || c == '+' || is_digit(c) || (c == '.' && is_digit(peek(1)))) {
    return parse_number(out);
  }
  if (is_word_start(c)) return parse_word(out, bare_text_ok);
  return fail("unexpected " + show(s_.substr(pos_, 1)) + at(pos_) + "; expected a JSON value");
}

bool Parser::parse_document(size_t begin, Json& out) {
  pos_ = begin;
  skip_ignorable();
  const size_t first_at = pos_;
  Json first;
  const Outcome o = parse_value(first);
  if (o == Outcome::kNothing) fail("no JSON value" + at(first_at));
  if (o != Outcome::kValue) return false;
  value_end_ = pos_;
  // A scalar followed by prose is prose ("1. Put ..."); only containers take more values.
  const bool scalar = !first.is_structured();
  Json values = Json::array();
  values.push_back(std::move(first));
  while (true) {
    skip_ignorable();
    if (at_end()) break;
    const int c = peek();
    if (c == ']' || c == '}' || c == ')' || c == ';') {
      const std::string what =
          c == ';' ? "a ';'" : std::string("a redundant '") + static_cast<char>(c) + "'";
      fix("removed " + what + " after the value" + at(pos_));
      value_end_ = ++pos_;
      continue;
    }
    // Newline-delimited JSON, or containers separated by commas: gather them in an array.
    const size_t next = c == ',' ? skip_spaces(pos_ + 1) : pos_;
    if (scalar || next >= end_ || (s_[next] != '{' && s_[next] != '[')) break;
    const size_t saved_pos = pos_;
    const size_t saved_fixes = fixes_.size();
    const bool saved_closed = closed_at_eof_;
    pos_ = next;
    Json more;
    if (parse_value(more) != Outcome::kValue) {
      if (fatal_) return false;
      // Not a value after all: it belongs to the prose after the JSON.
      pos_ = saved_pos;
      fixes_.resize(saved_fixes);
      closed_at_eof_ = saved_closed;
      error_.clear();
      break;
    }
    values.push_back(std::move(more));
    value_end_ = pos_;
  }
  if (!at_end()) {
    if (scalar) {
      fail("text" + at(pos_) + " after the value " +
           show(s_.substr(first_at, value_end_ - first_at)));
      return false;
    }
    fix("removed text after the JSON" + at(pos_));
  }
  if (values.size() == 1) {
    out = std::move(values[0]);
  } else {
    fix("wrapped " + std::to_string(values.size()) + " top-level values in an array");
    out = std::move(values);
  }
  return true;
}

}  // namespace troika::constrain::repair_internal
