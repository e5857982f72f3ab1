// Shared pieces of the fuzz targets: a small vocabulary, a deterministic chooser seeded from the
// input, and a loud failure that libFuzzer records as a crash.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "troika/constrain.h"

namespace troika::fuzz {

// The vocabulary of src/constrain/constrain_test.cpp, plus single digits and letters so that
// numbers, enums and patterns of the corpus schemas can be spelled. Token 0 ends generation.
inline std::shared_ptr<const constrain::TokenIndex> small_vocab() {
  static const std::shared_ptr<const constrain::TokenIndex> index = [] {
    std::vector<std::string> pieces = {
        "<eos>", "{",   "}",  "[",  "]",    ",",   ":",      "\"",    "\":",     "\",",    "\"}",
        "{\"",   "a",   "b",  "ab", "name", "age", "\"name", "\"age", "tags",    "\"tags", "0",
        "1",     "2",   "12", "-",  ".",    "5",   "e",      "true",  "false",   "null",   "tr",
        "ue",    "nu",  "\\", "n",  "\"\\", " ",   "\n",     "é",     "x",       "y",      "1.5",
        "\":\"", "\"]", "],", "},", "@",    "id",  "\"id",   "3",     "7",       "9",      "c",
        "z",     "A",   "+",  "E",  "u",    "\\u", "00",     "é\"",   "\"zz\":", "f",      "o"};
    return constrain::TokenIndex::from_pieces(std::move(pieces), {0});
  }();
  return index;
}

// FNV-1a: a stable seed from the input, so that a crash replays exactly.
inline uint64_t hash_bytes(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

// splitmix64: cheap, deterministic, and good enough to spread choices.
inline uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline std::vector<engine::Token> allowed_tokens(constrain::TextConstraint& c, int32_t n_vocab) {
  engine::TokenMask mask(n_vocab, false);
  c.fill_mask(mask);
  std::vector<engine::Token> allowed;
  for (engine::Token t = 0; t < n_vocab; ++t) {
    if (mask.allows(t)) allowed.push_back(t);
  }
  return allowed;
}

// A broken invariant: print what is needed to understand it and abort, which libFuzzer (and
// the replay driver's exit status) reports as a crash.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "FUZZ INVARIANT BROKEN: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace troika::fuzz
