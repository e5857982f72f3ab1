// Number formats of quantized checkpoints, decoded to f32. Each function states the layout it
// reads; shapes are outermost first. These are pure functions over memory (no files), so the
// tests can check them against values quantized by tests/support's writers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "convert/tensor.h"

namespace troika::convert {

float fp8_e4m3_to_f32(uint8_t v);  // OCP E4M3 ("fn"): bias 7, max 448, no infinities
float fp8_e5m2_to_f32(uint8_t v);
float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);

// Plain element-wise conversion of a float or FP8 tensor's bytes; `n` elements.
// Errors: unimplemented for integer dtypes.
Status to_f32(DType type, const uint8_t* src, float* dst, int64_t n);

// ModelOpt NVFP4. packed: u8 [rows, cols/2], element 2k in the low nibble, 2k+1 in the high;
// E2M1 codes (bit 3 sign). block_scale: E4M3 [rows, cols/16]. out: [rows, cols] =
// e2m1(code) * block_scale * global_scale.
void dequant_nvfp4(const uint8_t* packed, const uint8_t* block_scale, float global_scale,
                   int64_t rows, int64_t cols, float* out);

// AutoAWQ GEMM. qweight, qzeros: i32 [in, out/8] and [in/group, out/8], nibble i of a word
// holding column 8c + {0,2,4,6,1,3,5,7}[i]; scales: f16 [in/group, out].
// out: [out, in] (transposed back to nn.Linear's layout) = (q - z) * s.
void dequant_awq(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                 int64_t in, int64_t out_features, int64_t group, float* out);
// The AWQ nibble of column `col` in a packed word row.
inline int awq_nibble(const int32_t* row, int64_t col) {
  static constexpr int kShift[8] = {0, 16, 4, 20, 8, 24, 12, 28};  // column 8c+j -> bit offset
  return static_cast<int>((static_cast<uint32_t>(row[col / 8]) >> kShift[col % 8]) & 0xF);
}

// bitsandbytes 4-bit (NF4 or FP4 code book `code`[16]) over the flattened tensor in blocks of
// `blocksize`; element 2k in the HIGH nibble. absmax: one f32 per block (already decoded).
void dequant_bnb4(const uint8_t* packed, const float* code, const float* absmax,
                  int64_t blocksize, int64_t n, float* out);
// Double quantisation: absmax[i] = nested_code[q[i]] * nested_absmax[i / nested_blocksize]
// + offset.
void dequant_bnb_absmax(const uint8_t* q, const float* nested_code, const float* nested_absmax,
                        int64_t nested_blocksize, float offset, int64_t n, float* out);

}  // namespace troika::convert
