// Checkpoint conversion: a model as published (Hugging Face folder in BF16/F16/F32, ModelOpt
// FP8/NVFP4, AutoFP8, compressed-tensors FP8, AutoAWQ int4, bitsandbytes 4-bit, Mistral's
// native layout, gemma_pytorch's model.ckpt, onnxruntime-genai ONNX int4) to one GGUF file that
// llama.cpp loads, with its tokenizer, special tokens and chat template. Architectures:
// LlamaForCausalLM, MistralForCausalLM, Gemma2ForCausalLM, Phi3ForCausalLM.
//
// Contract: inputs are memory-mapped and converted one tensor at a time (peak memory: about
// one f32 copy of the largest tensor plus its output); the output is written under a temporary
// name beside `out` and renamed only when complete, so a failed or interrupted conversion never
// leaves a partial file at `out`. Errors name the file and tensor: not_found (no checkpoint),
// data_loss (truncated or corrupt file, missing or misshapen tensor, extra tensor),
// unimplemented (an architecture, quantisation or tokenizer Troika cannot convert),
// invalid_argument (bad options), resource_exhausted (disk full).
// Thread safety: convert() may run concurrently on different outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::convert {

struct ConvertOptions {
  // Output type: "auto" (BF16 sources stay bf16, F16/F32 become f16, FP8 becomes q8_0, NVFP4
  // becomes nvfp4 (lossless re-layout, per-tensor scales as "<name>.scale"), other 4-bit sources
  // q4_1 (AWQ: lossless re-layout)), "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
  // "q5_1", "nvfp4", or a llama.cpp mix ("q4_k_m", "q5_k_m", "q6_k", ...) applied after an
  // intermediate f16/bf16 file. output_types() lists them all.
  std::string type = "auto";
  int n_threads = 0;       // 0 = all hardware threads
  bool progress = false;   // draw a progress bar on stderr
  std::string name;        // general.name; empty = the checkpoint folder's name
};

struct ConvertReport {
  std::string architecture;   // GGUF architecture: "llama", "gemma2", "phi3"
  std::string source;         // "hf safetensors BF16", "hf awq", "onnx", ...
  std::string tokenizer;      // which tokenizer file and kind
  std::string out_type;       // the type asked for, resolved ("bf16" for "auto" on BF16)
  int64_t n_tensors = 0;
  uint64_t bytes_in = 0;      // weight files read
  uint64_t bytes_out = 0;     // GGUF written
  double seconds = 0;
  std::vector<std::string> notes;  // decisions worth knowing (ignored config keys, ...)
};

Result<ConvertReport> convert(const std::string& src, const std::string& out,
                              const ConvertOptions& options = {});

std::vector<std::string> output_types();

// A checkpoint's tensors as the converter sees them: Hugging Face names, float shapes, and how
// each is stored. For inspection (`troika convert --list`) and tests.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // outermost first
  std::string format;          // "BF16", "FP8 per-tensor", "AWQ int4 g128", ...
  std::string file;
};
Result<std::vector<TensorInfo>> list_tensors(const std::string& src);
// One tensor decoded to f32, row-major. Errors: not_found (no such tensor) and as convert().
Result<std::vector<float>> read_tensor(const std::string& src, const std::string& name);

}  // namespace troika::convert
