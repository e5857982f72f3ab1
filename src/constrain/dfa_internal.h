// Machinery shared by the Dfa builders (not part of the public contract): raw table access, a
// byte-level NFA built from Thompson fragments, and the subset construction that turns it into a
// trimmed, minimised Dfa.
//
// Thread safety: an Nfa is a plain value built and consumed by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "constrain/dfa.h"

namespace troika::constrain {

// Read access to a Dfa's tables for the constructions that work on them directly.
struct DfaAccess {
  static int32_t n_classes(const Dfa& d) { return d.n_classes_; }
  static const std::array<uint8_t, 256>& class_of(const Dfa& d) { return d.class_of_; }
  static const std::vector<int32_t>& next(const Dfa& d) { return d.next_; }
  static const std::vector<uint8_t>& accept(const Dfa& d) { return d.accept_; }
};

// A nondeterministic automaton over bytes. Edges carry a byte range, or are epsilon edges, or
// are assertions: kBos may be taken only before the first byte, kEos only after the last.
class Nfa {
 public:
  enum class EdgeKind : uint8_t { kByte, kEps, kBos, kEos };
  struct Edge {
    int32_t from;
    int32_t to;
    uint8_t lo;
    uint8_t hi;
    EdgeKind kind;
  };
  // A piece of automaton with one entry and one exit. Every builder below keeps `in` free of
  // incoming edges and `out` free of outgoing ones, which is what makes Thompson's
  // constructions compose without sharing states.
  struct Frag {
    int32_t in;
    int32_t out;
  };

  // `max_states` bounds the automaton; past it overflowed() turns true and builders should stop.
  explicit Nfa(int64_t max_states) : max_states_(max_states) {}

  int32_t n_states() const { return n_states_; }
  bool overflowed() const { return n_states_ > max_states_; }
  const std::vector<Edge>& edges() const { return edges_; }

  int32_t add_state() { return n_states_++; }
  void add_edge(int32_t from, int32_t to, uint8_t lo, uint8_t hi) {
    edges_.push_back({from, to, lo, hi, EdgeKind::kByte});
  }
  void add_eps(int32_t from, int32_t to, EdgeKind kind = EdgeKind::kEps) {
    edges_.push_back({from, to, 0, 0, kind});
  }

  Frag empty();                         // the empty string
  Frag assertion(EdgeKind kind);        // ^ (kBos) or $ (kEos)
  Frag bytes(uint8_t lo, uint8_t hi);   // one byte in [lo, hi]
  Frag literal(std::string_view text);  // exactly `text`
  // One byte string per element: consecutive byte ranges (a UTF-8 sequence pattern).
  Frag sequences(const std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& seqs);
  // The code points in [lo, hi] (surrogates excluded) as well-formed UTF-8.
  Frag code_points(const std::vector<std::pair<uint32_t, uint32_t>>& ranges);
  Frag concat(Frag a, Frag b);
  Frag alt(const std::vector<Frag>& branches);
  Frag opt(Frag f);
  Frag star(Frag f);
  Frag plus(Frag f);
  // A copy of `dfa`'s language (empty language: a fragment with no path from in to out).
  Frag embed(const Dfa& dfa);

 private:
  int64_t max_states_;
  int32_t n_states_ = 0;
  std::vector<Edge> edges_;
};

// The UTF-8 byte-range sequences that encode exactly the scalar values in [lo, hi] (surrogates
// D800-DFFF excluded), each sequence a list of per-byte ranges.
void utf8_sequences(uint32_t lo, uint32_t hi,
                    std::vector<std::vector<std::pair<uint8_t, uint8_t>>>* out);

struct DeterminizeOptions {
  // A state whose language is every well-formed UTF-8 string from a character boundary (the
  // `.*` after an unanchored pattern): subsets holding it collapse to it. -1: none.
  int32_t universal = -1;
  // Names the construction in error messages ("regex", "format 'date'").
  std::string what = "automaton";
};

// Subset construction from `start` to `accept`, then trimming and minimisation.
// Errors: resource_exhausted when the subset automaton exceeds limits.max_states.
Result<Dfa> determinize(const Nfa& nfa, int32_t start, int32_t accept, const DfaLimits& limits,
                        const DeterminizeOptions& options = {});

// The concatenation of the parts' languages, in order.
// Errors: resource_exhausted past limits.
Result<Dfa> concat_dfas(const std::vector<const Dfa*>& parts, const DfaLimits& limits,
                        std::string_view what);

// The error every construction returns when it would exceed limits.max_states.
Status too_many_states(std::string_view what, const DfaLimits& limits);

}  // namespace troika::constrain
