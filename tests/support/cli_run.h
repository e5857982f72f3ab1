// Runs the troika executable as a user would, for the end-to-end tests.
#pragma once

#include <string>

namespace troika::testing {

struct CliRun {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string out;
  std::string err;
};

// `troika ARGS` through the shell (ARGS may quote), with `input` on stdin; stdout and stderr
// captured in this process's temp_dir().
CliRun troika(const std::string& args, const std::string& input = "");

// The whole of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

}  // namespace troika::testing
