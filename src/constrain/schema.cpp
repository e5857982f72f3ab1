// JSON Schema document -> CompiledSchema: one node per schema object, $id/$anchor/$ref
// resolved inside the document, every assertion keyword either compiled or refused.
#include <cmath>
#include <set>
#include <unordered_map>

#include "schema_compile.h"
#include "uri.h"

namespace troika::constrain {

namespace {

// Keywords without assertion semantics (annotations, metadata); they are accepted and ignored.
const std::set<std::string> kAnnotations = {
    "$schema",       "$id",           "$anchor",     "$comment",         "$defs",
    "definitions",   "title",         "description", "default",          "examples",
    "deprecated",    "readOnly",      "writeOnly",   "contentMediaType", "contentEncoding",
    "contentSchema", "$dynamicAnchor"};

// Assertion or applicator keywords the engine does not implement: refused, never ignored.
const std::set<std::string> kRefused = {"$recursiveRef", "$recursiveAnchor", "$vocabulary"};

const std::set<std::string> kFormats = {"date", "time", "date-time", "uuid",    "email",
                                        "ipv4", "ipv6", "uri",       "hostname"};

class Compiler {
 public:
  Compiler(const Json& doc, Draft draft, const DfaLimits& limits,
           const std::map<std::string, std::string>& documents)
      : doc_(doc), limits_(limits), documents_(documents) {
    out_.draft = draft;
  }

  Result<CompiledSchema> run() {
    auto root = add(doc_, "", "", "");
    if (!root.ok()) return root.status();
    // Resolving may load another document, which adds references: index, not iterators.
    for (size_t i = 0; i < pending_refs_.size(); ++i) {
      auto [node, ref] = pending_refs_[i];
      TROIKA_RETURN_IF_ERROR(resolve(node, ref));
    }
    return std::move(out_);
  }

 private:
  struct PendingRef {
    std::string base;
    std::string ref;
    bool dynamic = false;
  };

  Status refuse(const std::string& pointer, const std::string& what) {
    return unimplemented("schema keyword " + what + " at '" + (pointer.empty() ? "#" : pointer) +
                         "' is not supported by the constraint engine; remove it or rewrite "
                         "the schema without it");
  }
  Status bad(const std::string& pointer, const std::string& what) {
    return invalid_argument("invalid schema at '" + (pointer.empty() ? "#" : pointer) +
                            "': " + what);
  }

  // Registers `uri` (absolute or document-relative, no trailing '#') for node `id`.
  void name(const std::string& uri, int32_t id) { names_.emplace(uri, id); }

