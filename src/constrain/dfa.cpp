// Dfa core: trimming, minimisation, byte-class compression, literals, UTF-8 (and length
// counting over it) and products.

#include "constrain/dfa.h"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>

#include "constrain/dfa_internal.h"

namespace troika::constrain {
namespace {

constexpr int32_t kDead = Dfa::kDead;

// The raw pieces of a Dfa while it is being normalised.
struct Table {
  int32_t start = kDead;
  int32_t n_classes = 1;
  std::array<uint8_t, 256> class_of{};
  std::vector<int32_t> next;
  std::vector<uint8_t> accept;
  std::vector<int32_t> literal;

  int32_t n_states() const { return static_cast<int32_t>(accept.size()); }
  int32_t at(int32_t s, int32_t c) const { return next[static_cast<size_t>(s) * n_classes + c]; }
};

// Keeps the states that are reachable from start and can reach acceptance, numbered in
// breadth-first order from start (so start becomes 0). Returns false for the empty language.
bool trim(Table* t) {
  const int32_t n = t->n_states();
  const int32_t k = t->n_classes;
  if (t->start < 0 || t->start >= n) return false;
  // Reverse adjacency in CSR form, then a backward search from the accepting states.
  std::vector<int32_t> in_begin(static_cast<size_t>(n) + 1, 0);
  for (int32_t to : t->next) {
    if (to >= 0) ++in_begin[to + 1];
  }
  std::partial_sum(in_begin.begin(), in_begin.end(), in_begin.begin());
  std::vector<int32_t> in_from(in_begin[n]);
  std::vector<int32_t> fill(in_begin.begin(), in_begin.end() - 1);
  for (int32_t s = 0; s < n; ++s) {
    for (int32_t c = 0; c < k; ++c) {
      const int32_t to = t->at(s, c);
      if (to >= 0) in_from[fill[to]++] = s;
    }
  }
  std::vector<uint8_t> live(n, 0);
  std::vector<int32_t> stack;
  for (int32_t s = 0; s < n; ++s) {
    if (t->accept[s]) {
      live[s] = 1;
      stack.push_back(s);
    }
  }
  while (!stack.empty()) {
    const int32_t s = stack.back();
    stack.pop_back();
    for (int32_t i = in_begin[s]; i < in_begin[s + 1]; ++i) {
      if (!live[in_from[i]]) {
        live[in_from[i]] = 1;
        stack.push_back(in_from[i]);
      }
    }
  }
  if (!live[t->start]) return false;
  // A state reachable only through dead states is dead itself, so a forward search over live
  // states finds exactly the useful ones.
  std::vector<int32_t> new_id(n, kDead);
  std::vector<int32_t> order{t->start};
  new_id[t->start] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    for (int32_t c = 0; c < k; ++c) {
      const int32_t to = t->at(order[i], c);
      if (to >= 0 && live[to] && new_id[to] == kDead) {
        new_id[to] = static_cast<int32_t>(order.size());
        order.push_back(to);
      }
    }
  }
  const int32_t m = static_cast<int32_t>(order.size());
  std::vector<int32_t> next(static_cast<size_t>(m) * k);
  std::vector<uint8_t> accept(m);
  std::vector<int32_t> literal(t->literal.empty() ? 0 : m, -1);
  for (int32_t i = 0; i < m; ++i) {
    const int32_t s = order[i];
    for (int32_t c = 0; c < k; ++c) {
      const int32_t to = t->at(s, c);
      next[static_cast<size_t>(i) * k + c] = to >= 0 ? new_id[to] : kDead;
    }
    accept[i] = t->accept[s];
    if (!literal.empty()) literal[i] = t->literal[s];
  }
  t->start = 0;
  t->next = std::move(next);
  t->accept = std::move(accept);
  t->literal = std::move(literal);
  return true;
}

// A partition of 0..n-1 that can be refined by marking elements and splitting the marked ones
// off their sets (Valmari and Lehtinen's refinable partition). Elements of a set are contiguous
// in elems_, marked ones first.
class Partition {
 public:
  // One set per distinct key (keys in 0..n_keys-1), in key order.
  Partition(const std::vector<int32_t>& keys, int32_t n_keys)
      : elems_(keys.size()), loc_(keys.size()), set_(keys.size()) {
    std::vector<int32_t> count(static_cast<size_t>(n_keys) + 1, 0);
    for (int32_t key : keys) ++count[key + 1];
    std::partial_sum(count.begin(), count.end(), count.begin());
    std::vector<int32_t> key_set(n_keys, -1);
    for (int32_t key = 0; key < n_keys; ++key) {
      if (count[key] == count[key + 1]) continue;
      key_set[key] = n_sets();
      first_.push_back(count[key]);
      past_.push_back(count[key + 1]);
      marked_.push_back(0);
    }
    for (int32_t e = 0; e < static_cast<int32_t>(keys.size()); ++e) {
      const int32_t pos = count[keys[e]]++;
      elems_[pos] = e;
      loc_[e] = pos;
      set_[e] = key_set[keys[e]];
    }
  }

