// Automata for JSON scalar texts: numbers, bounded integers with multipleOf, escaped strings.

#include <algorithm>
#include <cassert>
#include <string>
#include <unordered_map>

#include "constrain/dfa.h"
#include "constrain/dfa_internal.h"

namespace troika::constrain {

Dfa json_number_dfa() {
  Result<Dfa> d = regex_full_dfa("-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?");
  assert(d.ok());
  return d.ok() ? std::move(d).value() : Dfa();
}

namespace {

using u128 = unsigned __int128;

// The magnitudes allowed after one sign: [lo, hi] (hi unbounded when !hi_finite).
struct Magnitudes {
  bool present = false;
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool hi_finite = false;
};

enum Cmp : uint8_t { kLess, kEqual, kGreater, kDone };  // kDone: the bound no longer matters

// A state while reading a magnitude's digits: how many were read (k), how the digits compare
// with the same-length prefix of each bound, and the value modulo multiple_of.
struct DigitState {
  uint8_t neg = 0;
  uint8_t kind = 0;  // 0: no digit yet, 1: the number is "0", 2: digits
  uint8_t k = 0;
  uint8_t cmp_lo = kEqual;
  uint8_t cmp_hi = kEqual;
  uint64_t rem = 0;

  bool operator==(const DigitState&) const = default;
};

struct DigitStateHash {
  size_t operator()(const DigitState& s) const {
    const uint64_t packed = s.neg | (s.kind << 1) | (s.k << 3) | (s.cmp_lo << 9) | (s.cmp_hi << 11);
    return std::hash<uint64_t>()(packed * 0x9E3779B97F4A7C15ull ^ s.rem);
  }
};

class IntegerBuilder {
 public:
  IntegerBuilder(const Magnitudes& pos, const Magnitudes& neg, uint64_t multiple)
      : side_{pos, neg}, m_(multiple) {
    for (int i = 0; i < 2; ++i) {
      lo_[i] = std::to_string(side_[i].lo);
      hi_[i] = side_[i].hi_finite ? std::to_string(side_[i].hi) : "";
    }
  }

  // The successor of `s` on digit d, or false when no number can follow.
  bool step(DigitState s, int d, DigitState* out) const {
    const int i = s.neg;
    const Magnitudes& side = side_[i];
    if (s.kind == 1) return false;  // nothing follows a leading 0
    if (s.kind == 0 && d == 0) {
      s.kind = 1;
      *out = s;
      return true;
    }
    s.kind = 2;
    const size_t k = s.k + 1u;
    if (side.hi_finite && k > hi_[i].size()) return false;
    if (s.cmp_lo != kDone) {
      if (k > lo_[i].size()) {
        s.cmp_lo = kDone;
      } else if (s.cmp_lo == kEqual) {
        s.cmp_lo = compare(d, lo_[i][k - 1]);
      }
    }
    if (side.hi_finite && s.cmp_hi == kEqual) s.cmp_hi = compare(d, hi_[i][k - 1]);
    // With no upper bound, the length only matters until it passes the lower bound's.
    s.k = static_cast<uint8_t>(side.hi_finite || s.cmp_lo != kDone ? k : lo_[i].size() + 1);
    if (m_ > 1) s.rem = static_cast<uint64_t>((static_cast<u128>(s.rem) * 10 + d) % m_);
    *out = s;
    return true;
  }

  bool accepting(const DigitState& s) const {
    const int i = s.neg;
    const Magnitudes& side = side_[i];
    if (s.kind == 0) return false;
    if (s.kind == 1) return !s.neg && side.lo == 0;
    const size_t k = s.k;
    const bool lo_ok = s.cmp_lo == kDone || (k == lo_[i].size() && s.cmp_lo != kLess);
    const bool hi_ok =
        !side.hi_finite || k < hi_[i].size() || (k == hi_[i].size() && s.cmp_hi != kGreater);
    return lo_ok && hi_ok && (m_ <= 1 || s.rem == 0);
  }

