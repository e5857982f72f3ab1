#include "checkpoint_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "convert/checkpoint.h"

namespace troika::testing {

namespace fs = std::filesystem;

namespace {

template <typename T>
void append(std::vector<uint8_t>* out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out->insert(out->end(), p, p + sizeof(T));
}

float e4m3_value(uint8_t b) {  // decoded independently of the converter's decoder
  const int e = (b >> 3) & 15, m = b & 7;
  float v = e == 0 ? m / 8.0f * std::pow(2.0f, -6.0f) : (1 + m / 8.0f) * std::pow(2.0f, static_cast<float>(e - 7));
  return (b & 0x80) ? -v : v;
}

float f16_value(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? m * std::pow(2.0f, -24.0f) : (1 + m / 1024.0f) * std::pow(2.0f, static_cast<float>(e - 15));
  return (h & 0x8000) ? -v : v;
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

constexpr float kE2M1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
constexpr float kNF4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                            0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                            0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// bitsandbytes' signed "dynamic" 8-bit map (create_dynamic_map(signed=True)).
std::vector<float> dynamic_map() {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const int items = (1 << i) + 1;
    for (int k = 0; k + 1 < items; ++k) {
      const double b0 = 0.1 + 0.9 * k / (items - 1), b1 = 0.1 + 0.9 * (k + 1) / (items - 1);
      const double mean = (b0 + b1) / 2 * std::pow(10.0, -6 + i);
      data.push_back(static_cast<float>(mean));
      data.push_back(static_cast<float>(-mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  return data;
}

int nearest(const float* table, int n, float x) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (std::fabs(table[i] - x) < std::fabs(table[best] - x)) best = i;
  }
  return best;
}

struct Nf4Parts {
  std::vector<uint8_t> packed, absmax_q;
  std::vector<float> absmax, absmax_deq, nested_absmax, code2;
  float offset = 0;
};

Nf4Parts nf4_parts(const FloatTensor& w, int64_t bs) {
  Nf4Parts p;
  const int64_t n = numel(w.shape), nb = (n + bs - 1) / bs;
  for (int64_t b = 0; b < nb; ++b) {
    float m = 0;
    for (int64_t i = b * bs; i < std::min(n, (b + 1) * bs); ++i) m = std::max(m, std::fabs(w.data[i]));
    p.absmax.push_back(m);
  }
  p.packed.assign(static_cast<size_t>((n + 1) / 2), 0);
  for (int64_t i = 0; i < n; ++i) {
    const float a = p.absmax[i / bs];
    const int q = nearest(kNF4, 16, a > 0 ? w.data[i] / a : 0.0f);
    p.packed[i / 2] |= static_cast<uint8_t>((i & 1) ? q : q << 4);
  }
  for (float a : p.absmax) p.offset += a;
  p.offset /= static_cast<float>(nb);
  p.code2 = dynamic_map();
  const int64_t nbs = 256;
  for (int64_t b = 0; b * nbs < nb; ++b) {
    float m = 0;
    for (int64_t i = b * nbs; i < std::min(nb, (b + 1) * nbs); ++i) m = std::max(m, std::fabs(p.absmax[i] - p.offset));
    p.nested_absmax.push_back(m);
  }
  for (int64_t i = 0; i < nb; ++i) {
    const float m = p.nested_absmax[i / nbs];
    const int q = nearest(p.code2.data(), 256, m > 0 ? (p.absmax[i] - p.offset) / m : 0.0f);
    p.absmax_q.push_back(static_cast<uint8_t>(q));
    p.absmax_deq.push_back(p.code2[q] * m + p.offset);
  }
  return p;
}

StoredTensor raw(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
                 std::vector<uint8_t> bytes) {
  return {name, dtype, std::move(shape), std::move(bytes)};
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string base_of(const std::string& weight) { return weight.substr(0, weight.size() - 7); }

}  // namespace

uint8_t f32_to_e4m3(float v) {
  if (std::fabs(v) >= 448.0f) return v < 0 ? 0xFE : 0x7E;
  uint8_t best = 0;
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7F) == 0x7F) continue;  // NaN
    if (std::fabs(e4m3_value(static_cast<uint8_t>(b)) - v) < std::fabs(e4m3_value(best) - v)) best = static_cast<uint8_t>(b);
  }
  return best;
}

uint16_t f32_to_f16(float v) {
  uint16_t best = 0;
  // Bisection over the ordered positive half codes, then the sign.
  const float a = std::fabs(v);
  int lo = 0, hi = 0x7BFF;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (f16_value(static_cast<uint16_t>(mid)) <= a) lo = mid; else hi = mid - 1;
  }
  best = static_cast<uint16_t>(lo);
  if (lo < 0x7BFF && std::fabs(f16_value(static_cast<uint16_t>(lo + 1)) - a) < std::fabs(f16_value(best) - a)) best = static_cast<uint16_t>(lo + 1);
  return static_cast<uint16_t>(v < 0 ? best | 0x8000 : best);
}

