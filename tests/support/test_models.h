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

}  // namespace troika::testing
