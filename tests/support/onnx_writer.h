// Test support: writes a Phi-3 decoder in the layout of onnxruntime-genai's model builder (a
// .onnx protobuf plus one .onnx.data external-data file), so the ONNX reader can be tested
// without Python, onnx or onnxruntime.
//
// Names follow the builder (src/python/py/models/builder.py, 2024) and onnxruntime's
// MatMul4BitsQuantizer, which turned each float MatMul into MatMulNBits afterwards:
//   node  /model/layers.{i}/attn/qkv_proj/MatMul_Q4   (or q_proj/k_proj/v_proj when unpacked)
//   B     model.layers.{i}.attn.qkv_proj.MatMul.weight_Q4      u8 [N, k_blocks, block/2]
//   scale model.layers.{i}.attn.qkv_proj.MatMul.weight_scales  [N * k_blocks]
//   zp    model.layers.{i}.attn.qkv_proj.MatMul.weight_zero_points  u8 [N * ceil(k_blocks/2)]
// plus the norms (SimplifiedLayerNormalization for layer 0's input norm, then
// SkipSimplifiedLayerNormalization), Gather for the embedding, GroupQueryAttention with rotary
// caches, SiLU as Sigmoid * x, and the unquantized float variant where each MatMul's weight is
// stored [in, out] as "<node path>.weight".
//
// Quantisation is round-to-nearest with the scale chosen so that every element's error is at
// most scale/2 (rtn_int4_scale); ORT's own quantizer clamps the extreme element instead, which
// the reader does not care about.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troika/status.h"

namespace troika::testing {

// A float tensor under its Hugging Face name, row-major, outermost dimension first.
struct NamedTensor {
  std::string name;  // "model.layers.0.self_attn.qkv_proj.weight"
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct Phi3Dims {
  int64_t n_layers = 2;
  int64_t hidden = 64;
  int64_t intermediate = 96;
  int64_t n_head = 4;     // head_dim = hidden / n_head
  int64_t n_kv_head = 4;  // GQA when smaller than n_head
  int64_t vocab = 50;
};

struct OnnxWriterOptions {
  bool quantize = true;       // MatMulNBits int4; false writes float MatMul nodes
  bool zero_points = false;   // asymmetric, with packed UINT8 zero points; else zero point 8
  bool fp16 = false;          // scales, norms and embedding as FLOAT16 (else FLOAT, as CPU builds)
  bool packed_qkv = true;     // one qkv_proj node (GQA builds) or separate q/k/v (MHA builds)
  int64_t block_size = 32;    // elements of K per scale
  bool external_data = true;  // all tensors in "<file>.onnx.data", else inline raw_data
  // Names every weight initializer "w0", "w1", ... so that only node names tell what they are.
  bool anonymous_initializers = false;
  // Leaves node names empty so that only initializer names tell what they are.
  bool unnamed_nodes = false;
};

// Builds the HF tensor set of a Phi-3 model with `dims` from a seeded pseudo-random generator
// (norm weights around 1, others in about [-0.5, 0.5]).
std::vector<NamedTensor> random_phi3_tensors(const Phi3Dims& dims, uint32_t seed);

// Writes `onnx_path` (and `onnx_path + ".data"` when options.external_data). `tensors` must
// hold every weight of a Phi3ForCausalLM with `dims` (fused qkv_proj and gate_up_proj).
// Errors: invalid_argument naming a missing or mis-shaped tensor; internal when a file cannot
// be written.
Status write_phi3_onnx(const std::string& onnx_path, const std::vector<NamedTensor>& tensors,
                       const Phi3Dims& dims, const OnnxWriterOptions& options = {});

// The scale write_phi3_onnx stores for one block of `n` values (rounded to FLOAT16 when `fp16`):
// max|v| / 7 without zero points, (max(v, 0) - min(v, 0)) / 14 with them.
float rtn_int4_scale(const float* v, int64_t n, bool zero_points, bool fp16);

// IEEE half precision, round to nearest even (what the writer stores for FLOAT16).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace troika::testing
