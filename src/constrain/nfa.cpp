// Byte-level NFA fragments, UTF-8 range compilation and the subset construction.

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "constrain/dfa_internal.h"

namespace troika::constrain {

using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;

Nfa::Frag Nfa::empty() {
  const Frag f{add_state(), add_state()};
  add_eps(f.in, f.out);
  return f;
}

Nfa::Frag Nfa::assertion(EdgeKind kind) {
  const Frag f{add_state(), add_state()};
  add_eps(f.in, f.out, kind);
  return f;
}

Nfa::Frag Nfa::bytes(uint8_t lo, uint8_t hi) {
  const Frag f{add_state(), add_state()};
  add_edge(f.in, f.out, lo, hi);
  return f;
}

Nfa::Frag Nfa::literal(std::string_view text) {
  const int32_t in = add_state();
  int32_t at = in;
  for (char ch : text) {
    const int32_t to = add_state();
    add_edge(at, to, static_cast<uint8_t>(ch), static_cast<uint8_t>(ch));
    at = to;
  }
  if (at != in) return {in, at};
  const int32_t out = add_state();
  add_eps(in, out);
  return {in, out};
}

Nfa::Frag Nfa::sequences(const std::vector<ByteSeq>& seqs) {
  const Frag f{add_state(), add_state()};
  // Sequences that share leading byte ranges share states (a trie), which keeps large classes
  // like \S small.
  struct Child {
    int32_t parent;
    uint8_t lo, hi;
    int32_t state;
  };
  std::vector<Child> children;
  for (const ByteSeq& seq : seqs) {
    int32_t at = f.in;
    for (size_t i = 0; i + 1 < seq.size(); ++i) {
      const auto lo = seq[i].first, hi = seq[i].second;
      auto it = std::find_if(children.begin(), children.end(), [&](const Child& c) {
        return c.parent == at && c.lo == lo && c.hi == hi;
      });
      if (it == children.end()) {
        const int32_t to = add_state();
        add_edge(at, to, lo, hi);
        children.push_back({at, lo, hi, to});
        at = to;
      } else {
        at = it->state;
      }
    }
    add_edge(at, f.out, seq.back().first, seq.back().second);
  }
  return f;
}

Nfa::Frag Nfa::code_points(const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
  std::vector<ByteSeq> seqs;
  for (const auto& [lo, hi] : ranges) utf8_sequences(lo, hi, &seqs);
  return sequences(seqs);
}

Nfa::Frag Nfa::concat(Frag a, Frag b) {
  add_eps(a.out, b.in);
  return {a.in, b.out};
}

Nfa::Frag Nfa::alt(const std::vector<Frag>& branches) {
  const Frag f{add_state(), add_state()};
  for (const Frag& b : branches) {
    add_eps(f.in, b.in);
    add_eps(b.out, f.out);
  }
  return f;
}

Nfa::Frag Nfa::opt(Frag x) {
  const Frag f{add_state(), add_state()};
  add_eps(f.in, x.in);
  add_eps(x.out, f.out);
  add_eps(f.in, f.out);
  return f;
}

Nfa::Frag Nfa::star(Frag x) {
  const Frag f = plus(x);
  add_eps(f.in, f.out);
  return f;
}

Nfa::Frag Nfa::plus(Frag x) {
  const Frag f{add_state(), add_state()};
  add_eps(f.in, x.in);
  add_eps(x.out, x.in);
  add_eps(x.out, f.out);
  return f;
}

Nfa::Frag Nfa::embed(const Dfa& dfa) {
  const Frag f{add_state(), add_state()};
  if (dfa.empty()) return f;
  const int32_t base = n_states_;
  n_states_ += dfa.n_states();
  add_eps(f.in, base + dfa.start());
  for (int32_t s = 0; s < dfa.n_states(); ++s) {
    if (dfa.accepting(s)) add_eps(base + s, f.out);
    int lo = 0;
    while (lo < 256) {
      const int32_t to = dfa.step(s, static_cast<uint8_t>(lo));
      int hi = lo;
      while (hi + 1 < 256 && dfa.step(s, static_cast<uint8_t>(hi + 1)) == to) ++hi;
      if (to != Dfa::kDead) {
        add_edge(base + s, base + to, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
      }
      lo = hi + 1;
    }
  }
  return f;
}

namespace {

int utf8_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void encode(uint32_t cp, int n, uint8_t* out) {
  if (n == 1) {
    out[0] = static_cast<uint8_t>(cp);
    return;
  }
  static constexpr uint8_t kLead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  for (int i = n - 1; i > 0; --i) {
    out[i] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    cp >>= 6;
  }
  out[0] = static_cast<uint8_t>(kLead[n] | cp);
}

}  // namespace

void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>* out) {
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  if (lo > hi) return;
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) utf8_sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF) utf8_sequences(0xE000, hi, out);
    return;
  }
  // Split the range until each piece is a product of per-byte ranges: first at the boundaries
  // between encoding lengths, then wherever a trailing byte would not span its full 80-BF.
  std::vector<std::pair<uint32_t, uint32_t>> stack{{lo, hi}};
  while (!stack.empty()) {
    const auto [s, e] = stack.back();
    stack.pop_back();
    bool split = false;
    for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
      if (s <= max && e > max) {
        stack.push_back({max + 1, e});
        stack.push_back({s, max});
        split = true;
        break;
      }
    }
    const int n = utf8_length(s);
    for (int i = 1; i < n && !split; ++i) {
      const uint32_t m = (1u << (6 * i)) - 1;
      if ((s & ~m) == (e & ~m)) continue;
      if ((s & m) != 0) {
        stack.push_back({(s | m) + 1, e});
        stack.push_back({s, s | m});
        split = true;
      } else if ((e & m) != m) {
        stack.push_back({e & ~m, e});
        stack.push_back({s, (e & ~m) - 1});
        split = true;
      }
    }
    if (split) continue;
    uint8_t a[4], b[4];
    encode(s, n, a);
    encode(e, n, b);
    ByteSeq seq;
    for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
    out->push_back(std::move(seq));
  }
}

