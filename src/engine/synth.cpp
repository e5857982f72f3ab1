// Writes GGUF files with random weights: metadata through gguf.h, tensor data streamed after it
// (so an 8B shape never sits in memory), quantization through llama_model_quantize.
#include "troika/synth.h"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "engine/internal.h"
#include "engine/synth_templates.h"
#include "ggml.h"
#include "gguf.h"

namespace troika::engine {

namespace {

namespace fs = std::filesystem;

// Architecture as written to general.architecture, and its family defaults.
struct ArchInfo {
  const char* gguf_arch;
  float norm_eps;
  float rope_base;
};

const std::map<std::string, ArchInfo>& archs() {
  static const std::map<std::string, ArchInfo> m = {
      {"llama", {"llama", 1e-5f, 500000.0f}},  {"mistral", {"llama", 1e-5f, 1000000.0f}},
      {"gemma2", {"gemma2", 1e-6f, 10000.0f}}, {"phi3", {"phi3", 1e-5f, 10000.0f}},
      {"bert", {"bert", 1e-12f, 0.0f}},
  };
  return m;
}

// One tensor to write: name, shape {ne0, ne1} (ne1 = 1 for vectors), fill.
enum class Fill { kRandom, kOnes, kZeros, kRopeFreqs };
struct TensorSpec {
  std::string name;
  int64_t ne0;
  int64_t ne1;
  Fill fill;
};

std::vector<TensorSpec> tensor_plan(const std::string& arch, const SynthShape& s, int64_t n_vocab) {
  const int64_t E = s.n_embd, F = s.n_ff, hd = s.head_dim;
  const int64_t q = hd * s.n_head, kv = hd * s.n_head_kv;
  std::vector<TensorSpec> t;
  auto vec = [&](std::string n, Fill f = Fill::kOnes) { t.push_back({std::move(n), E, 1, f}); };
  auto mat = [&](std::string n, int64_t a, int64_t b) {
    t.push_back({std::move(n), a, b, Fill::kRandom});
  };
  mat("token_embd.weight", E, n_vocab);
  if (arch == "bert") {
    t.push_back({"token_types.weight", E, 2, Fill::kRandom});
    mat("position_embd.weight", E, s.n_ctx_train);
    vec("token_embd_norm.weight");
    vec("token_embd_norm.bias", Fill::kZeros);
  }
  if (arch == "llama") t.push_back({"rope_freqs.weight", hd / 2, 1, Fill::kRopeFreqs});
  for (int32_t i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    if (arch == "bert") {
      mat(b + "attn_q.weight", E, q);
      t.push_back({b + "attn_q.bias", q, 1, Fill::kZeros});
      mat(b + "attn_k.weight", E, kv);
      t.push_back({b + "attn_k.bias", kv, 1, Fill::kZeros});
      mat(b + "attn_v.weight", E, kv);
      t.push_back({b + "attn_v.bias", kv, 1, Fill::kZeros});
      mat(b + "attn_output.weight", q, E);
      vec(b + "attn_output.bias", Fill::kZeros);
      vec(b + "attn_output_norm.weight");
      vec(b + "attn_output_norm.bias", Fill::kZeros);
      mat(b + "ffn_up.weight", E, F);
      t.push_back({b + "ffn_up.bias", F, 1, Fill::kZeros});
      mat(b + "ffn_down.weight", F, E);
      vec(b + "ffn_down.bias", Fill::kZeros);
      vec(b + "layer_output_norm.weight");
      vec(b + "layer_output_norm.bias", Fill::kZeros);
      continue;
    }
    vec(b + "attn_norm.weight");
    if (arch == "phi3") {
      mat(b + "attn_qkv.weight", E, q + 2 * kv);
    } else {
      mat(b + "attn_q.weight", E, q);
      mat(b + "attn_k.weight", E, kv);
      mat(b + "attn_v.weight", E, kv);
    }
    mat(b + "attn_output.weight", q, E);
    if (arch == "gemma2") vec(b + "post_attention_norm.weight");
    vec(b + "ffn_norm.weight");
    if (arch == "phi3") {
      mat(b + "ffn_up.weight", E, 2 * F);  // fused [gate | up]
    } else {
      mat(b + "ffn_gate.weight", E, F);
      mat(b + "ffn_up.weight", E, F);
    }
    mat(b + "ffn_down.weight", F, E);
    if (arch == "gemma2") vec(b + "post_ffw_norm.weight");
  }
  if (arch != "bert") {
    vec("output_norm.weight");
    if (arch != "gemma2") mat("output.weight", E, n_vocab);  // gemma2 ties output to token_embd
  }
  return t;
}

// Llama 3.1's "llama3" RoPE scaling, baked into per-dimension frequency divisors the way the
// reference converter does it (factor 8, low 1, high 4, original context 8192).
void llama3_rope_freqs(float* out, int64_t n, int32_t head_dim, float base) {
  const double factor = 8.0, low = 1.0, high = 4.0, old_ctx = 8192.0;
  for (int64_t i = 0; i < n; ++i) {
    double freq = std::pow(base, -2.0 * i / head_dim);
    double wavelen = 2.0 * M_PI / freq;
    if (wavelen < old_ctx / high) {
      out[i] = 1.0f;
    } else if (wavelen > old_ctx / low) {
      out[i] = static_cast<float>(factor);
    } else {
      double s = (old_ctx / wavelen - low) / (high - low);
      out[i] = static_cast<float>(1.0 / ((1.0 - s) / factor + s));
    }
  }
}

// splitmix64: small, fast and good enough for test weights; seeded per (tensor, chunk) so that
// chunks can be filled in parallel and the file is identical for a given seed.
struct Rng {
  uint64_t x;
  uint64_t next() {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float uniform() {
    return static_cast<float>(static_cast<int64_t>(next() >> 11) * 0x1.0p-52 - 1.0);
  }
};

struct Writer {
  FILE* f = nullptr;
  std::string path;
  bool failed = false;
  void write(const void* p, size_t n) {
    if (!failed && n && std::fwrite(p, 1, n, f) != n) failed = true;
  }
};

constexpr int64_t kChunk = 1 << 20;  // elements filled per task

void fill_random(float* buf, int64_t n, uint64_t seed, float scale, int n_threads) {
  auto work = [&](int tid) {
    for (int64_t c = tid; c * kChunk < n; c += n_threads) {
      Rng rng{seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(c + 1))};
      int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) buf[i] = rng.uniform() * scale;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < n_threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
}

Status write_tensor_data(Writer& w, const TensorSpec& spec, ggml_type type, uint64_t seed,
                         const SynthOptions& o, size_t alignment) {
  const int64_t n = spec.ne0 * spec.ne1;
  int n_threads = o.n_threads > 0 ? o.n_threads : std::max(1u, std::thread::hardware_concurrency());
  // Rows are written in slabs to bound memory for 8B-scale tensors.
  const int64_t slab_rows = std::max<int64_t>(1, (64 * kChunk) / spec.ne0);
  std::vector<float> f32;
  std::vector<ggml_fp16_t> f16;
  size_t written = 0;
  for (int64_t r0 = 0; r0 < spec.ne1; r0 += slab_rows) {
    const int64_t rows = std::min(slab_rows, spec.ne1 - r0);
    const int64_t m = rows * spec.ne0;
    f32.resize(m);
    switch (spec.fill) {
      case Fill::kOnes:
        std::fill(f32.begin(), f32.end(), 1.0f);
        break;
      case Fill::kZeros:
        std::fill(f32.begin(), f32.end(), 0.0f);
        break;
      case Fill::kRopeFreqs:
        llama3_rope_freqs(f32.data(), m, o.shape.head_dim, archs().at(o.arch).rope_base);
        break;
      case Fill::kRandom: {
        // Uniform with std 1/sqrt(fan_in) keeps activations O(1) through the layers.
        float scale = std::sqrt(3.0f / static_cast<float>(spec.ne0));
        fill_random(f32.data(), m, seed + static_cast<uint64_t>(r0), scale, n_threads);
        break;
      }
    }
    if (type == GGML_TYPE_F16) {
      f16.resize(m);
      ggml_fp32_to_fp16_row(f32.data(), f16.data(), m);
      w.write(f16.data(), m * sizeof(ggml_fp16_t));
      written += m * sizeof(ggml_fp16_t);
    } else {
      w.write(f32.data(), m * sizeof(float));
      written += m * sizeof(float);
    }
  }
  static const char zeros[64] = {};
  size_t pad = (alignment - written % alignment) % alignment;
  w.write(zeros, pad);
  (void)n;
  if (w.failed) {
    return unavailable("write to " + w.path + " failed (" + std::strerror(errno) +
                       "); check free disk space");
  }
  return Status::Ok();
}

// Extends the copied vocabulary to n_to tokens with unused entries "<unused_N>" (so a model can
// have a published model's vocabulary size, e.g. Gemma 2's 256000, with a smaller real vocab).
void pad_vocab(gguf_context* g, const gguf_context* vocab, int64_t n_from, int64_t n_to) {
  const int64_t tok = gguf_find_key(vocab, "tokenizer.ggml.tokens");
  std::vector<std::string> words;
  for (int64_t i = 0; i < n_from; ++i) words.emplace_back(gguf_get_arr_str(vocab, tok, i));
  for (int64_t i = n_from; i < n_to; ++i) words.push_back("<unused_" + std::to_string(i) + ">");
  std::vector<const char*> ptrs;
  for (const auto& w : words) ptrs.push_back(w.c_str());
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
  const int64_t scores = gguf_find_key(vocab, "tokenizer.ggml.scores");
  if (scores >= 0) {
    const float* sp = static_cast<const float*>(gguf_get_arr_data(vocab, scores));
    std::vector<float> sc(sp, sp + n_from);
    sc.resize(n_to, -1e9f);
    gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc.data(), sc.size());
  }
  const int64_t types = gguf_find_key(vocab, "tokenizer.ggml.token_type");
  if (types >= 0) {
    const int32_t* tp = static_cast<const int32_t*>(gguf_get_arr_data(vocab, types));
    std::vector<int32_t> ty(tp, tp + n_from);
    ty.resize(n_to, 5);  // LLAMA_TOKEN_TYPE_UNUSED
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ty.data(), ty.size());
  }
}

Status set_hparams(gguf_context* g, const SynthOptions& o, int64_t n_vocab, uint32_t file_type) {
  const ArchInfo& a = archs().at(o.arch);
  const std::string p = a.gguf_arch;
  const SynthShape& s = o.shape;
  auto key = [&](const char* k) { return (p + "." + k); };
  gguf_set_val_str(g, "general.architecture", a.gguf_arch);
  std::string name = o.name.empty() ? "troika-random-" + o.arch : o.name;
  gguf_set_val_str(g, "general.name", name.c_str());
  gguf_set_val_u32(g, "general.file_type", file_type);
  gguf_set_val_u32(g, key("context_length").c_str(), s.n_ctx_train);
  gguf_set_val_u32(g, key("embedding_length").c_str(), s.n_embd);
  gguf_set_val_u32(g, key("block_count").c_str(), s.n_layer);
  gguf_set_val_u32(g, key("feed_forward_length").c_str(), s.n_ff);
  gguf_set_val_u32(g, key("attention.head_count").c_str(), s.n_head);
  gguf_set_val_u32(g, key("attention.head_count_kv").c_str(), s.n_head_kv);
  if (o.arch == "bert") {
    gguf_set_val_f32(g, key("attention.layer_norm_epsilon").c_str(), a.norm_eps);
    gguf_set_val_bool(g, key("attention.causal").c_str(), false);
    gguf_set_val_u32(g, key("pooling_type").c_str(), 2);  // CLS, as BGE models pool
    return Status::Ok();
  }
  gguf_set_val_f32(g, key("attention.layer_norm_rms_epsilon").c_str(), a.norm_eps);
  gguf_set_val_f32(g, key("rope.freq_base").c_str(), a.rope_base);
  gguf_set_val_u32(g, key("rope.dimension_count").c_str(), s.head_dim);
  if (o.arch == "llama" || o.arch == "mistral") {
    gguf_set_val_u32(g, key("vocab_size").c_str(), static_cast<uint32_t>(n_vocab));
  }
  if (o.arch == "gemma2") {
    gguf_set_val_u32(g, key("attention.key_length").c_str(), s.head_dim);
    gguf_set_val_u32(g, key("attention.value_length").c_str(), s.head_dim);
    gguf_set_val_f32(g, key("attn_logit_softcapping").c_str(), 50.0f);
    gguf_set_val_f32(g, key("final_logit_softcapping").c_str(), 30.0f);
    gguf_set_val_u32(g, key("attention.sliding_window").c_str(), 4096);
  }
  if (o.arch == "phi3") {
    gguf_set_val_u32(g, key("rope.scaling.original_context_length").c_str(), s.n_ctx_train);
  }
  return Status::Ok();
}

Status validate(const SynthOptions& o) {
  if (!archs().count(o.arch)) {
    return invalid_argument("unknown architecture '" + o.arch +
                            "'; choose llama, mistral, gemma2, phi3 or bert");
  }
  const SynthShape& s = o.shape;
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
      s.head_dim <= 0 || s.n_ctx_train <= 0) {
    return invalid_argument("every shape field must be positive (n_embd " +
                            std::to_string(s.n_embd) + ", n_layer " + std::to_string(s.n_layer) +
                            ", n_head " + std::to_string(s.n_head) + ", n_head_kv " +
                            std::to_string(s.n_head_kv) + ", n_ff " + std::to_string(s.n_ff) + ")");
  }
  if (s.n_head % s.n_head_kv != 0) {
    return invalid_argument("n_head " + std::to_string(s.n_head) +
                            " must be a multiple of n_head_kv " + std::to_string(s.n_head_kv));
  }
  if (s.head_dim % 2 != 0) {
    return invalid_argument("head_dim " + std::to_string(s.head_dim) + " must be even (RoPE)");
  }
  if ((o.arch == "phi3" || o.arch == "bert") && s.head_dim * s.n_head != s.n_embd) {
    return invalid_argument(o.arch + " needs head_dim * n_head == n_embd");
  }
  if (o.sparse) {
    auto known = file_types();
    if (std::find(known.begin(), known.end(), o.type) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return invalid_argument("unknown weight type '" + o.type + "'; choose " + list);
    }
  } else if (o.type != "f32" && o.type != "f16" && o.type != "q8_0" && o.type != "q4_k_m") {
    return invalid_argument("unknown weight type '" + o.type +
                            "'; choose f32, f16, q8_0 or q4_k_m (any type with --sparse)");
  }
  if (o.out_path.empty()) return invalid_argument("no output path given");
  return Status::Ok();
}