  // Classes: 0 other bytes, 1 '-', 2..11 the digits.
  Result<Dfa> build(const DfaLimits& limits) const {
    std::array<uint8_t, 256> class_of{};
    class_of['-'] = 1;
    for (int d = 0; d < 10; ++d) class_of['0' + d] = static_cast<uint8_t>(2 + d);
    constexpr int32_t k = 12;
    std::unordered_map<DigitState, int32_t, DigitStateHash> ids;
    std::vector<DigitState> states;
    auto intern = [&](const DigitState& s) {
      auto [it, fresh] = ids.try_emplace(s, static_cast<int32_t>(states.size()) + 1);
      if (fresh) states.push_back(s);
      return it->second;
    };
    // State 0 is the start, before the sign; state i+1 is states[i].
    std::vector<int32_t> next(k, Dfa::kDead);
    std::vector<uint8_t> accept{0};
    if (side_[1].present) next[1] = intern(DigitState{.neg = 1});
    for (int d = 0; d < 10 && side_[0].present; ++d) {
      DigitState t;
      if (step(DigitState{}, d, &t)) next[2 + d] = intern(t);
    }
    for (size_t i = 0; i < states.size(); ++i) {
      if (static_cast<int64_t>(states.size()) > limits.max_states) {
        return too_many_states("integer range", limits);
      }
      const DigitState s = states[i];
      accept.push_back(accepting(s));
      next.resize(next.size() + k, Dfa::kDead);
      for (int d = 0; d < 10; ++d) {
        DigitState t;
        if (step(s, d, &t)) next[(i + 1) * k + 2 + d] = intern(t);
      }
    }
    return Dfa::from_table(0, k, class_of, std::move(next), std::move(accept));
  }

 private:
  static uint8_t compare(int d, char bound) {
    return d < bound - '0' ? kLess : d > bound - '0' ? kGreater : kEqual;
  }

