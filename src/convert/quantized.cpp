#include "convert/quantized.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "convert/dequant.h"
#include "ggml.h"

namespace troika::convert {

namespace {



std::string where(const RawTensor& t) { return "tensor '" + t.name + "' in " + t.file; }

bool is_float(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}

Result<float> scalar_of(const RawTensor& t) {
  if (t.numel() != 1 || !is_float(t.dtype)) {
    return data_loss(where(t) + " should be one float, but is " + std::string(dtype_name(t.dtype)) +
                     " " + shape_str(t.shape));
  }
  float v = 0;
  TROIKA_RETURN_IF_ERROR(to_f32(t.dtype, t.data, &v, 1));
  return v;
}

Result<std::vector<float>> floats_of(const RawTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (!is_float(t.dtype)) {
    return data_loss(where(t) + " should hold floats but is " + std::string(dtype_name(t.dtype)));
  }
  TROIKA_RETURN_IF_ERROR(to_f32(t.dtype, t.data, v.data(), t.numel()));
  return v;
}

}  // namespace

SourceTensor float_tensor(const RawTensor& t) {
  SourceTensor s;
  s.name = t.name;
  s.shape = t.shape;
  s.format = std::string(dtype_name(t.dtype));
  s.file = t.file;
  s.read = [t](float* out) {
    Status st = to_f32(t.dtype, t.data, out, t.numel());
    release(t);
    return st;
  };
  s.prefetch = [t] { prefetch_pages(t.data, t.n_bytes); };
  return s;
}

namespace {

class Decoder {
 public:
  Decoder(const std::vector<RawTensor>& raw, const QuantConfig& q) : raw_(raw), q_(q) {
    for (const auto& t : raw_) by_name_[t.name] = &t;
  }

  Result<std::vector<SourceTensor>> run() {
    for (const RawTensor& t : raw_) {
      if (used_.count(t.name)) continue;
      if (ends_with(t.name, ".qweight")) {
        TROIKA_RETURN_IF_ERROR(awq(t));
      } else if (t.dtype == DType::kU8 && find(t.name + ".absmax")) {
        TROIKA_RETURN_IF_ERROR(bnb4(t));
      } else if (t.dtype == DType::kU8 && ends_with(t.name, ".weight") &&
                 find(base(t.name) + ".weight_scale_2")) {
        TROIKA_RETURN_IF_ERROR(nvfp4(t));
      } else if (t.dtype == DType::kF8E4M3 || t.dtype == DType::kF8E5M2) {
        TROIKA_RETURN_IF_ERROR(fp8(t));
      } else if (is_float(t.dtype)) {
        continue;  // plain tensors are taken in a second pass: some are a scheme's auxiliaries
      } else {
        return unsupported(t);
      }
    }
    for (const RawTensor& t : raw_) {
      if (used_.count(t.name)) continue;
      if (!q_.method.empty() && is_activation_scale(t.name)) continue;  // runtime-only scales
      if (!is_float(t.dtype)) return unsupported(t);
      if (!q_.method.empty() && (ends_with(t.name, ".weight_scale") || ends_with(t.name, ".weight_scale_inv"))) {
        return data_loss(where(t) + " is a weight scale without an FP8 weight beside it");
      }
      out_.push_back(float_tensor(t));
    }
    return std::move(out_);
  }

 private:
  static std::string base(const std::string& weight_name) {
    return weight_name.substr(0, weight_name.size() - std::string(".weight").size());
  }
  static bool is_activation_scale(const std::string& n) {
    return ends_with(n, ".input_scale") || ends_with(n, ".k_scale") || ends_with(n, ".v_scale") ||
           ends_with(n, ".output_scale") || ends_with(n, ".q_scale") || ends_with(n, ".prob_scale");
  }
  const RawTensor* find(const std::string& n) const {
    auto it = by_name_.find(n);
    return it == by_name_.end() ? nullptr : it->second;
  }
  Result<const RawTensor*> need(const std::string& n, const RawTensor& for_t) {
    const RawTensor* t = find(n);
    if (!t) return data_loss(where(for_t) + " needs '" + n + "', which the checkpoint lacks");
    used_.insert(n);
    return t;
  }
  Status unsupported(const RawTensor& t) const {
    std::string how = q_.method.empty() ? "config.json declares no quantization"
                                        : "quant_method '" + q_.describe() + "'";
    return unimplemented(where(t) + " is " + std::string(dtype_name(t.dtype)) + " " +
                         shape_str(t.shape) + ", which Troika cannot decode (" + how +
                         "); supported: BF16/F16/F32, ModelOpt FP8/NVFP4, AutoFP8, "
                         "compressed-tensors FP8, AWQ GEMM int4, bitsandbytes 4-bit");
  }

  Status fp8(const RawTensor& w);
  Status nvfp4(const RawTensor& w);
  Status awq(const RawTensor& qweight);
  Status bnb4(const RawTensor& w);