  // `outer`: the node's names as JSON pointers from enclosing resources ("base#/a/b"), so that a
  // pointer may cross into a subschema that has its own $id.
  Result<int32_t> add(const Json& s, const std::string& pointer, std::string base,
                      const std::string& resource_pointer, std::vector<std::string> outer = {}) {
    int32_t id = static_cast<int32_t>(out_.nodes.size());
    out_.nodes.emplace_back();
    out_.nodes[id].pointer = pointer;
    for (const auto& o : outer) name(o, id);
    if (s.is_boolean()) {
      out_.nodes[id].boolean = true;
      out_.nodes[id].boolean_value = s.get<bool>();
      name(base + "#" + resource_pointer, id);
      return id;
    }
    if (!s.is_object()) return bad(pointer, "a schema must be an object or a boolean");
    std::string rp = resource_pointer;
    bool ref_only = out_.draft == Draft::k7 && s.contains("$ref");
    if (!ref_only && s.contains("$id") && s["$id"].is_string()) {
      std::string idv = s["$id"].get<std::string>();
      if (out_.draft == Draft::k7 && !idv.empty() && idv[0] == '#') {
        name(base + idv, id);  // a draft-07 plain-name fragment is an anchor
      } else {
        outer.push_back(base + "#" + rp);
        name(outer.back(), id);
        base = split_fragment(resolve_uri(base, idv)).first;
        rp = "";
      }
    }
    name(base + "#" + rp, id);
    out_.nodes[id].base = base;
    if (s.contains("$dynamicAnchor") && s["$dynamicAnchor"].is_string()) {
      out_.nodes[id].dynamic_anchor = s["$dynamicAnchor"].get<std::string>();
      out_.dynamic_anchors[{base, out_.nodes[id].dynamic_anchor}] = id;
    }
    if (s.contains("$anchor") && s["$anchor"].is_string())
      name(base + "#" + s["$anchor"].get<std::string>(), id);
    if (s.contains("$dynamicAnchor") && s["$dynamicAnchor"].is_string())
      name(base + "#" + s["$dynamicAnchor"].get<std::string>(), id);

    // Subschemas first (so that $defs are named even when this node is ref_only).
    auto sub = [&](const Json& v, const std::string& key) -> Result<int32_t> {
      std::vector<std::string> child_outer = outer;
      for (auto& o : child_outer) o += "/" + key;
      return add(v, pointer + "/" + key, base, rp + "/" + key, std::move(child_outer));
    };
    for (const char* defs : {"$defs", "definitions"}) {
      if (!s.contains(defs)) continue;
      if (!s[defs].is_object()) return bad(pointer, std::string(defs) + " must be an object");
      for (auto& [k, v] : s[defs].items()) {
        auto r = sub(v, std::string(defs) + "/" + escape_pointer_token(k));
        if (!r.ok()) return r.status();
      }
    }
    if (ref_only) {
      SchemaNode& n = out_.nodes[id];
      n.ref_only = true;
      if (!s["$ref"].is_string()) return bad(pointer, "$ref must be a string");
      n.ref_text = s["$ref"].get<std::string>();
      n.base = base;
      pending_refs_.push_back({id, {base, n.ref_text, false}});
      return id;
    }
    for (auto& [key, value] : s.items()) {
      auto st = keyword(id, key, value, s, pointer, sub);
      if (!st.ok()) return st;
    }
    return id;
  }