  int32_t n_sets() const { return static_cast<int32_t>(first_.size()); }
  int32_t set_of(int32_t e) const { return set_[e]; }
  int32_t first(int32_t s) const { return first_[s]; }
  int32_t past(int32_t s) const { return past_[s]; }
  int32_t elem(int32_t i) const { return elems_[i]; }

  void mark(int32_t e) {
    const int32_t s = set_[e];
    const int32_t i = loc_[e];
    const int32_t j = first_[s] + marked_[s];
    if (i < j) return;  // already marked
    elems_[i] = elems_[j];
    loc_[elems_[i]] = i;
    elems_[j] = e;
    loc_[e] = j;
    if (marked_[s]++ == 0) touched_.push_back(s);
  }

  // Splits every touched set into its marked and unmarked parts; the smaller part becomes the
  // new set, which keeps the total work O(n log n).
  void split() {
    while (!touched_.empty()) {
      const int32_t s = touched_.back();
      touched_.pop_back();
      const int32_t j = first_[s] + marked_[s];
      marked_[s] = 0;
      if (j == past_[s]) continue;
      const int32_t z = n_sets();
      if (j - first_[s] <= past_[s] - j) {
        first_.push_back(first_[s]);
        past_.push_back(j);
        first_[s] = j;
      } else {
        first_.push_back(j);
        past_.push_back(past_[s]);
        past_[s] = j;
      }
      marked_.push_back(0);
      for (int32_t i = first_[z]; i < past_[z]; ++i) set_[elems_[i]] = z;
    }
  }