  const std::vector<RawTensor>& raw_;
  const QuantConfig& q_;
  std::map<std::string, const RawTensor*> by_name_;
  std::set<std::string> used_;
  std::vector<SourceTensor> out_;
};

Status Decoder::fp8(const RawTensor& w) {
  if (!ends_with(w.name, ".weight") || w.shape.size() != 2) {
    return unimplemented(where(w) + " is FP8 but not a 2-D linear weight");
  }
  const std::string b = base(w.name);
  const RawTensor* s = find(b + ".weight_scale");
  bool block = false;
  if (!s) {
    s = find(b + ".weight_scale_inv");
    block = s != nullptr;
  }
  if (!s) return data_loss(where(w) + " is FP8 without a weight_scale (or weight_scale_inv) beside it");
  used_.insert(w.name);
  used_.insert(s->name);
  const int64_t rows = w.shape[0], cols = w.shape[1];
  TROIKA_ASSIGN_OR_RETURN(std::vector<float> scale, floats_of(*s));
  SourceTensor st;
  st.name = w.name;
  st.shape = w.shape;
  st.file = w.file;
  int64_t br = 0, bc = 0;  // block shape for block-wise scales
  if (scale.size() == 1) {
    st.format = "FP8 per-tensor";
  } else if (static_cast<int64_t>(scale.size()) == rows && !block) {
    st.format = "FP8 per-channel";
  } else if (s->shape.size() == 2) {
    br = (rows + s->shape[0] - 1) / s->shape[0];
    bc = (cols + s->shape[1] - 1) / s->shape[1];
    if ((rows + br - 1) / br != s->shape[0] || (cols + bc - 1) / bc != s->shape[1]) {
      return data_loss(where(*s) + " has shape " + shape_str(s->shape) + ", no block tiling of " + shape_str(w.shape));
    }
    st.format = "FP8 block " + std::to_string(br) + "x" + std::to_string(bc);
  } else {
    return data_loss(where(*s) + " has shape " + shape_str(s->shape) + ", which fits neither a per-tensor, per-channel nor block scale of " + shape_str(w.shape));
  }
  st.prefetch = [w] { prefetch_pages(w.data, w.n_bytes); };
  st.read = [w, scale = std::move(scale), rows, cols, br, bc](float* out) -> Status {
    TROIKA_RETURN_IF_ERROR(to_f32(w.dtype, w.data, out, rows * cols));
    release(w);
    const int64_t n_blk_c = bc ? (cols + bc - 1) / bc : 0;
    for (int64_t r = 0; r < rows; ++r) {
      float* o = out + r * cols;
      if (scale.size() == 1 || (static_cast<int64_t>(scale.size()) == rows && br == 0)) {
        const float k = scale.size() == 1 ? scale[0] : scale[r];
        for (int64_t c = 0; c < cols; ++c) o[c] *= k;
      } else {
        for (int64_t c = 0; c < cols; ++c) o[c] *= scale[(r / br) * n_blk_c + c / bc];
      }
    }
    return {};
  };
  out_.push_back(std::move(st));
  return {};
}

Status Decoder::nvfp4(const RawTensor& w) {
  const std::string b = base(w.name);
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* bs, need(b + ".weight_scale", w));
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* s2, need(b + ".weight_scale_2", w));
  TROIKA_ASSIGN_OR_RETURN(float global, scalar_of(*s2));
  if (w.shape.size() != 2 || bs->dtype != DType::kF8E4M3 || bs->shape.size() != 2 ||
      bs->shape[0] != w.shape[0] || bs->shape[1] * 16 != w.shape[1] * 2) {
    return data_loss(where(w) + " " + shape_str(w.shape) + " and its weight_scale " +
                     std::string(dtype_name(bs->dtype)) + " " + shape_str(bs->shape) +
                     " do not form NVFP4 (u8 [out, in/2] with E4M3 [out, in/16])");
  }
  used_.insert(w.name);
  SourceTensor st;
  st.name = w.name;
  st.shape = {w.shape[0], w.shape[1] * 2};
  st.format = "NVFP4";
  st.file = w.file;
  const RawTensor scales = *bs;
  st.read = [w, scales, global](float* out) -> Status {
    dequant_nvfp4(w.data, scales.data, global, w.shape[0], w.shape[1] * 2, out);
    release(w);
    return {};
  };
  if ((w.shape[1] * 2) % 64 == 0) {
    st.nvfp4_scale2 = global;
    st.read_nvfp4 = [w, scales](uint8_t* out) -> Status {
      const int64_t rows = w.shape[0], cols = w.shape[1] * 2;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* p = w.data + r * (cols / 2);       // element 2k low, 2k+1 high
        const uint8_t* sc = scales.data + r * (cols / 16);
        for (int64_t b = 0; b < cols / 64; ++b) {
          uint8_t* blk = out + (r * (cols / 64) + b) * 36;
          for (int s = 0; s < 4; ++s) {
            blk[s] = sc[b * 4 + s] & 0x7F;  // UE4M3: the E4M3 scale without its (zero) sign
            const int64_t e0 = b * 64 + s * 16;
            auto code = [&](int64_t e) { return (e & 1) ? p[e / 2] >> 4 : p[e / 2] & 0xF; };
            for (int j = 0; j < 8; ++j) blk[4 + s * 8 + j] = static_cast<uint8_t>(code(e0 + j) | code(e0 + j + 8) << 4);
          }
        }
      }
      release(w);
      return {};
    };
  }
  out_.push_back(std::move(st));
  return {};
}

