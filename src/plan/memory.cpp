// The memory model: weights by tensor type, KV cache by layer, compute buffers by the worst
// micro-batch. Each formula follows what llama.cpp at the pinned commit allocates (the code it
// mirrors: src/llama-context.cpp, llama-kv-cache*.cpp, llama-model.cpp, ggml-alloc.c); the
// tests and the bench hold the result against llama.cpp's own allocator.
#include <algorithm>
#include <cstdlib>

#include "ggml.h"
#include "troika/engine.h"
#include "troika/plan.h"

namespace troika::plan {

namespace {

uint64_t pad(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

uint64_t row_bytes(int32_t type, int64_t n) {
  return ggml_row_size(static_cast<ggml_type>(type), n);
}

int32_t kv_ggml_type(KvType t) {
  switch (t) {
    case KvType::kQ8_0:
      return GGML_TYPE_Q8_0;
    case KvType::kF32:
      return GGML_TYPE_F32;
    default:
      return GGML_TYPE_F16;
  }
}

// Which layer a tensor belongs to: blk.N -> N; the output head and final norm -> n_layer (the
// "output layer", offloaded first); token_embd and rope_freqs -> -1 (input, host).
int layer_of(const std::string& name, int n_layer) {
  if (name.starts_with("blk.")) return std::atoi(name.c_str() + 4);
  if (name.starts_with("output")) return n_layer;
  return -1;
}

bool is_swa_layer(const ModelShape& s, int il) {
  return s.n_swa > 0 && s.swa_pattern > 0 && il % s.swa_pattern < s.swa_pattern - 1;
}

// Types the CPU backend repacks on x86 AVX2 (ggml-cpu/repack.cpp): a tied output of such a type
// is a second copy in a CPU_REPACK buffer.
bool repacked_on_cpu(int32_t type) {
  return type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q4_K || type == GGML_TYPE_IQ4_NL;
}

}  // namespace

ModelShape shape_of(const catalog::Family& f) {
  ModelShape s;
  s.architecture = f.architecture;
  s.n_layer = f.n_layer;
  s.n_embd = f.n_embd;
  s.n_head = f.n_head;
  s.n_head_kv = f.n_head_kv;
  s.n_ff = f.n_ff;
  s.n_vocab = f.n_vocab;
  s.head_dim_k = s.head_dim_v = f.head_dim;
  s.n_swa = f.n_swa;
  s.swa_pattern = f.swa_pattern;
  s.tied_embeddings = f.tied_embeddings;
  s.rope_freqs = f.rope_freqs;
  s.fused_qkv = f.fused_qkv;
  return s;
}

Result<ModelShape> shape_of(const catalog::GgufInfo& g) {
  if (g.architecture != "llama" && g.architecture != "gemma2" && g.architecture != "phi3") {
    return unimplemented("the planner models llama, gemma2 and phi3 architectures, not '" +
                         g.architecture + "' (" + g.path + ")");
  }
  ModelShape s;
  s.architecture = g.architecture;
  s.n_layer = g.n_layer;
  s.n_embd = g.n_embd;
  s.n_head = g.n_head;
  s.n_head_kv = g.n_head_kv;
  s.n_ff = g.n_ff;
  s.n_vocab = g.n_vocab;
  s.head_dim_k = g.head_dim_k;
  s.head_dim_v = g.head_dim_v;
  // llama.cpp reads gemma2's window (default 4096) and slides the even layers; Phi-3's sliding
  // window is ignored at load time, so it has none here either.
  if (g.architecture == "gemma2") {
    s.n_swa = g.n_swa > 0 ? g.n_swa : 4096;
    s.swa_pattern = 2;
  }
  bool has_output = false;
  for (const auto& t : g.tensors) {
    if (t.name == "output.weight") has_output = true;
    if (t.name == "rope_freqs.weight") s.rope_freqs = true;
    if (t.name.find("attn_qkv") != std::string::npos) s.fused_qkv = true;
  }
  s.tied_embeddings = !has_output;
  return s;
}

std::vector<Tensor> tensors_of(const catalog::GgufInfo& g) {
  std::vector<Tensor> out;
  for (const auto& t : g.tensors) {
    Tensor x;
    x.name = t.name;
    x.type = t.type_id;
    x.ne0 = t.shape.empty() ? 0 : t.shape[0];
    x.ne1 = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) x.ne1 *= t.shape[d];
    x.bytes = t.bytes;
    out.push_back(std::move(x));
  }
  return out;
}

Result<std::vector<Tensor>> tensors_for(const ModelShape& s, const std::string& file_type) {
  if (s.n_layer <= 0 || s.n_embd <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_vocab <= 0)
    return invalid_argument("model shape has a zero dimension");
  const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab;
  const int64_t q = int64_t{s.head_dim_k} * s.n_head, kv = int64_t{s.head_dim_k} * s.n_head_kv;
  const int64_t vv = int64_t{s.head_dim_v} * s.n_head_kv;
  std::vector<engine::TensorShape> t;
  t.push_back({"token_embd.weight", E, V});
  if (s.rope_freqs) t.push_back({"rope_freqs.weight", s.head_dim_k / 2, 1});
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", E, 1});
    if (s.fused_qkv) {
      t.push_back({b + "attn_qkv.weight", E, q + kv + vv});
    } else {
      t.push_back({b + "attn_q.weight", E, q});
      t.push_back({b + "attn_k.weight", E, kv});
      t.push_back({b + "attn_v.weight", E, vv});
    }
    t.push_back({b + "attn_output.weight", int64_t{s.head_dim_v} * s.n_head, E});
    if (s.architecture == "gemma2") t.push_back({b + "post_attention_norm.weight", E, 1});
    t.push_back({b + "ffn_norm.weight", E, 1});
    if (s.fused_qkv) {
      t.push_back({b + "ffn_up.weight", E, 2 * F});  // fused [gate | up]
    } else {
      t.push_back({b + "ffn_gate.weight", E, F});
      t.push_back({b + "ffn_up.weight", E, F});
    }
    t.push_back({b + "ffn_down.weight", F, E});
    if (s.architecture == "gemma2") t.push_back({b + "post_ffw_norm.weight", E, 1});
  }
  t.push_back({"output_norm.weight", E, 1});
  if (!s.tied_embeddings) t.push_back({"output.weight", E, V});