Status write_safetensors(const std::string& path, const std::vector<StoredTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t off = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  return out ? Status() : internal_error("cannot write " + path);
}

StoredTensor stored_f32(const FloatTensor& t) { return raw(t.name, "F32", t.shape, bytes_of(t.data)); }

std::vector<StoredTensor> quantize_fp8(const FloatTensor& w) {
  float amax = 0;
  for (float v : w.data) amax = std::max(amax, std::fabs(v));
  const float scale = amax / 448.0f;
  std::vector<uint8_t> q;
  for (float v : w.data) q.push_back(f32_to_e4m3(scale > 0 ? v / scale : 0));
  const std::string b = base_of(w.name);
  return {raw(w.name, "F8_E4M3", w.shape, q), raw(b + ".weight_scale", "F32", {}, bytes_of(std::vector<float>{scale})),
          raw(b + ".input_scale", "F32", {}, bytes_of(std::vector<float>{0.05f}))};
}

std::vector<float> fp8_error_bound(const FloatTensor& w) {
  float amax = 0;
  for (float v : w.data) amax = std::max(amax, std::fabs(v));
  const float scale = amax / 448.0f;
  std::vector<float> out;
  for (float v : w.data) out.push_back(std::max(std::fabs(v) / 16.0f, scale * std::pow(2.0f, -10.0f)) * 1.001f + 1e-12f);
  return out;
}

namespace {
// NVFP4 block scales: the per-tensor scale_2 and each 16-block's effective scale.
void nvfp4_scales(const FloatTensor& w, float* s2, std::vector<uint8_t>* bs, std::vector<float>* eff) {
  float amax = 0;
  for (float v : w.data) amax = std::max(amax, std::fabs(v));
  *s2 = amax / (6.0f * 448.0f);
  const int64_t n = numel(w.shape);
  for (int64_t b = 0; b * 16 < n; ++b) {
    float m = 0;
    for (int64_t i = b * 16; i < (b + 1) * 16; ++i) m = std::max(m, std::fabs(w.data[i]));
    const uint8_t code = f32_to_e4m3(*s2 > 0 ? m / 6.0f / *s2 : 0);
    bs->push_back(code);
    eff->push_back(e4m3_value(code) * *s2);
  }
}
}  // namespace

std::vector<StoredTensor> quantize_nvfp4(const FloatTensor& w) {
  float s2 = 0;
  std::vector<uint8_t> bs;
  std::vector<float> eff;
  nvfp4_scales(w, &s2, &bs, &eff);
  const int64_t n = numel(w.data.empty() ? std::vector<int64_t>{0} : w.shape);
  std::vector<uint8_t> packed(static_cast<size_t>(n / 2), 0);
  for (int64_t i = 0; i < n; ++i) {
    const float e = eff[i / 16];
    const float x = e > 0 ? w.data[i] / e : 0;
    const int idx = nearest(kE2M1, 8, std::fabs(x));
    const int code = idx | (x < 0 && idx ? 8 : 0);
    packed[i / 2] |= static_cast<uint8_t>((i & 1) ? code << 4 : code);
  }
  const std::string b = base_of(w.name);
  return {raw(w.name, "U8", {w.shape[0], w.shape[1] / 2}, packed),
          raw(b + ".weight_scale", "F8_E4M3", {w.shape[0], w.shape[1] / 16}, bs),
          raw(b + ".weight_scale_2", "F32", {}, bytes_of(std::vector<float>{s2})),
          raw(b + ".input_scale", "F32", {}, bytes_of(std::vector<float>{0.01f}))};
}

std::vector<float> nvfp4_error_bound(const FloatTensor& w) {
  float s2 = 0;
  std::vector<uint8_t> bs;
  std::vector<float> eff;
  nvfp4_scales(w, &s2, &bs, &eff);
  std::vector<float> out;
  for (size_t i = 0; i < w.data.size(); ++i) {
    // Half the widest E2M1 gap (4..6), plus what saturation at 6 costs when the block scale
    // rounded down.
    float m = 0;
    for (size_t k = i / 16 * 16; k < i / 16 * 16 + 16; ++k) m = std::max(m, std::fabs(w.data[k]));
    out.push_back(eff[i / 16] * 1.0f + std::max(0.0f, m - 6 * eff[i / 16]) + 1e-9f);
  }
  return out;
}

