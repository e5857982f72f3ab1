// The engine: loaded models, their vocabularies and chat templates, and inference contexts.
//
// Contract: this is Troika's only door to llama.cpp; nothing outside src/engine includes
// llama.h. A Model is immutable after load() and may be shared by any number of threads and
// Contexts (it is held by shared_ptr; each Context keeps its Model alive). A Context holds one
// KV cache and is NOT thread-safe: one thread at a time calls decode() and reads its outputs.
// Every fallible call returns Status or Result with a message naming the file, value or limit
// involved; llama.cpp's return codes are mapped as:
//   missing file -> not_found; bad magic, truncated or corrupt GGUF -> data_loss;
//   batch larger than the context or KV cache full -> resource_exhausted;
//   aborted decode -> cancelled; malformed batch -> invalid_argument; anything else -> internal.
// Shapes and units are in the comments: [n_vocab] f32 means one float per vocabulary entry.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::engine {

using Token = int32_t;
using Pos = int32_t;
using SeqId = int32_t;

struct ModelOptions {
  int n_gpu_layers = -1;    // layers to offload to the GPU; -1 = all (ignored by CPU builds)
  bool use_mmap = true;     // map the file instead of reading it into memory
  bool vocab_only = false;  // load the tokenizer and metadata only, no weights (fast)
};

struct SpecialTokens {
  Token bos = -1;  // -1 when the vocabulary has none
  Token eos = -1;
  Token eot = -1;  // end of turn (<|eot_id|>, <end_of_turn>, <|end|>); -1 when none
  Token pad = -1;
  bool add_bos = false;  // the tokenizer prepends BOS when add_special is true
  bool add_eos = false;
  std::vector<Token> eog;  // every end-of-generation token, including eos and eot
};

struct ModelInfo {
  std::string path;
  std::string architecture;  // general.architecture: "llama", "gemma2", "phi3", "bert", ...
  std::string name;          // general.name, or the file name when absent
  std::string description;   // llama.cpp's one-line description ("llama 8B Q8_0")
  std::string file_type;     // "Q8_0", "F16", ...
  uint64_t n_params = 0;
  uint64_t size_bytes = 0;  // bytes of weights
  int32_t n_ctx_train = 0;  // tokens
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_swa = 0;  // sliding-window size in tokens, 0 when none
  int32_t n_vocab = 0;
  std::string vocab_type;  // "spm", "bpe", "wpm", "ugm", "rwkv", "none"
  SpecialTokens special;
  std::string chat_template;  // the GGUF's tokenizer.chat_template, empty when absent
  bool has_encoder = false;
  bool has_decoder = true;
};

// A function call an assistant message made (OpenAI's tool_calls[i]).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // a JSON object, as text
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages that call tools
  std::string tool_call_id;          // tool messages: the call this result answers
};

// A function the model may call: rendered by templates that know tools (Llama 3.1's, Mistral
// v0.3's [AVAILABLE_TOOLS]).
struct ChatTool {
  std::string name;
  std::string description;
  std::string parameters;  // a JSON Schema object, as text
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;  // end with the assistant turn's opening markers
  std::string template_override;      // render with this Jinja template instead of the model's
  int64_t now_unix_s = 0;  // "today" for templates that print a date (Llama 3.1); 0 = now
  std::vector<ChatTool> tools;  // passed to the template as `tools`; ignored by those without
};

