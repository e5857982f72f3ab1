// The shared driver of the pipeline commands.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace troika::cli {

struct PipelineFlags {
  std::string model, role, config, in, request, exec;
  std::vector<std::string> dirs;
  bool json = false, stats = false;
  int32_t threads = 0, ctx = 8192, parallel = 16, gpu_layers = -1;
  void add_to(CLI::App* cmd, bool model_flag = true);
};

// Prints one response for people (without --json).
using Printer = std::function<void(const nlohmann::json& response)>;

// Builds the requests (--in lines, or --request with `from_flags` merged over it), runs them on
// the target, prints the responses in order; returns the exit code.
int run_pipeline(const std::string& name, const PipelineFlags& flags,
                 const nlohmann::json& from_flags, const Printer& print);

}  // namespace troika::cli