  engine::ModelDims dims = {s.architecture, s.n_embd,    s.n_ff,       s.n_layer,
                            s.n_head,       s.n_head_kv, s.head_dim_k, s.head_dim_v};
  TROIKA_ASSIGN_OR_RETURN(std::vector<int32_t> types, engine::quantize_types(dims, t, file_type));
  std::vector<Tensor> out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    Tensor x{t[i].name, types[i], t[i].ne0, t[i].ne1, 0};
    x.bytes = row_bytes(x.type, x.ne0) * static_cast<uint64_t>(x.ne1);
    out.push_back(std::move(x));
  }
  return out;
}

Result<KvType> parse_kv_type(const std::string& name) {
  if (name == "f16") return KvType::kF16;
  if (name == "q8_0") return KvType::kQ8_0;
  if (name == "f32") return KvType::kF32;
  return invalid_argument("unknown KV cache type '" + name + "'; choose f16, q8_0 or f32");
}

Estimate estimate(const ModelShape& s, const std::vector<Tensor>& tensors,
                  const ContextSpec& spec) {
  Estimate e;
  // Layers on the GPU: the output layer first, then blocks from the last one down.
  const int n_gpu = !spec.gpu               ? 0
                    : spec.n_gpu_layers < 0 ? s.n_layer + 1
                                            : std::min(spec.n_gpu_layers, s.n_layer + 1);
  auto on_gpu = [&](int il) { return il >= 0 && il >= s.n_layer + 1 - n_gpu; };

  // Weights: each tensor padded to its buffer's alignment (CPU 32, CUDA 128).
  for (const Tensor& t : tensors) {
    const int il = layer_of(t.name, s.n_layer);
    if (on_gpu(il)) {
      e.device.weights += pad(t.bytes, 128);
    } else {
      e.host.weights += pad(t.bytes, 32);
    }
    if (t.name == "token_embd.weight" && s.tied_embeddings) {
      // The tied output head is token_embd used by the output layer: a second copy where the
      // output layer's buffer is not the input's (the GPU, or the CPU's repack buffer).
      if (on_gpu(s.n_layer)) {
        e.device.weights += pad(t.bytes, 128);
      } else if (repacked_on_cpu(t.type)) {
        e.host.weights += pad(t.bytes, 32);
      }
    }
  }

  // KV cache (llama-context.cpp: n_ctx padded to 256; llama-kv-cache-iswa.cpp: window size).
  const uint64_t n_seq = std::max(1, spec.n_seq);
  const uint64_t n_ctx = pad(std::max(1, spec.n_ctx), 256);
  const uint64_t n_stream = spec.unified_kv ? 1 : n_seq;
  const uint64_t ctx_seq = spec.unified_kv ? n_ctx : pad(n_ctx / n_seq, 256);
  const uint64_t ubatch = std::min<uint64_t>(std::max(1, spec.n_ubatch), n_ctx);
  uint64_t swa_cells = ctx_seq;
  if (s.n_swa > 0 && !spec.swa_full) {
    const uint64_t window = static_cast<uint64_t>(s.n_swa) * (spec.unified_kv ? n_seq : 1);
    swa_cells = pad(std::min<uint64_t>(ctx_seq, window + ubatch), 256);
  }
  e.kv_cells = ctx_seq;
  e.kv_cells_swa = s.n_swa > 0 ? swa_cells : 0;
  const int32_t kvt = kv_ggml_type(spec.kv_type);
  const int64_t k_row = int64_t{s.n_head_kv} * s.head_dim_k;
  const int64_t v_row = int64_t{s.n_head_kv} * s.head_dim_v;
  for (int il = 0; il < s.n_layer; ++il) {
    const uint64_t cells = n_stream * (is_swa_layer(s, il) ? swa_cells : ctx_seq);
    const uint64_t bytes =
        pad(row_bytes(kvt, k_row) * cells, 32) + pad(row_bytes(kvt, v_row) * cells, 32);
    (on_gpu(il) ? e.device.kv : e.host.kv) += bytes;
  }

  // Compute: the worst micro-batch (T tokens, every one an output) with the whole cache in view.
  // The buffer is the allocator's high-water mark; the candidates are the FFN, the attention and
  // the logits, each on top of the graph inputs (embeddings, positions, masks) that stay live.
  const uint64_t T = pad(ubatch, n_seq);
  const uint64_t O = T;
  const uint64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, H = s.n_head;
  const uint64_t Dk = s.head_dim_k, Dv = s.head_dim_v;
  const uint64_t K = ctx_seq * n_stream;
  const uint64_t mask_el = spec.flash_attn ? 2 : 4;  // the KQ mask is f16 with flash attention
  uint64_t inputs = 4 * E * T + 24 * T + 4 * O + mask_el * K * T;
  if (s.n_swa > 0) inputs += mask_el * swa_cells * n_stream * T;
  // FFN: up, gate and their product [F, T] beside the residual, its norm and the input
  // (Phi-3's fused up [2F, T] is split by views, one [E, T] fewer stays live).
  const uint64_t ffn = inputs + 4 * T * (3 * F + (s.fused_qkv ? 2 : 3) * E);
  const uint64_t att = spec.flash_attn ? inputs + 4 * T * (3 * E + H * Dv)
                                       : inputs + 4 * T * (H * K + 2 * E + H * Dk + H * Dv);
  const uint64_t out = 4 * E * T + 4 * O * (V + E);
  const uint64_t compute = std::max({ffn, att, out});
  if (n_gpu > 0) {
    e.device.compute = compute;
    // The CPU side keeps the graph inputs and the embedding lookup (CUDA_Host).
    e.host.compute = 8 * E * T + mask_el * K * T + 24 * T;
  } else {
    e.host.compute = compute;
  }
  e.host.output = 4 * V * n_seq;  // logits rows, one per sequence at creation
  return e;
}

}  // namespace troika::plan
