#include "shape.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "schema_compile.h"

namespace troika::constrain {

namespace {

constexpr size_t kMaxAlternatives = 32;  // beyond this an expansion is checked on whole values

void merge_into(std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
}

bool has_object_keywords(const SchemaNode& n) {
  return !n.properties.empty() || !n.pattern_properties.empty() || n.additional_properties >= 0 ||
         !n.required.empty() || n.min_properties || n.max_properties || n.property_names >= 0;
}
bool has_array_keywords(const SchemaNode& n) {
  return !n.prefix_items.empty() || n.items >= 0 || n.min_items || n.max_items;
}
bool has_own_typed(const SchemaNode& n) {
  return n.has_type || n.has_enum || n.minimum || n.maximum || n.exclusive_minimum ||
         n.exclusive_maximum || n.multiple_of || n.min_length || n.max_length ||
         n.pattern_dfa >= 0 || n.format_dfa >= 0 || has_object_keywords(n) || has_array_keywords(n);
}

bool is_false(const CompiledSchema& s, int32_t id) {
  return id >= 0 && s.nodes[id].boolean && !s.nodes[id].boolean_value;
}

std::optional<int64_t> as_int64(double d) {
  if (!std::isfinite(d) || std::fabs(d) > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(d);
}

}  // namespace

// Numbers the constraint writes: at most 16 integer and 16 fraction digits and a two-digit
// exponent, so every accepted number is a finite double (JSON's grammar alone allows 1e999).
const Dfa& bounded_number_dfa() {
  static const Dfa d =
      *regex_full_dfa("-?(0|[1-9][0-9]{0,15})(\\.[0-9]{1,16})?([eE][+-]?[0-9]{1,2})?");
  return d;
}
constexpr int64_t kMaxWrittenInteger = 999999999999999999;  // 18 digits

// json_string_dfa(format_dfa(name)), built once per process.
Result<Dfa> quoted_format_dfa(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, Dfa> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  auto f = format_dfa(name);
  if (!f.ok()) return f.status();
  auto q = json_string_dfa(*f);
  if (!q.ok()) return q.status();
  cache.emplace(name, *q);
  return *q;
}

uint64_t hash_key(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<ShapeTable::Alt> ShapeTable::dnf(int32_t id, std::vector<int32_t>& visiting,
                                             int depth) {
  const SchemaNode& n = schema_.nodes[id];
  if (n.boolean) return n.boolean_value ? std::vector<Alt>{Alt{}} : std::vector<Alt>{};
  Alt whole_only{{}, {id}};
  if (depth > 64 || std::find(visiting.begin(), visiting.end(), id) != visiting.end()) {
    return {whole_only};  // a reference cycle that does not pass through a container
  }
  visiting.push_back(id);
  auto cross = [](const std::vector<Alt>& a, const std::vector<Alt>& b) {
    std::vector<Alt> r;
    for (const auto& x : a) {
      for (const auto& y : b) {
        Alt z = x;
        merge_into(z.typed, y.typed);
        merge_into(z.whole, y.whole);
        r.push_back(std::move(z));
      }
    }
    return r;
  };
  auto concat = [&](const std::vector<int32_t>& ids) {
    std::vector<Alt> r;
    for (int32_t c : ids) {
      auto d = dnf(c, visiting, depth + 1);
      r.insert(r.end(), d.begin(), d.end());
    }
    return r;
  };
  std::vector<Alt> result;
  if (n.ref_only) {
    result = dnf(n.ref, visiting, depth + 1);
  } else {
    Alt self;
    if (has_own_typed(n)) self.typed.push_back(id);
    if (n.needs_whole_value) self.whole.push_back(id);
    result = {self};
    if (n.ref >= 0) result = cross(result, dnf(n.ref, visiting, depth + 1));
    for (int32_t c : n.all_of) result = cross(result, dnf(c, visiting, depth + 1));
    if (!n.any_of.empty()) result = cross(result, concat(n.any_of));
    if (!n.one_of.empty()) result = cross(result, concat(n.one_of));
    if (n.if_schema >= 0) {
      std::vector<Alt> branches;
      for (int32_t b : {n.then_schema, n.else_schema}) {
        auto d = b >= 0 ? dnf(b, visiting, depth + 1) : std::vector<Alt>{Alt{}};
        branches.insert(branches.end(), d.begin(), d.end());
      }
      result = cross(result, branches);
    }
  }
  visiting.pop_back();
  if (result.size() > kMaxAlternatives) return {whole_only};
  return result;
}

int32_t ShapeTable::add_dfa(Dfa d) {
  std::vector<uint8_t> final(d.n_states());
  uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(d.start() + 7);
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (int32_t q = 0; q < d.n_states(); ++q) {
    bool none = true;
    mix(d.accepting(q));
    for (int b = 0; b < 256; ++b) {
      int32_t to = d.step(q, static_cast<uint8_t>(b));
      none = none && to == Dfa::kDead;
      mix(static_cast<uint64_t>(to + 1));
    }
    final[q] = none;
  }
  finals_.push_back(std::move(final));
  fingerprints_.push_back(h);
  dfas_.push_back(std::make_unique<Dfa>(std::move(d)));
  return static_cast<int32_t>(dfas_.size()) - 1;
}

Result<int32_t> ShapeTable::build(const Alt& alt) {
  auto shape = std::make_unique<Shape>();
  Shape& sh = *shape;
  sh.whole = alt.whole;
  const auto& nodes = schema_.nodes;
  uint8_t types = kAnyType;
  for (int32_t id : alt.typed) {
    if (nodes[id].has_type) types &= nodes[id].types;
  }
  // enum / const: the values every enum of the conjunction allows.
  std::optional<std::vector<Json>> values;
  int32_t enum_node = -1;
  for (int32_t id : alt.typed) {
    if (!nodes[id].has_enum) continue;
    if (!values) {
      values = nodes[id].enum_values;
      enum_node = id;
      continue;
    }
    std::vector<Json> kept;
    for (const auto& v : *values) {
      for (const auto& w : nodes[id].enum_values) {
        if (canonical_dump(v) == canonical_dump(w)) {
          kept.push_back(v);
          break;
        }
      }
    }
    values = std::move(kept);
    sh.whole.push_back(id);  // exact equality (1 vs 1.0 in containers) is left to the validator
  }
  std::vector<std::string> enum_strings, enum_numbers, enum_literals;
  if (values) {
    uint8_t enum_types = 0;
    for (const auto& v : *values) {
      if (v.is_string()) {
        enum_types |= kString;
        enum_strings.push_back(v.get<std::string>());
      } else if (v.is_number()) {
        enum_types |= kNumber | kInteger;
        enum_numbers.push_back(canonical_dump(v));
      } else if (v.is_boolean() || v.is_null()) {
        enum_types |= v.is_null() ? kNull : kBoolean;
        enum_literals.push_back(v.dump());
      } else {
        enum_types |= v.is_array() ? kArray : kObject;
      }
    }
    types &= enum_types;
    if (types & (kArray | kObject)) sh.whole.push_back(enum_node);
  }

  std::vector<Dfa> parts;
  // Strings.
  if (types & kString) {
    // A constraint whose automaton would be too large (a long maxLength over a big pattern) is
    // checked on the closed string instead.
    Dfa value = Dfa::any_utf8();
    auto narrow = [&](const Dfa& d, std::vector<int32_t> ids) -> Status {
      auto r = intersect(value, d);
      if (r.ok()) {
        value = std::move(*r);
      } else if (r.status().code() == Code::kResourceExhausted) {
        sh.whole.insert(sh.whole.end(), ids.begin(), ids.end());
      } else {
        return r.status();
      }
      return Status::Ok();
    };
    std::optional<int64_t> lo, hi;
    std::vector<int32_t> length_nodes;
    const std::string* format = nullptr;
    int32_t n_patterns = 0;
    for (int32_t id : alt.typed) {
      const SchemaNode& n = nodes[id];
      for (int32_t d : {n.pattern_dfa, n.format_dfa}) {
        if (d < 0) continue;
        ++n_patterns;
        if (d == n.format_dfa) format = &*n.format;
      }
      if (n.min_length) lo = std::max(lo.value_or(0), *n.min_length);
      if (n.max_length) hi = std::min(hi.value_or(INT64_MAX), *n.max_length);
      if (n.min_length || n.max_length) length_nodes.push_back(id);
    }
    if (n_patterns == 1 && format && !values && !lo && !hi) {
      // One format alone: its quoted automaton is built once per process.
      auto quoted = quoted_format_dfa(*format);
      if (!quoted.ok()) return quoted.status();
      parts.push_back(*quoted);
      n_patterns = -1;
    }
    for (int32_t id : alt.typed) {
      if (n_patterns < 0) break;
      const SchemaNode& n = nodes[id];
      for (int32_t d : {n.pattern_dfa, n.format_dfa}) {
        if (d >= 0) TROIKA_RETURN_IF_ERROR(narrow(schema_.dfas[d], {id}));
      }
    }
    if (n_patterns >= 0 && (lo || hi)) {
      auto len = length_dfa(lo.value_or(0), hi.value_or(-1));
      if (len.ok()) {
        TROIKA_RETURN_IF_ERROR(narrow(*len, length_nodes));
      } else {
        sh.whole.insert(sh.whole.end(), length_nodes.begin(), length_nodes.end());
      }
    }
    if (n_patterns >= 0) {
      if (values) TROIKA_RETURN_IF_ERROR(narrow(Dfa::literals(enum_strings), {enum_node}));
      auto quoted = json_string_dfa(value);
      if (!quoted.ok()) return quoted.status();
      parts.push_back(std::move(*quoted));
    }
  }
  // Numbers.
  if (types & (kInteger | kNumber)) {
    bool integral = !(types & kNumber);
    bool inexact = false;  // some bound needs the parsed value
    std::optional<int64_t> lo, hi;
    int64_t step = 0;
    for (int32_t id : alt.typed) {
      const SchemaNode& n = nodes[id];
      if (n.multiple_of) {
        auto m = as_int64(*n.multiple_of);
        if (m && static_cast<double>(*m) == *n.multiple_of && *m > 0 && *m <= 1000000) {
          integral = true;
          step = step == 0 ? *m : std::lcm(step, *m);
          if (step > 1000000) inexact = true;
        } else {
          inexact = true;
        }
      }
    }
    for (int32_t id : alt.typed) {
      const SchemaNode& n = nodes[id];
      auto bound = [&](std::optional<double> v, bool lower, bool exclusive) {
        if (!v) return;
        if (!integral) {
          inexact = true;
          return;
        }
        double b = lower ? (exclusive ? std::floor(*v) + 1 : std::ceil(*v))
                         : (exclusive ? std::ceil(*v) - 1 : std::floor(*v));
        auto i = as_int64(b);
        if (!i) {
          inexact = true;
          return;
        }
        if (lower) {
          lo = std::max(lo.value_or(INT64_MIN), *i);
        } else {
          hi = std::min(hi.value_or(INT64_MAX), *i);
        }
      };
      bound(n.minimum, true, false);
      bound(n.exclusive_minimum, true, true);
      bound(n.maximum, false, false);
      bound(n.exclusive_maximum, false, true);
      if (inexact &&
          (n.minimum || n.maximum || n.exclusive_minimum || n.exclusive_maximum || n.multiple_of)) {
        sh.whole.push_back(id);
      }
    }
    Dfa num;
    if (integral) {
      if (step > 1000000) step = 0;
      auto r =
          json_integer_dfa(lo.value_or(-kMaxWrittenInteger), hi.value_or(kMaxWrittenInteger), step);
      if (!r.ok()) return r.status();
      num = std::move(*r);
    } else {
      num = bounded_number_dfa();
    }
    if (values) {
      auto r = intersect(num, Dfa::literals(enum_numbers));
      if (!r.ok()) return r.status();
      num = std::move(*r);
    }
    parts.push_back(std::move(num));
  }
  // null, true, false.
  std::vector<std::string> literals;
  if (types & kNull) literals.push_back("null");
  if (types & kBoolean) {
    literals.push_back("true");
    literals.push_back("false");
  }
  if (values) {
    std::erase_if(literals, [&](const std::string& l) {
      return std::find(enum_literals.begin(), enum_literals.end(), l) == enum_literals.end();
    });
  }
  if (!literals.empty()) {
    parts.push_back(Dfa::literals(literals));
  }
  if (!parts.empty()) {
    Dfa all = std::move(parts[0]);
    for (size_t i = 1; i < parts.size(); ++i) {
      auto r = unite(all, parts[i]);
      if (!r.ok()) return r.status();
      all = std::move(*r);
    }
    if (!all.empty()) sh.scalar_dfa = add_dfa(std::move(all));
  }

  // Objects.
  if (types & kObject) {
    Dfa keys = Dfa::any_utf8();
    const SchemaNode* closed = nullptr;  // a node that allows only its declared names
    for (int32_t id : alt.typed) {
      const SchemaNode& n = nodes[id];
      if (!has_object_keywords(n)) continue;
      sh.obj_nodes.push_back(id);
      if (n.min_properties) sh.min_props = std::max(sh.min_props, *n.min_properties);
      if (n.max_properties) {
        sh.max_props =
            sh.max_props < 0 ? *n.max_properties : std::min(sh.max_props, *n.max_properties);
      }
      for (const auto& r : n.required) sh.required_hashes.push_back(hash_key(r));
      if (is_false(schema_, n.additional_properties)) {
        if (n.pattern_properties.empty() && !closed) closed = &n;
        std::vector<std::string> names;
        for (const auto& [name, sid] : n.properties) {
          if (!is_false(schema_, sid)) names.push_back(name);
        }
        Dfa allowed = Dfa::literals(names);
        for (const auto& pp : n.pattern_properties) {
          auto r = unite(allowed, schema_.dfas[pp.dfa]);
          if (!r.ok()) return r.status();
          allowed = std::move(*r);
        }
        auto r = intersect(keys, allowed);
        if (!r.ok()) return r.status();
        keys = std::move(*r);
      }
      if (n.property_names >= 0) {
        const SchemaNode& pn = nodes[n.property_names];
        if (pn.boolean) {
          if (!pn.boolean_value) keys = Dfa();
        } else {
          sh.whole.push_back(id);  // names checked exactly on the closed object
        }
      }
    }
    std::sort(sh.required_hashes.begin(), sh.required_hashes.end());
    sh.required_hashes.erase(std::unique(sh.required_hashes.begin(), sh.required_hashes.end()),
                             sh.required_hashes.end());
    if (closed && !keys.empty()) {
      sh.keys_finite = true;
      for (const auto& [name, sid] : closed->properties) {
        if (!is_false(schema_, sid) && keys.matches(name)) {
          sh.key_names.push_back(name);
          sh.key_hashes.push_back(hash_key(name));
        }
      }
    }
    if (!keys.empty()) {
      auto quoted = json_string_dfa(keys);
      if (!quoted.ok()) return quoted.status();
      if (!quoted->empty()) sh.key_dfa = add_dfa(std::move(*quoted));
    }
  }
  // Arrays.
  if (types & kArray) {
    for (int32_t id : alt.typed) {
      const SchemaNode& n = nodes[id];
      if (!has_array_keywords(n)) continue;
      sh.arr_nodes.push_back(id);
      if (n.min_items) sh.min_items = std::max(sh.min_items, *n.min_items);
      if (n.max_items) {
        sh.max_items = sh.max_items < 0 ? *n.max_items : std::min(sh.max_items, *n.max_items);
      }
    }
  }
  if (schema_.uses_dynamic_ref) {
    // Only the root's check sees the dynamic scope $dynamicRef needs; it covers everything.
    std::erase_if(sh.whole, [](int32_t id) { return id != 0; });
  }
  std::sort(sh.whole.begin(), sh.whole.end());
  sh.whole.erase(std::unique(sh.whole.begin(), sh.whole.end()), sh.whole.end());
  sh.types = types;
  shapes_.push_back(std::move(shape));
  return static_cast<int32_t>(shapes_.size()) - 1;
}

Result<std::vector<int32_t>> ShapeTable::intern(const std::vector<Alt>& alts) {
  std::vector<int32_t> ids;
  for (const auto& a : alts) {
    auto key = std::make_pair(a.typed, a.whole);
    auto it = by_alt_.find(key);
    if (it == by_alt_.end()) {
      auto id = build(a);
      if (!id.ok()) return id.status();
      it = by_alt_.emplace(key, *id).first;
    }
    if (std::find(ids.begin(), ids.end(), it->second) == ids.end()) ids.push_back(it->second);
  }
  return ids;
}

Result<std::vector<int32_t>> ShapeTable::conjunction(const std::vector<int32_t>& sids) {
  if (auto it = conjunctions_.find(sids); it != conjunctions_.end()) return it->second;
  auto r = conjunction_uncached(sids);
  if (r.ok()) conjunctions_.emplace(sids, *r);
  return r;
}

Result<std::vector<int32_t>> ShapeTable::conjunction_uncached(const std::vector<int32_t>& sids) {
  std::vector<Alt> alts{Alt{}};
  std::vector<int32_t> visiting;
  for (int32_t sid : sids) {
    if (is_false(schema_, sid)) return std::vector<int32_t>{};
    std::vector<Alt> next;
    for (const auto& x : alts) {
      for (const auto& y : dnf(sid, visiting, 0)) {
        Alt z = x;
        merge_into(z.typed, y.typed);
        merge_into(z.whole, y.whole);
        next.push_back(std::move(z));
      }
    }
    alts = std::move(next);
    if (alts.size() > kMaxAlternatives) {
      // Too many combinations to track byte by byte: check each schema on the whole value.
      Alt all;
      merge_into(all.whole, sids);
      alts = {all};
      break;
    }
  }
  return intern(alts);
}

void ShapeTable::prewarm(size_t max_shapes) {
  auto root_shapes = root();
  if (!root_shapes.ok()) return;
  std::vector<int32_t> queue = *root_shapes;
  for (size_t i = 0; i < queue.size() && shapes_.size() < max_shapes; ++i) {
    const int32_t sh = queue[i];
    std::vector<std::string> keys;
    int64_t longest = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int32_t id : shapes_[sh]->obj_nodes) {
        for (const auto& [name, sid] : schema_.nodes[id].properties) keys.push_back(name);
      }
      for (int32_t id : shapes_[sh]->arr_nodes) {
        longest = std::max<int64_t>(longest, schema_.nodes[id].prefix_items.size());
      }
    }
    // A name no schema declares stands for every other key (additionalProperties).
    if (shapes_[sh]->types & kObject) keys.push_back(std::string("\x01other", 6));
    std::vector<std::vector<int32_t>> next;
    for (const auto& k : keys) {
      if (auto r = member(sh, k); r.ok()) next.push_back(*r);
    }
    if (shapes_[sh]->types & kArray) {
      for (int64_t j = 0; j <= longest; ++j) {
        if (auto r = item(sh, j); r.ok()) next.push_back(*r);
      }
    }
    for (const auto& ids : next) {
      for (int32_t id : ids) {
        if (std::find(queue.begin(), queue.end(), id) == queue.end()) queue.push_back(id);
      }
    }
  }
}

int32_t ShapeTable::key_dfa(int32_t shape, std::span<const uint64_t> used) {
  std::lock_guard<std::mutex> lock(mu_);
  const Shape& sh = *shapes_[shape];
  if (!sh.keys_finite || used.empty() || sh.key_dfa < 0) return sh.key_dfa;
  std::string flags(sh.key_names.size(), '0');
  std::vector<std::string> unused;
  for (size_t i = 0; i < sh.key_names.size(); ++i) {
    if (std::find(used.begin(), used.end(), sh.key_hashes[i]) != used.end()) {
      flags[i] = '1';
    } else {
      unused.push_back(sh.key_names[i]);
    }
  }
  if (unused.size() == sh.key_names.size()) return sh.key_dfa;
  if (unused.empty()) return -1;
  auto key = std::make_pair(shape, flags);
  if (auto it = key_dfas_.find(key); it != key_dfas_.end()) return it->second;
  auto quoted = json_string_dfa(Dfa::literals(unused));
  int32_t id = quoted.ok() && !quoted->empty() ? add_dfa(std::move(*quoted)) : -1;
  key_dfas_.emplace(key, id);
  return id;
}

int32_t ShapeTable::union_dfa(const std::vector<int32_t>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = unions_.find(ids); it != unions_.end()) return it->second;
  Dfa all = *dfas_[ids[0]];
  int32_t id = -1;
  bool ok = true;
  for (size_t i = 1; i < ids.size() && ok; ++i) {
    auto r = unite(all, *dfas_[ids[i]]);
    ok = r.ok();
    if (ok) all = std::move(*r);
  }
  if (ok) id = add_dfa(std::move(all));
  unions_.emplace(ids, id);
  return id;
}

