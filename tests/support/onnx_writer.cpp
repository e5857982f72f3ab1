// Writes onnxruntime-genai-style Phi-3 ONNX models for tests; see onnx_writer.h. The protobuf
// encoding is done by hand (field numbers as in onnx/onnx.proto, listed in
// src/convert/onnx_graph.cpp).
#include "onnx_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

namespace troika::testing {
namespace {

// TensorProto.DataType and AttributeProto.AttributeType values.
constexpr int kFloat = 1, kUint8 = 2, kInt64 = 7, kFloat16 = 10;
constexpr int kAttrFloat = 1, kAttrInt = 2, kAttrTensor = 4;

// Appends protobuf fields to a byte string.
class Msg {
 public:
  Msg& varint(uint32_t field, uint64_t v) {
    key(field, 0);
    put_varint(v);
    return *this;
  }
  Msg& fixed32(uint32_t field, uint32_t v) {
    key(field, 5);
    for (int i = 0; i < 4; ++i) s_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  Msg& bytes(uint32_t field, const std::string& b) {
    key(field, 2);
    put_varint(b.size());
    s_ += b;
    return *this;
  }
  Msg& msg(uint32_t field, const Msg& m) { return bytes(field, m.s_); }
  const std::string& str() const { return s_; }

 private:
  void key(uint32_t field, uint32_t type) { put_varint(uint64_t{field} << 3 | type); }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      s_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    s_.push_back(static_cast<char>(v));
  }
  std::string s_;
};

template <typename T>
std::string as_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class ModelWriter {
 public:
  ModelWriter(std::string data_name, const OnnxWriterOptions& o)
      : data_name_(std::move(data_name)), o_(o) {}

  // Adds an initializer; returns the name nodes must use for it.
  std::string tensor(std::string name, int type, const std::vector<int64_t>& dims,
                     const std::string& bytes, bool weight = true) {
    if (weight && o_.anonymous_initializers) name = "w" + std::to_string(n_anonymous_++);
    Msg t;
    for (int64_t d : dims) t.varint(1, static_cast<uint64_t>(d));
    t.varint(2, static_cast<uint64_t>(type));
    t.bytes(8, name);
    if (o_.external_data) {
      while (data_.size() % 64 != 0) data_.push_back('\0');  // as onnx aligns large tensors
      t.msg(13, Msg().bytes(1, "location").bytes(2, data_name_));
      t.msg(13, Msg().bytes(1, "offset").bytes(2, std::to_string(data_.size())));
      t.msg(13, Msg().bytes(1, "length").bytes(2, std::to_string(bytes.size())));
      t.varint(14, 1);
      data_ += bytes;
    } else {
      t.bytes(9, bytes);
    }
    graph_.msg(5, t);
    return name;
  }

  // Floats as FLOAT, or FLOAT16 when the options say so.
  std::string floats(const std::string& name, const std::vector<int64_t>& dims, const float* v,
                     int64_t n, bool weight = true) {
    if (!o_.fp16)
      return tensor(name, kFloat, dims, std::string(reinterpret_cast<const char*>(v), n * 4),
                    weight);
    std::vector<uint16_t> h(n);
    for (int64_t i = 0; i < n; ++i) h[i] = float_to_half(v[i]);
    return tensor(name, kFloat16, dims, as_bytes(h), weight);
  }

  struct Attr {
    std::string name;
    int64_t i = 0;
    bool is_float = false;
    float f = 0;
  };

  void node(const std::string& op, const std::string& name, const std::vector<std::string>& in,
            const std::vector<std::string>& out, const std::vector<Attr>& attrs = {},
            const std::string& domain = "") {
    Msg n;
    for (const auto& s : in) n.bytes(1, s);
    for (const auto& s : out) n.bytes(2, s);
    if (!o_.unnamed_nodes) n.bytes(3, name);
    n.bytes(4, op);
    for (const Attr& a : attrs) {
      Msg m;
      m.bytes(1, a.name);
      if (a.is_float) {
        uint32_t bits;
        std::memcpy(&bits, &a.f, 4);
        m.fixed32(2, bits).varint(20, kAttrFloat);
      } else {
        m.varint(3, static_cast<uint64_t>(a.i)).varint(20, kAttrInt);
      }
      n.msg(5, m);
    }
    if (!domain.empty()) n.bytes(7, domain);
    graph_.msg(1, n);
  }

  // A Constant node carrying a tensor attribute, as the builder makes for "/model/constants/...":
  // exercises skipping nested messages inside attributes.
  void constant(const std::string& name, int64_t value) {
    Msg t;
    t.varint(2, kInt64).bytes(9, std::string(reinterpret_cast<const char*>(&value), 8));
    Msg attr;
    attr.bytes(1, "value").msg(5, t).varint(20, kAttrTensor);
    Msg n;
    n.bytes(2, name);
    if (!o_.unnamed_nodes) n.bytes(3, name);
    n.bytes(4, "Constant").msg(5, attr);
    graph_.msg(1, n);
  }

  // y = x W^T for HF weight w [n, k]; returns the output name.
  std::string linear(const std::string& base, const float* w, int64_t n, int64_t k,
                     const std::string& x) {
    std::string init = base.substr(1);
    std::replace(init.begin(), init.end(), '/', '.');
    init += ".weight";
    if (!o_.quantize) {  // the builder stores MatMul's B, i.e. [in, out]
      std::vector<float> t(n * k);
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t c = 0; c < k; ++c) t[c * n + r] = w[r * k + c];
      }
      const std::string b = tensor(init, kFloat, {k, n}, as_bytes(t));
      node("MatMul", base, {x, b}, {base + "/output_0"});
      return base + "/output_0";
    }
    const int64_t bs = o_.block_size, n_blocks = (k + bs - 1) / bs, zp_row = (n_blocks + 1) / 2;
    std::vector<uint8_t> packed(n * n_blocks * bs / 2), zps(n * zp_row);
    std::vector<float> scales(n * n_blocks);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float* v = w + r * k + b * bs;
        const int64_t cnt = std::min(bs, k - b * bs);
        const float scale = rtn_int4_scale(v, cnt, o_.zero_points, o_.fp16);
        const float lo = std::min(0.0f, *std::min_element(v, v + cnt));
        const int zp = !o_.zero_points ? 8
                       : scale == 0    ? 0
                                    : std::clamp(static_cast<int>(std::lround(-lo / scale)), 0, 15);
        for (int64_t j = 0; j < bs; ++j) {  // the padding past K quantizes 0
          const float x_j = j < cnt ? v[j] : 0.0f;
          const long q = scale == 0 ? zp : std::lround(x_j / scale) + zp;
          const uint8_t q4 = static_cast<uint8_t>(std::clamp(q, 0L, 15L));
          packed[(r * n_blocks + b) * bs / 2 + j / 2] |= static_cast<uint8_t>(q4 << (4 * (j & 1)));
        }
        scales[r * n_blocks + b] = scale;
        zps[r * zp_row + b / 2] |= static_cast<uint8_t>(zp << (4 * (b & 1)));
      }
    }
    std::vector<std::string> in = {
        x, tensor(init + "_Q4", kUint8, {n, n_blocks, bs / 2}, as_bytes(packed))};
    in.push_back(floats(init + "_scales", {n * n_blocks}, scales.data(), n * n_blocks));
    if (o_.zero_points)
      in.push_back(tensor(init + "_zero_points", kUint8, {n * zp_row}, as_bytes(zps)));
    node("MatMulNBits", base + "_Q4", in, {base + "/output_0"},
         {{"K", k}, {"N", n}, {"bits", 4}, {"block_size", bs}, {"accuracy_level", 4}},
         "com.microsoft");
    return base + "/output_0";
  }

  std::string model_bytes() const {
    Msg g = graph_;
    g.bytes(2, "main_graph");
    g.msg(11, Msg().bytes(1, "input_ids"));
    g.msg(12, Msg().bytes(1, "logits"));
    Msg m;
    m.varint(1, 7).bytes(2, "onnxruntime-genai").bytes(3, "0.0.0").msg(7, g);
    m.msg(8, Msg().varint(2, 14));
    m.msg(8, Msg().bytes(1, "com.microsoft").varint(2, 1));
    return m.str();
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_name_;
  OnnxWriterOptions o_;
  Msg graph_;
  std::string data_;
  int n_anonymous_ = 0;
};

