// The memory planner: what each role costs in GPU and host memory, and a joint plan for all roles
// on one card.
//
// Contract: estimate() predicts, without loading anything, the bytes llama.cpp will allocate for
// one model and one context: weights (per tensor, by ggml type and block size, with buffer
// alignment), the KV cache (per layer; sliding-window layers capped at the window when the cache
// is not full-size; per sequence stream), the compute buffers (the worst-case micro-batch's live
// tensors) and the logits buffer. Tensor types come from the GGUF file when there is one, else
// from the architecture and llama.cpp's own per-tensor rules for the file type. The prediction is
// checked against llama.cpp's allocator in tests and `scripts/bench planner` (docs/planner.md).
//
// make_plan() sizes every role of a request together: roles that share a model count its weights
// once (its context grows by the roles' contexts and sequences), and when the total does not fit
// the budget it ranks alternatives (a smaller type, a shorter context, a q8_0 KV cache, roles
// sharing one model, window-sized sliding-window caches, layers kept in RAM, and a greedy
// combination of them). Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "troika/catalog.h"
#include "troika/status.h"

namespace troika::plan {

// The architecture facts the memory model needs (from a catalog family or a GGUF header).
struct ModelShape {
  std::string architecture;  // "llama", "gemma2", "phi3"
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0;
  int32_t head_dim_k = 0, head_dim_v = 0;
  int32_t n_swa = 0;        // sliding window (tokens); 0 = none
  int32_t swa_pattern = 0;  // 2: even layers slide (Gemma 2)
  bool tied_embeddings = false;
  bool rope_freqs = false;
  bool fused_qkv = false;
};
ModelShape shape_of(const catalog::Family& family);
// Errors: unimplemented for an architecture the planner does not model.
Result<ModelShape> shape_of(const catalog::GgufInfo& gguf);

struct Tensor {
  std::string name;
  int32_t type = 0;  // enum ggml_type
  int64_t ne0 = 0, ne1 = 1;
  uint64_t bytes = 0;
};
// The tensors a GGUF of this shape and file type holds ("q4_k_m", "q8_0", "f16", ...; see
// engine::file_types()), typed as llama.cpp's quantizer types them. Errors: invalid_argument.
Result<std::vector<Tensor>> tensors_for(const ModelShape& shape, const std::string& file_type);
std::vector<Tensor> tensors_of(const catalog::GgufInfo& gguf);

enum class KvType { kF16, kQ8_0, kF32 };
Result<KvType> parse_kv_type(const std::string& name);  // "f16" | "q8_0" | "f32"

struct ContextSpec {
  int32_t n_ctx = 4096;    // KV cells shared by all sequences (padded to 256 as llama.cpp does)
  int32_t n_seq = 1;       // sequences (n_seq_max)
  int32_t n_ubatch = 512;  // physical micro-batch: sizes the compute buffer
  KvType kv_type = KvType::kF16;
  bool flash_attn = true;  // llama.cpp's "auto" resolves to on for CPU and CUDA with these models
  bool unified_kv = true;  // Troika's default (prefix sharing)
  bool swa_full = true;    // llama.cpp's default: sliding-window layers keep a full cache
  bool gpu = true;         // offload to a GPU (false: everything in host memory)
  int32_t n_gpu_layers = -1;  // with gpu: layers on the GPU, the output layer first; -1 = all
};

struct Bytes {
  uint64_t weights = 0, kv = 0, compute = 0, output = 0;  // output: the logits buffer (host)
  uint64_t total() const { return weights + kv + compute + output; }
};
struct Estimate {
  Bytes device;               // GPU memory (all zero when !gpu)
  Bytes host;                 // system memory
  uint64_t kv_cells = 0;      // full-attention layers' cells (per stream)
  uint64_t kv_cells_swa = 0;  // sliding-window layers' cells (0 when none)
};
Estimate estimate(const ModelShape& shape, const std::vector<Tensor>& tensors,
                  const ContextSpec& spec);

// ---- Joint plans -------------------------------------------------------------------------

struct RoleRequest {
  std::string role;           // one of catalog::kRoles
  std::string family;         // "" = the catalog's default backbone for the role
  std::string gguf_type;      // "" = the role's default ("Q4_K_M", ...)
  std::string path;           // a GGUF file to plan from its real tensors; "" = computed
  std::string share_with;     // another role whose model this one uses; "" = the catalog's default
  bool own_model = false;     // do not share even if the catalog says so
  int32_t ctx = 0;            // 0 = the role's default
  int32_t parallel = 0;       // 0 = the role's default
  int32_t n_gpu_layers = -1;  // layers on the GPU; -1 = all
  bool swa_window = false;    // sliding-window layers keep only their window (not full-size)
};

struct PlanRequest {
  uint64_t vram_bytes = 0;        // 0 = the catalog's default (20 GiB)
  uint64_t ram_bytes = 0;         // 0 = not checked
  uint64_t headroom_bytes = 0;    // kept free on the GPU; 0 = the catalog's default
  std::optional<KvType> kv_type;  // unset = the catalog's default
  bool gpu = true;
  std::vector<RoleRequest> roles;  // empty = brain, rag, fast, tool, graph with defaults
};

// One loaded model and the roles bound to it.
struct ModelPlan {
  std::vector<std::string> roles;  // the first owns it; the others share it
  std::string family;
  std::string gguf_type;
  std::string path;    // "" when computed from the catalog shape
  std::string source;  // "file" | "catalog"
  ContextSpec context;
  Estimate memory;
};

struct Alternative {
  std::string change;        // what to do, in words ("fast: Q4_K_M -> Q3_K_M")
  std::string flag;          // how to say it to `troika plan` ("--type fast=Q3_K_M")
  int64_t device_bytes = 0;  // total on the GPU (host when planning for the CPU) after it
  bool fits = false;
  double cost = 0;  // the ranking: estimated quality/speed loss, lower first
};

struct Plan {
  std::vector<ModelPlan> models;
  uint64_t vram_bytes = 0, headroom_bytes = 0, ram_bytes = 0;
  uint64_t device_bytes = 0, host_bytes = 0;  // totals
  bool fits = false;
  std::vector<Alternative> alternatives;  // when !fits: ranked, those that fit first
  std::vector<std::string> notes;
  std::string to_json() const;
};

// Errors: invalid_argument (unknown role, family or type; a role that shares with itself),
// not_found / data_loss (a named GGUF that cannot be read).
Result<Plan> make_plan(const catalog::Catalog& catalog, const PlanRequest& request);

}  // namespace troika::plan
