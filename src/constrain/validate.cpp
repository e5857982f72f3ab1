// The validator: a JSON value against a compiled schema, with the path of every failure.
#include <cmath>
#include <set>

#include "schema_compile.h"
#include "uri.h"

namespace troika::constrain {

namespace {

constexpr int kMaxDepth = 512;  // $ref chains that never reach a keyword stop here

bool is_integral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

uint8_t type_of(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return kNull;
    case Json::value_t::boolean:
      return kBoolean;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return kInteger | kNumber;
    case Json::value_t::number_float:
      return is_integral(v) ? (kInteger | kNumber) : kNumber;
    case Json::value_t::string:
      return kString;
    case Json::value_t::array:
      return kArray;
    case Json::value_t::object:
      return kObject;
    default:
      return 0;
  }
}

const char* type_name(const Json& v) {
  switch (type_of(v)) {
    case kNull:
      return "null";
    case kBoolean:
      return "boolean";
    case kString:
      return "string";
    case kArray:
      return "array";
    case kObject:
      return "object";
    default:
      return is_integral(v) ? "integer" : "number";
  }
}

std::string short_text(const Json& v) {
  std::string s = canonical_dump(v);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// JSON Schema equality: numbers compare by value (1 == 1.0), objects ignore member order.
bool json_equal(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
    return a == b;
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!json_equal(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !json_equal(it.value(), *jt)) return false;
    }
    return true;
  }
  return a == b;
}

// A finite double as digits * 10^exp10, from its shortest round-trip decimal form (what the
// JSON text said). False when the digits do not fit.
bool decimal_parts(double d, __int128& digits, int& exp10) {
  std::string s = Json(std::fabs(d)).dump();  // shortest round trip, e.g. "1e-08", "0.0075"
  exp10 = 0;
  if (auto e = s.find_first_of("eE"); e != std::string::npos) {
    exp10 = std::stoi(s.substr(e + 1));
    s.resize(e);
  }
  if (auto dot = s.find('.'); dot != std::string::npos) {
    exp10 -= static_cast<int>(s.size() - dot - 1);
    s.erase(dot, 1);
  }
  if (s.size() > 30) return false;
  digits = 0;
  for (char c : s) digits = digits * 10 + (c - '0');
  return true;
}

bool multiple_of_decimal(double x, double m);

// Integers are judged on their exact value (a double would round past 2^53).
bool multiple_of(const Json& v, double m) {
  if ((v.is_number_integer() || v.is_number_unsigned()) && std::floor(m) == m && m < 9.0e18) {
    const auto d = static_cast<unsigned long long>(m);
    if (v.is_number_unsigned()) return v.get<unsigned long long>() % d == 0;
    long long i = v.get<long long>();
    unsigned long long a =
        i < 0 ? 0ull - static_cast<unsigned long long>(i) : static_cast<unsigned long long>(i);
    return a % d == 0;
  }
  return multiple_of_decimal(v.get<double>(), m);
}

// x is a multiple of m exactly in decimal (1e-8 divides every integer; 0.1 divides 0.3), the way
// the specification means it; doubles alone get both cases wrong for large quotients.
bool multiple_of_decimal(double x, double m) {
  if (!std::isfinite(x)) return false;
  if (x == 0) return true;
  __int128 bx, bm;
  int ex, em;
  if (decimal_parts(x, bx, ex) && decimal_parts(m, bm, em) && bm != 0) {
    // x / m = (bx / bm) * 10^(ex - em)
    int shift = ex - em;
    __int128 num = bx, den = bm;
    for (; shift > 0 && num < (static_cast<__int128>(1) << 120) / 10; --shift) num *= 10;
    for (; shift < 0 && den < (static_cast<__int128>(1) << 120) / 10; ++shift) den *= 10;
    if (shift == 0) return num % den == 0;
    if (shift > 0) {
      // num * 10^shift: divisible when den's factors are covered by num and the powers of ten.
      while (shift > 0 && num % den != 0) {
        num = (num % den) * 10;
        --shift;
      }
      return num % den == 0;
    }
  }
  double r = std::fmod(std::fabs(x), m);
  return r <= m * 1e-9 || m - r <= m * 1e-9;
}

// Properties and items evaluated by a schema and its in-place applicators, for
// unevaluatedProperties / unevaluatedItems (collected only when the schema uses them).
struct Eval {
  std::set<std::string> props;
  bool all_props = false;
  std::set<size_t> items;
  bool all_items = false;
  void merge(const Eval& o) {
    props.insert(o.props.begin(), o.props.end());
    items.insert(o.items.begin(), o.items.end());
    all_props = all_props || o.all_props;
    all_items = all_items || o.all_items;
  }
};

class Validator {
 public:
  Validator(const CompiledSchema& s, std::vector<ValidationError>* errors)
      : s_(s), errors_(errors), track_(s.uses_unevaluated) {}

