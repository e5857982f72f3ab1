// Shapes: what the matcher checks byte by byte for one alternative of one JSON value.
//
// A schema node expands (through allOf/anyOf/oneOf/if/$ref) into alternatives, each a
// conjunction of nodes. A Shape is one alternative merged: the allowed types, one DFA for all of
// its scalar values (strings, numbers, literals), the DFA of its object keys, item and member
// counts, and the nodes that can only be validated on the complete value ("whole" checks).
// Shapes are interned per schema and built lazily as the matcher reaches them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "schema_ir.h"

namespace troika::constrain {

struct Shape {
  uint8_t types = 0;        // kObject / kArray bits tell whether '{' / '[' may start the value
  int32_t scalar_dfa = -1;  // into ShapeTable::dfa(); -1: no scalar allowed
  std::vector<int32_t> obj_nodes, arr_nodes;  // nodes whose object / array keywords apply
  std::vector<int32_t> whole;                 // validated when the value closes
  // objects
  int32_t key_dfa = -1;                // quoted key text; -1 when no key is allowed (only "{}")
  bool keys_finite = false;            // only the names below may be keys
  std::vector<std::string> key_names;  // when keys_finite
  std::vector<uint64_t> key_hashes;    // hash_key of each key name
  std::vector<uint64_t> required_hashes;
  int64_t min_props = 0, max_props = -1;
  // arrays
  int64_t min_items = 0, max_items = -1;
};

uint64_t hash_key(std::string_view key);

class ShapeTable {
 public:
  explicit ShapeTable(const CompiledSchema& schema) : schema_(schema) {}

  // Builds the shapes reachable from the root (members by declared name and for other names,
  // items by index) breadth first, until `max_shapes` exist. Errors are left for later.
  void prewarm(size_t max_shapes);
  // The union of several automata (a lexeme read by alternatives with different DFAs); -1 when
  // it would exceed the limits.
  int32_t union_dfa(const std::vector<int32_t>& ids);
  // The quoted-key DFA for the next key of an object of shape `shape` whose keys so far hash to
  // `used`: with a finite key set the used names are left out, so the automaton never leads
  // into a repeated key. -1 when no key may follow.
  int32_t key_dfa(int32_t shape, std::span<const uint64_t> used);
  // Makes the root a single shape whose scalar DFA is `text` (regex constraints).
  void set_raw_root(Dfa text);
  // The shapes of the root value. Errors: the schema's DFAs grew past limits.
  Result<std::vector<int32_t>> root();
  // The shapes of the value of member `key` of an object of shape `shape` (empty: key refused).
  Result<std::vector<int32_t>> member(int32_t shape, const std::string& key);
  // The shapes of item `index` of an array of shape `shape` (empty: no item may be there).
  Result<std::vector<int32_t>> item(int32_t shape, int64_t index);

  // REQUIRES: ids returned above. Stable references (shapes are never removed).
  const Shape& shape(int32_t id) const { return *shapes_[id]; }
  const Dfa& dfa(int32_t id) const { return *dfas_[id]; }
  // A hash of the automaton's language-defining tables: equal automata share mask caches.
  uint64_t fingerprint(int32_t dfa_id) const { return fingerprints_[dfa_id]; }
  // True when no byte leads out of `state` (a closed string): the lexeme ends there.
  bool final_state(int32_t dfa_id, int32_t state) const { return finals_[dfa_id][state] != 0; }
  const CompiledSchema& schema() const { return schema_; }

 private:
  struct Alt {
    std::vector<int32_t> typed, whole;
  };
  std::vector<Alt> dnf(int32_t node, std::vector<int32_t>& visiting, int depth);
  Result<std::vector<int32_t>> intern(const std::vector<Alt>& alts);
  // Shapes of a value that must match every schema in `sids` (none: some is `false`).
  Result<std::vector<int32_t>> conjunction(const std::vector<int32_t>& sids);
  Result<std::vector<int32_t>> conjunction_uncached(const std::vector<int32_t>& sids);
  Result<int32_t> build(const Alt& alt);
  int32_t add_dfa(Dfa d);

  const CompiledSchema& schema_;
  std::mutex mu_;  // guards everything below; the matcher calls in at value starts only
  std::vector<std::unique_ptr<Shape>> shapes_;
  std::vector<std::unique_ptr<Dfa>> dfas_;
  std::vector<std::vector<uint8_t>> finals_;  // [dfa][state]
  std::vector<uint64_t> fingerprints_;        // [dfa]
  std::map<std::pair<std::vector<int32_t>, std::vector<int32_t>>, int32_t> by_alt_;
  std::map<std::pair<int32_t, std::string>, std::vector<int32_t>> members_;
  std::map<std::vector<int32_t>, std::vector<int32_t>> conjunctions_;
  std::map<std::pair<int32_t, int64_t>, std::vector<int32_t>> items_;
  std::map<std::vector<int32_t>, int32_t> unions_;
  std::map<std::pair<int32_t, std::string>, int32_t> key_dfas_;  // (shape, used-name flags)
  std::vector<int32_t> root_;
  bool have_root_ = false;
};

}  // namespace troika::constrain