namespace {

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// The NFA's edges grouped by source state, with the epsilon closure over them.
class Graph {
 public:
  explicit Graph(const Nfa& nfa) : n_(nfa.n_states()), begin_(n_ + 1, 0), stamp_(n_, 0) {
    const auto& edges = nfa.edges();
    for (const auto& e : edges) ++begin_[e.from + 1];
    std::partial_sum(begin_.begin(), begin_.end(), begin_.begin());
    edges_.resize(edges.size());
    std::vector<int32_t> fill(begin_.begin(), begin_.end() - 1);
    for (const auto& e : edges) edges_[fill[e.from]++] = e;
  }

  const Nfa::Edge* begin(int32_t s) const { return edges_.data() + begin_[s]; }
  const Nfa::Edge* end(int32_t s) const { return edges_.data() + begin_[s + 1]; }

  // The states reachable from `seeds` through epsilon edges (and kBos edges when `at_start`),
  // sorted, into *out.
  void closure(const std::vector<int32_t>& seeds, bool at_start, std::vector<int32_t>* out) {
    ++generation_;
    out->clear();
    for (int32_t s : seeds) push(s, &stack_);
    while (!stack_.empty()) {
      const int32_t s = stack_.back();
      stack_.pop_back();
      out->push_back(s);
      for (const auto* e = begin(s); e != end(s); ++e) {
        if (e->kind == Nfa::EdgeKind::kEps || (at_start && e->kind == Nfa::EdgeKind::kBos)) {
          push(e->to, &stack_);
        }
      }
    }
    std::sort(out->begin(), out->end());
  }

  // Whether `target` is reachable from `from` through non-byte edges of the given kinds.
  bool reaches(int32_t from, int32_t target, bool bos) {
    ++generation_;
    std::vector<int32_t> stack;
    push(from, &stack);
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      if (s == target) return true;
      for (const auto* e = begin(s); e != end(s); ++e) {
        if (e->kind == Nfa::EdgeKind::kEps || e->kind == Nfa::EdgeKind::kEos ||
            (bos && e->kind == Nfa::EdgeKind::kBos)) {
          push(e->to, &stack);
        }
      }
    }
    return false;
  }

