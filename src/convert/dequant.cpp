#include "convert/dequant.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

namespace troika::convert {

float fp8_e4m3_to_f32(uint8_t v) {
  const int sign = v >> 7;
  const int exp = (v >> 3) & 0xF;
  const int mant = v & 0x7;
  float mag;
  if (exp == 0xF && mant == 0x7) {
    mag = NAN;
  } else if (exp == 0) {
    mag = std::ldexp(static_cast<float>(mant) / 8.0f, -6);
  } else {
    mag = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
  }
  return sign ? -mag : mag;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  float mag;
  if (exp == 0) {
    mag = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    mag = mant ? NAN : INFINITY;
  } else {
    mag = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  }
  return sign ? -mag : mag;
}

float fp8_e5m2_to_f32(uint8_t v) { return f16_to_f32(static_cast<uint16_t>(v) << 8); }

float bf16_to_f32(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {
Status to_f32_serial(DType type, const uint8_t* src, float* dst, int64_t n) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return {};
    case DType::kF64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + i * 8, 8);
        dst[i] = static_cast<float>(d);
      }
      return {};
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + i * 2, 2);
        dst[i] = bf16_to_f32(h);
      }
      return {};
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + i * 2, 2);
        dst[i] = f16_to_f32(h);
      }
      return {};
    case DType::kF8E4M3: {
      float lut[256];
      for (int i = 0; i < 256; ++i) lut[i] = fp8_e4m3_to_f32(static_cast<uint8_t>(i));
      for (int64_t i = 0; i < n; ++i) dst[i] = lut[src[i]];
      return {};
    }
    case DType::kF8E5M2:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e5m2_to_f32(src[i]);
      return {};
    default:
      return unimplemented("cannot read " + std::string(dtype_name(type)) +
                           " as floats without a quantisation scheme");
  }
}
}  // namespace

Status to_f32(DType type, const uint8_t* src, float* dst, int64_t n) {
  // Large tensors (embeddings: 0.5-0.9 G elements) are split over the cores; decoding is the
  // converter's main CPU cost besides quantizing.
  const int64_t kMinPerThread = 1 << 20;
  const int64_t n_threads = std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), n / kMinPerThread);
  if (n_threads <= 1) return to_f32_serial(type, src, dst, n);
  const size_t es = dtype_size(type);
  const int64_t chunk = (n + n_threads - 1) / n_threads;
  std::vector<Status> status(static_cast<size_t>(n_threads));
  std::vector<std::thread> threads;
  for (int64_t i = 0; i < n_threads; ++i) {
    const int64_t b = i * chunk, e = std::min(n, b + chunk);
    threads.emplace_back([&, i, b, e] { status[i] = to_f32_serial(type, src + b * es, dst + b, e - b); });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : status) TROIKA_RETURN_IF_ERROR(st);
  return {};
}

void dequant_nvfp4(const uint8_t* packed, const uint8_t* block_scale, float global_scale,
                   int64_t rows, int64_t cols, float* out) {
  static constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  float scale_lut[256];
  for (int i = 0; i < 256; ++i) scale_lut[i] = fp8_e4m3_to_f32(static_cast<uint8_t>(i));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* p = packed + r * (cols / 2);
    const uint8_t* s = block_scale + r * (cols / 16);
    float* o = out + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const int code = (c & 1) ? (p[c / 2] >> 4) : (p[c / 2] & 0xF);
      const float v = kE2M1[code & 7];
      o[c] = ((code & 8) ? -v : v) * scale_lut[s[c / 16]] * global_scale;
    }
  }
}

void dequant_awq(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                 int64_t in, int64_t out_features, int64_t group, float* out) {
  const int64_t words = out_features / 8;
  for (int64_t k = 0; k < in; ++k) {
    const int32_t* qrow = qweight + k * words;
    const int32_t* zrow = qzeros + (k / group) * words;
    const uint16_t* srow = scales + (k / group) * out_features;
    for (int64_t n = 0; n < out_features; ++n) {
      const int q = awq_nibble(qrow, n);
      const int z = awq_nibble(zrow, n);
      out[n * in + k] = static_cast<float>(q - z) * f16_to_f32(srow[n]);
    }
  }
}

void dequant_bnb4(const uint8_t* packed, const float* code, const float* absmax,
                  int64_t blocksize, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t b = packed[i / 2];
    const int idx = (i & 1) ? (b & 0xF) : (b >> 4);
    out[i] = code[idx] * absmax[i / blocksize];
  }
}

void dequant_bnb_absmax(const uint8_t* q, const float* nested_code, const float* nested_absmax,
                        int64_t nested_blocksize, float offset, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = nested_code[q[i]] * nested_absmax[i / nested_blocksize] + offset;
  }
}

}  // namespace troika::convert
