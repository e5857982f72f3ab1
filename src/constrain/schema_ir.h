// The compiled form of a JSON Schema: one SchemaNode per schema object, references resolved.
// Shared by the validator (validate.cpp) and the matcher (shape.cpp, matcher.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dfa.h"

namespace troika::constrain {

using Json = nlohmann::json;

enum TypeBit : uint8_t {
  kNull = 1,
  kBoolean = 2,
  kInteger = 4,  // integral numbers; kNumber below implies it
  kNumber = 8,   // any number
  kString = 16,
  kArray = 32,
  kObject = 64,
  kAnyType = 127,
};

enum class Draft { k202012, k7 };

struct PatternProperty {
  std::string pattern;
  int32_t dfa = -1;  // into CompiledSchema::dfas (search semantics)
  int32_t node = -1;
};

struct SchemaNode {
  std::string pointer;   // where it sits in the schema document ("" is the root)
  bool boolean = false;  // a `true`/`false` schema
  bool boolean_value = true;

  uint8_t types = kAnyType;  // after `type`; kAnyType when absent
  bool has_type = false;

  // enum / const (const is an enum of one, remembered for messages)
  bool has_enum = false;
  bool is_const = false;
  std::vector<Json> enum_values;

  // numbers
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;

  // strings
  std::optional<int64_t> min_length, max_length;
  std::optional<std::string> pattern;
  int32_t pattern_dfa = -1;  // search semantics
  std::optional<std::string> format;
  int32_t format_dfa = -1;

  // arrays
  std::vector<int32_t> prefix_items;
  int32_t items = -1;  // schema for items past prefix_items; -1 = no constraint
  std::optional<int64_t> min_items, max_items;
  bool unique_items = false;
  int32_t contains = -1;
  std::optional<int64_t> min_contains, max_contains;

  // objects
  std::vector<std::pair<std::string, int32_t>> properties;  // schema order
  std::vector<PatternProperty> pattern_properties;
  int32_t additional_properties = -1;  // -1 = absent (anything allowed)
  std::vector<std::string> required;
  std::optional<int64_t> min_properties, max_properties;
  int32_t property_names = -1;
  std::map<std::string, std::vector<std::string>> dependent_required;
  std::map<std::string, int32_t> dependent_schemas;

  // combinators and references
  std::vector<int32_t> all_of, any_of, one_of;
  int32_t not_schema = -1;
  int32_t if_schema = -1, then_schema = -1, else_schema = -1;
  int32_t ref = -1;                // resolved target
  std::string ref_text;            // as written, for messages
  bool ref_only = false;           // draft-07: $ref makes the siblings ignored
  int32_t dynamic_ref = -1;        // $dynamicRef, statically resolved
  std::string dynamic_ref_anchor;  // its plain-name fragment ("" for a JSON pointer)
  std::string dynamic_anchor;      // this node's $dynamicAnchor
  std::string base;                // the base URI of the resource this node belongs to
  int32_t unevaluated_properties = -1, unevaluated_items = -1;

  // True when some keyword here can only be checked on the complete value (the matcher then
  // validates the value when it closes).
  bool needs_whole_value = false;
};

struct CompiledSchema {
  Draft draft = Draft::k202012;
  bool uses_unevaluated = false;  // validation must collect evaluated properties and items
  bool uses_dynamic_ref = false;  // validation must track the dynamic scope
  std::map<std::pair<std::string, std::string>, int32_t> dynamic_anchors;  // (base, name)
  std::vector<SchemaNode> nodes;                                           // nodes[0] is the root
  std::vector<Dfa> dfas;
};

}  // namespace troika::constrain
