// Flags shared by the subcommands that load a model.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "troika/engine.h"

namespace troika::cli {

struct ModelFlags {
  std::string path;
  int n_gpu_layers = -1;
  bool no_mmap = false;

  void add_to(CLI::App* cmd, bool required = true) {
    auto* m = cmd->add_option("-m,--model", path, "GGUF model file");
    if (required) m->required();
    cmd->add_option("--gpu-layers", n_gpu_layers,
                    "layers to offload to the GPU (-1 = all; ignored without a GPU build)");
    cmd->add_flag("--no-mmap", no_mmap, "read the file into memory instead of mapping it");
  }
  engine::ModelOptions options(bool vocab_only = false) const {
    engine::ModelOptions o;
    o.n_gpu_layers = n_gpu_layers;
    o.use_mmap = !no_mmap;
    o.vocab_only = vocab_only;
    return o;
  }
};

}  // namespace troika::cli