Status Decoder::awq(const RawTensor& qw) {
  if (q_.method != "awq") {
    return unimplemented(where(qw) + " is a packed qweight but quant_method is '" + q_.describe() +
                         "'; only AutoAWQ GEMM qweights are supported");
  }
  const int bits = q_.params.value("bits", q_.params.value("w_bit", 4));
  const int64_t group = q_.params.value("group_size", q_.params.value("q_group_size", 128));
  const std::string version = q_.params.value("version", "gemm");
  if (bits != 4 || (version != "gemm" && version != "GEMM")) {
    return unimplemented(where(qw) + ": AWQ " + std::to_string(bits) + "-bit version '" + version +
                         "' (supported: 4-bit GEMM)");
  }
  const std::string b = qw.name.substr(0, qw.name.size() - std::string(".qweight").size());
  used_.insert(qw.name);
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* qz, need(b + ".qzeros", qw));
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* sc, need(b + ".scales", qw));
  if (qw.dtype != DType::kI32 || qw.shape.size() != 2) return data_loss(where(qw) + " should be I32 [in, out/8]");
  const int64_t in = qw.shape[0], out_f = qw.shape[1] * 8;
  if (group <= 0 || in % group != 0) {
    return data_loss(where(qw) + ": in_features " + std::to_string(in) + " is not a multiple of group_size " + std::to_string(group));
  }
  const std::vector<int64_t> zshape = {in / group, out_f / 8}, sshape = {in / group, out_f};
  if (qz->dtype != DType::kI32 || qz->shape != zshape || sc->dtype != DType::kF16 || sc->shape != sshape) {
    return data_loss(where(qw) + ": qzeros " + shape_str(qz->shape) + " / scales " + shape_str(sc->shape) +
                     " do not match AWQ GEMM g" + std::to_string(group) + " (expected I32 " +
                     shape_str(zshape) + " and F16 " + shape_str(sshape) + ")");
  }
  SourceTensor st;
  st.name = b + ".weight";
  st.shape = {out_f, in};
  st.format = "AWQ int4 g" + std::to_string(group);
  st.file = qw.file;
  const RawTensor zeros = *qz, scales = *sc;
  st.read = [qw, zeros, scales, in, out_f, group](float* out) -> Status {
    dequant_awq(reinterpret_cast<const int32_t*>(qw.data), reinterpret_cast<const int32_t*>(zeros.data),
                reinterpret_cast<const uint16_t*>(scales.data), in, out_f, group, out);
    release(qw);
    return {};
  };
  if (group % 32 == 0) {
    st.read_q4_1 = [qw, zeros, scales, in, out_f, group](uint8_t* out) -> Status {
      const int64_t words = out_f / 8;
      const auto* q = reinterpret_cast<const int32_t*>(qw.data);
      const auto* z = reinterpret_cast<const int32_t*>(zeros.data);
      const auto* s = reinterpret_cast<const uint16_t*>(scales.data);
      for (int64_t n = 0; n < out_f; ++n) {
        for (int64_t k0 = 0; k0 < in; k0 += 32) {
          uint8_t* b = out + (n * (in / 32) + k0 / 32) * 20;
          const int64_t g = k0 / group;
          const uint16_t d = s[g * out_f + n];
          const int zero = awq_nibble(z + g * words, n);
          const ggml_fp16_t m = ggml_fp32_to_fp16(-f16_to_f32(d) * static_cast<float>(zero));
          std::memcpy(b, &d, 2);
          std::memcpy(b + 2, &m, 2);
          for (int j = 0; j < 16; ++j) {
            const int lo = awq_nibble(q + (k0 + j) * words, n), hi = awq_nibble(q + (k0 + j + 16) * words, n);
            b[4 + j] = static_cast<uint8_t>(lo | hi << 4);
          }
        }
      }
      release(qw);
      return {};
    };
  }
  out_.push_back(std::move(st));
  return {};
}

