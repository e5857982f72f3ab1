// Test support: writes checkpoints in published layouts from known floats, so converter tests
// can compare what the converter decodes with what went in. Quantizers follow each format's
// own recipe (ModelOpt/AutoFP8 per-tensor FP8, ModelOpt NVFP4, AutoAWQ GEMM with zero points,
// bitsandbytes NF4 with double quantisation); none of them shares code with the converter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troika/status.h"

namespace troika::testing {

struct FloatTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct StoredTensor {
  std::string name;
  std::string dtype;  // safetensors spelling: "F32", "BF16", "F8_E4M3", "U8", "I32", "F16"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

Status write_safetensors(const std::string& path, const std::vector<StoredTensor>& tensors);
StoredTensor stored_f32(const FloatTensor& t);

uint8_t f32_to_e4m3(float v);  // nearest E4M3 value, saturating at 448
uint16_t f32_to_f16(float v);

// Each returns the tensors that replace `w` ("<module>.weight", [out, in]) in that format.
std::vector<StoredTensor> quantize_fp8(const FloatTensor& w);                 // weight + weight_scale + input_scale
std::vector<StoredTensor> quantize_nvfp4(const FloatTensor& w);               // + weight_scale_2
std::vector<StoredTensor> quantize_awq(const FloatTensor& w, int64_t group);  // qweight, qzeros, scales
std::vector<StoredTensor> quantize_nf4(const FloatTensor& w, int64_t blocksize = 64);  // with double quant

// The worst error each format allows for element i of w (used by the round-trip tests).
std::vector<float> fp8_error_bound(const FloatTensor& w);
std::vector<float> nvfp4_error_bound(const FloatTensor& w);
std::vector<float> awq_error_bound(const FloatTensor& w, int64_t group);
std::vector<float> nf4_error_bound(const FloatTensor& w, int64_t blocksize = 64);

// Copies a fixture folder's config and tokenizer files to `out_dir` and writes its weights in
// `format` ("fp8-modelopt", "fp8-autofp8", "fp8-compressed-tensors", "nvfp4", "awq", "nf4"):
// linear weights inside the decoder blocks are quantized, everything else stays F32; config.json
// (or hf_quant_config.json) declares the method as the published checkpoints do.
Status make_quantized_checkpoint(const std::string& fixture_dir, const std::string& out_dir,
                                 const std::string& format, int64_t awq_group = 32);

// Reads every tensor of a plain float fixture (through the converter's reader).
std::vector<FloatTensor> read_float_tensors(const std::string& dir);

}  // namespace troika::testing
