#include "matcher.h"

#include <algorithm>

#include "schema_compile.h"

namespace troika::constrain {

namespace {

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }

// The value of a quoted JSON key text (escapes are rare in keys: decode those with the parser).
bool decode_key(std::string_view quoted, std::string& out) {
  if (quoted.size() < 2) return false;
  std::string_view body = quoted.substr(1, quoted.size() - 2);
  if (body.find('\\') == std::string_view::npos) {
    out.assign(body);
    return true;
  }
  Json k = Json::parse(quoted.begin(), quoted.end(), nullptr, false);
  if (!k.is_string()) return false;
  out = k.get<std::string>();
  return true;
}

}  // namespace

Result<MatchState> MatchState::start(ShapeTable& table, const MatcherOptions& options) {
  auto root = table.root();
  if (!root.ok()) return root.status();
  if (root->empty()) {
    return invalid_argument("the schema accepts no value (it is `false` or contradictory)");
  }
  MatchState s;
  s.options_ = options;
  s.levels_.push_back({kValue, kOpen, 0, static_cast<int32_t>(root->size()), 0, 0, 0});
  for (int32_t shape : *root) s.alts_.push_back({shape, -1, 0, 0, -1});
  return s;
}

MatchState::Lexeme MatchState::lexeme(ShapeTable& table, std::string_view text) const {
  const Level& l = levels_.back();
  const bool key = l.kind == kObject && l.phase == kKey;
  if (l.kind != kScalar && !key) return {};
  const int32_t begin = key ? l.key_start : l.text_start;
  auto dfa_of = [&](int32_t i) { return alts_[i].lex; };
  const int32_t first = dfa_of(l.alt_begin);
  bool one = true;
  for (int32_t i = l.alt_begin + 1; i < l.alt_end && one; ++i) one = dfa_of(i) == first;
  if (one) {
    // One automaton: every alternative is in the same state.
    return {first, alts_[l.alt_begin].dfa, true, begin};
  }
  std::vector<int32_t> ids;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) ids.push_back(dfa_of(i));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  int32_t u = table.union_dfa(ids);
  if (u < 0) return {};
  return {u, table.dfa(u).walk(text.substr(begin)), false, begin};
}

bool MatchState::may_step(uint8_t b) const {
  if (options_.raw || is_ws(b)) return true;
  const Level& l = levels_.back();
  auto value_start = [](uint8_t c) {
    return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
           c == 'f' || c == 'n';
  };
  switch (l.kind) {
    case kDone:
      return false;
    case kValue:
      return value_start(b);
    case kScalar:
      return true;
    case kObject:
      switch (l.phase) {
        case kOpen:
          return b == '"' || b == '}';
        case kNext:
          return b == '"';
        case kKey:
          return true;
        case kColon:
          return b == ':';
        case kAfter:
          return b == ',' || b == '}';
        default:
          return false;
      }
    case kArray:
      switch (l.phase) {
        case kOpen:
          return b == ']' || value_start(b);
        case kNext:
          return value_start(b);
        case kAfter:
          return b == ',' || b == ']';
        default:
          return false;
      }
  }
  return true;
}

bool MatchState::whitespace_ok() const { return ws_run_ < options_.max_whitespace; }

// Removes the alternatives of the top level marked in `dead`; false when none is left.
bool MatchState::kill_if(const Marks& dead) {
  Level& l = levels_.back();
  int32_t w = l.alt_begin;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    if (!dead[i - l.alt_begin]) alts_[w++] = alts_[i];
  }
  l.alt_end = w;
  alts_.resize(w);
  return l.alt_end > l.alt_begin;
}