  // For each state, whether acceptance is reachable through epsilon and kEos edges only (what
  // may still happen once the input has ended, away from its start).
  std::vector<uint8_t> can_finish(int32_t accept) const {
    std::vector<std::vector<int32_t>> rev(n_);
    for (const auto& e : edges_) {
      if (e.kind == Nfa::EdgeKind::kEps || e.kind == Nfa::EdgeKind::kEos) {
        rev[e.to].push_back(e.from);
      }
    }
    std::vector<uint8_t> ok(n_, 0);
    std::vector<int32_t> stack{accept};
    ok[accept] = 1;
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      for (int32_t p : rev[s]) {
        if (!ok[p]) {
          ok[p] = 1;
          stack.push_back(p);
        }
      }
    }
    return ok;
  }

 private:
  void push(int32_t s, std::vector<int32_t>* stack) {
    if (stamp_[s] == generation_) return;
    stamp_[s] = generation_;
    stack->push_back(s);
  }

  int32_t n_;
  std::vector<int32_t> begin_;
  std::vector<Nfa::Edge> edges_;
  std::vector<uint32_t> stamp_;
  uint32_t generation_ = 0;
  std::vector<int32_t> stack_;
};

}  // namespace

Result<Dfa> determinize(const Nfa& nfa, int32_t start, int32_t accept, const DfaLimits& limits,
                        const DeterminizeOptions& options) {
  if (nfa.overflowed()) return too_many_states(options.what, limits);
  Graph graph(nfa);
  // Byte classes: the intervals between the ends of all byte ranges.
  std::array<bool, 257> cut{};
  for (const auto& e : nfa.edges()) {
    if (e.kind != Nfa::EdgeKind::kByte) continue;
    cut[e.lo] = true;
    cut[e.hi + 1] = true;
  }
  std::array<uint8_t, 256> class_of{};
  int32_t n_classes = 0;
  for (int b = 0; b < 256; ++b) {
    if (b == 0 || cut[b]) ++n_classes;
    class_of[b] = static_cast<uint8_t>(n_classes - 1);
  }
  const std::vector<uint8_t> can_finish = graph.can_finish(accept);
  std::vector<int32_t> universal_set;
  if (options.universal >= 0) graph.closure({options.universal}, false, &universal_set);
  auto collapse = [&](std::vector<int32_t>* set) {
    if (options.universal >= 0 && std::binary_search(set->begin(), set->end(), options.universal)) {
      *set = universal_set;
    }
  };

  // The start subset is never shared with a later one: at the start, kBos edges hold and
  // acceptance may pass through both kinds of assertion.
  std::vector<int32_t> start_set;
  graph.closure({start}, true, &start_set);
  collapse(&start_set);
  // The subset of each DFA state; later ones point at the map's keys, which never move.
  std::vector<const std::vector<int32_t>*> sets{&start_set};
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> ids;
  std::vector<int32_t> next;
  std::vector<uint8_t> accepting{graph.reaches(start, accept, true) ? uint8_t{1} : uint8_t{0}};

  std::vector<std::vector<int32_t>> buckets(n_classes);
  std::vector<int32_t> touched, set;
  for (size_t d = 0; d < sets.size(); ++d) {
    if (static_cast<int64_t>(sets.size()) > limits.max_states) {
      return too_many_states(options.what, limits);
    }
    for (int32_t s : *sets[d]) {
      for (const auto* e = graph.begin(s); e != graph.end(s); ++e) {
        if (e->kind != Nfa::EdgeKind::kByte) continue;
        for (int32_t c = class_of[e->lo]; c <= class_of[e->hi]; ++c) {
          if (buckets[c].empty()) touched.push_back(c);
          buckets[c].push_back(e->to);
        }
      }
    }
    next.resize(next.size() + n_classes, Dfa::kDead);
    for (int32_t c : touched) {
      graph.closure(buckets[c], false, &set);
      buckets[c].clear();
      collapse(&set);
      auto [it, fresh] = ids.try_emplace(set, static_cast<int32_t>(sets.size()));
      if (fresh) {
        bool acc = false;
        for (int32_t s : set) acc = acc || can_finish[s];
        accepting.push_back(acc ? 1 : 0);
        sets.push_back(&it->first);
      }
      next[d * n_classes + c] = it->second;
    }
    touched.clear();
  }
  return Dfa::from_table(0, n_classes, class_of, std::move(next), std::move(accepting));
}

Result<Dfa> concat_dfas(const std::vector<const Dfa*>& parts, const DfaLimits& limits,
                        std::string_view what) {
  Nfa nfa(INT32_MAX / 2);
  Nfa::Frag whole = nfa.empty();
  for (const Dfa* part : parts) whole = nfa.concat(whole, nfa.embed(*part));
  DeterminizeOptions options;
  options.what = std::string(what);
  return determinize(nfa, whole.in, whole.out, limits, options);
}

}  // namespace troika::constrain
