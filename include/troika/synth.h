// Synthetic models: GGUF files with random weights, a real vocabulary and a real chat template.
//
// Contract: make_random_model() writes a GGUF that llama.cpp loads like any published model of
// the same architecture and shape. Weights are random (a fixed seed gives identical files), so
// the text it generates is meaningless: such models exist for tests, demos, memory planning and
// speed measurements, where weight values do not matter. The vocabulary and its tokenizer
// settings are copied from a vocab-only GGUF (llama.cpp ships several under models/). The file is
// written to a temporary name beside `out_path` and renamed when complete, so a failure never
// leaves a half-written model behind. Not thread-safe with respect to the same out_path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "troika/status.h"

namespace troika::engine {

struct SynthShape {
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t head_dim = 0;     // 0 = n_embd / n_head
  int32_t n_ctx_train = 0;  // training context written to the GGUF
};

// The real dimensions of a seed model ("8b", "7b", "9b", "3.8b", "335m" for bert) or a tiny
// shape ("tiny") for an architecture: "llama", "mistral", "gemma2", "phi3", "bert".
// Errors: invalid_argument naming the valid architectures or shapes.
Result<SynthShape> synth_shape(const std::string& arch, const std::string& shape);

struct SynthOptions {
  std::string arch = "llama";  // llama | mistral | gemma2 | phi3 | bert
  SynthShape shape;            // see synth_shape(); every field but head_dim must be > 0
  std::string vocab_path;      // vocab-only GGUF whose tokenizer.* keys are copied
  std::string chat_template;   // written as tokenizer.chat_template; empty = the family's own
  int32_t n_vocab = 0;         // larger than the vocab file's size: pad it with unused tokens
  std::string type = "f16";    // f32 | f16 | q8_0 | q4_k_m; with sparse, any of file_types()
  // Header only: every tensor gets the type `type` gives it (as llama_model_quantize would
  // choose) and the file is extended to its full length without writing data (a sparse file
  // that reads as zeros and takes no disk). For memory planning: llama.cpp's no_alloc mode, and
  // even real loads, size everything from it; the model computes nothing meaningful.
  bool sparse = false;
  uint64_t seed = 42;          // same seed and options -> byte-identical file
  std::string name;            // general.name; empty = "troika-random-<arch>"
  std::string out_path;        // the .gguf to write
  int32_t n_threads = 0;       // quantization threads; 0 = all
  // Progress in [0, 1] with a short label; may be empty.
  std::function<void(double fraction, const std::string& label)> on_progress;
};

// Errors: invalid_argument (unknown arch/type, bad shape), not_found (vocab file),
// data_loss (vocab file unreadable), unavailable (cannot write out_path), internal.
Status make_random_model(const SynthOptions& options);

// The chat template Troika ships for a family ("llama" = Llama 3.1, "mistral" = Mistral v0.3,
// "gemma2", "phi3"); empty for "bert". These are the templates the published models carry.
std::string family_chat_template(const std::string& arch);

}  // namespace troika::engine
