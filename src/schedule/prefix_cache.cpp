#include "schedule/prefix_cache.h"

#include <algorithm>

namespace troika::schedule {

PrefixCache::Match PrefixCache::peek(std::span<const engine::Token> tokens,
                                     int32_t max_length) const {
  Match best;
  for (const auto& e : entries_) {
    const size_t n = std::min({e.tokens.size(), tokens.size(), static_cast<size_t>(max_length)});
    size_t i = 0;
    while (i < n && e.tokens[i] == tokens[i]) ++i;
    if (static_cast<int32_t>(i) > best.length) best = {e.seq, static_cast<int32_t>(i)};
  }
  return best;
}

PrefixCache::Match PrefixCache::lookup(std::span<const engine::Token> tokens, int32_t max_length) {
  const Match best = peek(tokens, max_length);
  if (best.seq >= 0) {
    for (auto& e : entries_) {
      if (e.seq == best.seq) e.last_used = ++clock_;
    }
  }
  return best;
}

std::vector<int32_t> PrefixCache::insert(int32_t seq, std::vector<engine::Token> tokens) {
  std::vector<int32_t> freed;
  for (auto& e : entries_) {
    if (e.tokens.size() >= tokens.size() &&
        std::equal(tokens.begin(), tokens.end(), e.tokens.begin())) {
      e.last_used = ++clock_;
      return {seq};
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->tokens.size() < tokens.size() &&
        std::equal(it->tokens.begin(), it->tokens.end(), tokens.begin())) {
      freed.push_back(it->seq);
      cells_ -= static_cast<int32_t>(it->tokens.size());
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  cells_ += static_cast<int32_t>(tokens.size());
  entries_.push_back({seq, std::move(tokens), ++clock_});
  return freed;
}

bool PrefixCache::covers(std::span<const engine::Token> tokens) const {
  for (const auto& e : entries_) {
    if (e.tokens.size() >= tokens.size() &&
        std::equal(tokens.begin(), tokens.end(), e.tokens.begin())) {
      return true;
    }
  }
  return false;
}

int32_t PrefixCache::evict_lru() {
  if (entries_.empty()) return -1;
  auto it = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.last_used < b.last_used;
  });
  int32_t seq = it->seq;
  cells_ -= static_cast<int32_t>(it->tokens.size());
  entries_.erase(it);
  return seq;
}

}  // namespace troika::schedule