 private:
  std::vector<int32_t> elems_, loc_, set_;
  std::vector<int32_t> first_, past_, marked_;
  std::vector<int32_t> touched_;
};

// Merges equivalent states of a trimmed table (start == 0). Missing transitions stand for the
// dead state, which trimming guarantees is equivalent to no live state, so the partial
// automaton can be refined as is.
void minimise(Table* t) {
  const int32_t n = t->n_states();
  const int32_t k = t->n_classes;
  std::vector<int32_t> tail, head, label;
  for (int32_t s = 0; s < n; ++s) {
    for (int32_t c = 0; c < k; ++c) {
      const int32_t to = t->at(s, c);
      if (to < 0) continue;
      tail.push_back(s);
      head.push_back(to);
      label.push_back(c);
    }
  }
  const int32_t m = static_cast<int32_t>(tail.size());
  std::vector<int32_t> accept_key(t->accept.begin(), t->accept.end());
  Partition blocks(accept_key, 2);
  Partition cords(label, k);  // transitions grouped by label, then by the head's block
  std::vector<int32_t> in_begin(static_cast<size_t>(n) + 1, 0);
  for (int32_t h : head) ++in_begin[h + 1];
  std::partial_sum(in_begin.begin(), in_begin.end(), in_begin.begin());
  std::vector<int32_t> in_trans(m);
  std::vector<int32_t> fill(in_begin.begin(), in_begin.end() - 1);
  for (int32_t i = 0; i < m; ++i) in_trans[fill[head[i]]++] = i;
  // Block 0 need not serve as a splitter: the cords start as whole labels, which already
  // separate it from the rest (Valmari's observation).
  int32_t b = 1;
  for (int32_t c = 0; c < cords.n_sets(); ++c) {
    for (int32_t i = cords.first(c); i < cords.past(c); ++i) blocks.mark(tail[cords.elem(i)]);
    blocks.split();
    for (; b < blocks.n_sets(); ++b) {
      for (int32_t i = blocks.first(b); i < blocks.past(b); ++i) {
        const int32_t q = blocks.elem(i);
        for (int32_t j = in_begin[q]; j < in_begin[q + 1]; ++j) cords.mark(in_trans[j]);
      }
      cords.split();
    }
  }
  const int32_t n_blocks = blocks.n_sets();
  if (n_blocks == n) return;
  std::vector<int32_t> next(static_cast<size_t>(n_blocks) * k, kDead);
  std::vector<uint8_t> accept(n_blocks);
  for (int32_t bl = 0; bl < n_blocks; ++bl) {
    const int32_t rep = blocks.elem(blocks.first(bl));
    accept[bl] = t->accept[rep];
    for (int32_t c = 0; c < k; ++c) {
      const int32_t to = t->at(rep, c);
      next[static_cast<size_t>(bl) * k + c] = to >= 0 ? blocks.set_of(to) : kDead;
    }
  }
  t->start = blocks.set_of(0);
  t->next = std::move(next);
  t->accept = std::move(accept);
  trim(t);  // renumbers breadth-first, so equal languages give equal tables
}

// Merges byte classes whose columns are identical in every state.
void compress_classes(Table* t) {
  const int32_t n = t->n_states();
  const int32_t k = t->n_classes;
  // Hash each column first so that only columns with equal hashes are compared in full.
  std::vector<uint64_t> hash(k, 1469598103934665603ull);
  for (int32_t s = 0; s < n; ++s) {
    for (int32_t c = 0; c < k; ++c) {
      hash[c] = (hash[c] ^ static_cast<uint32_t>(t->at(s, c))) * 1099511628211ull;
    }
  }
  std::vector<int32_t> new_class(k, -1);
  std::vector<int32_t> kept;  // old class of each new class
  for (int32_t c = 0; c < k; ++c) {
    for (size_t j = 0; j < kept.size(); ++j) {
      if (hash[kept[j]] != hash[c]) continue;
      bool same = true;
      for (int32_t s = 0; s < n && same; ++s) same = t->at(s, c) == t->at(s, kept[j]);
      if (same) {
        new_class[c] = static_cast<int32_t>(j);
        break;
      }
    }
    if (new_class[c] < 0) {
      new_class[c] = static_cast<int32_t>(kept.size());
      kept.push_back(c);
    }
  }
  const int32_t nk = static_cast<int32_t>(kept.size());
  if (nk == k) return;
  std::vector<int32_t> next(static_cast<size_t>(n) * nk);
  for (int32_t s = 0; s < n; ++s) {
    for (int32_t j = 0; j < nk; ++j) next[static_cast<size_t>(s) * nk + j] = t->at(s, kept[j]);
  }
  for (auto& c : t->class_of) c = static_cast<uint8_t>(new_class[c]);
  t->n_classes = nk;
  t->next = std::move(next);
}

}  // namespace

Status too_many_states(std::string_view what, const DfaLimits& limits) {
  return resource_exhausted(std::string(what) + ": the automaton needs more than " +
                            std::to_string(limits.max_states) +
                            " states (DfaLimits.max_states); simplify the constraint or raise "
                            "the limit");
}

bool Dfa::matches(std::string_view bytes) const {
  const int32_t s = walk(bytes);
  return s != kDead && accepting(s);
}

int32_t Dfa::walk(std::string_view bytes) const {
  int32_t s = start_;
  for (char ch : bytes) {
    if (s == kDead) return kDead;
    s = step(s, static_cast<uint8_t>(ch));
  }
  return s;
}

Dfa Dfa::from_table(int32_t start, int32_t n_classes, const std::array<uint8_t, 256>& class_of,
                    std::vector<int32_t> next, std::vector<uint8_t> accept, bool keep_states,
                    std::vector<int32_t> literal) {
  assert(n_classes >= 1 && n_classes <= 256);
  assert(next.size() == accept.size() * static_cast<size_t>(n_classes));
  Table t;
  t.start = start;
  t.n_classes = n_classes;
  t.class_of = class_of;
  t.next = std::move(next);
  t.accept = std::move(accept);
  if (keep_states && literal.size() == t.accept.size()) t.literal = std::move(literal);
  if (!trim(&t)) return Dfa();
  // Merging classes first makes minimisation cheaper; merging states can make more columns
  // equal, hence the second pass.
  compress_classes(&t);
  if (!keep_states) {
    minimise(&t);
    compress_classes(&t);
  }
  Dfa d;
  d.start_ = t.start;
  d.n_classes_ = t.n_classes;
  d.class_of_ = t.class_of;
  d.next_ = std::move(t.next);
  d.accept_ = std::move(t.accept);
  d.literal_ = std::move(t.literal);
  return d;
}