void ShapeTable::set_raw_root(Dfa text) {
  std::lock_guard<std::mutex> lock(mu_);
  auto sh = std::make_unique<Shape>();
  sh->scalar_dfa = add_dfa(std::move(text));
  shapes_.push_back(std::move(sh));
  root_ = {static_cast<int32_t>(shapes_.size()) - 1};
  have_root_ = true;
}

Result<std::vector<int32_t>> ShapeTable::root() {
  std::lock_guard<std::mutex> lock(mu_);
  if (have_root_) return root_;
  std::vector<int32_t> visiting;
  auto r = intern(dnf(0, visiting, 0));
  if (!r.ok()) return r.status();
  root_ = *r;
  have_root_ = true;
  return root_;
}

Result<std::vector<int32_t>> ShapeTable::member(int32_t shape, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto cache_key = std::make_pair(shape, key);
  if (auto it = members_.find(cache_key); it != members_.end()) return it->second;
  const auto& nodes = schema_.nodes;
  std::vector<int32_t> sids;
  for (int32_t id : shapes_[shape]->obj_nodes) {
    const SchemaNode& n = nodes[id];
    bool matched = false;
    for (const auto& [name, sid] : n.properties) {
      if (name == key) {
        matched = true;
        sids.push_back(sid);
      }
    }
    for (const auto& pp : n.pattern_properties) {
      if (schema_.dfas[pp.dfa].matches(key)) {
        matched = true;
        sids.push_back(pp.node);
      }
    }
    if (!matched && n.additional_properties >= 0) sids.push_back(n.additional_properties);
  }
  auto ids = conjunction(sids);
  if (!ids.ok()) return ids.status();
  members_.emplace(cache_key, *ids);
  return ids;
}

Result<std::vector<int32_t>> ShapeTable::item(int32_t shape, int64_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  const Shape& sh = *shapes_[shape];
  // Past every tuple, all indexes share one answer: cache them under one key.
  size_t longest = 0;
  for (int32_t id : sh.arr_nodes)
    longest = std::max(longest, schema_.nodes[id].prefix_items.size());
  int64_t slot = std::min<int64_t>(index, static_cast<int64_t>(longest));
  auto cache_key = std::make_pair(shape, slot);
  if (auto it = items_.find(cache_key); it != items_.end()) return it->second;
  std::vector<int32_t> sids;
  for (int32_t id : sh.arr_nodes) {
    const SchemaNode& n = schema_.nodes[id];
    int32_t sid =
        slot < static_cast<int64_t>(n.prefix_items.size()) ? n.prefix_items[slot] : n.items;
    if (sid >= 0) sids.push_back(sid);
  }
  auto ids = conjunction(sids);
  if (!ids.ok()) return ids.status();
  items_.emplace(cache_key, *ids);
  return ids;
}

}  // namespace troika::constrain