  template <typename Sub>
  Status keyword(int32_t id, const std::string& key, const Json& v, const Json& s,
                 const std::string& pointer, Sub& sub) {
    const std::string kp = pointer + "/" + escape_pointer_token(key);
    auto node = [&]() -> SchemaNode& { return out_.nodes[id]; };
    auto count = [&](std::optional<int64_t>& field) -> Status {
      if (!v.is_number() || v.get<double>() < 0 || std::floor(v.get<double>()) != v.get<double>())
        return bad(kp, key + " must be a non-negative integer");
      field = static_cast<int64_t>(std::min(v.get<double>(), 9.0e18));
      return Status::Ok();
    };
    auto number = [&](std::optional<double>& field) -> Status {
      if (!v.is_number()) return bad(kp, key + " must be a number");
      field = v.get<double>();
      return Status::Ok();
    };
    // Subschemas are added to out_.nodes, which may move it: fields are written through member
    // pointers after each addition, never through a reference taken before.
    auto schema_list = [&](std::vector<int32_t> SchemaNode::*field) -> Status {
      if (!v.is_array() || v.empty()) return bad(kp, key + " must be a non-empty array");
      for (size_t i = 0; i < v.size(); ++i) {
        auto r = sub(v[i], key + "/" + std::to_string(i));
        if (!r.ok()) return r.status();
        (node().*field).push_back(*r);
      }
      return Status::Ok();
    };
    auto one = [&](int32_t SchemaNode::*field) -> Status {
      auto r = sub(v, escape_pointer_token(key));
      if (!r.ok()) return r.status();
      node().*field = *r;
      return Status::Ok();
    };

    if (kAnnotations.count(key)) return Status::Ok();
    if (kRefused.count(key)) return refuse(pointer, "'" + key + "'");
    if (key == "type") {
      uint8_t t = 0;
      auto one_type = [&](const Json& x) -> Status {
        if (!x.is_string()) return bad(kp, "type must be a string or an array of strings");
        static const std::unordered_map<std::string, uint8_t> kTypes = {
            {"null", kNull},     {"boolean", kBoolean}, {"integer", kInteger}, {"number", kNumber},
            {"string", kString}, {"array", kArray},     {"object", kObject}};
        auto it = kTypes.find(x.get<std::string>());
        if (it == kTypes.end()) return bad(kp, "unknown type '" + x.get<std::string>() + "'");
        t |= it->second;
        return Status::Ok();
      };
      if (v.is_array()) {
        for (const auto& x : v) TROIKA_RETURN_IF_ERROR(one_type(x));
      } else {
        TROIKA_RETURN_IF_ERROR(one_type(v));
      }
      if (t & kNumber) t |= kInteger;
      node().types = t;
      node().has_type = true;
      return Status::Ok();
    }
    if (key == "enum") {
      if (!v.is_array()) return bad(kp, "enum must be an array");
      node().has_enum = true;
      node().enum_values.assign(v.begin(), v.end());
      return Status::Ok();
    }
    if (key == "const") {
      node().has_enum = true;
      node().is_const = true;
      node().enum_values = {v};
      return Status::Ok();
    }
    if (key == "minimum") return number(node().minimum);
    if (key == "maximum") return number(node().maximum);
    if (key == "exclusiveMinimum") return number(node().exclusive_minimum);
    if (key == "exclusiveMaximum") return number(node().exclusive_maximum);
    if (key == "multipleOf") {
      TROIKA_RETURN_IF_ERROR(number(node().multiple_of));
      if (*node().multiple_of <= 0) return bad(kp, "multipleOf must be greater than 0");
      return Status::Ok();
    }
    if (key == "minLength") return count(node().min_length);
    if (key == "maxLength") return count(node().max_length);
    if (key == "pattern") {
      if (!v.is_string()) return bad(kp, "pattern must be a string");
      auto d = regex_dfa(v.get<std::string>(), limits_);
      if (!d.ok()) {
        return Status(d.status().code(), "pattern at '" + kp + "': " + d.status().message());
      }
      node().pattern = v.get<std::string>();
      node().pattern_dfa = add_dfa(std::move(*d));
      return Status::Ok();
    }
    if (key == "format") {
      if (!v.is_string()) return bad(kp, "format must be a string");
      std::string f = v.get<std::string>();
      if (!kFormats.count(f)) return refuse(pointer, "'format: " + f + "'");
      auto d = format_dfa(f);
      if (!d.ok()) return refuse(pointer, "'format: " + f + "'");
      node().format = f;
      node().format_dfa = add_dfa(std::move(*d));
      return Status::Ok();
    }
    if (key == "prefixItems") return schema_list(&SchemaNode::prefix_items);
    if (key == "items") {
      if (v.is_array()) {
        if (out_.draft != Draft::k7) return bad(kp, "items must be a schema (use prefixItems)");
        if (v.empty()) return Status::Ok();
        return schema_list(&SchemaNode::prefix_items);
      }
      return one(&SchemaNode::items);
    }
    if (key == "additionalItems") {
      if (out_.draft != Draft::k7) return Status::Ok();  // not a 2020-12 keyword
      if (!s.contains("items") || !s["items"].is_array()) return Status::Ok();
      auto r = sub(v, escape_pointer_token(key));
      if (!r.ok()) return r.status();
      additional_items_[id] = *r;
      return Status::Ok();
    }
    if (key == "minItems") return count(node().min_items);
    if (key == "maxItems") return count(node().max_items);
    if (key == "uniqueItems") {
      if (!v.is_boolean()) return bad(kp, "uniqueItems must be a boolean");
      node().unique_items = v.get<bool>();
      if (node().unique_items) node().needs_whole_value = true;
      return Status::Ok();
    }
    if (key == "contains") {
      node().needs_whole_value = true;
      return one(&SchemaNode::contains);
    }
    if (key == "minContains") return count(node().min_contains);
    if (key == "maxContains") return count(node().max_contains);
    if (key == "properties" || key == "patternProperties" || key == "dependentSchemas") {
      if (!v.is_object()) return bad(kp, key + " must be an object");
      for (auto& [k, sv] : v.items()) {
        auto r = sub(sv, key + "/" + escape_pointer_token(k));
        if (!r.ok()) return r.status();
        if (key == "properties") {
          node().properties.emplace_back(k, *r);
        } else if (key == "dependentSchemas") {
          node().dependent_schemas[k] = *r;
          node().needs_whole_value = true;
        } else {
          auto d = regex_dfa(k, limits_);
          if (!d.ok()) {
            return Status(d.status().code(),
                          "patternProperties key at '" + kp + "': " + d.status().message());
          }
          node().pattern_properties.push_back({k, add_dfa(std::move(*d)), *r});
        }
      }
      return Status::Ok();
    }
    if (key == "additionalProperties") return one(&SchemaNode::additional_properties);
    if (key == "propertyNames") return one(&SchemaNode::property_names);
    if (key == "required") {
      if (!v.is_array()) return bad(kp, "required must be an array of strings");
      for (const auto& x : v) {
        if (!x.is_string()) return bad(kp, "required must be an array of strings");
        node().required.push_back(x.get<std::string>());
      }
      return Status::Ok();
    }
    if (key == "minProperties") return count(node().min_properties);
    if (key == "maxProperties") return count(node().max_properties);
    if (key == "dependentRequired" || key == "dependencies") {
      if (!v.is_object()) return bad(kp, key + " must be an object");
      if (key == "dependencies" && out_.draft != Draft::k7) return Status::Ok();
      for (auto& [k, dv] : v.items()) {
        if (dv.is_array()) {
          for (const auto& x : dv) {
            if (!x.is_string()) return bad(kp, key + " arrays must hold strings");
            node().dependent_required[k].push_back(x.template get<std::string>());
          }
          node().dependent_required[k];  // present even when empty
        } else {
          if (key == "dependentRequired") return bad(kp, "dependentRequired values are arrays");
          auto r = sub(dv, key + "/" + escape_pointer_token(k));
          if (!r.ok()) return r.status();
          node().dependent_schemas[k] = *r;
        }
      }
      node().needs_whole_value = true;
      return Status::Ok();
    }
    if (key == "allOf") return schema_list(&SchemaNode::all_of);
    if (key == "anyOf") return schema_list(&SchemaNode::any_of);
    if (key == "oneOf") {
      node().needs_whole_value = true;
      return schema_list(&SchemaNode::one_of);
    }
    if (key == "not") {
      node().needs_whole_value = true;
      return one(&SchemaNode::not_schema);
    }
    if (key == "if" || key == "then" || key == "else") {
      TROIKA_RETURN_IF_ERROR(one(key == "if"     ? &SchemaNode::if_schema
                                 : key == "then" ? &SchemaNode::then_schema
                                                 : &SchemaNode::else_schema));
      if (key == "if") node().needs_whole_value = true;
      return Status::Ok();
    }
    if (key == "$ref" || key == "$dynamicRef") {
      if (!v.is_string()) return bad(kp, key + " must be a string");
      std::string text = v.template get<std::string>();
      if (key == "$ref") {
        node().ref_text = text;
      } else {
        out_.uses_dynamic_ref = true;
        auto frag = split_fragment(text).second;
        if (!frag.empty() && frag[0] != '/') node().dynamic_ref_anchor = frag;
      }
      pending_refs_.push_back({id, {node().base, text, key == "$dynamicRef"}});
      return Status::Ok();
    }
    if (key == "unevaluatedProperties" || key == "unevaluatedItems") {
      out_.uses_unevaluated = true;
      node().needs_whole_value = true;
      return one(key == "unevaluatedProperties" ? &SchemaNode::unevaluated_properties
                                                : &SchemaNode::unevaluated_items);
    }
    // Not a JSON Schema keyword (for example "x-order"): no assertion to enforce.
    return Status::Ok();
  }