  // Validates `v` against node `id`. When `out` is given and the node validates, the
  // properties and items it evaluated are added to it.
  bool run(int32_t id, const Json& v, const std::string& path, int depth, Eval* out = nullptr) {
    if (depth > kMaxDepth) {
      return fail(path, s_.nodes[id].pointer, "schema references nest deeper than 512 levels");
    }
    const SchemaNode& n = s_.nodes[id];
    if (n.boolean) {
      return n.boolean_value || fail(path, n.pointer, "the schema 'false' allows no value");
    }
    // The dynamic scope: the resources entered on the way here ($dynamicRef looks them up).
    const bool entered = s_.uses_dynamic_ref && (scope_.empty() || *scope_.back() != n.base);
    if (entered) scope_.push_back(&n.base);
    Eval local;
    bool ok = body(n, v, path, depth, track_ ? &local : nullptr);
    if (entered) scope_.pop_back();
    if (ok && out) out->merge(local);
    return ok;
  }

 private:
  bool body(const SchemaNode& n, const Json& v, const std::string& path, int depth, Eval* ev) {
    bool ok = true;
    auto check = [&](bool cond) {
      ok = ok && cond;
      return ok || errors_;  // keep going only when collecting every error
    };
    if (n.ref >= 0 && !check(run(n.ref, v, path, depth + 1, ev))) return false;
    if (n.ref_only) return ok;
    if (n.dynamic_ref >= 0 && !check(run(dynamic_target(n), v, path, depth + 1, ev))) return false;
    const uint8_t t = type_of(v);
    if (n.has_type && !(n.types & t)) {
      if (!check(fail(path, n.pointer + "/type", std::string(type_name(v)) + " is not allowed")))
        return false;
    }
    if (n.has_enum) {
      bool found = false;
      for (const auto& e : n.enum_values) found = found || json_equal(e, v);
      if (!found && !check(fail(path, n.pointer + (n.is_const ? "/const" : "/enum"),
                                short_text(v) +
                                    (n.is_const ? " is not the constant" : " is not in the enum"))))
        return false;
    }
    if (v.is_number() && !check(number(n, v, path))) return false;
    if (v.is_string() && !check(string(n, v.get_ref<const std::string&>(), path))) return false;
    if (v.is_array() && !check(array(n, v, path, depth, ev))) return false;
    if (v.is_object() && !check(object(n, v, path, depth, ev))) return false;
    if (!check(combinators(n, v, path, depth, ev))) return false;
    if (!check(unevaluated(n, v, path, depth, ev))) return false;
    return ok;
  }

  // $dynamicRef: when its static target carries the $dynamicAnchor it names, the outermost
  // resource in the dynamic scope with that anchor wins.
  int32_t dynamic_target(const SchemaNode& n) const {
    int32_t target = n.dynamic_ref;
    if (n.dynamic_ref_anchor.empty() || s_.nodes[target].dynamic_anchor != n.dynamic_ref_anchor)
      return target;
    for (const std::string* base : scope_) {
      auto it = s_.dynamic_anchors.find({*base, n.dynamic_ref_anchor});
      if (it != s_.dynamic_anchors.end()) return it->second;
    }
    return target;
  }

  bool fail(const std::string& path, const std::string& schema_path, std::string message) {
    if (errors_) errors_->push_back({path, schema_path, std::move(message)});
    return false;
  }

  // Runs `id` on `v` without recording errors (same dynamic scope).
  bool quiet(int32_t id, const Json& v, const std::string& path, int depth, Eval* out = nullptr) {
    auto* saved = errors_;
    errors_ = nullptr;
    bool r = run(id, v, path, depth, out);
    errors_ = saved;
    return r;
  }

  bool number(const SchemaNode& n, const Json& value, const std::string& path) {
    const double x = value.get<double>();
    std::string p = n.pointer;
    auto num = [](double d) { return canonical_dump(Json(d)); };
    if (n.minimum && x < *n.minimum)
      return fail(path, p + "/minimum", num(x) + " is less than the minimum " + num(*n.minimum));
    if (n.maximum && x > *n.maximum)
      return fail(path, p + "/maximum", num(x) + " is more than the maximum " + num(*n.maximum));
    if (n.exclusive_minimum && x <= *n.exclusive_minimum)
      return fail(path, p + "/exclusiveMinimum",
                  num(x) + " is not more than " + num(*n.exclusive_minimum));
    if (n.exclusive_maximum && x >= *n.exclusive_maximum)
      return fail(path, p + "/exclusiveMaximum",
                  num(x) + " is not less than " + num(*n.exclusive_maximum));
    if (n.multiple_of && !multiple_of(value, *n.multiple_of))
      return fail(path, p + "/multipleOf", num(x) + " is not a multiple of " + num(*n.multiple_of));
    return true;
  }