class Model {
 public:
  // Loads a GGUF file. Errors: not_found (no such file), data_loss (not a GGUF, truncated,
  // corrupt or an unknown architecture), resource_exhausted (out of memory).
  static Result<std::shared_ptr<Model>> load(const std::string& path,
                                             const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;

  // Text -> token ids. add_special adds BOS/EOS as the vocabulary says; parse_special turns
  // special-token text such as "<|eot_id|>" into its id (off: it is tokenized as plain text).
  Result<std::vector<Token>> tokenize(std::string_view text, bool add_special = true,
                                      bool parse_special = false) const;
  // One token's text. special=false renders control tokens as "".
  std::string token_to_piece(Token token, bool special = false) const;
  // Token ids -> text, the inverse of tokenize (up to normalisation).
  std::string detokenize(std::span<const Token> tokens, bool special = false) const;
  bool is_eog(Token token) const;
  bool is_valid(Token token) const { return token >= 0 && token < info().n_vocab; }

  // Renders messages with the model's chat template (Jinja, as llama.cpp's common chat code
  // runs it). Tokenize the result with
  // add_special=true and parse_special=true: a BOS that the tokenizer adds by itself is
  // stripped from the text so that it is not doubled. Errors: invalid_argument when the template
  // rejects the messages (e.g. Gemma's "roles must alternate"), with the template's own message.
  Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                  const ChatRenderOptions& options = {}) const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class Pooling { kUnspecified = -1, kNone = 0, kMean = 1, kCls = 2, kLast = 3 };
enum class FlashAttn { kAuto = -1, kOff = 0, kOn = 1 };
enum class KvType { kF16, kQ8_0, kF32 };  // element type of the KV cache

struct ContextOptions {
  int32_t n_ctx = 0;        // KV cache size in tokens; 0 = min(training context, 4096)
  int32_t n_batch = 2048;   // most tokens one decode() may carry
  int32_t n_ubatch = 512;   // physical micro-batch
  int32_t n_seq_max = 1;    // distinct sequence ids a batch may use
  int32_t n_threads = 0;    // 0 = all hardware threads
  bool embeddings = false;  // compute embeddings instead of (or besides) logits
  Pooling pooling = Pooling::kUnspecified;  // for embeddings; kUnspecified = the model's own
  FlashAttn flash_attn = FlashAttn::kAuto;  // kAuto: where the backend supports it (GPU)
  bool f32_kv =
      false;  // f32 KV cache instead of f16 (exact comparisons in tests); wins over kv_type
  KvType kv_type = KvType::kF16;  // q8_0 halves the cache (needs flash attention, on by kAuto)
  bool unified_kv = true;  // one KV buffer shared by all sequences (enables prefix sharing)
  // Sliding-window layers (Gemma 2) keep a full-size cache (llama.cpp's default); false sizes
  // them to the window, which saves memory but forgets what slid out of it.
  bool swa_full = true;
};

// Tokens for one decode() call. Each entry is a token at a position in one or more sequences;
// `logits` marks entries whose output row the caller will read.
class Batch {
 public:
  void clear();
  void add(Token token, Pos pos, SeqId seq, bool logits);
  void add(Token token, Pos pos, std::span<const SeqId> seqs, bool logits);
  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  bool empty() const { return tokens_.empty(); }

  // Read by the engine.
  const std::vector<Token>& tokens() const { return tokens_; }
  const std::vector<Pos>& positions() const { return pos_; }
  const std::vector<std::vector<SeqId>>& seqs() const { return seqs_; }
  const std::vector<int8_t>& logits() const { return logits_; }

 private:
  std::vector<Token> tokens_;
  std::vector<Pos> pos_;
  std::vector<std::vector<SeqId>> seqs_;
  std::vector<int8_t> logits_;
};

class Context {
 public:
  // Errors: invalid_argument (bad options), resource_exhausted (cannot allocate the KV cache).
  static Result<std::unique_ptr<Context>> create(std::shared_ptr<const Model> model,
                                                 const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Model& model() const { return *model_; }
  int32_t n_ctx() const;
  int32_t n_batch() const;
  int32_t n_seq_max() const;

  // Runs the model over a batch. Afterwards logits(i) is valid for each batch entry i that
  // asked for logits, until the next decode(). Errors: resource_exhausted (no KV room),
  // cancelled (abort flag set), invalid_argument (batch exceeds n_batch or bad token id).
  Status decode(const Batch& batch);

  // Feeds `tokens` into sequence `seq` starting at position `pos0`, in n_batch-sized chunks.
  // When want_last_logits, logits(-1) afterwards holds the last token's row.
  Status prefill(std::span<const Token> tokens, SeqId seq, Pos pos0, bool want_last_logits);

  // [n_vocab] f32 logits of batch entry i of the last decode(); i = -1 is the last entry with
  // logits. REQUIRES: that entry asked for logits.
  std::span<const float> logits(int32_t i) const;
  // [n_embd] f32 pooled embedding of a sequence (pooling != kNone), or of batch entry i
  // (pooling kNone). Empty when the context was not created with embeddings.
  std::span<const float> sequence_embedding(SeqId seq) const;
  std::span<const float> token_embedding(int32_t i) const;

  // KV cache bookkeeping, per sequence. Ranges are [p0, p1); -1 means open-ended.
  void clear();
  bool seq_remove(SeqId seq, Pos p0 = -1, Pos p1 = -1);
  void seq_copy(SeqId src, SeqId dst, Pos p0 = -1, Pos p1 = -1);
  void seq_keep(SeqId seq);
  Pos seq_pos_max(SeqId seq) const;  // -1 when the sequence is empty

  // Makes the decode() in flight (on another thread) stop soon with kCancelled.
  void request_abort();

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  Context(std::shared_ptr<const Model> model, std::unique_ptr<Impl> impl);
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Impl> impl_;
};

// Pooled, L2-normalised embeddings of texts: one context with embeddings on, owned by the
// embedder. Decoder models (no pooling of their own) are mean-pooled over the text's tokens;
// encoders (BERT-class) use the pooling their GGUF names. Thread-safe: calls are serialised.
struct EmbedderOptions {
  int32_t n_ctx = 2048;     // longest text in tokens (and the most tokens one decode carries)
  int32_t n_seq_max = 16;   // texts packed into one decode
  int32_t n_threads = 0;    // 0 = all hardware threads
  bool normalize = true;    // scale each vector to unit length
};

class Embedder {
 public:
  // Errors: invalid_argument (options), resource_exhausted (the context does not fit).
  static Result<std::unique_ptr<Embedder>> create(std::shared_ptr<const Model> model,
                                                  const EmbedderOptions& options = {});
  ~Embedder();
  int32_t dim() const;
  // One vector per text, in order; `n_tokens` (optional) receives the tokens read. Errors:
  // invalid_argument (an empty text, or one longer than n_ctx tokens, naming its index).
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts,
                                                int64_t* n_tokens = nullptr);

