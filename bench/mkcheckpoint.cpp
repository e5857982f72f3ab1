// Writes a synthetic Llama-3.1-8B-shaped Hugging Face checkpoint (BF16 safetensors in ~5 GB
// shards with model.safetensors.index.json, the 2024 config form) for the converter bench.
// Weight values do not matter to conversion speed; they are random small BF16 numbers.
//   troika-bench-mkcheckpoint OUT_DIR [N_LAYERS=32] TOKENIZER_DIR
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s OUT_DIR N_LAYERS TOKENIZER_DIR\n", argv[0]);
    return 1;
  }
  const std::string out = argv[1];
  const int64_t n_layers = std::stoll(argv[2]);
  const std::string tok = argv[3];
  const int64_t hidden = 4096, ff = 14336, heads = 32, kv = 8, hd = 128, vocab = 128256;
  fs::create_directories(out);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
    if (fs::exists(tok + "/" + f)) fs::copy_file(tok + "/" + f, out + "/" + f, fs::copy_options::overwrite_existing);
  }
  nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", hidden},
      {"intermediate_size", ff}, {"num_hidden_layers", n_layers}, {"num_attention_heads", heads},
      {"num_key_value_heads", kv}, {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5},
      {"rope_theta", 500000.0}, {"vocab_size", vocab}, {"tie_word_embeddings", false},
      {"bos_token_id", 128000}, {"eos_token_id", {128001, 128008, 128009}}, {"torch_dtype", "bfloat16"},
      {"rope_scaling", {{"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 8192}, {"rope_type", "llama3"}}}};
  std::ofstream(out + "/config.json") << config.dump(2);

  struct T { std::string name; std::vector<int64_t> shape; };
  std::vector<T> all = {{"model.embed_tokens.weight", {vocab, hidden}}};
  for (int64_t i = 0; i < n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    all.push_back({p + "input_layernorm.weight", {hidden}});
    all.push_back({p + "self_attn.q_proj.weight", {heads * hd, hidden}});
    all.push_back({p + "self_attn.k_proj.weight", {kv * hd, hidden}});
    all.push_back({p + "self_attn.v_proj.weight", {kv * hd, hidden}});
    all.push_back({p + "self_attn.o_proj.weight", {hidden, heads * hd}});
    all.push_back({p + "post_attention_layernorm.weight", {hidden}});
    all.push_back({p + "mlp.gate_proj.weight", {ff, hidden}});
    all.push_back({p + "mlp.up_proj.weight", {ff, hidden}});
    all.push_back({p + "mlp.down_proj.weight", {hidden, ff}});
  }
  all.push_back({"model.norm.weight", {hidden}});
  all.push_back({"lm_head.weight", {vocab, hidden}});

  // A pool of random BF16 values in about [-0.06, 0.06], written over and over.
  std::vector<uint16_t> pool(1 << 20);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-0.06f, 0.06f);
  for (auto& v : pool) {
    const float f = uni(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    v = static_cast<uint16_t>(bits >> 16);
  }
  const uint64_t shard_limit = 5'000'000'000ull;
  std::vector<std::vector<T>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const T& t : all) {
    uint64_t n = 2;
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    if (in_shard + n > shard_limit && !shards.back().empty()) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(t);
    in_shard += n;
    total += n;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", nlohmann::json::object()}};
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
    uint64_t off = 0;
    for (const T& t : shards[s]) {
      uint64_t n = 2;
      for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
      header[t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
      index["weight_map"][t.name] = name;
      off += n;
    }
    std::string h = header.dump();
    while ((h.size() + 8) % 8) h.push_back(' ');
    std::ofstream f(out + "/" + name, std::ios::binary);
    const uint64_t hn = h.size();
    f.write(reinterpret_cast<const char*>(&hn), 8);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (uint64_t left = off; left > 0;) {
      const uint64_t n = std::min<uint64_t>(left, pool.size() * 2);
      f.write(reinterpret_cast<const char*>(pool.data()), static_cast<std::streamsize>(n));
      left -= n;
    }
    if (!f) {
      std::fprintf(stderr, "cannot write %s/%s (disk full?)\n", out.c_str(), name);
      return 1;
    }
  }
  std::ofstream(out + "/model.safetensors.index.json") << index.dump(2);
  std::printf("%s: %lld layers, %.2f GB in %zu shards\n", out.c_str(), static_cast<long long>(n_layers), total / 1e9, shards.size());
  return 0;
}