namespace {
// AutoAWQ's zero-point recipe per (group, output column); scales rounded to f16 as stored.
void awq_params(const FloatTensor& w, int64_t g, std::vector<uint16_t>* s16, std::vector<int>* zeros) {
  const int64_t out = w.shape[0], in = w.shape[1];
  for (int64_t grp = 0; grp < in / g; ++grp) {
    for (int64_t n = 0; n < out; ++n) {
      float mx = -INFINITY, mn = INFINITY;
      for (int64_t k = grp * g; k < (grp + 1) * g; ++k) {
        mx = std::max(mx, w.data[n * in + k]);
        mn = std::min(mn, w.data[n * in + k]);
      }
      const uint16_t h = f32_to_f16(std::max(mx - mn, 1e-5f) / 15.0f);
      s16->push_back(h);
      zeros->push_back(std::clamp(static_cast<int>(-std::round(mn / f16_value(h))), 0, 15));
    }
  }
}
}  // namespace

std::vector<StoredTensor> quantize_awq(const FloatTensor& w, int64_t g) {
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // AWQ_ORDER: nibble i holds column 8c + kOrder[i]
  const int64_t out = w.shape[0], in = w.shape[1];
  std::vector<uint16_t> s16;
  std::vector<int> zeros;
  awq_params(w, g, &s16, &zeros);
  auto q_at = [&](int64_t k, int64_t n) {
    const int64_t idx = (k / g) * out + n;
    return std::clamp(static_cast<int>(std::round(w.data[n * in + k] / f16_value(s16[idx]))) + zeros[idx], 0, 15);
  };
  std::vector<int32_t> qweight(static_cast<size_t>(in * out / 8), 0), qzeros(static_cast<size_t>(in / g * out / 8), 0);
  for (int64_t k = 0; k < in; ++k) {
    for (int64_t c = 0; c < out / 8; ++c) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<uint32_t>(q_at(k, 8 * c + kOrder[i])) << (4 * i);
      qweight[k * (out / 8) + c] = static_cast<int32_t>(word);
    }
  }
  for (int64_t grp = 0; grp < in / g; ++grp) {
    for (int64_t c = 0; c < out / 8; ++c) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<uint32_t>(zeros[grp * out + 8 * c + kOrder[i]]) << (4 * i);
      qzeros[grp * (out / 8) + c] = static_cast<int32_t>(word);
    }
  }
  const std::string b = base_of(w.name);
  return {raw(b + ".qweight", "I32", {in, out / 8}, bytes_of(qweight)),
          raw(b + ".qzeros", "I32", {in / g, out / 8}, bytes_of(qzeros)),
          raw(b + ".scales", "F16", {in / g, out}, bytes_of(s16))};
}

std::vector<float> awq_error_bound(const FloatTensor& w, int64_t g) {
  std::vector<uint16_t> s16;
  std::vector<int> zeros;
  awq_params(w, g, &s16, &zeros);
  const int64_t out = w.shape[0], in = w.shape[1];
  std::vector<float> bound(w.data.size());
  for (int64_t n = 0; n < out; ++n) {
    for (int64_t k = 0; k < in; ++k) bound[n * in + k] = f16_value(s16[(k / g) * out + n]) * 1.001f + 1e-9f;
  }
  return bound;
}

std::vector<StoredTensor> quantize_nf4(const FloatTensor& w, int64_t bs) {
  const Nf4Parts p = nf4_parts(w, bs);
  const int64_t n = numel(w.shape);
  const nlohmann::json state = {{"quant_type", "nf4"}, {"blocksize", bs}, {"dtype", "bfloat16"}, {"shape", w.shape},
                                {"nested_blocksize", 256}, {"nested_dtype", "float32"}, {"nested_offset", p.offset}};
  const std::string s = state.dump();
  return {raw(w.name, "U8", {(n + 1) / 2, 1}, p.packed),
          raw(w.name + ".absmax", "U8", {static_cast<int64_t>(p.absmax_q.size())}, p.absmax_q),
          raw(w.name + ".quant_map", "F32", {16}, bytes_of(std::vector<float>(kNF4, kNF4 + 16))),
          raw(w.name + ".nested_absmax", "F32", {static_cast<int64_t>(p.nested_absmax.size())}, bytes_of(p.nested_absmax)),
          raw(w.name + ".nested_quant_map", "F32", {256}, bytes_of(p.code2)),
          raw(w.name + ".quant_state.bitsandbytes__nf4", "U8", {static_cast<int64_t>(s.size())},
              std::vector<uint8_t>(s.begin(), s.end()))};
}

