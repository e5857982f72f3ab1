// ECMA-262 regular expressions (the subset documented in dfa.h) to Dfas.
//
// The pattern is parsed into a small AST over code points, compiled to a byte-level Thompson
// NFA (code point ranges become UTF-8 byte-range sequences), then determinised and minimised.

#include <algorithm>
#include <string>

#include "constrain/dfa.h"
#include "constrain/dfa_internal.h"

namespace troika::constrain {
namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;  // code point ranges, inclusive

constexpr uint32_t kMaxCp = 0x10FFFF;
constexpr int kMaxDepth = 256;          // nested groups; deeper patterns are refused
constexpr int64_t kMaxCount = 1 << 30;  // {n,m} counts saturate here (and then exceed limits)

struct Node {
  enum class Kind : uint8_t { kEmpty, kSet, kConcat, kAlt, kRepeat, kBos, kEos };
  Kind kind = Kind::kEmpty;
  Ranges set;                 // kSet: sorted, disjoint, non-adjacent
  std::vector<int32_t> kids;  // kConcat, kAlt; kRepeat has one
  int64_t min = 0;            // kRepeat
  int64_t max = 0;            // kRepeat; < 0 unbounded
};

Ranges normalise(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (const auto& [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

// REQUIRES: r normalised.
Ranges complement(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCp) out.emplace_back(next, kMaxCp);
  return out;
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMA-262 WhiteSpace and LineTerminator.
const Ranges kSpace = {{0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                       {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                       {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const Ranges kLineTerminators = {{0x0A, 0x0A}, {0x0D, 0x0D}, {0x2028, 0x2029}};

// A class atom: one code point (which may start a range) or a class escape like \d.
struct ClassAtom {
  bool is_set = false;
  uint32_t cp = 0;
  Ranges set;
};

class Parser {
 public:
  explicit Parser(std::string_view pattern) : pattern_(pattern) {}

  // The root node, or -1 with status() set.
  int32_t parse() {
    if (!decode()) return -1;
    const int32_t root = parse_alt();
    if (root < 0) return -1;
    if (!eof()) return fail(invalid_argument(where("unmatched ')'", pos_)));
    return root;
  }
  const Status& status() const { return status_; }
  const std::vector<Node>& nodes() const { return nodes_; }

 private:
  bool decode() {
    size_t i = 0;
    while (i < pattern_.size()) {
      const auto b = static_cast<uint8_t>(pattern_[i]);
      int n = b < 0x80             ? 1
              : (b & 0xE0) == 0xC0 ? 2
              : (b & 0xF0) == 0xE0 ? 3
              : (b & 0xF8) == 0xF0 ? 4
                                   : 0;
      uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
      bool ok = n > 0 && i + n <= pattern_.size();
      for (int j = 1; ok && j < n; ++j) {
        const auto c = static_cast<uint8_t>(pattern_[i + j]);
        ok = (c & 0xC0) == 0x80;
        cp = (cp << 6) | (c & 0x3F);
      }
      static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
      ok = ok && cp >= kMinForLength[n] && cp <= kMaxCp && (cp < 0xD800 || cp > 0xDFFF);
      if (!ok) {
        fail(invalid_argument("regex: the pattern is not valid UTF-8 at byte offset " +
                              std::to_string(i)));
        return false;
      }
      cps_.push_back(cp);
      offsets_.push_back(i);
      i += n;
    }
    offsets_.push_back(pattern_.size());
    return true;
  }

  bool eof() const { return pos_ >= cps_.size(); }
  uint32_t peek(size_t ahead = 0) const {
    return pos_ + ahead < cps_.size() ? cps_[pos_ + ahead] : 0xFFFFFFFF;
  }
  bool accept(uint32_t c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  std::string where(std::string_view what, size_t at) const {
    std::string shown(pattern_.substr(0, 120));
    if (pattern_.size() > 120) shown += "...";
    return "regex /" + shown + "/: " + std::string(what) + " at offset " +
           std::to_string(offsets_[std::min(at, cps_.size())]);
  }
  int32_t fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
    return -1;
  }
  int32_t unsupported(std::string_view what, size_t at) {
    return fail(unimplemented(where(std::string(what) + " is not supported", at)));
  }
  // The same failures for the parts that answer with a bool.
  bool bad(std::string_view what, size_t at) {
    fail(invalid_argument(where(what, at)));
    return false;
  }
  bool refuse(std::string_view what, size_t at) {
    unsupported(what, at);
    return false;
  }
  int32_t add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int32_t>(nodes_.size()) - 1;
  }
  int32_t add_set(Ranges r) {
    Node n;
    n.kind = Node::Kind::kSet;
    n.set = normalise(std::move(r));
    return add(std::move(n));
  }

  int32_t parse_alt() {
    if (++depth_ > kMaxDepth) {
      return fail(resource_exhausted(where("groups nested deeper than 256", pos_)));
    }
    Node alt;
    alt.kind = Node::Kind::kAlt;
    while (true) {
      const int32_t branch = parse_seq();
      if (branch < 0) return -1;
      alt.kids.push_back(branch);
      if (!accept('|')) break;
    }
    --depth_;
    return alt.kids.size() == 1 ? alt.kids[0] : add(std::move(alt));
  }

  int32_t parse_seq() {
    Node seq;
    seq.kind = Node::Kind::kConcat;
    while (!eof() && peek() != '|' && peek() != ')') {
      int32_t atom = parse_atom();
      if (atom < 0) return -1;
      int64_t min = 0, max = 0;
      const size_t quant_at = pos_;
      const int q = parse_quantifier(&min, &max);
      if (q < 0) return -1;
      if (q > 0) {
        const Node::Kind kind = nodes_[atom].kind;
        if (kind == Node::Kind::kBos || kind == Node::Kind::kEos) {
          return fail(invalid_argument(where("quantifier on an assertion", quant_at)));
        }
        accept('?');  // lazy: the same language
        Node rep;
        rep.kind = Node::Kind::kRepeat;
        rep.kids = {atom};
        rep.min = min;
        rep.max = max;
        atom = add(std::move(rep));
        int64_t ignored_min, ignored_max;
        const size_t again = pos_;
        const int q2 = parse_quantifier(&ignored_min, &ignored_max);
        if (q2 != 0) return fail(invalid_argument(where("nothing to repeat", again)));
      }
      seq.kids.push_back(atom);
    }
    if (seq.kids.empty()) return add(Node{});
    return seq.kids.size() == 1 ? seq.kids[0] : add(std::move(seq));
  }

  // 1 and the bounds when a quantifier starts here (consumed), 0 when none, -1 on error.
  int parse_quantifier(int64_t* min, int64_t* max) {
    const uint32_t c = peek();
    if (c == '*' || c == '+' || c == '?') {
      ++pos_;
      *min = c == '+' ? 1 : 0;
      *max = c == '?' ? 1 : -1;
      return 1;
    }
    if (c != '{') return 0;
    size_t p = pos_ + 1;
    auto number = [&](int64_t* v) {
      const size_t from = p;
      *v = 0;
      while (p < cps_.size() && cps_[p] >= '0' && cps_[p] <= '9') {
        *v = std::min<int64_t>(*v * 10 + (cps_[p] - '0'), kMaxCount);
        ++p;
      }
      return p > from;
    };
    // Annex B: a '{' that does not open a well-formed quantifier is a literal.
    if (!number(min)) return 0;
    *max = *min;
    if (p < cps_.size() && cps_[p] == ',') {
      ++p;
      if (!number(max)) *max = -1;
    }
    if (p >= cps_.size() || cps_[p] != '}') return 0;
    if (*max >= 0 && *max < *min) {
      fail(invalid_argument(where("quantifier with its maximum below its minimum", pos_)));
      return -1;
    }
    pos_ = p + 1;
    return 1;
  }

  int32_t parse_atom() {
    const size_t at = pos_;
    const uint32_t c = peek();
    switch (c) {
      case '(':
        return parse_group();
      case '[':
        return parse_class();
      case '.':
        ++pos_;
        return add_set(complement(kLineTerminators));
      case '^':
      case '$': {
        ++pos_;
        Node n;
        n.kind = c == '^' ? Node::Kind::kBos : Node::Kind::kEos;
        return add(std::move(n));
      }
      case '*':
      case '+':
      case '?':
        return fail(invalid_argument(where("nothing to repeat", at)));
      case '{': {
        int64_t min, max;
        const int q = parse_quantifier(&min, &max);
        if (q != 0) return q < 0 ? -1 : fail(invalid_argument(where("nothing to repeat", at)));
        ++pos_;
        return add_set({{c, c}});
      }
      case '\\': {
        ClassAtom a;
        if (!parse_escape(false, &a)) return -1;
        return a.is_set ? add_set(std::move(a.set)) : add_set({{a.cp, a.cp}});
      }
      default:
        ++pos_;
        return add_set({{c, c}});
    }
  }

  int32_t parse_group() {
    const size_t open = pos_++;
    if (accept('?')) {
      if (accept(':')) {
      } else if (peek() == '=' || peek() == '!') {
        return unsupported(peek() == '=' ? "lookahead (?=" : "negative lookahead (?!", open);
      } else if (accept('<')) {
        if (peek() == '=' || peek() == '!') {
          return unsupported(peek() == '=' ? "lookbehind (?<=" : "negative lookbehind (?<!", open);
        }
        const size_t name_at = pos_;
        while (!eof() && peek() != '>') {
          const uint32_t n = peek();
          const bool ok = n == '_' || n == '$' || (n >= 'a' && n <= 'z') ||
                          (n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9' && pos_ > name_at) ||
                          n >= 0x80;
          if (!ok) return fail(invalid_argument(where("bad group name", pos_)));
          ++pos_;
        }
        if (pos_ == name_at || !accept('>')) {
          return fail(invalid_argument(where("bad group name", name_at)));
        }
      } else {
        return fail(invalid_argument(where("unknown group syntax (?", open)));
      }
    }
    const int32_t inner = parse_alt();
    if (inner < 0) return -1;
    if (!accept(')')) return fail(invalid_argument(where("unterminated group", open)));
    return inner;
  }

  int32_t parse_class() {
    const size_t open = pos_++;
    const bool negate = accept('^');
    Ranges ranges;
    auto add_atom = [&](const ClassAtom& a) {
      if (a.is_set) {
        ranges.insert(ranges.end(), a.set.begin(), a.set.end());
      } else {
        ranges.emplace_back(a.cp, a.cp);
      }
    };
    while (true) {
      if (eof()) return fail(invalid_argument(where("unterminated character class", open)));
      if (accept(']')) break;
      ClassAtom a;
      if (!parse_class_atom(&a)) return -1;
      if (peek() == '-' && peek(1) != ']' && peek(1) != 0xFFFFFFFF) {
        const size_t dash = pos_++;
        ClassAtom b;
        if (!parse_class_atom(&b)) return -1;
        if (a.is_set || b.is_set) {  // Annex B: [\d-z] is \d, '-' and 'z'
          add_atom(a);
          ranges.emplace_back('-', '-');
          add_atom(b);
        } else if (a.cp > b.cp) {
          return fail(invalid_argument(where("character class range out of order", dash)));
        } else {
          ranges.emplace_back(a.cp, b.cp);
        }
      } else {
        add_atom(a);
      }
    }
    ranges = normalise(std::move(ranges));
    return add_set(negate ? complement(ranges) : std::move(ranges));
  }

  bool parse_class_atom(ClassAtom* a) {
    if (peek() == '\\') return parse_escape(true, a);
    a->cp = peek();
    ++pos_;
    return true;
  }

  static int hex_value(uint32_t c) {
    if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
    return -1;
  }
  // Exactly n hex digits here, or -1 (nothing consumed).
  int64_t hex_digits(int n) {
    int64_t v = 0;
    for (int i = 0; i < n; ++i) {
      const int h = hex_value(peek(i));
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    pos_ += n;
    return v;
  }

  // An escape at '\\': a code point or a class escape. False with status set on error.
  bool parse_escape(bool in_class, ClassAtom* a) {
    const size_t at = pos_++;
    if (eof()) return bad("\\ at the end of the pattern", at);
    const uint32_t c = peek();
    ++pos_;
    auto set = [&](const Ranges& r, bool negate) {
      a->is_set = true;
      a->set = negate ? complement(r) : r;
      return true;
    };
    auto cp = [&](uint32_t v) {
      a->cp = v;
      return true;
    };
    switch (c) {
      case 'd':
        return set(kDigit, false);
      case 'D':
        return set(kDigit, true);
      case 'w':
        return set(kWord, false);
      case 'W':
        return set(kWord, true);
      case 's':
        return set(kSpace, false);
      case 'S':
        return set(kSpace, true);
      case 'n':
        return cp('\n');
      case 'r':
        return cp('\r');
      case 't':
        return cp('\t');
      case 'f':
        return cp('\f');
      case 'v':
        return cp('\v');
      case 'b':
        if (in_class) return cp('\b');
        return refuse("word boundary \\b", at);
      case 'B':
        if (in_class) return bad("\\B in a character class", at);
        return refuse("word boundary \\B", at);
      case 'p':
      case 'P':
        return refuse("Unicode property escape \\" + std::string(1, static_cast<char>(c)), at);
      case 'k':
        return refuse("named backreference \\k", at);
      case 'c': {
        const uint32_t l = peek();
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z'))) {
          return bad("\\c must be followed by a letter", at);
        }
        ++pos_;
        return cp(l % 32);
      }
      case 'x': {
        const int64_t v = hex_digits(2);
        if (v < 0) return bad("\\x needs two hex digits", at);
        return cp(static_cast<uint32_t>(v));
      }
      case 'u':
        return parse_unicode_escape(at, a);
      case '0':
        if (peek() >= '0' && peek() <= '9') return refuse("octal escape", at);
        return cp(0);
      default:
        break;
    }
    if (c >= '1' && c <= '9') return refuse("backreference \\" + std::string(1, char(c)), at);
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || c == '_') {
      return bad("unknown escape \\" + std::string(1, char(c)), at);
    }
    return cp(c);  // an escaped metacharacter or other punctuation stands for itself
  }

  bool parse_unicode_escape(size_t at, ClassAtom* a) {
    if (accept('{')) {
      int64_t v = 0;
      const size_t from = pos_;
      while (hex_value(peek()) >= 0) {
        v = std::min<int64_t>(v * 16 + hex_value(peek()), kMaxCp + 1);
        ++pos_;
      }
      if (pos_ == from || !accept('}') || v > kMaxCp) {
        return bad("bad \\u{...} escape", at);
      }
      a->cp = static_cast<uint32_t>(v);
      return true;
    }
    int64_t v = hex_digits(4);
    if (v < 0) return bad("\\u needs four hex digits", at);
    // A surrogate pair written as two escapes is one code point; a lone surrogate cannot occur
    // in UTF-8 text, so it is kept as is and matches nothing.
    if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
      const size_t save = pos_;
      pos_ += 2;
      const int64_t low = hex_digits(4);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
      } else {
        pos_ = save;
      }
    }
    a->cp = static_cast<uint32_t>(v);
    return true;
  }

  std::string_view pattern_;
  std::vector<uint32_t> cps_;
  std::vector<size_t> offsets_;  // byte offset of each code point, plus the end
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<Node> nodes_;
  Status status_;
};

class Compiler {
 public:
  Compiler(Nfa* nfa, const std::vector<Node>& nodes) : nfa_(*nfa), nodes_(nodes) {}

  // Stops adding states once the NFA has overflowed; determinize() then reports it.
  Nfa::Frag compile(int32_t id) {
    if (nfa_.overflowed()) return {0, 0};
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Node::Kind::kEmpty:
        return nfa_.empty();
      case Node::Kind::kSet:
        return nfa_.code_points(n.set);
      case Node::Kind::kBos:
        return nfa_.assertion(Nfa::EdgeKind::kBos);
      case Node::Kind::kEos:
        return nfa_.assertion(Nfa::EdgeKind::kEos);
      case Node::Kind::kConcat: {
        Nfa::Frag f = compile(n.kids[0]);
        for (size_t i = 1; i < n.kids.size() && !nfa_.overflowed(); ++i) {
          f = nfa_.concat(f, compile(n.kids[i]));
        }
        return f;
      }
      case Node::Kind::kAlt: {
        std::vector<Nfa::Frag> branches;
        for (int32_t kid : n.kids) branches.push_back(compile(kid));
        return nfa_.alt(branches);
      }
      case Node::Kind::kRepeat:
        return repeat(n.kids[0], n.min, n.max);
    }
    return nfa_.empty();
  }

 private:
  Nfa::Frag repeat(int32_t kid, int64_t min, int64_t max) {
    Nfa::Frag f = nfa_.empty();
    for (int64_t i = 0; i < min && !nfa_.overflowed(); ++i) f = nfa_.concat(f, compile(kid));
    if (max < 0) return nfa_.concat(f, nfa_.star(compile(kid)));
    if (max == min || nfa_.overflowed()) return f;
    // x{0,k} as a chain of k copies with a way out after each one. (Nesting the copies as
    // (x(x)?)? would make every subset hold the whole chain of exits: quadratic work.)
    const int32_t out = nfa_.add_state();
    int32_t at = f.out;
    nfa_.add_eps(at, out);
    for (int64_t i = 0; i < max - min && !nfa_.overflowed(); ++i) {
      const Nfa::Frag copy = compile(kid);
      nfa_.add_eps(at, copy.in);
      at = copy.out;
      nfa_.add_eps(at, out);
    }
    return {f.in, out};
  }

  Nfa& nfa_;
  const std::vector<Node>& nodes_;
};

Result<Dfa> compile_regex(std::string_view pattern, bool search, const DfaLimits& limits) {
  Parser parser(pattern);
  const int32_t root = parser.parse();
  if (root < 0) return parser.status();
  // The NFA may be several times larger than the automaton it determinises to (UTF-8
  // sequences, epsilon scaffolding), but not without bound.
  Nfa nfa(static_cast<int64_t>(limits.max_states) * 16);
  Compiler compiler(&nfa, parser.nodes());
  DeterminizeOptions options;
  options.what = "regex /" + std::string(pattern.substr(0, 120)) + "/";
  if (!search) {
    const Nfa::Frag f = compiler.compile(root);
    return determinize(nfa, f.in, f.out, limits, options);
  }
  // Search: any code points, the pattern, then any code points. The suffix loop's state is
  // universal, which lets the subset construction stop tracking the pattern once it matched.
  const Ranges any = {{0, kMaxCp}};
  const Nfa::Frag prefix = nfa.star(nfa.code_points(any));
  const Nfa::Frag body = compiler.compile(root);
  const Nfa::Frag loop = nfa.code_points(any);
  nfa.add_eps(loop.out, loop.in);
  const int32_t accept = nfa.add_state();
  nfa.add_eps(loop.in, accept);
  const Nfa::Frag f = nfa.concat(prefix, nfa.concat(body, {loop.in, accept}));
  options.universal = loop.in;
  return determinize(nfa, f.in, f.out, limits, options);
}

}  // namespace

Result<Dfa> regex_dfa(std::string_view pattern, const DfaLimits& limits) {
  return compile_regex(pattern, true, limits);
}

Result<Dfa> regex_full_dfa(std::string_view pattern, const DfaLimits& limits) {
  return compile_regex(pattern, false, limits);
}

}  // namespace troika::constrain
