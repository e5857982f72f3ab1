// FNV-1a, 64-bit: a fast, stable hash of bytes for content ids and cache slots (private to src/;
// not cryptographic, not part of the public API).
#pragma once

#include <cstdint>
#include <string_view>

namespace troika {

inline uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace troika
