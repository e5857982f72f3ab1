// Streams an ArchPlan into a GGUF file: metadata first, then each tensor read from its source,
// transformed, converted to its output type and appended, all under a temporary name that is
// renamed over the destination only when every byte is written.
#pragma once

#include <functional>
#include <string>

#include "convert/arch.h"
#include "ggml.h"

namespace troika::convert {

struct WriteOptions {
  ggml_type type = GGML_TYPE_F16;  // for 2-D weights; 1-D tensors stay f32
  int n_threads = 1;
  // Called after each tensor with bytes written so far and the total.
  std::function<void(const OutTensor&, uint64_t done, uint64_t total)> on_tensor;
};

// The type `t` is written as under `opts` (f32 for norms, f16 where rows do not fit the
// block size of a quantized type).
ggml_type tensor_type(const OutTensor& t, ggml_type wanted);

// Fills the float data of `t`: reads and concatenates its parts and applies its transform.
// out: numel(t.shape) floats.
Status materialize(const OutTensor& t, float* out);

// `g` holds the key-values; the tensors' infos are added here. Returns bytes written.
Result<uint64_t> write_gguf(gguf_context* g, const ArchPlan& plan, const std::string& out,
                            const WriteOptions& opts);

}  // namespace troika::convert
