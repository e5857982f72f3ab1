#include "test_models.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "troika/synth.h"

namespace troika::testing {

namespace fs = std::filesystem;

std::string repo_root() {
  const char* r = std::getenv("TROIKA_ROOT");
  return r ? r : TROIKA_SOURCE_DIR;
}

std::string bin_dir() { return std::string(TROIKA_BINARY_DIR) + "/bin"; }

std::string llama_models_dir() { return repo_root() + "/third_party/llama.cpp/models"; }

std::string temp_dir() {
  static const std::string dir = [] {
    fs::path p = fs::temp_directory_path() / ("troika-test-" + std::to_string(::getpid()));
    fs::create_directories(p);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(temp_dir(), ec);
    });
    return p.string();
  }();
  return dir;
}

std::string tiny_model(const std::string& arch, const std::string& type) {
  fs::path dir = fs::path(TROIKA_BINARY_DIR) / "test-models";
  fs::create_directories(dir);
  fs::path out = dir / (arch + "-tiny-" + type + ".gguf");
  if (fs::exists(out)) return out.string();

  engine::SynthOptions o;
  o.arch = arch;
  auto shape = engine::synth_shape(arch, "tiny");
  if (!shape.ok()) {
    std::fprintf(stderr, "tiny_model: %s\n", shape.status().to_string().c_str());
    std::abort();
  }
  o.shape = *shape;
  const char* vocab = arch == "llama"  ? "llama-bpe"
                      : arch == "phi3" ? "phi-3"
                      : arch == "bert" ? "bert-bge"
                                       : "llama-spm";
  o.vocab_path = llama_models_dir() + "/ggml-vocab-" + vocab + ".gguf";
  o.type = type;
  o.out_path = out.string();
  Status st = engine::make_random_model(o);
  if (!st.ok()) {
    std::fprintf(stderr, "tiny_model(%s): %s\n", arch.c_str(), st.to_string().c_str());
    std::abort();
  }
  return out.string();
}

}  // namespace troika::testing