Dfa Dfa::literals(const std::vector<std::string>& strings) {
  // Each byte that occurs gets its own class; all others share class 0.
  std::array<uint8_t, 256> class_of{};
  int32_t n_classes = 1;
  for (const std::string& s : strings) {
    for (char ch : s) {
      uint8_t& c = class_of[static_cast<uint8_t>(ch)];
      if (c == 0) c = static_cast<uint8_t>(n_classes++);
    }
  }
  std::vector<int32_t> next(n_classes, kDead);
  std::vector<uint8_t> accept(1, 0);
  std::vector<int32_t> literal(1, -1);
  for (size_t i = 0; i < strings.size(); ++i) {
    int32_t s = 0;
    for (char ch : strings[i]) {
      const size_t at = static_cast<size_t>(s) * n_classes + class_of[static_cast<uint8_t>(ch)];
      if (next[at] == kDead) {
        next[at] = static_cast<int32_t>(accept.size());
        accept.push_back(0);
        literal.push_back(-1);
        next.resize(next.size() + n_classes, kDead);
      }
      s = next[at];
    }
    accept[s] = 1;
    if (literal[s] < 0) literal[s] = static_cast<int32_t>(i);
  }
  return from_table(0, n_classes, class_of, std::move(next), std::move(accept), true,
                    std::move(literal));
}

Dfa Dfa::any_utf8() {
  // Byte classes by the role a byte plays in UTF-8 (see the Unicode standard, table 3-7).
  enum : uint8_t { kAscii, kC80, kC90, kCA0, kBad, kLead2, kE0, kE1, kED, kF0, kF1, kF4, kN };
  std::array<uint8_t, 256> class_of{};
  for (int b = 0; b < 256; ++b) {
    uint8_t c = kBad;
    if (b < 0x80)
      c = kAscii;
    else if (b < 0x90)
      c = kC80;
    else if (b < 0xA0)
      c = kC90;
    else if (b < 0xC0)
      c = kCA0;
    else if (b >= 0xC2 && b < 0xE0)
      c = kLead2;
    else if (b == 0xE0)
      c = kE0;
    else if (b == 0xED)
      c = kED;
    else if (b >= 0xE1 && b < 0xF0)
      c = kE1;
    else if (b == 0xF0)
      c = kF0;
    else if (b >= 0xF1 && b < 0xF4)
      c = kF1;
    else if (b == 0xF4)
      c = kF4;
    class_of[b] = c;
  }
  // States: 0 boundary, 1..3 need that many continuation bytes, 4 after E0 (A0-BF next),
  // 5 after ED (80-9F next: no surrogates), 6 after F0 (90-BF next), 7 after F4 (80-8F next).
  std::vector<int32_t> next(8 * kN, kDead);
  auto set = [&](int32_t s, uint8_t c, int32_t to) { next[s * kN + c] = to; };
  set(0, kAscii, 0);
  set(0, kLead2, 1);
  set(0, kE0, 4);
  set(0, kE1, 2);
  set(0, kED, 5);
  set(0, kF0, 6);
  set(0, kF1, 3);
  set(0, kF4, 7);
  for (uint8_t c : {kC80, kC90, kCA0}) {
    set(1, c, 0);
    set(2, c, 1);
    set(3, c, 2);
  }
  set(4, kCA0, 1);
  set(5, kC80, 1);
  set(5, kC90, 1);
  set(6, kC90, 2);
  set(6, kCA0, 2);
  set(7, kC80, 2);
  std::vector<uint8_t> accept{1, 0, 0, 0, 0, 0, 0, 0};
  return from_table(0, kN, class_of, std::move(next), std::move(accept));
}

