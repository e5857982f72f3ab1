// Running the npm oracles of tests/oracles/ from C++ tests: one JSON request on stdin, one JSON
// answer on stdout. Header-only, so tests that link no model (repair, validator) can use it.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace troika::testing {

// The repository root: $TROIKA_ROOT, else the first of the source tree (from this header's
// path) and the working directory (CTest runs tests there) that holds tests/oracles/.
inline std::string oracle_root() {
  namespace fs = std::filesystem;
  std::vector<fs::path> tries;
  if (const char* r = std::getenv("TROIKA_ROOT")) tries.emplace_back(r);
  tries.push_back(fs::path(__FILE__).parent_path().parent_path().parent_path());
  tries.push_back(fs::current_path());
  for (const auto& p : tries) {
    if (fs::exists(p / "tests/oracles")) return p.string();
  }
  return "";
}

struct OracleRun {
  bool missing = false;  // node or the npm package is not installed (run scripts/setup)
  std::string error;     // it is installed but did not answer with JSON
  nlohmann::json answer;
};

// Runs `node tests/oracles/<script>` with `request` on stdin. `package` is the npm package it
// needs under node_modules/ (checked first, so that a missing install is told apart from a
// failure).
inline OracleRun run_oracle(const std::string& script, const std::string& package,
                            const std::string& request) {
  namespace fs = std::filesystem;
  OracleRun r;
  const std::string root = oracle_root();
  if (root.empty() || !fs::exists(fs::path(root) / "node_modules" / package / "package.json") ||
      std::system("node --version > /dev/null 2>&1") != 0) {
    r.missing = true;
    return r;
  }
  const fs::path in = fs::temp_directory_path() /
                      ("troika-oracle-" + std::to_string(::getpid()) + "-" + script + ".json");
  std::ofstream(in) << request;
  const std::string cmd = "node " + root + "/tests/oracles/" + script + " < " + in.string();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    r.error = "cannot run: " + cmd;
    return r;
  }
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int rc = pclose(p);
  std::error_code ec;
  fs::remove(in, ec);
  r.answer = nlohmann::json::parse(out, nullptr, false);
  if (rc != 0 || r.answer.is_discarded()) {
    r.error = cmd + " exited with " + std::to_string(rc) + " and wrote " + out.substr(0, 200);
  }
  return r;
}

}  // namespace troika::testing