// Writes an f32 or f16 GGUF to `path`. With `sparse_type` (a file type for quantize_types()),
// each tensor gets the type that file type gives it and no data is written: the file is
// extended to its full length, so its data region is a hole that reads as zeros.
Status write_plain(const SynthOptions& o, gguf_context* vocab, const std::string& path, bool f16,
                   const std::string& sparse_type = "") {
  const int64_t tok_key = gguf_find_key(vocab, "tokenizer.ggml.tokens");
  if (tok_key < 0) return data_loss(o.vocab_path + " has no tokenizer.ggml.tokens array");
  int64_t n_vocab = static_cast<int64_t>(gguf_get_arr_n(vocab, tok_key));

  gguf_context* g = gguf_init_empty();
  std::unique_ptr<gguf_context, decltype(&gguf_free)> guard(g, gguf_free);
  // Tokenizer keys only: the vocab files also carry another model's hyperparameters.
  gguf_set_kv(g, vocab);
  for (int64_t i = gguf_get_n_kv(g) - 1; i >= 0; --i) {
    std::string k = gguf_get_key(g, i);
    if (k.rfind("tokenizer.", 0) != 0) gguf_remove_key(g, k.c_str());
  }
  if (o.n_vocab > n_vocab) {
    pad_vocab(g, vocab, n_vocab, o.n_vocab);
    n_vocab = o.n_vocab;
  }
  const bool sparse = !sparse_type.empty();
  llama_ftype sparse_ftype = LLAMA_FTYPE_MOSTLY_F16;
  if (sparse && !ftype_by_name(sparse_type, &sparse_ftype))
    return invalid_argument("unknown weight type '" + sparse_type + "'");
  TROIKA_RETURN_IF_ERROR(set_hparams(g, o, n_vocab, sparse ? static_cast<uint32_t>(sparse_ftype) : f16 ? 1 : 0));
  std::string tmpl = o.chat_template.empty() ? family_chat_template(o.arch) : o.chat_template;
  if (tmpl.empty()) {
    gguf_remove_key(g, "tokenizer.chat_template");
  } else {
    gguf_set_val_str(g, "tokenizer.chat_template", tmpl.c_str());
  }

  auto plan = tensor_plan(o.arch, o.shape, n_vocab);
  ggml_init_params ip = {plan.size() * ggml_tensor_overhead() + 1024, nullptr, true};
  std::unique_ptr<ggml_context, decltype(&ggml_free)> meta(ggml_init(ip), ggml_free);
  std::vector<ggml_type> types;
  if (sparse) {
    ModelDims dims = {archs().at(o.arch).gguf_arch,
                      o.shape.n_embd,
                      o.shape.n_ff,
                      o.shape.n_layer,
                      o.shape.n_head,
                      o.shape.n_head_kv,
                      o.shape.head_dim,
                      o.shape.head_dim};
    std::vector<TensorShape> shapes;
    for (const auto& t : plan) shapes.push_back({t.name, t.ne0, t.ne1});
    TROIKA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, quantize_types(dims, shapes, sparse_type));
    for (int32_t id : ids) types.push_back(static_cast<ggml_type>(id));
  }
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorSpec& t = plan[i];
    if (!sparse) {
      types.push_back((f16 && t.ne1 > 1 && t.name != "token_types.weight") ? GGML_TYPE_F16
                                                                           : GGML_TYPE_F32);
    }
    ggml_type type = types[i];
    ggml_tensor* x = t.ne1 > 1 ? ggml_new_tensor_2d(meta.get(), type, t.ne0, t.ne1)
                               : ggml_new_tensor_1d(meta.get(), type, t.ne0);
    ggml_set_name(x, t.name.c_str());
    gguf_add_tensor(g, x);
  }

  Writer w;
  w.path = path;
  w.f = std::fopen(path.c_str(), "wb");
  if (!w.f) return unavailable("cannot create " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> header(gguf_get_meta_size(g));
  gguf_get_meta_data(g, header.data());
  w.write(header.data(), header.size());
  if (sparse) {
    const int64_t last = gguf_get_n_tensors(g) - 1;
    const size_t align = gguf_get_alignment(g);
    const size_t data = gguf_get_tensor_offset(g, last) + gguf_get_tensor_size(g, last);
    const off_t total = static_cast<off_t>(header.size() + (data + align - 1) / align * align);
    bool ok = !w.failed && std::fflush(w.f) == 0 && ::ftruncate(::fileno(w.f), total) == 0;
    if (std::fclose(w.f) != 0) ok = false;
    if (!ok)
      return unavailable("cannot extend " + path + " to " + std::to_string(total) + " bytes");
    return Status::Ok();
  }
  Status st;
  for (size_t i = 0; i < plan.size() && st.ok(); ++i) {
    uint64_t seed = o.seed * 0x100000001B3ull + i * 0x9E3779B97F4A7C15ull;
    st = write_tensor_data(w, plan[i], types[i], seed, o, gguf_get_alignment(g));
    if (o.on_progress) o.on_progress(static_cast<double>(i + 1) / plan.size(), plan[i].name);
  }
  if (std::fclose(w.f) != 0 && st.ok()) st = unavailable("closing " + path + " failed");
  return st;
}

}  // namespace

