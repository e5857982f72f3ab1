// Checkpoint layouts other than Hugging Face folders, each mapped onto Hugging Face tensor
// names and a synthesised config.json so that one architecture table serves them all.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

#include "convert/checkpoint.h"
#include "convert/dequant.h"
#include "convert/onnx.h"
#include "convert/quantized.h"
#include "convert/safetensors.h"
#include "convert/torch_zip.h"

namespace troika::convert {

namespace fs = std::filesystem;

namespace {

// Renames raw tensors by the first matching pattern; a name no pattern matches is an error.
struct Rename {
  std::regex from;
  std::string to;
};

Result<std::string> rename(const std::vector<Rename>& rules, const std::string& name,
                           const std::string& file) {
  for (const Rename& r : rules) {
    if (std::regex_match(name, r.from)) return std::regex_replace(name, r.from, r.to);
  }
  return data_loss(file + ": tensor '" + name + "' is not part of this layout");
}

}  // namespace

// Mistral's own release format: params.json + consolidated.safetensors (+ tokenizer.model.v3).
// Its q/k rows are already in rotary-pair order, so they are not permuted again.
Result<std::shared_ptr<Checkpoint>> open_mistral_native(const std::string& dir) {
  auto ck = std::make_shared<Checkpoint>();
  ck->dir = dir;
  ck->layout = "mistral-native";
  ck->qk_interleaved = true;
  TROIKA_ASSIGN_OR_RETURN(nlohmann::json p, read_json_file(dir + "/params.json"));
  try {
    const int64_t dim = p.at("dim"), n_heads = p.at("n_heads");
    ck->config = {
        {"architectures", {"MistralForCausalLM"}},
        {"hidden_size", dim},
        {"num_hidden_layers", p.at("n_layers")},
        {"num_attention_heads", n_heads},
        {"num_key_value_heads", p.value("n_kv_heads", n_heads)},
        {"head_dim", p.value("head_dim", dim / n_heads)},
        {"intermediate_size", p.at("hidden_dim")},
        {"rms_norm_eps", p.value("norm_eps", 1e-5)},
        {"rope_theta", p.value("rope_theta", 10000.0)},
        {"vocab_size", p.at("vocab_size")},
        {"max_position_embeddings", p.value("max_seq_len", p.value("max_position_embeddings", 32768))},
        {"bos_token_id", 1},
        {"eos_token_id", 2},
        {"tie_word_embeddings", false},
    };
  } catch (const std::exception& e) {
    return data_loss(dir + "/params.json lacks a field: " + e.what());
  }
  if (p.contains("quantization") || p.contains("lora")) {
    return unimplemented(dir + "/params.json declares quantization or LoRA; only plain consolidated weights are supported");
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("consolidated", 0) == 0 && e.path().extension() == ".safetensors") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return not_found(dir + ": params.json but no consolidated*.safetensors");
  static const std::vector<Rename> kRules = {
      {std::regex(R"(tok_embeddings\.weight)"), "model.embed_tokens.weight"},
      {std::regex(R"(norm\.weight)"), "model.norm.weight"},
      {std::regex(R"(output\.weight)"), "lm_head.weight"},
      {std::regex(R"(layers\.(\d+)\.attention\.w([qkvo])\.weight)"), "model.layers.$1.self_attn.$2_proj.weight"},
      {std::regex(R"(layers\.(\d+)\.attention_norm\.weight)"), "model.layers.$1.input_layernorm.weight"},
      {std::regex(R"(layers\.(\d+)\.ffn_norm\.weight)"), "model.layers.$1.post_attention_layernorm.weight"},
      {std::regex(R"(layers\.(\d+)\.feed_forward\.w1\.weight)"), "model.layers.$1.mlp.gate_proj.weight"},
      {std::regex(R"(layers\.(\d+)\.feed_forward\.w2\.weight)"), "model.layers.$1.mlp.down_proj.weight"},
      {std::regex(R"(layers\.(\d+)\.feed_forward\.w3\.weight)"), "model.layers.$1.mlp.up_proj.weight"},
  };
  std::vector<RawTensor> raw;
  for (const std::string& path : files) {
    TROIKA_ASSIGN_OR_RETURN(SafetensorsFile f, open_safetensors(path));
    ck->bytes_on_disk += f.file->size();
    ck->files.push_back(f.file);
    for (RawTensor& t : f.tensors) {
      TROIKA_ASSIGN_OR_RETURN(t.name, rename(kRules, t.name, path));
      raw.push_back(std::move(t));
    }
  }
  TROIKA_ASSIGN_OR_RETURN(ck->tensors, decode_tensors(raw, QuantConfig{}));
  TROIKA_RETURN_IF_ERROR(ck->index(dir));
  return ck;
}

namespace {

// gemma_pytorch's configs (gemma/config.py), by layer count, for folders without a config.json.
Result<nlohmann::json> gemma_pytorch_config(int64_t n_layers, int64_t hidden, int64_t vocab, int64_t ff,
                                            const std::string& path) {
  int64_t heads = 0, kv = 0, hd = 0;
  if (n_layers == 42) heads = 16, kv = 8, hd = 256;       // Gemma 2 9B
  else if (n_layers == 26) heads = 8, kv = 4, hd = 256;   // Gemma 2 2B
  else if (n_layers == 46) heads = 32, kv = 16, hd = 128;  // Gemma 2 27B
  else {
    return not_found(path + ": a " + std::to_string(n_layers) + "-layer gemma_pytorch checkpoint matches no "
                     "Gemma 2 size; put the model's Hugging Face config.json beside it");
  }
  return nlohmann::json{{"architectures", {"Gemma2ForCausalLM"}}, {"hidden_size", hidden},
                        {"num_hidden_layers", n_layers}, {"num_attention_heads", heads},
                        {"num_key_value_heads", kv}, {"head_dim", hd}, {"intermediate_size", ff},
                        {"vocab_size", vocab}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
                        {"max_position_embeddings", 8192}, {"sliding_window", 4096},
                        {"attn_logit_softcapping", 50.0}, {"final_logit_softcapping", 30.0},
                        {"query_pre_attn_scalar", hd}, {"bos_token_id", 2}, {"eos_token_id", 1},
                        {"pad_token_id", 0}, {"tie_word_embeddings", true}};
}

// Rows [row0, row0 + rows) of a 2-D raw tensor, as its own float tensor.
SourceTensor row_slice(const RawTensor& t, const std::string& name, int64_t row0, int64_t rows) {
  SourceTensor s;
  s.name = name;
  s.shape = {rows, t.shape[1]};
  s.format = std::string(dtype_name(t.dtype)) + " (rows of " + t.name + ")";
  s.file = t.file;
  s.read = [t, row0, rows](float* out) {
    const int64_t cols = t.shape[1];
    const uint8_t* p = t.data + row0 * cols * dtype_size(t.dtype);
    Status st = to_f32(t.dtype, p, out, rows * cols);
    release_pages(p, static_cast<size_t>(rows * cols) * dtype_size(t.dtype));
    return st;
  };
  return s;
}

}  // namespace

// google/gemma-2-*-pytorch: torch.save({'model_state_dict': ...}) with a fused qkv_proj and the
// embedding under `embedder`; config.json (if present) or the known sizes give the shapes.
Result<std::shared_ptr<Checkpoint>> open_gemma_pytorch(const std::string& ckpt_path) {
  auto ck = std::make_shared<Checkpoint>();
  ck->dir = fs::path(ckpt_path).parent_path().string();
  if (ck->dir.empty()) ck->dir = ".";
  ck->layout = "gemma-pytorch";
  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(ckpt_path));
  ck->files.push_back(file);
  ck->bytes_on_disk = file->size();
  TROIKA_ASSIGN_OR_RETURN(std::vector<RawTensor> raw, read_torch_checkpoint(file, "model_state_dict"));
  std::map<std::string, const RawTensor*> by;
  int64_t n_layers = 0;
  for (const auto& t : raw) {
    by[t.name] = &t;
    if (t.name.rfind("model.layers.", 0) == 0) n_layers = std::max<int64_t>(n_layers, std::stoll(t.name.substr(13)) + 1);
  }
  const RawTensor* emb = by.count("embedder.weight") ? by["embedder.weight"] : nullptr;
  const RawTensor* gate = by.count("model.layers.0.mlp.gate_proj.weight") ? by["model.layers.0.mlp.gate_proj.weight"] : nullptr;
  if (!emb || !gate || emb->shape.size() != 2 || gate->shape.size() != 2) {
    return data_loss(ckpt_path + ": no 'embedder.weight' / 'model.layers.0.mlp.gate_proj.weight'; not a gemma_pytorch checkpoint");
  }
  if (fs::exists(ck->dir + "/config.json")) {
    TROIKA_ASSIGN_OR_RETURN(ck->config, read_json_file(ck->dir + "/config.json"));
  } else {
    TROIKA_ASSIGN_OR_RETURN(ck->config, gemma_pytorch_config(n_layers, emb->shape[1], emb->shape[0], gate->shape[0], ckpt_path));
  }
  const int64_t heads = ck->config.value("num_attention_heads", 0), kv = ck->config.value("num_key_value_heads", heads);
  const int64_t hd = ck->config.value("head_dim", heads ? ck->config.value("hidden_size", 0) / heads : 0);
  for (const RawTensor& t : raw) {
    if (t.name == "freqs_cis") continue;  // rotary table, recomputed by llama.cpp
    if (t.name == "embedder.weight") {
      RawTensor r = t;
      r.name = "model.embed_tokens.weight";
      ck->tensors.push_back(float_tensor(r));
    } else if (t.name.find(".self_attn.qkv_proj.weight") != std::string::npos) {
      const std::string p = t.name.substr(0, t.name.size() - std::string("qkv_proj.weight").size());
      if (t.shape.size() != 2 || t.shape[0] != (heads + 2 * kv) * hd) {
        return data_loss(ckpt_path + ": tensor '" + t.name + "' has " + std::to_string(t.shape.empty() ? 0 : t.shape[0]) +
                         " rows, expected (heads + 2 kv heads) x head_dim = " + std::to_string((heads + 2 * kv) * hd));
      }
      ck->tensors.push_back(row_slice(t, p + "q_proj.weight", 0, heads * hd));
      ck->tensors.push_back(row_slice(t, p + "k_proj.weight", heads * hd, kv * hd));
      ck->tensors.push_back(row_slice(t, p + "v_proj.weight", (heads + kv) * hd, kv * hd));
    } else {
      ck->tensors.push_back(float_tensor(t));
    }
  }
  TROIKA_RETURN_IF_ERROR(ck->index(ckpt_path));
  return ck;
}