Status Decoder::bnb4(const RawTensor& w) {
  const RawTensor* state = find(w.name + ".quant_state.bitsandbytes__nf4");
  if (!state) state = find(w.name + ".quant_state.bitsandbytes__fp4");
  if (!state) return data_loss(where(w) + " has an absmax but no quant_state.bitsandbytes__nf4/fp4 entry");
  used_.insert(w.name);
  used_.insert(state->name);
  nlohmann::json qs;
  try {
    qs = nlohmann::json::parse(state->data, state->data + state->n_bytes);
  } catch (const std::exception& e) {
    return data_loss(where(*state) + " is not JSON: " + e.what());
  }
  std::vector<int64_t> shape;
  int64_t blocksize = 0;
  try {
    shape = qs.at("shape").get<std::vector<int64_t>>();
    blocksize = qs.at("blocksize").get<int64_t>();
  } catch (const std::exception& e) {
    return data_loss(where(*state) + " lacks shape/blocksize: " + e.what());
  }
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (blocksize <= 0 || numel <= 0 || (numel + 1) / 2 != w.numel()) {
    return data_loss(where(w) + " holds " + std::to_string(w.numel()) + " bytes, not the " +
                     std::to_string((numel + 1) / 2) + " that shape " + shape_str(shape) + " packs into");
  }
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* am, need(w.name + ".absmax", w));
  TROIKA_ASSIGN_OR_RETURN(const RawTensor* qm, need(w.name + ".quant_map", w));
  TROIKA_ASSIGN_OR_RETURN(std::vector<float> code, floats_of(*qm));
  if (code.size() != 16) return data_loss(where(*qm) + " should hold 16 code values");
  const int64_t n_blocks = (numel + blocksize - 1) / blocksize;
  if (am->numel() != n_blocks) {
    return data_loss(where(*am) + " holds " + std::to_string(am->numel()) + " block maxima, expected " + std::to_string(n_blocks));
  }
  std::vector<float> absmax(static_cast<size_t>(n_blocks));
  if (am->dtype == DType::kU8) {  // double quantisation
    TROIKA_ASSIGN_OR_RETURN(const RawTensor* na, need(w.name + ".nested_absmax", w));
    TROIKA_ASSIGN_OR_RETURN(const RawTensor* nq, need(w.name + ".nested_quant_map", w));
    TROIKA_ASSIGN_OR_RETURN(std::vector<float> nested_absmax, floats_of(*na));
    TROIKA_ASSIGN_OR_RETURN(std::vector<float> nested_code, floats_of(*nq));
    const int64_t nbs = qs.value("nested_blocksize", 256);
    const float offset = qs.value("nested_offset", 0.0f);
    if (nested_code.size() != 256 || nbs <= 0 ||
        static_cast<int64_t>(nested_absmax.size()) != (n_blocks + nbs - 1) / nbs) {
      return data_loss(where(w) + ": nested quantisation tables do not fit " + std::to_string(n_blocks) + " blocks");
    }
    dequant_bnb_absmax(am->data, nested_code.data(), nested_absmax.data(), nbs, offset, n_blocks, absmax.data());
  } else {
    TROIKA_ASSIGN_OR_RETURN(absmax, floats_of(*am));
  }
  SourceTensor st;
  st.name = w.name;
  st.shape = shape;
  st.format = "bitsandbytes " + qs.value("quant_type", std::string("nf4")) + " b" + std::to_string(blocksize);
  st.file = w.file;
  st.read = [w, code = std::move(code), absmax = std::move(absmax), blocksize, numel](float* out) -> Status {
    dequant_bnb4(w.data, code.data(), absmax.data(), blocksize, numel, out);
    release(w);
    return {};
  };
  out_.push_back(std::move(st));
  return {};
}

}  // namespace

Result<std::vector<SourceTensor>> decode_tensors(const std::vector<RawTensor>& raw,
                                                 const QuantConfig& quant) {
  static const std::set<std::string> kKnown = {"", "modelopt", "fp8", "compressed-tensors", "awq", "bitsandbytes"};
  if (!kKnown.count(quant.method)) {
    return unimplemented("quant_method '" + quant.method + "' is not supported (supported: modelopt FP8/NVFP4, "
                         "fp8 (AutoFP8), compressed-tensors FP8, awq (GEMM int4), bitsandbytes 4-bit)");
  }
  if (quant.method == "modelopt" && quant.algo != "fp8" && quant.algo != "nvfp4" && quant.algo != "w4a16_nvfp4") {
    return unimplemented("ModelOpt quant_algo '" + quant.algo + "' is not supported (FP8, NVFP4, W4A16_NVFP4)");
  }
  if (quant.method == "bitsandbytes" && quant.params.value("load_in_8bit", false)) {
    return unimplemented("bitsandbytes 8-bit (LLM.int8) checkpoints are not supported; 4-bit NF4/FP4 are");
  }
  return Decoder(raw, quant).run();
}

}  // namespace troika::convert