Result<SynthShape> synth_shape(const std::string& arch, const std::string& shape) {
  // {n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_ctx_train}
  static const std::map<std::string, SynthShape> table = {
      {"llama/tiny", {256, 4, 4, 2, 768, 64, 8192}},
      {"llama/8b", {4096, 32, 32, 8, 14336, 128, 131072}},
      {"mistral/tiny", {256, 4, 4, 2, 768, 64, 8192}},
      {"mistral/7b", {4096, 32, 32, 8, 14336, 128, 32768}},
      {"gemma2/tiny", {256, 4, 4, 2, 768, 64, 8192}},
      {"gemma2/9b", {3584, 42, 16, 8, 14336, 256, 8192}},
      {"phi3/tiny", {256, 4, 4, 4, 768, 64, 4096}},
      {"phi3/3.8b", {3072, 32, 32, 32, 8192, 96, 4096}},
      {"bert/tiny", {128, 2, 2, 2, 512, 64, 512}},
      {"bert/33m", {384, 12, 12, 12, 1536, 32, 512}},
      {"bert/335m", {1024, 24, 16, 16, 4096, 64, 512}},
  };
  if (!archs().count(arch)) {
    return invalid_argument("unknown architecture '" + arch +
                            "'; choose llama, mistral, gemma2, phi3 or bert");
  }
  auto it = table.find(arch + "/" + shape);
  if (it == table.end()) {
    std::string known;
    for (const auto& [k, v] : table) {
      if (k.rfind(arch + "/", 0) == 0)
        known += (known.empty() ? "" : ", ") + k.substr(arch.size() + 1);
    }
    return invalid_argument("unknown shape '" + shape + "' for " + arch + "; choose " + known +
                            " or give --n-embd/--n-layer/--n-head/--n-head-kv/--n-ff");
  }
  return it->second;
}

