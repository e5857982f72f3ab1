// The catalog: the seed map as data (families, published variants, roles), GGUF metadata read
// without loading a model, and discovery of the weights present on disk.
//
// Contract: Catalog::embedded() is catalog/seed.toml as compiled into the binary; load() reads
// another file of the same schema (docs/catalog.md), and every reference in it (a variant's
// family, a role's backbone) is checked when it is parsed, so a Catalog that exists is whole.
// read_gguf() reads a GGUF file's header (keys and tensor table), never its tensor data.
// discover() walks folders and reports what it finds: GGUF files (identified by their metadata),
// Hugging Face folders and the Hugging Face cache layout (`models--org--name/snapshots/*`),
// Mistral's native layout, gemma_pytorch's model.ckpt and onnxruntime-genai ONNX folders, each
// matched to a catalog variant where one fits, with the `troika convert` command a checkpoint
// needs. Discovery never fails on one unreadable entry: it is reported with a note instead.
//
// Errors: not_found (no such file or folder), invalid_argument (a catalog that is not valid
// TOML or breaks the schema, naming the key and line), data_loss (a GGUF whose header is
// truncated or corrupt).
// Thread safety: a Catalog is an immutable value; all functions may run on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::catalog {

// The roles Troika serves, in the order tables print them.
inline constexpr const char* kRoles[] = {"brain", "rag", "fast", "tool", "graph"};
bool is_role(std::string_view name);
// A role's place in kRoles (the order tables print); kRoles' size for a name that is no role.
size_t role_rank(std::string_view name);

// One model family: the architecture facts the planner needs.
struct Family {
  std::string id;            // "llama31-8b"
  std::string name;          // "Llama 3.1 8B Instruct"
  std::string architecture;  // GGUF general.architecture: "llama", "gemma2", "phi3"
  std::string base;          // the family this one fine-tunes ("" for a base family)
  uint64_t n_params = 0;
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_ff = 0;
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;       // tokens
  int32_t n_swa = 0;             // sliding window in tokens; 0 = none
  int32_t swa_pattern = 0;       // 2 = every other layer slides (Gemma 2: even layers); 0 = none
  bool tied_embeddings = false;  // the output head is the token embedding
  bool rope_freqs = false;       // a rope_freqs F32[head_dim/2] tensor (Llama 3.1)
  bool fused_qkv = false;        // attn_qkv and a fused gate|up ffn_up (Phi-3)
  std::string tokenizer;
  std::string chat_format;  // "llama-3.1", "mistral-v3", "gemma-2", "phi-3"
  std::string tool_format;  // "llama-3.1-json", "mistral-v3", "none"
  float attn_softcap = 0;   // Gemma 2: attention logit soft-cap (0 = none)
  float final_softcap = 0;  // Gemma 2: final logit soft-cap
  int32_t bos = -1;
  std::vector<int32_t> eos;  // every end-of-sequence id the configs list
  int32_t eot = -1;          // end of turn
  std::string license;
  bool verified = true;  // false: some values are assumed, see notes
  std::string notes;
};

// One file of a GGUF repository.
struct VariantFile {
  std::string name;  // "gemma-2-9b-it-Q4_K_M.gguf"
  std::string type;  // llama.cpp file type: "Q4_K_M"
  uint64_t bytes = 0;
  bool verified = true;
  std::string notes;
};

// One published repository.
struct Variant {
  std::string id;      // Hugging Face repository: "nvidia/Llama-3.1-8B-Instruct-FP8"
  std::string family;  // a Family id
  bool instruct = true;
  std::string format;  // "safetensors" | "gguf" | "onnx" | "gemma-pytorch"
  std::string quant;   // "bf16" | "fp8" | "nvfp4" | "awq-int4" | "bnb-nf4" | "onnx-int4" | "gguf"
  uint64_t bytes = 0;  // weights on disk
  bool bytes_verified = false;  // false: derived from the shapes, not seen on the Hub
  std::string license;
  bool gated = false;        // the Hub asks for a licence acceptance or a form
  bool convert = false;      // needs `troika convert` before llama.cpp loads it
  std::string convert_type;  // recommended `troika convert --type`
  std::vector<std::string> roles;
  std::string subdir;              // the folder inside the repository that holds the model
  std::vector<VariantFile> files;  // GGUF repositories: the files and their types
  std::string default_file;
  bool verified = true;  // false: some facts (gating, licence, layout) are assumed, see notes
  std::string notes;
};