bool MatchState::step(ShapeTable& t, std::string_view text) {
  const uint8_t b = static_cast<uint8_t>(text.back());
  const int32_t pos = static_cast<int32_t>(text.size()) - 1;
  const bool ws = !options_.raw && is_ws(b);
  if (ws) {
    if (!whitespace_ok()) {
      // Whitespace may still be a string's content or end a number.
      Level& l = levels_.back();
      if (l.kind != kScalar && !(l.kind == kObject && l.phase == kKey)) return false;
    }
  }
  for (;;) {
    Level& l = levels_.back();
    switch (l.kind) {
      case kDone:
        if (!ws || !whitespace_ok()) return false;
        ++ws_run_;
        return true;
      case kValue:
        if (ws) {
          if (!whitespace_ok()) return false;
          ++ws_run_;
          return true;
        }
        ws_run_ = 0;
        return value_start(t, b, text);
      case kScalar: {
        bool consumed = false;
        if (!lexeme(t, l, b, text, consumed)) return false;
        if (consumed) return true;
        if (!end_value(t, text.substr(l.text_start, pos - l.text_start))) return false;
        continue;  // the byte belongs to the enclosing value
      }
      case kObject:
      case kArray:
        break;
    }
    const bool object = l.kind == kObject;
    if (object && l.phase == kKey) {
      bool consumed = false;
      if (!lexeme(t, l, b, text, consumed)) return false;
      if (consumed) return true;
      l.phase = kColon;
      continue;
    }
    if (ws) {
      if (!whitespace_ok()) return false;
      ++ws_run_;
      return true;
    }
    ws_run_ = 0;
    switch (l.phase) {
      case kOpen:
      case kNext:
        if (b == (object ? '}' : ']') && l.phase == kOpen) return close_container(t, text);
        if (object) {
          if (b != '"') return false;
          Marks dead(l.alt_end - l.alt_begin);
          const std::span<const uint64_t> used = used_keys();
          for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
            Alt& a = alts_[i];
            const Shape& sh = t.shape(a.shape);
            int64_t limit = sh.max_props;
            a.lex = t.key_dfa(a.shape, used);
            a.dfa = a.lex >= 0 ? t.dfa(a.lex).step(t.dfa(a.lex).start(), b) : Dfa::kDead;
            dead[i - l.alt_begin] = a.dfa == Dfa::kDead || (limit >= 0 && a.count >= limit);
          }
          if (!kill_if(dead)) return false;
          levels_.back().phase = kKey;
          levels_.back().key_start = pos;
          return true;
        }
        if (!push_children(t, alts_[l.alt_begin].count, nullptr)) return false;
        continue;  // the byte starts the item
      case kColon: {
        if (b != ':') return false;
        text_used_ = true;
        // The key ends at the last quote before this byte (only whitespace may lie between).
        int32_t end = pos;
        while (end > l.key_start && text[end - 1] != '"') --end;
        std::string k;
        if (!decode_key(text.substr(l.key_start, end - l.key_start), k)) return false;
        uint64_t h = hash_key(k);
        for (size_t i = l.keys_begin; i < keys_.size(); ++i) {
          if (keys_[i] == h) return false;  // a repeated key
        }
        keys_.push_back(h);
        return push_children(t, -1, &k);
      }
      case kAfter:
        if (b == ',') {
          Marks dead(l.alt_end - l.alt_begin);
          const std::span<const uint64_t> used = used_keys();
          for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
            const Shape& sh = t.shape(alts_[i].shape);
            int64_t limit = object ? sh.max_props : sh.max_items;
            // An object whose every allowed key is used cannot take another member.
            dead[i - l.alt_begin] = (limit >= 0 && alts_[i].count >= limit) ||
                                    (object && t.key_dfa(alts_[i].shape, used) < 0);
          }
          if (!kill_if(dead)) return false;
          levels_.back().phase = kNext;
          return true;
        }
        if (b == (object ? '}' : ']')) return close_container(t, text);
        return false;
      case kKey:
      case kMember:
        return false;  // kMember: the child level is on top, never this one
    }
    return false;
  }
}

bool MatchState::value_start(ShapeTable& t, uint8_t b, std::string_view text) {
  const int32_t pos = static_cast<int32_t>(text.size()) - 1;
  Level& l = levels_.back();
  Marks dead(l.alt_end - l.alt_begin);
  if (!options_.raw && (b == '{' || b == '[')) {
    if (static_cast<int32_t>(levels_.size()) > 2 * options_.max_depth) return false;
    uint8_t bit = b == '{' ? TypeBit::kObject : TypeBit::kArray;
    for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
      dead[i - l.alt_begin] = !(t.shape(alts_[i].shape).types & bit);
      alts_[i].count = 0;
    }
    if (!kill_if(dead)) return false;
    Level& top = levels_.back();
    top.kind = b == '{' ? kObject : kArray;
    top.phase = kOpen;
    top.text_start = pos;
    top.keys_begin = static_cast<int32_t>(keys_.size());
    return true;
  }
  bool all_final = true;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    int32_t d = t.shape(alts_[i].shape).scalar_dfa;
    int32_t q = d >= 0 ? t.dfa(d).step(t.dfa(d).start(), b) : Dfa::kDead;
    alts_[i].dfa = q;
    alts_[i].lex = d;
    dead[i - l.alt_begin] = q == Dfa::kDead;
    if (q != Dfa::kDead && !t.final_state(d, q)) all_final = false;
  }
  if (!kill_if(dead)) return false;
  Level& top = levels_.back();
  top.kind = kScalar;
  top.text_start = pos;
  if (all_final) return end_value(t, text.substr(pos));
  return true;
}

