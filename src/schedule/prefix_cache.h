// Private to src/schedule: recent prompt prefixes that keep their KV cells, each in a sequence
// of its own. Lookup finds the longest cached prefix of a prompt; eviction is least recently
// used. Entries are few (bounded by the sequence count), so lookup scans them: O(cached tokens)
// in the worst case, and it stops at the first differing token of each entry.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "troika/engine.h"

namespace troika::schedule {

class PrefixCache {
 public:
  struct Entry {
    int32_t seq = -1;
    std::vector<engine::Token> tokens;
    uint64_t last_used = 0;
  };
  struct Match {
    int32_t seq = -1;    // sequence holding the cells; -1 when nothing matched
    int32_t length = 0;  // matched tokens
  };

  // The longest prefix of `tokens` held by an entry, capped at `max_length`.
  Match lookup(std::span<const engine::Token> tokens, int32_t max_length);
  // lookup() without marking the entry used.
  Match peek(std::span<const engine::Token> tokens, int32_t max_length) const;
  // Adds a prefix held in `seq`. Entries that are prefixes of it (now redundant) are removed and
  // their sequences returned for the caller to free; if an entry already covers `tokens`, the new
  // one is not kept and `seq` itself is returned.
  std::vector<int32_t> insert(int32_t seq, std::vector<engine::Token> tokens);
  // True when an entry holds all of `tokens` (inserting them would add nothing).
  bool covers(std::span<const engine::Token> tokens) const;
  // Removes the least recently used entry; returns its sequence, or -1 when empty.
  int32_t evict_lru();
  int32_t cells() const { return cells_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
  int32_t cells_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace troika::schedule