  int32_t add_dfa(Dfa d) {
    out_.dfas.push_back(std::move(d));
    return static_cast<int32_t>(out_.dfas.size()) - 1;
  }

  Status resolve(int32_t id, const PendingRef& p) {
    std::string target = resolve_uri(p.base, p.ref);
    auto [where, fragment] = split_fragment(target);
    std::string key = where + "#" + percent_decode(fragment);
    // JSON pointer tokens use ~0 and ~1; names_ were registered with the escaped form.
    auto it = names_.find(key);
    if (it == names_.end() && !fragment.empty() && fragment[0] == '/') {
      it = names_.find(where + "#" + fragment);
    }
    if (it == names_.end() && !where.empty() && names_.count(where + "#") == 0) {
      // Another document the caller supplied: compile it into the same graph, then look again.
      auto doc = documents_.find(where);
      if (doc != documents_.end() && loaded_.insert(where).second) {
        Json other = Json::parse(doc->second, nullptr, false);
        if (other.is_discarded()) {
          return invalid_argument("the schema document '" + where + "' is not valid JSON");
        }
        auto added = add(other, where + "#", where, "");
        if (!added.ok()) return added.status();
        name(where + "#", *added);  // also by the URI it was supplied under
        return resolve(id, p);
      }
    }
    if (it == names_.end()) {
      const std::string& ptr = out_.nodes[id].pointer;
      if (!where.empty() && names_.count(where + "#") == 0) {
        return unimplemented("$ref '" + p.ref + "' at '" + (ptr.empty() ? "#" : ptr) +
                             "' points outside the schema document; only references inside "
                             "it are supported (inline the referenced schema under $defs)");
      }
      return invalid_argument("$ref '" + p.ref + "' at '" + (ptr.empty() ? "#" : ptr) +
                              "' does not name a schema in the document");
    }
    (p.dynamic ? out_.nodes[id].dynamic_ref : out_.nodes[id].ref) = it->second;
    return Status::Ok();
  }

