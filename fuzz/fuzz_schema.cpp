// Schema text in, the whole engine exercised: compile, validate fixed values, and a constrained
// walk over a small vocabulary. The property that matters most is soundness: a walk that ends
// (end-of-generation accepted) must have produced a value the validator accepts.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "troika/constrain.h"

namespace {

using troika::constrain::Schema;
using troika::fuzz::fail;

// Values every compiled schema must be able to judge (they are all JSON, so validate() may only
// answer valid or invalid, never an error).
const char* const kFixedValues[] = {"null", "0", "\"\"", "[]", "{}"};

constexpr int kMaxSteps = 30;

// `known_valid`: one of kFixedValues that the validator accepts, or null.
void check_walk(const std::shared_ptr<const Schema>& schema, std::string_view schema_text,
                const char* known_valid, uint64_t seed) {
  auto index = troika::fuzz::small_vocab();
  auto made = troika::constrain::json_constraint(schema, index);
  if (!made.ok()) {
    // "The schema accepts nothing" contradicts a value the validator accepts; the other
    // refusals (automata past their limits) are legitimate answers.
    if (made.status().code() == troika::Code::kInvalidArgument && known_valid) {
      fail("json_constraint says " + made.status().to_string() + " but validate() accepts " +
           known_valid + " for schema " + std::string(schema_text));
    }
    return;
  }
  auto& c = **made;
  for (int step = 0; step < kMaxSteps; ++step) {
    if (c.done()) break;
    auto allowed = troika::fuzz::allowed_tokens(c, index->n_vocab());
    if (allowed.empty()) return;  // a dead end: allowed by design for whole-value checks
    // Every token the mask lets through must be accepted by advance(); checking all of them on
    // clones (not only the chosen one) costs ~70 clones and finds unsound masks sooner.
    for (auto t : allowed) {
      if (!c.clone()->advance(t).ok()) {
        fail("mask allows token '" + index->piece(t) + "' but advance() rejects it after '" +
             c.text() + "' for schema " + std::string(schema_text));
      }
    }
    // End when possible half of the time, so that walks finish within the step budget.
    const uint64_t r = troika::fuzz::next_random(seed);
    auto t = allowed[r % allowed.size()];
    if (allowed[0] == 0 && (r >> 32) % 2 == 0) t = 0;
    if (!c.advance(t).ok()) fail("advance() rejected the allowed token '" + index->piece(t) + "'");
    if (index->is_eog(t)) break;
  }
  if (!c.done()) return;  // the step budget ran out before the value closed
  auto errors = schema->validate(c.text());
  if (!errors.ok()) {
    fail("constrained walk produced non-JSON '" + c.text() + "' for schema " +
         std::string(schema_text));
  }
  if (!errors->empty()) {
    fail("constrained walk produced '" + c.text() + "', invalid (" + (*errors)[0].message +
         " at '" + (*errors)[0].schema_path + "') for schema " + std::string(schema_text));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto schema = Schema::compile(text);
  if (!schema.ok()) return 0;
  const char* known_valid = nullptr;
  for (const char* value : kFixedValues) {
    auto errors = (*schema)->validate(value);
    if (!errors.ok()) {
      fail(std::string("validate(") + value + ") failed with " + errors.status().to_string() +
           " for schema " + std::string(text));
    }
    if (errors->empty() && !known_valid) known_valid = value;
  }
  check_walk(*schema, text, known_valid, troika::fuzz::hash_bytes(data, size));
  return 0;
}