  bool string(const SchemaNode& n, const std::string& s, const std::string& path) {
    std::string p = n.pointer;
    if (n.min_length || n.max_length) {
      int64_t len = utf8_length(s);
      if (n.min_length && len < *n.min_length)
        return fail(path, p + "/minLength",
                    "string of " + std::to_string(len) + " characters is shorter than " +
                        std::to_string(*n.min_length));
      if (n.max_length && len > *n.max_length)
        return fail(path, p + "/maxLength",
                    "string of " + std::to_string(len) + " characters is longer than " +
                        std::to_string(*n.max_length));
    }
    if (n.pattern_dfa >= 0 && !s_.dfas[n.pattern_dfa].matches(s))
      return fail(path, p + "/pattern", "string does not match the pattern " + *n.pattern);
    if (n.format_dfa >= 0 && !s_.dfas[n.format_dfa].matches(s))
      return fail(path, p + "/format", "string is not a valid " + *n.format);
    return true;
  }

  bool array(const SchemaNode& n, const Json& v, const std::string& path, int depth, Eval* ev) {
    std::string p = n.pointer;
    bool ok = true;
    const int64_t size = static_cast<int64_t>(v.size());
    if (n.min_items && size < *n.min_items)
      ok = fail(path, p + "/minItems",
                "array has " + std::to_string(size) + " items, fewer than " +
                    std::to_string(*n.min_items));
    if (ok || errors_) {
      if (n.max_items && size > *n.max_items)
        ok = fail(path, p + "/maxItems",
                  "array has " + std::to_string(size) + " items, more than " +
                      std::to_string(*n.max_items));
    }
    for (size_t i = 0; i < v.size() && (ok || errors_); ++i) {
      int32_t item = i < n.prefix_items.size() ? n.prefix_items[i] : n.items;
      if (item < 0) continue;
      if (ev) ev->items.insert(i);
      if (!run(item, v[i], path + "/" + std::to_string(i), depth + 1)) ok = false;
    }
    if (n.unique_items && (ok || errors_)) {
      for (size_t i = 0; i < v.size() && ok; ++i) {
        for (size_t j = i + 1; j < v.size(); ++j) {
          if (json_equal(v[i], v[j])) {
            ok = fail(path, p + "/uniqueItems",
                      "items " + std::to_string(i) + " and " + std::to_string(j) + " are equal");
            break;
          }
        }
      }
    }
    if (n.contains >= 0 && (ok || errors_)) {
      int64_t matches = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        if (quiet(n.contains, v[i], path + "/" + std::to_string(i), depth + 1)) {
          ++matches;
          if (ev) ev->items.insert(i);
        }
      }
      int64_t lo = n.min_contains.value_or(1);
      if (matches < lo)
        ok = fail(
            path, p + "/contains",
            std::to_string(matches) + " items match 'contains', fewer than " + std::to_string(lo));
      if (n.max_contains && matches > *n.max_contains)
        ok = fail(path, p + "/maxContains",
                  std::to_string(matches) + " items match 'contains', more than " +
                      std::to_string(*n.max_contains));
    }
    return ok;
  }

  bool object(const SchemaNode& n, const Json& v, const std::string& path, int depth, Eval* ev) {
    std::string p = n.pointer;
    bool ok = true;
    auto go = [&] { return ok || errors_; };
    for (const auto& r : n.required) {
      if (!v.contains(r) && go())
        ok = fail(path, p + "/required", "missing required property '" + r + "'");
    }
    const int64_t size = static_cast<int64_t>(v.size());
    if (n.min_properties && size < *n.min_properties && go())
      ok = fail(path, p + "/minProperties",
                "object has " + std::to_string(size) + " properties, fewer than " +
                    std::to_string(*n.min_properties));
    if (n.max_properties && size > *n.max_properties && go())
      ok = fail(path, p + "/maxProperties",
                "object has " + std::to_string(size) + " properties, more than " +
                    std::to_string(*n.max_properties));
    for (auto it = v.begin(); it != v.end() && go(); ++it) {
      const std::string& key = it.key();
      std::string child = path + "/" + escape_pointer_token(key);
      if (n.property_names >= 0 && !run(n.property_names, Json(key), child, depth + 1)) ok = false;
      bool matched = false;
      for (const auto& [name, sid] : n.properties) {
        if (name != key) continue;
        matched = true;
        if (!run(sid, it.value(), child, depth + 1)) ok = false;
      }
      for (const auto& pp : n.pattern_properties) {
        if (!s_.dfas[pp.dfa].matches(key)) continue;
        matched = true;
        if (!run(pp.node, it.value(), child, depth + 1)) ok = false;
      }
      if (!matched && n.additional_properties >= 0) {
        matched = true;
        const SchemaNode& a = s_.nodes[n.additional_properties];
        if (a.boolean && !a.boolean_value) {
          ok = fail(child, p + "/additionalProperties", "property '" + key + "' is not allowed");
        } else if (!run(n.additional_properties, it.value(), child, depth + 1)) {
          ok = false;
        }
      }
      if (matched && ev) ev->props.insert(key);
    }
    for (const auto& [key, needs] : n.dependent_required) {
      if (!v.contains(key)) continue;
      for (const auto& r : needs) {
        if (!v.contains(r) && go())
          ok = fail(path, p + "/dependentRequired",
                    "property '" + key + "' requires property '" + r + "'");
      }
    }
    for (const auto& [key, sid] : n.dependent_schemas) {
      if (v.contains(key) && go() && !run(sid, v, path, depth + 1, ev)) ok = false;
    }
    return ok;
  }

  bool combinators(const SchemaNode& n, const Json& v, const std::string& path, int depth,
                   Eval* ev) {
    std::string p = n.pointer;
    bool ok = true;
    auto go = [&] { return ok || errors_; };
    for (int32_t c : n.all_of) {
      if (go() && !run(c, v, path, depth + 1, ev)) ok = false;
    }
    if (!n.any_of.empty() && go()) {
      bool any = false;
      // Every branch runs: annotations come from all the valid ones.
      for (int32_t c : n.any_of) any = quiet(c, v, path, depth + 1, ev) || any;
      if (!any) ok = fail(path, p + "/anyOf", "the value matches none of anyOf");
    }
    if (!n.one_of.empty() && go()) {
      int matches = 0;
      Eval branch;
      for (int32_t c : n.one_of) matches += quiet(c, v, path, depth + 1, ev ? &branch : nullptr);
      if (matches != 1) {
        ok = fail(path, p + "/oneOf",
                  "the value matches " + std::to_string(matches) + " of oneOf, not exactly 1");
      } else if (ev) {
        ev->merge(branch);
      }
    }
    if (n.not_schema >= 0 && go() && quiet(n.not_schema, v, path, depth + 1))
      ok = fail(path, p + "/not", "the value matches the 'not' schema");
    if (n.if_schema >= 0 && go()) {
      if (quiet(n.if_schema, v, path, depth + 1, ev)) {
        if (n.then_schema >= 0 && !run(n.then_schema, v, path, depth + 1, ev)) ok = false;
      } else if (n.else_schema >= 0 && !run(n.else_schema, v, path, depth + 1, ev)) {
        ok = false;
      }
    }
    return ok;
  }

  bool unevaluated(const SchemaNode& n, const Json& v, const std::string& path, int depth,
                   Eval* ev) {
    bool ok = true;
    if (n.unevaluated_properties >= 0 && v.is_object() && ev && !ev->all_props) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (ev->props.count(it.key())) continue;
        std::string child = path + "/" + escape_pointer_token(it.key());
        const SchemaNode& u = s_.nodes[n.unevaluated_properties];
        if (u.boolean && !u.boolean_value) {
          ok = fail(child, n.pointer + "/unevaluatedProperties",
                    "property '" + it.key() + "' is not evaluated by the schema");
        } else if (!run(n.unevaluated_properties, it.value(), child, depth + 1)) {
          ok = false;
        }
        if (!ok && !errors_) return false;
      }
      ev->all_props = true;
    }
    if (n.unevaluated_items >= 0 && v.is_array() && ev && !ev->all_items) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (ev->items.count(i)) continue;
        std::string child = path + "/" + std::to_string(i);
        if (!run(n.unevaluated_items, v[i], child, depth + 1)) {
          ok = false;
          if (!errors_) return false;
        }
      }
      ev->all_items = true;
    }
    return ok;
  }

  const CompiledSchema& s_;
  std::vector<ValidationError>* errors_;
  const bool track_;
  std::vector<const std::string*> scope_;
};

}  // namespace

bool validate_value(const CompiledSchema& schema, int32_t id, const Json& value,
                    std::vector<ValidationError>* errors, const std::string& instance_path) {
  Validator v(schema, errors);
  return v.run(id, value, instance_path, 0);
}

int64_t utf8_length(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string canonical_dump(const Json& value) {
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) {
      return std::to_string(static_cast<int64_t>(d));
    }
    return value.dump();
  }
  if (value.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < value.size(); ++i) {
      if (i) s += ',';
      s += canonical_dump(value[i]);
    }
    return s + "]";
  }
  if (value.is_object()) {
    std::string s = "{";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) s += ',';
      s += Json(it.key()).dump();
      s += ':';
      s += canonical_dump(it.value());
      first = false;
    }
    return s + "}";
  }
  return value.dump();
}

}  // namespace troika::constrain
