// Masks against stepping: for one of a few fixed schemas, feed the input's bytes one at a time
// and, before each, check that the mask from fill_mask() allows exactly the tokens that a clone
// accepts. Input: the first byte picks the schema; the bytes after the first newline (or after
// the first byte when there is none) are the document.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "troika/constrain.h"

namespace {

using troika::constrain::Schema;
using troika::constrain::TextConstraint;
using troika::fuzz::fail;

// One schema per family of matcher states: objects with required members, enums and
// uniqueItems, anyOf with patterns, additional properties, recursion, oneOf/not (checked when
// the value closes), string formats, and anything.
const char* const kSchemas[] = {
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":3},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false})",
    R"({"type":"array","items":{"enum":["a","b",12,true,null]},"minItems":1,"maxItems":3,"uniqueItems":true})",
    R"({"anyOf":[{"type":"string","pattern":"^a+$"},{"type":"integer","multipleOf":2},{"type":"null"}]})",
    R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"}}},"additionalProperties":{"type":"boolean"},"minProperties":1,"maxProperties":2})",
    R"({"$defs":{"node":{"type":"object","properties":{"id":{"type":"integer"},"name":{"$ref":"#/$defs/node"}},"required":["id"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
    R"({"oneOf":[{"type":"integer","minimum":10},{"type":"integer","maximum":15}],"not":{"const":12}})",
    R"({"type":"object","properties":{"id":{"type":"string","format":"date"},"x":{"type":"number","exclusiveMinimum":-1.5,"multipleOf":0.5}},"patternProperties":{"^a":{"type":"null"}}})",
    R"(true)",
};
constexpr size_t kNumSchemas = sizeof(kSchemas) / sizeof(kSchemas[0]);
constexpr size_t kMaxDocumentBytes = 512;

const std::shared_ptr<const Schema>& schema_at(size_t i) {
  static const auto schemas = [] {
    std::vector<std::shared_ptr<const Schema>> v;
    for (const char* s : kSchemas) {
      auto compiled = Schema::compile(s);
      if (!compiled.ok()) fail("fixed schema does not compile: " + std::string(s));
      v.push_back(*compiled);
    }
    return v;
  }();
  return schemas[i];
}

// The mask must allow a token exactly when a clone accepts it; when it allows the end, the text
// so far must be valid (the end is where whole-value checks have run).
void check_mask(TextConstraint& c, const Schema& schema, size_t schema_index) {
  auto index = troika::fuzz::small_vocab();
  troika::engine::TokenMask mask(index->n_vocab(), false);
  c.fill_mask(mask);
  for (troika::engine::Token t = 0; t < index->n_vocab(); ++t) {
    const bool accepted = c.clone()->advance(t).ok();
    if (mask.allows(t) != accepted) {
      fail(std::string("mask ") + (mask.allows(t) ? "allows" : "forbids") + " token '" +
           index->piece(t) + "' but advance() " + (accepted ? "accepts" : "rejects") +
           " it after '" + c.text() + "' for schema " + kSchemas[schema_index]);
    }
  }
  if (mask.allows(0)) {
    auto errors = schema.validate(c.text());
    if (!errors.ok() || !errors->empty()) {
      fail("the mask allows ending after '" + c.text() + "', which is " +
           (errors.ok() ? "invalid: " + (*errors)[0].message : "not JSON") + ", for schema " +
           kSchemas[schema_index]);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t which = data[0] % kNumSchemas;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (auto nl = rest.find('\n'); nl != std::string_view::npos) rest.remove_prefix(nl + 1);
  // Each byte costs a clone and a step per token; past a few hundred bytes (deeper than
  // max_depth) longer inputs only slow the fuzzer down.
  rest = rest.substr(0, kMaxDocumentBytes);
  const auto& schema = schema_at(which);
  auto made = troika::constrain::json_constraint(schema, troika::fuzz::small_vocab());
  if (!made.ok()) fail("json_constraint failed on fixed schema " + std::string(kSchemas[which]));
  auto& c = **made;
  for (char byte : rest) {
    if (c.done()) break;
    check_mask(c, *schema, which);
    // A rejected byte is skipped, not the end: the fuzzer then reaches deeper states with
    // fewer exact inputs. A rejection must leave the constraint as it was.
    const std::string before = c.text();
    if (!c.advance_bytes(std::string_view(&byte, 1)).ok() && c.text() != before) {
      fail("a rejected byte changed the text from '" + before + "' to '" + c.text() + "'");
    }
  }
  if (!c.done()) check_mask(c, *schema, which);
  return 0;
}