bool MatchState::lexeme(ShapeTable& t, Level& l, uint8_t b, std::string_view text, bool& consumed) {
  const bool key = l.kind == kObject;
  const int32_t pos = static_cast<int32_t>(text.size()) - 1;
  bool any = false;
  for (int32_t i = l.alt_begin; i < l.alt_end && !any; ++i) {
    int32_t d = alts_[i].lex;
    any = t.dfa(d).step(alts_[i].dfa, b) != Dfa::kDead;
  }
  Marks dead(l.alt_end - l.alt_begin);
  if (!any) {
    // The lexeme ends before `b`: keep the alternatives that accept what was read.
    for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
      int32_t d = alts_[i].lex;
      dead[i - l.alt_begin] = !t.dfa(d).accepting(alts_[i].dfa);
    }
    consumed = false;
    return kill_if(dead);
  }
  bool all_final = true;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    int32_t d = alts_[i].lex;
    int32_t q = t.dfa(d).step(alts_[i].dfa, b);
    alts_[i].dfa = q;
    dead[i - l.alt_begin] = q == Dfa::kDead;
    if (q != Dfa::kDead && !t.final_state(d, q)) all_final = false;
  }
  consumed = true;
  if (!kill_if(dead)) return false;
  if (!all_final) return true;
  // Nothing can follow (a closing quote): end the lexeme now.
  Level& top = levels_.back();
  if (key) {
    top.phase = kColon;
    // A key already in this object is refused at its closing quote. Finite key sets leave
    // used names out of the automaton, and the first key cannot repeat: no text to read then.
    if (static_cast<int32_t>(keys_.size()) == top.keys_begin) return true;
    bool finite = true;
    for (int32_t i = top.alt_begin; i < top.alt_end && finite; ++i) {
      finite = t.shape(alts_[i].shape).keys_finite;
    }
    if (finite) return true;
    text_used_ = true;
    std::string k;
    if (!decode_key(text.substr(top.key_start, pos + 1 - top.key_start), k)) return false;
    uint64_t h = hash_key(k);
    for (size_t i = top.keys_begin; i < keys_.size(); ++i) {
      if (keys_[i] == h) return false;
    }
    return true;
  }
  return end_value(t, text.substr(top.text_start, pos + 1 - top.text_start));
}

bool MatchState::push_children(ShapeTable& t, int32_t index, const std::string* key) {
  Level& l = levels_.back();
  std::vector<Alt> children;
  Marks dead(l.alt_end - l.alt_begin);
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    const Alt& a = alts_[i];
    const Shape& sh = t.shape(a.shape);
    if (!key && sh.max_items >= 0 && a.count >= sh.max_items) {
      dead[i - l.alt_begin] = 1;
      continue;
    }
    auto shapes = key ? t.member(a.shape, *key) : t.item(a.shape, index);
    if (!shapes.ok() || shapes->empty()) {
      dead[i - l.alt_begin] = 1;
      continue;
    }
    for (int32_t s : *shapes) children.push_back({s, i - l.alt_begin, 0, 0, -1});
  }
  // Renumber parents after removing the dead alternatives of this level.
  std::vector<int32_t> new_index(dead.size(), -1);
  int32_t n = 0;
  for (size_t i = 0; i < dead.size(); ++i) {
    if (!dead[i]) new_index[i] = n++;
  }
  if (!kill_if(dead)) return false;
  Level& top = levels_.back();
  top.phase = kMember;
  Level child{kValue,
              kOpen,
              top.alt_end,
              top.alt_end + static_cast<int32_t>(children.size()),
              0,
              0,
              static_cast<int32_t>(keys_.size())};
  for (auto& c : children) {
    c.parent = new_index[c.parent];
    alts_.push_back(c);
  }
  levels_.push_back(child);
  return true;
}