  struct Impl;

 private:
  explicit Embedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Re-quantizes a GGUF file with one of llama.cpp's mixes ("q4_k_m", "q5_k_m", "q6_k", ...:
// quantize_mixes() lists them), which choose a type per tensor. Writes `out` (llama.cpp writes
// it in place; callers wanting atomicity pass a temporary name). Errors: invalid_argument
// (unknown mix), not_found (no input), internal (llama.cpp refused; its log says why).
std::vector<std::string> quantize_mixes();
Status quantize_model(const std::string& in, const std::string& out, std::string_view mix,
                      int n_threads = 0);

// What llama.cpp allocates for one model and one context, split by where the bytes live.
struct MemoryUse {
  uint64_t weights_bytes = 0;  // model tensors
  uint64_t kv_bytes = 0;       // the context's KV cache (llama.cpp's "context" memory)
  uint64_t compute_bytes = 0;  // the scheduler's compute buffers, sized for the worst batch
  uint64_t total() const { return weights_bytes + kv_bytes + compute_bytes; }
};
struct MemoryReport {
  MemoryUse host;    // system memory: CPU, CPU_Mapped, CPU_REPACK and pinned host buffers
  MemoryUse device;  // accelerator memory, all devices together
  struct Buffer {
    std::string name;  // llama.cpp's buffer type: "CPU", "CPU_Mapped", "CPU_REPACK", "CUDA0", ...
    bool host = true;
    MemoryUse use;
  };
  std::vector<Buffer> buffers;
  bool simulated = false;
};
// Measures the allocation for `path` with these options. simulate = true uses llama.cpp's
// no_alloc mode: the header is read and every buffer sized as a real load would size it, but
// nothing is allocated and no weight is read (milliseconds for any size; the file's tensor data
// may even be a hole, as in a sparse file). simulate = false loads the model and creates the
// context for real and reports the buffers allocated. The log-probability output buffer
// (n_seq_max x n_vocab floats on the host) is not part of llama.cpp's breakdown.
// Errors: as Model::load() and Context::create().
Result<MemoryReport> measure_memory(const std::string& path, const ModelOptions& model_options,
                                    const ContextOptions& context_options, bool simulate);

// The ggml type llama.cpp gives each tensor of a model when it is written with a file type:
// "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1" or a mix from quantize_mixes().
// The answer is llama_model_quantize's own choice (per-tensor rules of the mixes, 1-D tensors
// and norms kept f32), computed from names and shapes alone. `dims` are the model's
// hyperparameters; tensors are {name, ne0, ne1} in GGUF naming. Returns ggml type ids
// (enum ggml_type) in tensor order. Errors: invalid_argument (unknown type or bad dimensions).
struct ModelDims {
  std::string architecture;  // GGUF architecture: "llama", "gemma2", "phi3", ...
  int32_t n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
  int32_t head_dim_k = 0, head_dim_v = 0;
};
struct TensorShape {
  std::string name;
  int64_t ne0 = 0;  // row length
  int64_t ne1 = 1;  // rows; 1 for vectors
};
std::vector<std::string> file_types();  // every name quantize_types() accepts
Result<std::vector<int32_t>> quantize_types(const ModelDims& dims,
                                            std::span<const TensorShape> tensors,
                                            std::string_view file_type);

// Whether this build can offload to a GPU, and llama.cpp's system line (SIMD features etc.).
bool supports_gpu_offload();
std::string system_info();

}  // namespace troika::engine
