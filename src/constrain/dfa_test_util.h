// Helpers shared by the automata tests (dfa_test, regex_test, format_test).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "constrain/dfa.h"

namespace troika::constrain {

inline Dfa must(Result<Dfa> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : Dfa();
}

inline Dfa full(std::string_view pattern) { return must(regex_full_dfa(pattern)); }
inline Dfa search(std::string_view pattern) { return must(regex_dfa(pattern)); }

// Every string over `alphabet` of length 0..max_len.
inline std::vector<std::string> all_strings(std::string_view alphabet, int max_len) {
  std::vector<std::string> out{""};
  for (size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int>(out[i].size()) == max_len) continue;
    for (char c : alphabet) out.push_back(out[i] + c);
  }
  return out;
}

}  // namespace troika::constrain