Result<Dfa> length_dfa(int64_t min_chars, int64_t max_chars, const DfaLimits& limits) {
  min_chars = std::max<int64_t>(min_chars, 0);
  if (max_chars >= 0 && max_chars < min_chars) return Dfa();
  // Layer k holds the eight states of the UTF-8 automaton (see Dfa::any_utf8) after k complete
  // code points; completing a code point moves to layer k+1. Unbounded: the last layer loops.
  const int64_t top = max_chars >= 0 ? max_chars : min_chars;
  if (top > limits.max_states / 8) {
    return resource_exhausted("length_dfa(" + std::to_string(min_chars) + ", " +
                              std::to_string(max_chars) + "): counting to " + std::to_string(top) +
                              " code points needs 8 states per count, more than " +
                              std::to_string(limits.max_states) +
                              " (DfaLimits.max_states); raise the limit");
  }
  const int64_t n_layers = top + 1;
  const Dfa utf8 = Dfa::any_utf8();
  const int32_t k = DfaAccess::n_classes(utf8);
  const auto& base = DfaAccess::next(utf8);
  const int32_t per = utf8.n_states();
  const auto layers = static_cast<int32_t>(n_layers);
  std::vector<int32_t> next(static_cast<size_t>(layers) * per * k, Dfa::kDead);
  std::vector<uint8_t> accept(static_cast<size_t>(layers) * per, 0);
  for (int32_t layer = 0; layer < layers; ++layer) {
    const bool last = layer == layers - 1;
    accept[static_cast<size_t>(layer) * per + utf8.start()] = layer >= min_chars;
    if (last && max_chars >= 0) continue;
    const int32_t to_layer = last ? layer : layer + 1;
    for (int32_t s = 0; s < per; ++s) {
      for (int32_t c = 0; c < k; ++c) {
        const int32_t t = base[static_cast<size_t>(s) * k + c];
        if (t == Dfa::kDead) continue;
        const int32_t dest = (t == utf8.start() ? to_layer : layer) * per + t;
        next[(static_cast<size_t>(layer) * per + s) * k + c] = dest;
      }
    }
  }
  // Already minimal: distinct layers count differently, and within a layer the states are
  // those of the minimal UTF-8 automaton.
  return Dfa::from_table(utf8.start(), k, DfaAccess::class_of(utf8), std::move(next),
                         std::move(accept), /*keep_states=*/true);
}

namespace {

// The product automaton over the reachable pairs of states; a side that has died is kDead.
Result<Dfa> product(const Dfa& a, const Dfa& b, bool unite, const DfaLimits& limits) {
  const auto& ca = DfaAccess::class_of(a);
  const auto& cb = DfaAccess::class_of(b);
  std::array<uint8_t, 256> class_of{};
  std::vector<uint8_t> rep;  // a byte of each product class
  {
    std::vector<int32_t> pair_class(256 * 256, -1);
    for (int byte = 0; byte < 256; ++byte) {
      int32_t& c = pair_class[ca[byte] * 256 + cb[byte]];
      if (c < 0) {
        c = static_cast<int32_t>(rep.size());
        rep.push_back(static_cast<uint8_t>(byte));
      }
      class_of[byte] = static_cast<uint8_t>(c);
    }
  }
  const int32_t k = static_cast<int32_t>(rep.size());
  const int64_t nb = b.n_states() + 1;
  std::unordered_map<int64_t, int32_t> id;
  std::vector<std::pair<int32_t, int32_t>> pairs;
  auto intern = [&](int32_t sa, int32_t sb) -> int32_t {
    auto [it, fresh] = id.try_emplace((sa + 1) * nb + (sb + 1), static_cast<int32_t>(pairs.size()));
    if (fresh) pairs.emplace_back(sa, sb);
    return it->second;
  };
  intern(a.start(), b.start());
  std::vector<int32_t> next;
  std::vector<uint8_t> accept;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (static_cast<int64_t>(pairs.size()) > limits.max_states) {
      return too_many_states(unite ? "union" : "intersection", limits);
    }
    const auto [sa, sb] = pairs[i];
    const bool acc_a = sa >= 0 && a.accepting(sa);
    const bool acc_b = sb >= 0 && b.accepting(sb);
    accept.push_back(unite ? (acc_a || acc_b) : (acc_a && acc_b));
    for (int32_t c = 0; c < k; ++c) {
      const int32_t ta = sa >= 0 ? a.step(sa, rep[c]) : kDead;
      const int32_t tb = sb >= 0 ? b.step(sb, rep[c]) : kDead;
      const bool dead = unite ? (ta < 0 && tb < 0) : (ta < 0 || tb < 0);
      next.push_back(dead ? kDead : intern(ta, tb));
    }
  }
  return Dfa::from_table(0, k, class_of, std::move(next), std::move(accept));
}

}  // namespace

Result<Dfa> intersect(const Dfa& a, const Dfa& b, const DfaLimits& limits) {
  if (a.empty() || b.empty()) return Dfa();
  return product(a, b, false, limits);
}

Result<Dfa> unite(const Dfa& a, const Dfa& b, const DfaLimits& limits) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return product(a, b, true, limits);
}

}  // namespace troika::constrain