std::string family_chat_template(const std::string& arch) {
  if (arch == "llama") return kTemplateLlama31;
  if (arch == "mistral") return kTemplateMistral03;
  if (arch == "gemma2") return kTemplateGemma2;
  if (arch == "phi3") return kTemplatePhi3;
  return "";
}

Status make_random_model(const SynthOptions& options) {
  SynthOptions o = options;
  if (o.shape.head_dim == 0 && o.shape.n_head > 0)
    o.shape.head_dim = o.shape.n_embd / o.shape.n_head;
  TROIKA_RETURN_IF_ERROR(validate(o));
  ensure_backend();

  std::error_code ec;
  if (!fs::exists(o.vocab_path, ec)) return not_found("vocabulary file not found: " + o.vocab_path);
  gguf_init_params vp = {true, nullptr};
  std::unique_ptr<gguf_context, decltype(&gguf_free)> vocab(
      gguf_init_from_file(o.vocab_path.c_str(), vp), gguf_free);
  if (!vocab) return data_loss("cannot read vocabulary GGUF " + o.vocab_path);

  const fs::path out(o.out_path);
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  // Unique temporary names: concurrent writers of the same output never share a partial file.
  const std::string tmp = o.out_path + ".partial." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  const bool quantize = !o.sparse && (o.type == "q8_0" || o.type == "q4_k_m");
  const std::string plain = quantize ? tmp + ".f16" : tmp;

  Status st = write_plain(o, vocab.get(), plain, o.type != "f32", o.sparse ? o.type : "");
  if (st.ok() && quantize) {
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = o.type == "q8_0" ? LLAMA_FTYPE_MOSTLY_Q8_0 : LLAMA_FTYPE_MOSTLY_Q4_K_M;
    qp.nthread = o.n_threads;
    if (o.on_progress) o.on_progress(1.0, "quantizing to " + o.type);
    LogCapture capture;
    if (llama_model_quantize(plain.c_str(), tmp.c_str(), &qp) != 0) {
      st = internal_error("llama_model_quantize to " + o.type + " failed: " + capture.errors());
    }
    fs::remove(plain, ec);
  }
  if (st.ok()) {
    fs::rename(tmp, o.out_path, ec);
    if (ec) st = unavailable("cannot rename " + tmp + " to " + o.out_path + ": " + ec.message());
  }
  if (!st.ok()) {
    fs::remove(tmp, ec);
    fs::remove(plain, ec);
  }
  return st;
}

}  // namespace troika::engine