std::vector<float> nf4_error_bound(const FloatTensor& w, int64_t bs) {
  const Nf4Parts p = nf4_parts(w, bs);
  std::vector<float> out;
  for (size_t i = 0; i < w.data.size(); ++i) {
    const float a = p.absmax[i / bs], ad = p.absmax_deq[i / bs];
    // Half the widest NF4 gap (-1.0..-0.6962) at the true scale, plus the scale's own error.
    out.push_back(a * 0.15191f + std::fabs(a - ad) + 1e-7f);
  }
  return out;
}

std::vector<FloatTensor> read_float_tensors(const std::string& dir) {
  std::vector<FloatTensor> out;
  auto ck = convert::open_checkpoint(dir);  // opened once for all its tensors
  if (!ck.ok()) return out;
  for (const auto& t : (*ck)->tensors) {
    FloatTensor f{t.name, t.shape, std::vector<float>(static_cast<size_t>(t.numel()))};
    if (t.read(f.data.data()).ok()) out.push_back(std::move(f));
  }
  return out;
}

Status make_quantized_checkpoint(const std::string& fixture_dir, const std::string& out_dir,
                                 const std::string& format, int64_t awq_group) {
  fs::create_directories(out_dir);
  nlohmann::json config;
  for (const auto& e : fs::directory_iterator(fixture_dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("tokenizer", 0) == 0 || n == "added_tokens.json" || n == "chat_template.jinja" || n == "generation_config.json") {
      fs::copy_file(e.path(), out_dir + "/" + n, fs::copy_options::overwrite_existing);
    }
  }
  std::ifstream(fixture_dir + "/config.json") >> config;
  static const std::regex kLinear(R"(model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight)");
  std::vector<StoredTensor> stored;
  for (const FloatTensor& t : read_float_tensors(fixture_dir)) {
    if (!std::regex_match(t.name, kLinear)) {
      stored.push_back(stored_f32(t));
      continue;
    }
    std::vector<StoredTensor> q;
    if (format.rfind("fp8", 0) == 0) q = quantize_fp8(t);
    else if (format == "nvfp4") q = quantize_nvfp4(t);
    else if (format == "awq") q = quantize_awq(t, awq_group);
    else if (format == "nf4") q = quantize_nf4(t);
    else return invalid_argument("unknown test format " + format);
    if (format == "fp8-compressed-tensors") q[1].shape = {1};
    stored.insert(stored.end(), q.begin(), q.end());
  }
  nlohmann::json hq;
  if (format == "fp8-modelopt") {
    hq = {{"producer", {{"name", "modelopt"}, {"version", "0.19.0"}}},
          {"quantization", {{"quant_algo", "FP8"}, {"kv_cache_quant_algo", nullptr}, {"exclude_modules", {"lm_head"}}}}};
  } else if (format == "nvfp4") {
    hq = {{"producer", {{"name", "modelopt"}, {"version", "0.29.0"}}},
          {"quantization", {{"quant_algo", "NVFP4"}, {"group_size", 16}, {"kv_cache_quant_algo", nullptr}, {"exclude_modules", {"lm_head"}}}}};
  } else if (format == "fp8-autofp8") {
    config["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}, {"ignored_layers", {"lm_head"}}};
  } else if (format == "fp8-compressed-tensors") {
    config["quantization_config"] = {
        {"quant_method", "compressed-tensors"}, {"format", "float-quantized"}, {"quantization_status", "compressed"},
        {"config_groups", {{"group_0", {{"targets", {"Linear"}}, {"weights", {{"num_bits", 8}, {"type", "float"}, {"strategy", "tensor"}, {"symmetric", true}, {"dynamic", false}}}}}}},
        {"ignore", {"lm_head"}}};
  } else if (format == "awq") {
    config["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", awq_group}, {"version", "gemm"}, {"zero_point", true}};
  } else if (format == "nf4") {
    config["quantization_config"] = {{"quant_method", "bitsandbytes"}, {"load_in_4bit", true}, {"load_in_8bit", false},
                                     {"bnb_4bit_quant_type", "nf4"}, {"bnb_4bit_use_double_quant", true}};
  }
  if (!hq.is_null()) std::ofstream(out_dir + "/hf_quant_config.json") << hq.dump(2);
  std::ofstream(out_dir + "/config.json") << config.dump(2);
  return write_safetensors(out_dir + "/model.safetensors", stored);
}

}  // namespace troika::testing
