// Checkpoint layouts other than Hugging Face folders, each mapped onto Hugging Face tensor
// names and a synthesised config.json so that one architecture table serves them all.
#include <filesystem>
#include <regex>

#include "convert/checkpoint.h"
#include "convert/onnx.h"
#include "convert/quantized.h"
#include "convert/safetensors.h"

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
  for (size_t i = 0; i < ck->tensors.size(); ++i) {
    if (!ck->by_name.emplace(ck->tensors[i].name, i).second) {
      return data_loss(dir + ": tensor '" + ck->tensors[i].name + "' appears twice");
    }
  }
  return ck;
}

Result<std::shared_ptr<Checkpoint>> open_gemma_pytorch(const std::string& ckpt_path) {
  return unimplemented(ckpt_path + ": gemma_pytorch checkpoints are not readable yet");
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
  for (size_t i = 0; i < ck->tensors.size(); ++i) {
    if (!ck->by_name.emplace(ck->tensors[i].name, i).second) {
      return data_loss(model + ": tensor '" + ck->tensors[i].name + "' appears twice");
    }
  }
  return ck;
}

}  // namespace troika::convert
