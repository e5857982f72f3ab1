// Reading ONNX decoder checkpoints written by onnxruntime-genai's model builder (for example
// microsoft/Phi-3-mini-4k-instruct-onnx, cpu-int4-rtn-block-32) back into float tensors under
// their Hugging Face names, so the converter can treat them like any other checkpoint.
//
// What is read: the model's .onnx protobuf (parsed by hand with proto_wire.h; no libprotobuf)
// and the external data files its initializers point at (normally one `<model>.onnx.data` next
// to it). Weights are found by walking the graph: the builder names every node after the module
// it came from ("/model/layers.3/attn/qkv_proj/MatMul_Q4"), and which input of which op a tensor
// feeds tells what it is (input 1 of MatMulNBits is a packed weight, input 2 of a
// SkipSimplifiedLayerNormalization is a norm weight, input 0 of the embedding Gather is the
// table). Initializer names are only a fallback for unnamed nodes.
//
// Produced names (Phi-3 layout, the only one handled now):
//   model.embed_tokens.weight                 [vocab, hidden]   from Gather input 0
//   model.layers.{i}.input_layernorm.weight   [hidden]          from the layer's first norm
//   model.layers.{i}.self_attn.qkv_proj.weight [n_q + 2 n_kv, hidden]  q|k|v rows; the builder
//       writes either one packed qkv_proj MatMul or separate q/k/v ones, which are concatenated
//   model.layers.{i}.self_attn.o_proj.weight
//   model.layers.{i}.post_attention_layernorm.weight
//   model.layers.{i}.mlp.gate_up_proj.weight  [2 intermediate, hidden]  gate rows, then up rows
//   model.layers.{i}.mlp.down_proj.weight
//   model.norm.weight                         from /model/layers.{n_layers}/final_norm_layernorm
//   lm_head.weight                            [vocab, hidden], absent when the model has no head
// Linear weights come out [out, in] like nn.Linear: MatMulNBits already stores them that way
// (N rows of K), a plain float MatMul stores [in, out] and is transposed back on read.
//
// Thread safety: read_onnx_checkpoint may run concurrently on different files. The returned
// SourceTensor::read functions touch only immutable memory and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "convert/tensor.h"

namespace troika::convert {

// The weight inputs of one com.microsoft.MatMulNBits node. The pointers are borrowed.
struct MatMulNBits {
  int64_t n = 0;            // attribute N: output features
  int64_t k = 0;            // attribute K: input features
  int64_t bits = 4;         // attribute bits
  int64_t block_size = 32;  // attribute block_size: elements of K sharing one scale
  // u8 [n, k_blocks, block_size * bits / 8]: block b of row n holds k = b*block_size + j, packed
  // from the least significant bits up (4-bit: element j in the low nibble when j is even).
  const uint8_t* b = nullptr;
  size_t b_bytes = 0;
  // [n, k_blocks] of scales_dtype (the dtype of the op's activations: F32, F16 or BF16).
  DType scales_dtype = DType::kF32;
  const uint8_t* scales = nullptr;
  size_t scales_bytes = 0;
  // Optional u8 [n, ceil(k_blocks * bits / 8)], packed like b along the blocks of a row. When
  // null every block's zero point is 2^(bits-1) (8 for int4), i.e. symmetric quantisation.
  const uint8_t* zero_points = nullptr;
  size_t zero_points_bytes = 0;

  int64_t k_blocks() const { return block_size > 0 ? (k + block_size - 1) / block_size : 0; }
};

// Writes w[n][k] = (q[n][k] - zero_point[n][k / block_size]) * scale[n][k / block_size] into
// `out`, n * k floats row-major ([out, in]).
// Errors: unimplemented for bit widths other than 4 and 8 or scales that are not F32/F16/BF16;
// data_loss when a buffer's size does not match n, k, bits and block_size (nothing is written).
Status dequant_matmul_nbits(const MatMulNBits& w, float* out);

// Parses `onnx_path` and returns one float SourceTensor per Hugging Face weight (names above),
// in model order: embedding, then each layer, then the final norm and the head. Formats read
// like "ONNX MatMulNBits int4 b32" (with " zp" when zero points are stored), "ONNX FLOAT16",
// "ONNX FLOAT [in,out]" (a float MatMul weight, transposed on read). Every mapped file the
// tensors point into is appended to `*keep_alive`, which must outlive the tensors.
// Errors:
//   not_found      the .onnx file, or an external data file it names, does not exist;
//   data_loss      the protobuf is truncated or malformed, an initializer's bytes (inline or
//                  external) do not match its dims and type or fall outside their file, a
//                  MatMulNBits weight's inputs disagree with its attributes, two nodes claim
//                  the same weight, or a layer is missing one of its weights; the message
//                  names the file and the initializer or node;
//   unimplemented  something this reader does not convert: an op or bit width other than
//                  MatMulNBits with 4 or 8 bits, float zero points, g_idx or bias inputs,
//                  LayerNormalization with a bias, a computed (tied or quantized) embedding,
//                  an initializer of a type that is not a float, or a weight node whose name
//                  says nothing about what it is; the message names the node.
Result<std::vector<SourceTensor>> read_onnx_checkpoint(
    const std::string& onnx_path, std::vector<std::shared_ptr<MappedFile>>* keep_alive);

// The single "*.onnx" file directly inside `dir` (its full path).
// Errors: not_found when `dir` does not exist or holds no .onnx file; invalid_argument when it
// is not a directory or holds several (the message lists them: pass the one you mean).
Result<std::string> find_onnx_model(const std::string& dir);

}  // namespace troika::convert
