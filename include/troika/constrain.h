// Constrained output: JSON Schema and regular expressions as token masks, a validator, repair.
//
// Contract: Schema::compile() turns a JSON Schema (draft 2020-12 or draft-07) into a compiled,
// immutable schema that validates JSON values (validate()) and, bound to a model's vocabulary
// through a TokenIndex, yields decoding constraints (json_constraint()) for the scheduler. A
// keyword the engine cannot enforce is a compile error (unimplemented) naming the keyword and its
// JSON pointer; it is never ignored. Every value a constraint lets through is valid against the
// schema: checks that cannot be made byte by byte (uniqueItems, oneOf, not, ...) run when the
// value they apply to closes, so a masked token is never one that leads to an invalid document.
//
// Output form: constrained JSON is written in one canonical compact form (no whitespace between
// tokens, strings escaped as nlohmann::json dumps them, integral numbers without a fraction)
// unless ConstraintOptions::whitespace allows more.
//
// Thread safety: Schema and TokenIndex are immutable and shared freely. A Constraint belongs to
// one sequence; clones are independent. Masks computed for one state are cached in the shared
// compiled grammar (guarded internally).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "troika/engine.h"
#include "troika/schedule.h"
#include "troika/status.h"

namespace troika::constrain {

// ---- Schemas and validation ------------------------------------------------------------

struct SchemaOptions {
  enum class Draft { k202012, k7 };
  // The dialect when the schema has no $schema (a $schema naming draft-07 or 2020-12 wins).
  Draft default_draft = Draft::k202012;
  // Other schema documents by absolute URI (without '#'), for $ref to them; nothing is ever
  // fetched. A $ref to a document neither here nor in the schema is an unimplemented error.
  std::map<std::string, std::string> documents;
};

struct ValidationError {
  std::string instance_path;  // JSON pointer into the value ("" is the value itself)
  std::string schema_path;    // JSON pointer of the failing keyword ("/properties/age/minimum")
  std::string message;        // "-3 is less than the minimum 0"
};

class Schema {
 public:
  // Compiles a JSON Schema text. Errors: invalid_argument (not JSON, or a malformed schema, with
  // the JSON pointer of the fault); unimplemented (a keyword or reference the engine cannot
  // enforce, e.g. unevaluatedProperties, $dynamicRef, a $ref outside the document, an unknown
  // format); resource_exhausted (a pattern whose automaton is too large).
  static Result<std::shared_ptr<const Schema>> compile(std::string_view schema_json,
                                                       const SchemaOptions& options = {});
  ~Schema();

  // Every way `json_text` fails the schema (empty when valid). Errors: invalid_argument when
  // the text is not one JSON value.
  Result<std::vector<ValidationError>> validate(std::string_view json_text) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Schema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Token-level constraints ---------------------------------------------------------------

// A model's vocabulary as the mask engine needs it: each token's bytes in a trie.
class TokenIndex {
 public:
  // Errors: invalid_argument when `model` is null.
  static Result<std::shared_ptr<const TokenIndex>> create(
      std::shared_ptr<const engine::Model> model);
  // The same, built once per model while anyone holds it (every caller then shares one index:
  // the host's local roles, the pipelines). Thread-safe.
  static Result<std::shared_ptr<const TokenIndex>> shared(
      std::shared_ptr<const engine::Model> model);
  // From token texts directly (tests, benchmarks); no tokenizer, so no jump-forward.
  static std::shared_ptr<const TokenIndex> from_pieces(std::vector<std::string> pieces,
                                                       std::vector<engine::Token> eog);
  ~TokenIndex();

  int32_t n_vocab() const;
  const std::string& piece(engine::Token token) const;  // "" for control tokens
  bool is_eog(engine::Token token) const;
  const std::vector<engine::Token>& eog() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit TokenIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ConstraintOptions {
  int32_t max_whitespace = 0;  // whitespace bytes allowed between JSON tokens; 0: compact
  int32_t max_depth = 64;      // deepest nesting of arrays and objects
  bool jump_forward = true;    // emit forced continuations without sampling
};

// Counters of a constraint, shared with its clones (the scheduler runs clones).
struct ConstraintStats {
  int64_t masks = 0;  // fill_mask calls
  int64_t mask_cache_hits = 0;
  double mask_us = 0;  // total time in fill_mask
  double max_mask_us = 0;
  int64_t forced_tokens = 0;  // tokens returned by forced()
};

// A constraint that also reports its text and counters.
class TextConstraint : public schedule::Constraint {
 public:
  // The bytes accepted so far.
  virtual const std::string& text() const = 0;
  virtual const ConstraintStats& stats() const = 0;
  // Moves past the raw bytes `bytes` (not token-aligned). Errors: invalid_argument when the
  // bytes leave every valid document.
  virtual Status advance_bytes(std::string_view bytes) = 0;
};

// A constraint producing one JSON value valid against `schema`, written in the canonical form
// (see the top of this file). The compiled grammar (shapes, automata, mask caches) is shared by
// the clones; a constraint and its clones must be used from one thread at a time (the
// scheduler's step thread). Errors: invalid_argument (the schema accepts nothing),
// resource_exhausted (automata past their limits).
Result<std::unique_ptr<TextConstraint>> json_constraint(std::shared_ptr<const Schema> schema,
                                                        std::shared_ptr<const TokenIndex> index,
                                                        const ConstraintOptions& options = {});
// Any JSON value (the schema `true`).
Result<std::unique_ptr<TextConstraint>> any_json_constraint(std::shared_ptr<const TokenIndex> index,
                                                            const ConstraintOptions& options = {});
// Text that matches an ECMA-262 regular expression in full (see the regex subset in
// docs/constrain.md). Errors: invalid_argument / unimplemented for the pattern.
Result<std::unique_ptr<TextConstraint>> regex_constraint(std::string_view pattern,
                                                         std::shared_ptr<const TokenIndex> index);

// ---- Repair -------------------------------------------------------------------------------

struct RepairResult {
  std::string json;                // the repaired value, compact JSON
  std::vector<std::string> fixes;  // what was changed, in order ("removed a code fence", ...)
};

// Deterministic repair of near-JSON as language models write it: prose and code fences around
// the value, comments, trailing or missing commas, single or typographic quotes, unquoted keys,
// Python literals (True/False/None), unescaped control characters and inner quotes in strings,
// and missing closing brackets or quotes after truncation; `fixes` names each change and its
// byte offset. Input that is already JSON comes back unchanged (re-serialised compactly, member
// order kept; of duplicate keys the last) with no fixes.
// The guesses it makes: a member cut off before its value gets null ({"a": -> {"a":null});
// NaN, Infinity and undefined become null; several top-level containers become one array
// (newline-delimited JSON); of several bracketed candidates in prose, the one covering the most
// text wins; bytes that are not UTF-8 become U+FFFD.
// Errors: invalid_argument when no JSON value can be recovered, e.g. the text is only prose
// ("no JSON value found: ...", naming the offset that failed), or when the value nests deeper
// than 512 arrays and objects.
Result<RepairResult> repair_json(std::string_view text);

}  // namespace troika::constrain
