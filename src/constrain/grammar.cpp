#include "grammar.h"

#include <algorithm>
#include <cstring>

namespace troika::constrain {

namespace {
constexpr size_t kMaxCachedMasks = 512;
// Shapes built ahead at compile time, so that masks rarely stop to build automata.
constexpr size_t kPrewarmShapes = 64;
constexpr size_t kMaxSharedLexEntries = 2048;  // about 16 KB each on a 128k vocabulary
}  // namespace

Grammar::Grammar(std::shared_ptr<const void> owner, const CompiledSchema& schema,
                 std::shared_ptr<const TokenIndex> index, const MatcherOptions& options)
    : owner_(std::move(owner)),
      table_(schema),
      index_(std::move(index)),
      trie_(index_->impl().trie),
      options_(options) {
  // One state per byte of the longest token, plus the root: sized once, so references into the
  // pool stay valid during the recursive walk.
  states_.resize(index_->impl().longest_piece + 3);
  table_.prewarm(kPrewarmShapes);
}

MatchState& Grammar::state(size_t depth) { return states_[depth]; }

void Grammar::mark(uint32_t node, uint32_t* words) const {
  const Trie::Node& n = trie_.nodes[node];
  for (uint32_t i = n.token_begin; i < n.token_begin + n.n_tokens; ++i) {
    int32_t t = trie_.tokens[i];
    words[t >> 5] |= 1u << (t & 31);
  }
}

// Steps states_[depth + 1] = states_[depth] over the bytes text[from:], which the walk read
// inside a lexeme with the DFA alone (`q` its state before the last byte when uniform).
bool Grammar::materialize(size_t depth, const MatchState::Lexeme& lx, int32_t q, size_t from,
                          std::string& text) {
  MatchState& next = states_[depth + 1];
  next = states_[depth];
  next.clear_text_used();
  bool ok = true;
  if (lx.uniform) {
    next.set_lexeme_state(q);
    ok = next.step(table_, text);
  } else {
    const size_t end = text.size();
    for (size_t i = from; i < end && ok; ++i) {
      ok = next.step(table_, std::string_view(text).substr(0, i + 1));
    }
  }
  used_text_ |= next.text_used();
  return ok;
}

// The walk below a trie node from the state states_[depth] (exact text: `text` ends with the
// node's path).
void Grammar::walk(uint32_t node, size_t depth, std::string& text, uint32_t* words) {
  const MatchState& s = states_[depth];
  const MatchState::Lexeme lx = s.lexeme(table_, text);
  const size_t from = text.size();
  const Trie::Node& n = trie_.nodes[node];
  for (uint32_t e = n.child_begin; e < n.child_begin + n.n_children; ++e) {
    const uint8_t b = trie_.edge_byte[e];
    const uint32_t c = trie_.edge_child[e];
    text.push_back(static_cast<char>(b));
    bool ok;
    if (lx.dfa >= 0) {
      const Dfa& dfa = table_.dfa(lx.dfa);
      const int32_t q2 = dfa.step(lx.q, b);
      if (q2 != Dfa::kDead && !table_.final_state(lx.dfa, q2)) {
        mark(c, words);
        walk_lex(c, depth, lx, q2, from, text, words);
        text.pop_back();
        continue;
      }
      ok = (q2 != Dfa::kDead || dfa.accepting(lx.q)) && materialize(depth, lx, lx.q, from, text);
    } else if (!s.may_step(b)) {
      ok = false;
    } else {
      MatchState& next = states_[depth + 1];
      next = s;
      next.clear_text_used();
      ok = next.step(table_, text);
      used_text_ |= next.text_used();
    }
    if (ok) {
      mark(c, words);
      walk(c, depth + 1, text, words);
    }
    text.pop_back();
  }
}

// Inside a lexeme: states_[depth] is the state where the DFA-only descent began, at text offset
// `from`; `q` is the lexeme DFA's state now.
void Grammar::walk_lex(uint32_t node, size_t depth, const MatchState::Lexeme& lx, int32_t q,
                       size_t from, std::string& text, uint32_t* words) {
  const Dfa& dfa = table_.dfa(lx.dfa);
  const Trie::Node& n = trie_.nodes[node];
  for (uint32_t e = n.child_begin; e < n.child_begin + n.n_children; ++e) {
    const uint8_t b = trie_.edge_byte[e];
    const uint32_t c = trie_.edge_child[e];
    const int32_t q2 = dfa.step(q, b);
    if (q2 == Dfa::kDead && !dfa.accepting(q)) continue;
    text.push_back(static_cast<char>(b));
    if (q2 != Dfa::kDead && !table_.final_state(lx.dfa, q2)) {
      mark(c, words);
      walk_lex(c, depth, lx, q2, from, text, words);
    } else if (materialize(depth, lx, q, from, text)) {
      mark(c, words);
      walk(c, depth + 1, text, words);
    }
    text.pop_back();
  }
}

void Grammar::lex_dfs(LexEntry& e, const Dfa& dfa, int32_t d, uint32_t node, int32_t q) {
  const Trie::Node& n = trie_.nodes[node];
  for (uint32_t i = n.child_begin; i < n.child_begin + n.n_children; ++i) {
    const uint8_t b = trie_.edge_byte[i];
    const uint32_t c = trie_.edge_child[i];
    const int32_t q2 = dfa.step(q, b);
    if (q2 != Dfa::kDead && !table_.final_state(d, q2)) {
      mark(c, e.inside.data());
      lex_dfs(e, dfa, d, c, q2);
    } else if (q2 != Dfa::kDead || dfa.accepting(q)) {
      auto it = std::find_if(e.exits.begin(), e.exits.end(),
                             [&](const Exit& x) { return x.q == q && x.byte == b; });
      if (it == e.exits.end()) {
        e.exits.push_back({q, b, {}});
        it = e.exits.end() - 1;
      }
      it->nodes.push_back(c);
      const Trie::Node& cn = trie_.nodes[c];
      for (uint32_t k = cn.token_begin; k < cn.token_begin + cn.n_tokens; ++k) {
        it->tokens.push_back(trie_.tokens[k]);
      }
      if (cn.n_children > 0) it->inner.push_back(c);
    }
  }
}

const LexEntry& Grammar::lex(int32_t d, int32_t q) {
  uint64_t key = (static_cast<uint64_t>(d) << 32) | static_cast<uint32_t>(q);
  auto it = lex_.find(key);
  if (it != lex_.end()) return *it->second;
  // Another grammar may have met the same automaton (the string and number DFAs recur).
  const auto& impl = index_->impl();
  uint64_t shared_key = table_.fingerprint(d) * 1000003u + static_cast<uint64_t>(q);
  std::shared_ptr<const LexEntry> entry;
  {
    std::lock_guard<std::mutex> lock(impl.lex_mu);
    if (auto s = impl.lex_cache.find(shared_key); s != impl.lex_cache.end()) entry = s->second;
  }
  if (!entry) {
    auto e = std::make_shared<LexEntry>();
    e->inside.assign((index_->n_vocab() + 31) / 32, 0);
    lex_dfs(*e, table_.dfa(d), d, 0, q);
    entry = e;
    std::lock_guard<std::mutex> lock(impl.lex_mu);
    if (impl.lex_cache.size() >= kMaxSharedLexEntries) impl.lex_cache.clear();
    impl.lex_cache.emplace(shared_key, entry);
  }
  return *lex_.emplace(key, std::move(entry)).first->second;
}

bool Grammar::fill(const MatchState& s, std::string& text, uint32_t* words) {
  const size_t n_words = (index_->n_vocab() + 31) / 32;
  key_.clear();
  s.fingerprint(key_);
  if (auto it = masks_.find(key_); it != masks_.end()) {
    std::memcpy(words, it->second.data(), n_words * sizeof(uint32_t));
    return true;
  }
  used_text_ = false;
  state(0) = s;
  const MatchState::Lexeme lx = s.lexeme(table_, text);
  if (lx.dfa >= 0) {
    // Tokens inside the lexeme come from the cache; where it ends, the context decides. The step
    // that ends the lexeme is shared by all the edges of an exit group when it reads no text
    // (no check on the closed value, one DFA); the walk below each edge always sees its
    // token's own text.
    const LexEntry& e = lex(lx.dfa, lx.q);
    std::memcpy(words, e.inside.data(), n_words * sizeof(uint32_t));
    const size_t base = text.size();
    for (const Exit& x : e.exits) {
      bool ok = false, shared = false;
      if (lx.uniform) {
        text.push_back(static_cast<char>(x.byte));
        ok = materialize(0, lx, x.q, base, text);
        shared = !states_[1].text_used();
        text.resize(base);
        if (shared && !ok) continue;
      }
      if (shared) {
        // One outcome for the whole group: its tokens at once, then the walks below.
        for (int32_t t : x.tokens) words[t >> 5] |= 1u << (t & 31);
        for (uint32_t c : x.inner) {
          text.append(trie_.path(c));
          walk(c, 1, text, words);
          text.resize(base);
        }
        continue;
      }
      for (uint32_t c : x.nodes) {
        text.append(trie_.path(c));
        if (materialize(0, lx, x.q, base, text)) {
          mark(c, words);
          walk(c, 1, text, words);
        }
        text.resize(base);
      }
    }
  } else {
    walk(0, 0, text, words);
  }
  MatchState end = s;
  end.clear_text_used();
  if (end.can_end(table_, text)) {
    for (engine::Token t : index_->eog()) words[t >> 5] |= 1u << (t & 31);
  }
  used_text_ |= end.text_used();
  if (!used_text_) {
    if (masks_.size() >= kMaxCachedMasks) masks_.clear();
    masks_.emplace(key_, std::vector<uint32_t>(words, words + n_words));
  }
  return false;
}

std::string Grammar::forced_bytes(const MatchState& s, std::string& text, size_t max_bytes) {
  // Likely bytes first, so that two valid ones are usually found after a few probes.
  static const std::string kOrder = [] {
    std::string o = "\",:}]{[-0123456789tfn";
    for (int b = 0; b < 256; ++b) {
      if (o.find(static_cast<char>(b)) == std::string::npos) o.push_back(static_cast<char>(b));
    }
    return o;
  }();
  std::string out;
  MatchState cur = s;
  const size_t base = text.size();
  while (out.size() < max_bytes) {
    MatchState probe;
    if (cur.can_end(table_, text)) break;
    int found = 0;
    char only = 0;
    for (char b : kOrder) {
      probe = cur;
      text.push_back(b);
      if (probe.step(table_, text)) {
        ++found;
        only = b;
      }
      text.pop_back();
      if (found > 1) break;
    }
    if (found != 1) break;
    text.push_back(only);
    if (!cur.step(table_, text)) break;
    out.push_back(only);
  }
  text.resize(base);
  return out;
}

}  // namespace troika::constrain
