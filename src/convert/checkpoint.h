// A checkpoint folder opened as float tensors under Hugging Face names, whatever its format.
//
// Formats: Hugging Face folders (config.json + *.safetensors, sharded through
// model.safetensors.index.json) with plain BF16/F16/F32 weights or one of the quantisations
// ModelOpt FP8 / NVFP4 (hf_quant_config.json or config.quantization_config), AutoFP8
// (quant_method "fp8"), compressed-tensors FP8, AutoAWQ GEMM int4, bitsandbytes 4-bit;
// Mistral's native layout (params.json + consolidated.safetensors); gemma_pytorch's model.ckpt;
// onnxruntime-genai's ONNX (MatMulNBits). The readers keep the files mapped; tensors are
// decoded only when read.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/tensor.h"

namespace troika::convert {

struct Checkpoint {
  std::string dir;
  std::string layout;        // "hf", "mistral-native", "gemma-pytorch", "onnx"
  std::string quantization;  // "" (plain floats), "modelopt-fp8", "modelopt-nvfp4", "autofp8",
                             // "compressed-tensors-fp8", "awq", "bitsandbytes-nf4", ...
  nlohmann::json config;     // config.json in Hugging Face form (synthesised for other layouts)
  std::vector<SourceTensor> tensors;         // in file order
  std::map<std::string, size_t> by_name;     // name -> index in tensors
  std::vector<std::shared_ptr<MappedFile>> files;
  uint64_t bytes_on_disk = 0;  // total size of the weight files
  bool qk_interleaved = false;  // q/k rows already in rotary-pair order (Mistral native)

  // Fills by_name from tensors. Errors: data_loss naming `where` when a name repeats.
  Status index(const std::string& where) {
    by_name.clear();
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!by_name.emplace(tensors[i].name, i).second) {
        return data_loss(where + ": tensor '" + tensors[i].name + "' appears twice");
      }
    }
    return {};
  }

  const SourceTensor* find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &tensors[it->second];
  }
};

// Opens a folder. Errors: not_found (no folder, no config, no weight files), data_loss (a
// corrupt file, a tensor listed in the index but absent), unimplemented (a quantisation
// method or tensor dtype Troika cannot read, naming the tensor and file), invalid_argument.
Result<std::shared_ptr<Checkpoint>> open_checkpoint(const std::string& dir);

// The readers behind open_checkpoint, one per layout.
Result<std::shared_ptr<Checkpoint>> open_hf_folder(const std::string& dir);
Result<std::shared_ptr<Checkpoint>> open_mistral_native(const std::string& dir);
Result<std::shared_ptr<Checkpoint>> open_gemma_pytorch(const std::string& ckpt_path);
Result<std::shared_ptr<Checkpoint>> open_onnx(const std::string& path);

// Reads a JSON file. Errors: not_found, data_loss (not JSON; names the file and position).
Result<nlohmann::json> read_json_file(const std::string& path);

}  // namespace troika::convert