Status write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f ? Status::Ok() : internal_error("cannot write " + path);
}

}  // namespace

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7FFFFFFF;
  if (abs >= 0x7F800000)
    return static_cast<uint16_t>(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
  if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds past 65504
  if (abs < 0x38800000) {  // subnormal half: value / 2^-24, rounded to nearest even
    const float scaled = std::nearbyint(std::fabs(f) * 16777216.0f);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(scaled));
  }
  uint32_t h = ((abs - 0x38000000) >> 13);
  const uint32_t rest = abs & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const int exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  float v = exp == 0    ? std::ldexp(static_cast<float>(man), -24)
            : exp == 31 ? (man ? NAN : INFINITY)
                        : std::ldexp(static_cast<float>(man | 0x400), exp - 25);
  return (h & 0x8000) ? -v : v;
}

float rtn_int4_scale(const float* v, int64_t n, bool zero_points, bool fp16) {
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  const float scale = zero_points ? (hi - lo) / 14.0f : std::max(-lo, hi) / 7.0f;
  return fp16 ? half_to_float(float_to_half(scale)) : scale;
}

std::vector<NamedTensor> random_phi3_tensors(const Phi3Dims& d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<NamedTensor> out;
  const auto add = [&](std::string name, std::vector<int64_t> shape, float base) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    NamedTensor t{std::move(name), std::move(shape), std::vector<float>(n)};
    for (float& x : t.data) x = base + u(rng);
    out.push_back(std::move(t));
  };
  const int64_t hd = d.hidden / d.n_head, qkv = (d.n_head + 2 * d.n_kv_head) * hd;
  add("model.embed_tokens.weight", {d.vocab, d.hidden}, 0);
  for (int64_t i = 0; i < d.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {d.hidden}, 1);
    add(p + "self_attn.qkv_proj.weight", {qkv, d.hidden}, 0);
    add(p + "self_attn.o_proj.weight", {d.hidden, d.n_head * hd}, 0);
    add(p + "post_attention_layernorm.weight", {d.hidden}, 1);
    add(p + "mlp.gate_up_proj.weight", {2 * d.intermediate, d.hidden}, 0);
    add(p + "mlp.down_proj.weight", {d.hidden, d.intermediate}, 0);
  }
  add("model.norm.weight", {d.hidden}, 1);
  add("lm_head.weight", {d.vocab, d.hidden}, 0);
  return out;
}