std::span<const uint64_t> MatchState::used_keys() const {
  const Level& l = levels_.back();
  return std::span<const uint64_t>(keys_).subspan(l.keys_begin);
}

bool MatchState::close_container(ShapeTable& t, std::string_view text) {
  const int32_t pos = static_cast<int32_t>(text.size()) - 1;
  Level& l = levels_.back();
  const bool object = l.kind == kObject;
  Marks dead(l.alt_end - l.alt_begin);
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    const Alt& a = alts_[i];
    const Shape& sh = t.shape(a.shape);
    bool ok = a.count >= (object ? sh.min_props : sh.min_items);
    if (ok && object) {
      for (uint64_t h : sh.required_hashes) {
        if (std::find(keys_.begin() + l.keys_begin, keys_.end(), h) == keys_.end()) {
          ok = false;
          break;
        }
      }
    }
    dead[i - l.alt_begin] = !ok;
  }
  if (!kill_if(dead)) return false;
  Level& top = levels_.back();
  return end_value(t, text.substr(top.text_start, pos + 1 - top.text_start));
}

bool MatchState::end_value(ShapeTable& t, std::string_view value_text) {
  Level l = levels_.back();
  Marks dead(l.alt_end - l.alt_begin);
  Json value;
  bool parsed = false;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    const Shape& sh = t.shape(alts_[i].shape);
    if (sh.whole.empty()) continue;
    text_used_ = true;
    if (!parsed) {
      value = Json::parse(value_text.begin(), value_text.end(), nullptr, false);
      parsed = true;
    }
    bool ok = !value.is_discarded();
    for (size_t w = 0; ok && w < sh.whole.size(); ++w) {
      ok = validate_value(t.schema(), sh.whole[w], value, nullptr);
    }
    dead[i - l.alt_begin] = !ok;
  }
  Marks parent_alive(0);
  bool any = false;
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    if (dead[i - l.alt_begin]) continue;
    any = true;
    int32_t p = alts_[i].parent;
    if (p >= 0) {
      if (parent_alive.size() <= static_cast<size_t>(p)) parent_alive.resize(p + 1);
      parent_alive[p] = 1;
    }
  }
  if (!any) return false;
  alts_.resize(l.alt_begin);
  keys_.resize(l.keys_begin);
  levels_.pop_back();
  if (levels_.empty()) {
    levels_.push_back({kDone, kOpen, 0, 0, 0, 0, 0});
    return true;
  }
  Level& p = levels_.back();
  Marks parent_dead(p.alt_end - p.alt_begin, 1);
  for (size_t i = 0; i < parent_alive.size() && i < parent_dead.size(); ++i) {
    parent_dead[i] = !parent_alive[i];
  }
  if (!kill_if(parent_dead)) return false;
  Level& top = levels_.back();
  top.phase = kAfter;
  for (int32_t i = top.alt_begin; i < top.alt_end; ++i) ++alts_[i].count;
  return true;
}

bool MatchState::can_end(ShapeTable& t, std::string_view text) const {
  const Level& l = levels_.back();
  if (l.kind == kDone) return true;
  if (l.kind != kScalar || levels_.size() != 1) return false;
  MatchState copy = *this;
  Marks dead(l.alt_end - l.alt_begin);
  for (int32_t i = l.alt_begin; i < l.alt_end; ++i) {
    dead[i - l.alt_begin] = !t.dfa(alts_[i].lex).accepting(alts_[i].dfa);
  }
  if (!copy.kill_if(dead)) return false;
  return copy.end_value(t, text.substr(l.text_start));
}

void MatchState::fingerprint(std::string& out) const {
  auto put = [&](int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(ws_run_);
  for (const Level& l : levels_) {
    put(l.kind | (l.phase << 8) | (static_cast<int64_t>(l.alt_end - l.alt_begin) << 16));
    put(static_cast<int64_t>(keys_.size()) - l.keys_begin);
  }
  for (const Alt& a : alts_) {
    put(a.shape);
    put(a.parent);
    put(a.dfa);
    put(a.count);
    put(a.lex);
  }
  for (uint64_t k : keys_) put(static_cast<int64_t>(k));
}

}  // namespace troika::constrain
