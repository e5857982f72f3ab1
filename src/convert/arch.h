// Per-architecture knowledge: which GGUF architecture a Hugging Face config maps to, the
// hyperparameters llama.cpp reads, and every output tensor with the source tensors and the
// transform that make it (q/k row permutation for rotary pairs, Gemma's norm + 1, generated
// rope factors). Facts: shared/research/seed-models.md §1-§2.
#pragma once

#include <string>
#include <vector>

#include "convert/checkpoint.h"

struct gguf_context;

namespace troika::convert {

enum class Transform {
  kNone,
  kPermuteRope,  // rows regrouped from half-split (NEOX) order to adjacent pairs, per head
  kAddOne,       // Gemma RMSNorm weights are stored as w - 1
};

struct OutTensor {
  std::string name;            // GGUF name: "blk.0.attn_q.weight"
  std::vector<int64_t> shape;  // outermost first ([out, in]); ggml's ne is the reverse
  std::vector<const SourceTensor*> parts;  // concatenated along rows; empty when generated
  Transform transform = Transform::kNone;
  int n_head = 0;                  // for kPermuteRope: heads in this tensor
  bool keep_f32 = false;           // norms, biases and generated factors stay f32
  std::vector<float> generated;    // the values of a generated tensor (rope_freqs)
  std::string source_format;       // of the parts, for the report
};

// The config values every architecture needs, read from either the 2024 form (top-level
// rope_theta + rope_scaling) or the transformers-5 form (rope_parameters).
struct Hparams {
  int64_t n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ctx = 0;
  int64_t n_vocab = 0;
  double eps = 1e-5, rope_theta = 10000.0;
  nlohmann::json rope_scaling;  // null when none (or rope_type "default")
  bool tied = false;
};

struct ArchPlan {
  Hparams hparams;
  std::string gguf_arch;     // "llama", "gemma2", "phi3"
  std::string hf_arch;       // "LlamaForCausalLM", ...
  int64_t n_vocab = 0;       // rows of the embedding
  std::vector<OutTensor> tensors;
  std::vector<std::string> notes;  // what the converter decided that a user may want to know
};

// Builds the plan. Errors name the tensor and the file: unimplemented (an architecture or rope
// scaling Troika does not convert), data_loss (a tensor missing or of the wrong shape; a tensor
// the architecture has no place for).
Result<ArchPlan> plan_architecture(const Checkpoint& ck);

// Writes general.architecture and the {arch}.* hyperparameters.
Status write_arch_kv(const Checkpoint& ck, const ArchPlan& plan, gguf_context* g);

}  // namespace troika::convert
