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
  // The path lives in a buffer that is never destroyed: the exit handler below runs after static
  // destructors, and it once read a destroyed std::string here, whose freed memory can hold any
  // path by then (a test run removed its working directory, the repository, that way).
  static char path[4096] = {0};
  static const bool made = [] {
    fs::path p = fs::temp_directory_path() / ("troika-test-" + std::to_string(::getpid()));
    fs::create_directories(p);
    std::snprintf(path, sizeof(path), "%s", p.c_str());
    std::atexit([] {
      // Only ever this process's own folder under the system's temporary directory.
      const std::string mine = "troika-test-" + std::to_string(::getpid());
      const fs::path p(path);
      if (p.is_absolute() && p.filename() == mine) {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    });
    return true;
  }();
  (void)made;
  return path;
}

std::string default_vocab(const std::string& arch) {
  return arch == "llama"  ? "llama-bpe"
         : arch == "phi3" ? "phi-3"
         : arch == "bert" ? "bert-bge"
                          : "llama-spm";
}

namespace {

// Makes (once) a synthetic model of `arch` at a synth_shape() shape under build/test-models.
// Aborts the test binary when it cannot: the setup is broken, not the code under test.
std::string cached_model(const std::string& arch, const std::string& shape_name,
                         const std::string& type, bool sparse, int n_vocab, const fs::path& out) {
  if (fs::exists(out)) return out.string();
  fs::create_directories(out.parent_path());
  engine::SynthOptions o;
  o.arch = arch;
  auto shape = engine::synth_shape(arch, shape_name);
  if (!shape.ok()) {
    std::fprintf(stderr, "test model: %s\n", shape.status().to_string().c_str());
    std::abort();
  }
  o.shape = *shape;
  o.vocab_path = llama_models_dir() + "/ggml-vocab-" + default_vocab(arch) + ".gguf";
  o.type = type;
  o.sparse = sparse;
  o.n_vocab = n_vocab;
  o.out_path = out.string();
  Status st = engine::make_random_model(o);
  if (!st.ok()) {
    std::fprintf(stderr, "test model %s: %s\n", out.c_str(), st.to_string().c_str());
    std::abort();
  }
  return out.string();
}

}  // namespace

std::string sparse_model(const std::string& arch, const std::string& shape_name,
                         const std::string& type, int n_vocab) {
  const fs::path out = fs::path(TROIKA_BINARY_DIR) / "test-models" / "sparse" /
                       (arch + "-" + shape_name + "-" + type +
                        (n_vocab ? "-v" + std::to_string(n_vocab) : "") + ".gguf");
  return cached_model(arch, shape_name, type, /*sparse=*/true, n_vocab, out);
}

std::string tiny_model(const std::string& arch, const std::string& type) {
  const fs::path out =
      fs::path(TROIKA_BINARY_DIR) / "test-models" / (arch + "-tiny-" + type + ".gguf");
  return cached_model(arch, "tiny", type, /*sparse=*/false, 0, out);
}

}  // namespace troika::testing