Status write_phi3_onnx(const std::string& onnx_path, const std::vector<NamedTensor>& tensors,
                       const Phi3Dims& d, const OnnxWriterOptions& o) {
  std::map<std::string, const NamedTensor*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  const auto get = [&](const std::string& name, std::vector<int64_t> shape,
                       const NamedTensor** out) -> Status {
    const auto it = by_name.find(name);
    if (it == by_name.end()) return invalid_argument("write_phi3_onnx: no tensor " + name);
    if (it->second->shape != shape)
      return invalid_argument("write_phi3_onnx: bad shape of " + name);
    *out = it->second;
    return Status::Ok();
  };
  const int64_t hd = d.hidden / d.n_head, n_q = d.n_head * hd, n_kv = d.n_kv_head * hd;
  const int64_t h = d.hidden, ff = d.intermediate;
  ModelWriter m(std::filesystem::path(onnx_path).filename().string() + ".data", o);
  const NamedTensor* t = nullptr;

  TROIKA_RETURN_IF_ERROR(get("model.embed_tokens.weight", {d.vocab, h}, &t));
  const std::string table =
      m.floats("model.embed_tokens.weight", {d.vocab, h}, t->data.data(), d.vocab * h);
  m.node("Gather", "/model/embed_tokens/Gather", {table, "input_ids"},
         {"/model/embed_tokens/Gather/output_0"});
  // Preprocessing lookups the reader must not mistake for weights.
  m.constant("/model/constants/INT64/1", 1);
  m.node("Shape", "/model/attn_mask_reformat/Shape", {"input_ids"},
         {"/model/attn_mask_reformat/Shape/output_0"});
  m.node("Gather", "/model/attn_mask_reformat/Gather",
         {"/model/attn_mask_reformat/Shape/output_0", "/model/constants/INT64/1"},
         {"/model/attn_mask_reformat/Gather/output_0"});
  std::vector<float> cache(64 * hd / 2, 0.5f);
  const std::string cos = m.floats("cos_cache", {64, hd / 2}, cache.data(), 64 * hd / 2, false);
  const std::string sin = m.floats("sin_cache", {64, hd / 2}, cache.data(), 64 * hd / 2, false);

  std::string root = "/model/embed_tokens/Gather/output_0", skip = root;
  const auto norm = [&](const std::string& hf, const std::string& location, int64_t layer,
                        bool first) -> Status {
    TROIKA_RETURN_IF_ERROR(get(hf, {h}, &t));
    const std::string dir =
        "/model/layers." + std::to_string(layer) + "/" + location + "_layernorm";
    const std::string w =
        m.floats("model.layers." + std::to_string(layer) + "." + location + "_layernorm.weight",
                 {h}, t->data.data(), h);
    if (first) {
      m.node("SimplifiedLayerNormalization", dir + "/LayerNorm", {root, w}, {dir + "/output_0"},
             {{"axis", -1}, {"epsilon", 0, true, 1e-5f}, {"stash_type", 1}});
    } else {
      m.node("SkipSimplifiedLayerNormalization", dir + "/SkipLayerNorm", {root, skip, w},
             {dir + "/output_0", "", "", dir + "/output_3"}, {{"epsilon", 0, true, 1e-5f}},
             "com.microsoft");
      root = dir + "/output_3";
    }
    return Status::Ok();
  };

  for (int64_t i = 0; i < d.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const std::string l = "/model/layers." + std::to_string(i);
    TROIKA_RETURN_IF_ERROR(norm(p + "input_layernorm.weight", "input", i, i == 0));
    const std::string x = l + "/input_layernorm/output_0";
    TROIKA_RETURN_IF_ERROR(get(p + "self_attn.qkv_proj.weight", {n_q + 2 * n_kv, h}, &t));
    std::vector<std::string> qkv;
    if (o.packed_qkv) {
      qkv = {m.linear(l + "/attn/qkv_proj/MatMul", t->data.data(), n_q + 2 * n_kv, h, x), "", ""};
    } else {  // the builder slices q, k, v rows out of Phi-3's fused weight
      qkv.push_back(m.linear(l + "/attn/q_proj/MatMul", t->data.data(), n_q, h, x));
      qkv.push_back(m.linear(l + "/attn/k_proj/MatMul", t->data.data() + n_q * h, n_kv, h, x));
      qkv.push_back(
          m.linear(l + "/attn/v_proj/MatMul", t->data.data() + (n_q + n_kv) * h, n_kv, h, x));
    }
    const std::string attn = l + "/attn/GroupQueryAttention";
    m.node(
        "GroupQueryAttention", attn,
        {qkv[0], qkv[1], qkv[2], "past_key_values." + std::to_string(i) + ".key",
         "past_key_values." + std::to_string(i) + ".value", "seqlens_k", "total_seq_len", cos, sin},
        {attn + "/output_0"},
        {{"num_heads", d.n_head}, {"kv_num_heads", d.n_kv_head}, {"do_rotary", 1}},
        "com.microsoft");
    TROIKA_RETURN_IF_ERROR(get(p + "self_attn.o_proj.weight", {h, n_q}, &t));
    skip = m.linear(l + "/attn/o_proj/MatMul", t->data.data(), h, n_q, attn + "/output_0");
    TROIKA_RETURN_IF_ERROR(norm(p + "post_attention_layernorm.weight", "post_attention", i, false));
    const std::string y = l + "/post_attention_layernorm/output_0";
    TROIKA_RETURN_IF_ERROR(get(p + "mlp.gate_up_proj.weight", {2 * ff, h}, &t));
    const std::string gate = m.linear(l + "/mlp/gate_proj/MatMul", t->data.data(), ff, h, y);
    const std::string up = m.linear(l + "/mlp/up_proj/MatMul", t->data.data() + ff * h, ff, h, y);
    m.node("Sigmoid", l + "/mlp/act_fn/Sigmoid", {gate}, {l + "/mlp/act_fn/Sigmoid/output_0"});
    m.node("Mul", l + "/mlp/act_fn/Mul", {gate, l + "/mlp/act_fn/Sigmoid/output_0"},
           {l + "/mlp/act_fn/Mul/output_0"});
    m.node("Mul", l + "/mlp/Mul", {l + "/mlp/act_fn/Mul/output_0", up}, {l + "/mlp/Mul/output_0"});
    TROIKA_RETURN_IF_ERROR(get(p + "mlp.down_proj.weight", {h, ff}, &t));
    skip = m.linear(l + "/mlp/down_proj/MatMul", t->data.data(), h, ff, l + "/mlp/Mul/output_0");
  }
  TROIKA_RETURN_IF_ERROR(norm("model.norm.weight", "final_norm", d.n_layers, false));
  TROIKA_RETURN_IF_ERROR(get("lm_head.weight", {d.vocab, h}, &t));
  m.linear("/lm_head/MatMul", t->data.data(), d.vocab, h,
           "/model/layers." + std::to_string(d.n_layers) + "/final_norm_layernorm/output_0");

  TROIKA_RETURN_IF_ERROR(write_file(onnx_path, m.model_bytes()));
  if (o.external_data) TROIKA_RETURN_IF_ERROR(write_file(onnx_path + ".data", m.data()));
  return Status::Ok();
}

}  // namespace troika::testing