// onnxruntime-genai's export (Phi-3 mini ONNX): the .onnx graph with MatMulNBits int4 weights
// in .onnx.data, beside the Hugging Face config.json and tokenizer files.
Result<std::shared_ptr<Checkpoint>> open_onnx(const std::string& path) {
  const bool is_dir = fs::is_directory(path);
  const std::string dir = is_dir ? path : fs::path(path).parent_path().string();
  std::string model = path;
  if (is_dir) {
    TROIKA_ASSIGN_OR_RETURN(model, find_onnx_model(dir));
  }
  auto ck = std::make_shared<Checkpoint>();
  ck->dir = dir.empty() ? "." : dir;
  ck->layout = "onnx";
  ck->quantization = "onnx-matmulnbits";
  if (!fs::exists(ck->dir + "/config.json")) {
    return not_found(ck->dir + ": an ONNX export needs the model's config.json beside it (the Hugging Face "
                     "config the export came from; onnxruntime-genai folders ship one)");
  }
  TROIKA_ASSIGN_OR_RETURN(ck->config, read_json_file(ck->dir + "/config.json"));
  TROIKA_ASSIGN_OR_RETURN(ck->tensors, read_onnx_checkpoint(model, &ck->files));
  for (const auto& f : ck->files) ck->bytes_on_disk += f->size();
  TROIKA_RETURN_IF_ERROR(ck->index(model));
  return ck;
}

}  // namespace troika::convert
