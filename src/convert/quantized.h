// From the raw tensors of a (possibly quantized) Hugging Face checkpoint to float tensors under
// their module names: `q_proj.qweight` + `qzeros` + `scales` (AWQ) become `q_proj.weight`, an FP8
// `weight` with its `weight_scale` becomes one float tensor, and so on. Auxiliary tensors
// (scales, zero points, activation scales) are consumed; anything left that is not a float
// tensor is an error naming it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/tensor.h"

namespace troika::convert {

struct QuantConfig {
  std::string method;     // quant_method, lower case: "", "modelopt", "fp8", "awq", ...
  std::string algo;       // ModelOpt's quant_algo: "fp8", "nvfp4", "w4a16_nvfp4"
  nlohmann::json params;  // the quantization_config object (or hf_quant_config's)
  std::string describe() const { return algo.empty() ? method : method + "-" + algo; }
};

// A stored float tensor (F32/F16/BF16/F64, or FP8 without scales) as it is; reading any other
// dtype fails with unimplemented.
SourceTensor float_tensor(const RawTensor& t);

Result<std::vector<SourceTensor>> decode_tensors(const std::vector<RawTensor>& raw,
                                                 const QuantConfig& quant);

}  // namespace troika::convert