// A role and its default backbone.
struct Role {
  std::string name;  // one of kRoles
  std::string job;
  std::string family;                     // default backbone (a Family id)
  std::vector<std::string> alternatives;  // other Family ids, best first
  std::string shares;     // another role whose loaded model this one uses by default ("" = own)
  std::string gguf_type;  // the GGUF type the planner starts from ("Q6_K", "Q4_K_M")
  int32_t ctx = 4096;     // KV cache in tokens, shared by the role's sequences
  int32_t parallel = 1;   // concurrent sequences
  std::string notes;
};

struct Defaults {
  uint64_t vram_bytes = 20ull << 30;       // the target card
  std::string kv_type = "f16";             // KV cache element type
  uint64_t headroom_bytes = 512ull << 20;  // kept free on the GPU (CUDA context, fragmentation)
};

class Catalog {
 public:
  // The catalog compiled into the binary (catalog/seed.toml). It is parsed once; a broken
  // embedded catalog is a build defect that the tests catch, reported here as internal.
  static Result<Catalog> embedded();
  // Parses a catalog text; `origin` names it in errors (a path, or "embedded").
  static Result<Catalog> parse(std::string_view toml, std::string_view origin);
  static Result<Catalog> load(const std::string& path);

  const std::vector<Family>& families() const { return families_; }
  const std::vector<Variant>& variants() const { return variants_; }
  const std::vector<Role>& roles() const { return roles_; }
  const Defaults& defaults() const { return defaults_; }

  // nullptr when absent. family()/variant() ignore ASCII case.
  const Family* family(std::string_view id) const;
  const Variant* variant(std::string_view id) const;
  const Role* role(std::string_view name) const;
  // The variants of a family, in catalog order.
  std::vector<const Variant*> variants_of(std::string_view family) const;

  std::string to_json() const;  // the whole catalog, pretty-printed

 private:
  std::vector<Family> families_;
  std::vector<Variant> variants_;
  std::vector<Role> roles_;
  Defaults defaults_;
};

// ---- GGUF headers ----------------------------------------------------------------------

struct GgufTensor {
  std::string name;
  std::string type;            // ggml type name: "q4_K", "f16", "f32", ...
  int32_t type_id = 0;         // enum ggml_type
  std::vector<int64_t> shape;  // ggml order: ne[0] (row length) first
  uint64_t bytes = 0;          // ggml_nbytes
};

struct GgufInfo {
  std::string path;
  uint64_t file_bytes = 0;
  std::string architecture;  // general.architecture
  std::string name;          // general.name ("" when absent)
  std::string file_type;     // general.file_type as llama.cpp names it ("Q4_K_M"), "" when absent
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_ctx_train = 0;
  int32_t head_dim_k = 0, head_dim_v = 0;  // attention.key_length/value_length, else n_embd/n_head
  int32_t n_swa = 0;                       // attention.sliding_window, 0 when absent
  int32_t n_vocab = 0;                     // tokens in tokenizer.ggml.tokens
  bool has_chat_template = false;
  std::vector<GgufTensor> tensors;
  uint64_t tensor_bytes() const;
};

// Errors: not_found, data_loss (not a GGUF, or a header gguf cannot parse).
Result<GgufInfo> read_gguf(const std::string& path);

// "Q4_K_M" for llama.cpp's llama_ftype value 15, ...; "" for an unknown value.
std::string file_type_name(int32_t ftype);

// ---- Discovery -------------------------------------------------------------------------

struct Found {
  std::string path;  // the GGUF file or the model's folder
  std::string
      layout;  // "gguf" | "hf-folder" | "hf-cache" | "mistral-native" | "gemma-pytorch" | "onnx"
  std::string repo;     // Hugging Face repository when the cache layout names it
  std::string variant;  // matched catalog variant id; "" when none fits
  std::string family;   // matched family id; "" when unknown
  std::string match;    // how: "repository" | "folder name" | "file name" | "shape"
  std::string format;   // "safetensors", "gguf", ...
  std::string quant;    // "bf16", "fp8", ... or the GGUF file type ("Q4_K_M")
  uint64_t bytes = 0;   // weight bytes on disk
  bool needs_convert = false;
  std::string convert_command;     // the exact `troika convert ...` line when needs_convert
  std::vector<std::string> notes;  // licence and gating reminders, anything odd
};

// The folders searched when none are given: ./models, ~/models, $HF_HOME/hub (or
// ~/.cache/huggingface/hub), and every folder in $TROIKA_MODELS (':'-separated), those present.
std::vector<std::string> default_model_dirs();

// Walks each folder (recursively, not following symlinked folders, at most `max_depth` deep).
// Errors: not_found when a named folder does not exist.
Result<std::vector<Found>> discover(const Catalog& catalog, const std::vector<std::string>& dirs,
                                    int max_depth = 6);

}  // namespace troika::catalog