 public:
  std::unordered_map<int32_t, int32_t> additional_items_;

 private:
  const Json& doc_;
  DfaLimits limits_;
  CompiledSchema out_;
  const std::map<std::string, std::string>& documents_;
  std::set<std::string> loaded_;
  std::unordered_map<std::string, int32_t> names_;
  std::vector<std::pair<int32_t, PendingRef>> pending_refs_;
};

}  // namespace

Result<CompiledSchema> compile_schema(const Json& doc, const SchemaOptions& options) {
  Draft draft = options.default_draft == SchemaOptions::Draft::k7 ? Draft::k7 : Draft::k202012;
  if (doc.is_object() && doc.contains("$schema")) {
    if (!doc["$schema"].is_string()) return invalid_argument("$schema must be a string");
    std::string s = doc["$schema"].get<std::string>();
    if (s.find("draft-07") != std::string::npos || s.find("draft-06") != std::string::npos) {
      draft = Draft::k7;
    } else if (s.find("draft/2020-12") != std::string::npos ||
               s.find("draft/2019-09") != std::string::npos) {
      draft = Draft::k202012;
    } else {
      return unimplemented("$schema '" + s +
                           "' is not a dialect the engine knows (draft 2020-12 or draft-07)");
    }
  }
  Compiler c(doc, draft, DfaLimits{}, options.documents);
  auto r = c.run();
  if (!r.ok()) return r.status();
  // $dynamicRef depends on how evaluation reached it: the matcher checks such documents whole.
  if (r->uses_dynamic_ref) r->nodes[0].needs_whole_value = true;
  // draft-07 additionalItems applies past the tuple: store it as `items`.
  for (auto [node, add] : c.additional_items_) r->nodes[node].items = add;
  return r;
}

}  // namespace troika::constrain
