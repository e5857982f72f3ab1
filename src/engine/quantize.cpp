#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/ascii.h"
#include "engine/internal.h"
#include "llama-ext.h"
#include "troika/engine.h"

namespace troika::engine {

namespace {
struct FtypeName {
  const char* name;
  llama_ftype ftype;
};
constexpr FtypeName kFtypes[] = {
    {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},     {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S},
    {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"q3_k_l", LLAMA_FTYPE_MOSTLY_Q3_K_L},
    {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M},
    {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},     {"iq4_nl", LLAMA_FTYPE_MOSTLY_IQ4_NL},
    {"iq4_xs", LLAMA_FTYPE_MOSTLY_IQ4_XS},
};
// Plain file types besides the mixes (for quantize_types()).
constexpr FtypeName kPlain[] = {
    {"f32", LLAMA_FTYPE_ALL_F32},      {"f16", LLAMA_FTYPE_MOSTLY_F16},
    {"bf16", LLAMA_FTYPE_MOSTLY_BF16}, {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0}, {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0}, {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
};

int layer_of(const std::string& n) {
  return n.starts_with("blk.") ? std::atoi(n.c_str() + 4) : -1;
}

}  // namespace

std::vector<std::string> file_types() {
  std::vector<std::string> out;
  for (const auto& f : kPlain) out.emplace_back(f.name);
  for (const auto& f : kFtypes) out.emplace_back(f.name);
  return out;
}

bool ftype_by_name(std::string_view name, llama_ftype* out) {
  const std::string want = ascii_lower(name);
  for (const auto& f : kPlain) {
    if (want == f.name) return *out = f.ftype, true;
  }
  for (const auto& f : kFtypes) {
    if (want == f.name) return *out = f.ftype, true;
  }
  return false;
}

Result<std::vector<int32_t>> quantize_types(const ModelDims& dims,
                                            std::span<const TensorShape> tensors,
                                            std::string_view file_type) {
  llama_ftype ftype = LLAMA_FTYPE_ALL_F32;
  if (!ftype_by_name(file_type, &ftype)) {
    std::string known;
    for (const auto& n : file_types()) known += (known.empty() ? "" : ", ") + n;
    return invalid_argument("unknown file type '" + std::string(file_type) + "'; choose " + known);
  }
  if (dims.n_layer <= 0 || dims.n_layer > 512 || dims.n_embd <= 0 || dims.n_head <= 0) {
    return invalid_argument("model dimensions must be positive (n_layer " +
                            std::to_string(dims.n_layer) + ", n_embd " +
                            std::to_string(dims.n_embd) + ")");
  }
  ensure_backend();
  if (ftype == LLAMA_FTYPE_ALL_F32)
    return std::vector<int32_t>(tensors.size(), GGML_TYPE_F32);

  llama_quant_model_desc desc = {};
  desc.architecture = dims.architecture.c_str();
  desc.n_embd = dims.n_embd;
  desc.n_ff = dims.n_ff;
  desc.n_layer = dims.n_layer;
  desc.n_head = dims.n_head;
  desc.n_head_kv = dims.n_head_kv;
  desc.n_embd_head_k = dims.head_dim_k;
  desc.n_embd_head_v = dims.head_dim_v;
  llama_model* model = llama_quant_model_from_metadata(&desc);
  if (!model)
    return invalid_argument("llama.cpp does not know architecture '" + dims.architecture + "'");
  llama_model_quantize_params qp = llama_model_quantize_default_params();
  qp.ftype = ftype;
  quantize_state_impl* qs = llama_quant_init(model, &qp);

  // Tensor metadata only: nothing is allocated. The mixes count attn_v/ffn_down tensors as they
  // meet them, so they meet them in the order llama.cpp's loader sorts weights: by layer
  // (non-layer tensors first), then by name.
  ggml_init_params ip = {tensors.size() * ggml_tensor_overhead() + 1024, nullptr, true};
  ggml_context* meta = ggml_init(ip);
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    if (la != lb) return la < lb;
    return std::strcmp(tensors[a].name.c_str(), tensors[b].name.c_str()) < 0;
  });
  std::vector<ggml_tensor*> quantizable;
  std::vector<size_t> index;
  std::vector<int32_t> out(tensors.size(), GGML_TYPE_F32);
  for (size_t i : order) {
    const TensorShape& t = tensors[i];
    ggml_tensor* x = t.ne1 > 1 ? ggml_new_tensor_2d(meta, GGML_TYPE_F32, t.ne0, t.ne1)
                               : ggml_new_tensor_1d(meta, GGML_TYPE_F32, t.ne0);
    ggml_set_name(x, t.name.c_str());
    if (llama_quant_tensor_allows_quantization(qs, x)) {
      quantizable.push_back(x);
      index.push_back(i);
    }
  }
  std::vector<ggml_type> types(quantizable.size());
  llama_quant_compute_types(qs, ftype, quantizable.data(), types.data(), quantizable.size());
  for (size_t k = 0; k < index.size(); ++k) out[index[k]] = types[k];
  ggml_free(meta);
  llama_quant_free(qs);
  llama_model_free(model);
  return out;
}

std::vector<std::string> quantize_mixes() {
  std::vector<std::string> out;
  for (const auto& f : kFtypes) out.emplace_back(f.name);
  return out;
}

Status quantize_model(const std::string& in, const std::string& out, std::string_view mix,
                      int n_threads) {
  const FtypeName* found = nullptr;
  for (const auto& f : kFtypes) {
    if (mix == f.name) found = &f;
  }
  if (!found) return invalid_argument("unknown quantization mix '" + std::string(mix) + "'");
  if (!std::filesystem::exists(in)) return not_found(in + ": no such file");
  ensure_backend();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.nthread = n_threads;
  p.ftype = found->ftype;
  if (llama_model_quantize(in.c_str(), out.c_str(), &p) != 0) {
    return internal_error("llama.cpp could not quantize " + in + " to " + std::string(mix) +
                          " (see the log above)");
  }
  return {};
}

}  // namespace troika::engine
