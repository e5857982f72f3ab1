// Test support: where the repository is, and tiny synthetic models made on first use.
#pragma once

#include <string>

namespace troika::testing {

// The repository root ($TROIKA_ROOT, set by CTest; else the source dir compiled in).
std::string repo_root();
// llama.cpp's models/ folder (vocab-only GGUFs and tokenizer test vectors).
std::string llama_models_dir();
// The build's bin/ folder (where the troika executable is).
std::string bin_dir();
// A fresh empty directory for this test process.
std::string temp_dir();
// A tiny random-weight model of `arch` ("llama", "mistral", "gemma2", "phi3", "bert") with the
// family's default vocabulary, made once and cached under the build folder. Aborts the test
// binary with a message when it cannot be made (the setup is broken, not the code under test).
std::string tiny_model(const std::string& arch, const std::string& type = "f32");

// The vocab-only GGUF name llama.cpp ships for an architecture's tokenizer ("llama-bpe", ...).
std::string default_vocab(const std::string& arch);
// A header-only ("sparse") GGUF of `arch` at a synth_shape() shape ("8b", "tiny", ...) and a
// file type ("q4_k_m", "f16", ...), its vocabulary padded to `n_vocab` when larger: a full-size
// model for memory measurements that takes no disk. Cached like tiny_model().
std::string sparse_model(const std::string& arch, const std::string& shape, const std::string& type,
                         int n_vocab = 0);

}  // namespace troika::testing