  Magnitudes side_[2];
  std::string lo_[2], hi_[2];
  uint64_t m_;
};

// Every multiple of m in [lo, hi], as text; false when there are more than max_count.
bool enumerate_multiples(int64_t lo, int64_t hi, uint64_t m, size_t max_count,
                         std::vector<std::string>* out) {
  // First multiple >= lo, in 128-bit arithmetic to stay clear of overflow.
  __int128 first = static_cast<__int128>(lo) / static_cast<__int128>(m) * m;
  if (first < lo) first += m;
  for (__int128 v = first; v <= hi; v += m) {
    if (out->size() >= max_count) return false;
    out->push_back(std::to_string(static_cast<int64_t>(v)));
  }
  return true;
}

}  // namespace

Result<Dfa> json_integer_dfa(std::optional<int64_t> min, std::optional<int64_t> max,
                             int64_t multiple_of, const DfaLimits& limits) {
  if (min && max && *min > *max) return Dfa();
  const uint64_t m =
      multiple_of < 0 ? 0 - static_cast<uint64_t>(multiple_of) : static_cast<uint64_t>(multiple_of);
  // Non-negative values: magnitudes [max(min, 0), max]. Negative ones: magnitudes
  // [max(1, -max), -min], written after '-' (so "-0" never appears).
  Magnitudes pos, neg;
  pos.present = !max || *max >= 0;
  pos.lo = min && *min > 0 ? static_cast<uint64_t>(*min) : 0;
  pos.hi_finite = max.has_value();
  pos.hi = max && *max > 0 ? static_cast<uint64_t>(*max) : 0;
  neg.present = !min || *min < 0;
  neg.lo = max && *max < 0 ? 0 - static_cast<uint64_t>(*max) : 1;
  neg.hi_finite = min.has_value();
  neg.hi = min && *min < 0 ? 0 - static_cast<uint64_t>(*min) : 0;
  Result<Dfa> built = IntegerBuilder(pos, neg, m).build(limits);
  if (built.ok() || !min || !max || m <= 1) return built;
  // A large multipleOf makes the remainders outrun the limit even when the range holds few
  // multiples; those few can be listed instead.
  std::vector<std::string> texts;
  if (!enumerate_multiples(*min, *max, m, 10000, &texts)) return built;
  const Dfa trie = Dfa::literals(texts);
  return Dfa::from_table(trie.start(), DfaAccess::n_classes(trie), DfaAccess::class_of(trie),
                         DfaAccess::next(trie), DfaAccess::accept(trie));
}

namespace {

// How a value byte is written inside a JSON string: 0 raw, 1 a two-character escape,
// 2 a \u00XX escape.
int escape_kind(uint8_t b) {
  if (b == '"' || b == '\\' || b == 0x08 || b == 0x0C || b == 0x0A || b == 0x0D || b == 0x09) {
    return 1;
  }
  return b < 0x20 ? 2 : 0;
}

// The character after '\' for a two-character escape.
uint8_t short_escape(uint8_t b) {
  switch (b) {
    case 0x08:
      return 'b';
    case 0x0C:
      return 'f';
    case 0x0A:
      return 'n';
    case 0x0D:
      return 'r';
    case 0x09:
      return 't';
    default:
      return b;  // '"' and '\\'
  }
}

}  // namespace

Result<Dfa> json_string_dfa(const Dfa& value, const DfaLimits& limits) {
  if (value.empty()) return Dfa();
  const int32_t n = value.n_states();
  // Text states: 0 before the opening quote, 1 after the closing one, then for each value state
  // s: the state itself and, where s has escaped transitions, the states inside its escapes:
  // after "\", "\u", "\u0", "\u00", "\u000", "\u001".
  constexpr int kParts = 7;
  std::vector<int32_t> part(static_cast<size_t>(n) * kParts, -1);
  int32_t n_text = 2;
  for (int32_t s = 0; s < n; ++s) {
    part[s * kParts] = n_text++;
    bool any_escape = false, any_u = false;
    for (int b = 0; b < 0x100; ++b) {
      if (value.step(s, static_cast<uint8_t>(b)) == Dfa::kDead) continue;
      any_escape = any_escape || escape_kind(static_cast<uint8_t>(b)) != 0;
      any_u = any_u || escape_kind(static_cast<uint8_t>(b)) == 2;
    }
    const int parts = any_u ? kParts : any_escape ? 2 : 1;
    for (int p = 1; p < parts; ++p) part[s * kParts + p] = n_text++;
  }
  if (n_text > limits.max_states) return too_many_states("JSON string", limits);
  // The text's byte classes refine the value's by the bytes with a role in escapes.
  const auto& vclass = DfaAccess::class_of(value);
  std::array<uint8_t, 256> class_of{};
  std::vector<uint8_t> rep;
  {
    std::vector<int32_t> seen(256 * 257, -1);
    for (int b = 0; b < 256; ++b) {
      const bool special = b < 0x20 || b == '"' || b == '\\' || b == 'u' || b == 'b' || b == 'f' ||
                           b == 'n' || b == 'r' || b == 't' || (b >= '0' && b <= '9') ||
                           (b >= 'a' && b <= 'f');
      int32_t& c = seen[vclass[b] * 257 + (special ? b : 256)];
      if (c < 0) {
        c = static_cast<int32_t>(rep.size());
        rep.push_back(static_cast<uint8_t>(b));
      }
      class_of[b] = static_cast<uint8_t>(c);
    }
  }
  const int32_t k = static_cast<int32_t>(rep.size());
  std::vector<int32_t> next(static_cast<size_t>(n_text) * k, Dfa::kDead);
  std::vector<uint8_t> accept(n_text, 0);
  accept[1] = 1;
  auto text = [&](int32_t s) { return s == Dfa::kDead ? Dfa::kDead : part[s * kParts]; };
  auto hex = [](int v) { return static_cast<uint8_t>(v < 10 ? '0' + v : 'a' + v - 10); };
  for (int32_t c = 0; c < k; ++c) {
    if (rep[c] == '"') next[c] = text(value.start());
  }
  for (int32_t s = 0; s < n; ++s) {
    const int32_t* p = &part[s * kParts];
    auto set = [&](int32_t from, uint8_t byte, int32_t to) {
      if (from >= 0 && to != Dfa::kDead) next[static_cast<size_t>(from) * k + class_of[byte]] = to;
    };
    for (int b = 0; b < 0x100; ++b) {
      const auto byte = static_cast<uint8_t>(b);
      const int32_t to = text(value.step(s, byte));
      switch (escape_kind(byte)) {
        case 0:
          set(p[0], byte, to);
          break;
        case 1:
          set(p[1], short_escape(byte), to);
          break;
        default:
          set(p[5 + (b >> 4)], hex(b & 0xF), to);
          break;
      }
    }
    if (p[1] >= 0) set(p[0], '\\', p[1]);
    if (p[2] >= 0) {
      set(p[1], 'u', p[2]);
      set(p[2], '0', p[3]);
      set(p[3], '0', p[4]);
      set(p[4], '0', p[5]);
      set(p[4], '1', p[6]);
    }
    if (value.accepting(s)) set(p[0], '"', 1);
  }
  return Dfa::from_table(0, k, class_of, std::move(next), std::move(accept));
}

}  // namespace troika::constrain
