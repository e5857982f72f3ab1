#include <algorithm>
#include <thread>

#include "engine/internal.h"

namespace troika::engine {

void Batch::clear() {
  tokens_.clear();
  pos_.clear();
  seqs_.clear();
  logits_.clear();
}

void Batch::add(Token token, Pos pos, SeqId seq, bool logits) {
  const SeqId one[1] = {seq};
  add(token, pos, std::span<const SeqId>(one), logits);
}

void Batch::add(Token token, Pos pos, std::span<const SeqId> seqs, bool logits) {
  tokens_.push_back(token);
  pos_.push_back(pos);
  seqs_.emplace_back(seqs.begin(), seqs.end());
  logits_.push_back(logits ? 1 : 0);
}

namespace {
bool abort_requested(void* data) {
  return static_cast<std::atomic<bool>*>(data)->load(std::memory_order_relaxed);
}

enum llama_pooling_type to_llama(Pooling p) { return static_cast<enum llama_pooling_type>(p); }
}  // namespace

llama_context_params context_params(const ModelInfo& info, const ContextOptions& options) {
  llama_context_params p = llama_context_default_params();
  int32_t n_ctx = options.n_ctx;
  if (n_ctx == 0) n_ctx = std::min<int32_t>(info.n_ctx_train > 0 ? info.n_ctx_train : 4096, 4096);
  p.n_ctx = n_ctx;
  p.n_batch = std::min(options.n_batch, n_ctx);
  p.n_ubatch = std::min(options.n_ubatch, static_cast<int32_t>(p.n_batch));
  p.n_seq_max = options.n_seq_max;
  int32_t threads = options.n_threads > 0
                        ? options.n_threads
                        : static_cast<int32_t>(std::thread::hardware_concurrency());
  p.n_threads = std::max(1, threads);
  p.n_threads_batch = p.n_threads;
  p.embeddings = options.embeddings;
  p.pooling_type = to_llama(options.pooling);
  p.flash_attn_type = static_cast<enum llama_flash_attn_type>(options.flash_attn);
  ggml_type kv = options.kv_type == KvType::kQ8_0  ? GGML_TYPE_Q8_0
                 : options.kv_type == KvType::kF32 ? GGML_TYPE_F32
                                                   : GGML_TYPE_F16;
  if (options.f32_kv) kv = GGML_TYPE_F32;
  p.type_k = kv;
  p.type_v = kv;
  p.swa_full = options.swa_full;
  p.kv_unified = options.unified_kv;
  p.no_perf = true;
  return p;
}

Context::Impl::~Impl() {
  if (ctx) llama_free(ctx);
}

Context::Context(std::shared_ptr<const Model> model, std::unique_ptr<Impl> impl)
    : model_(std::move(model)), impl_(std::move(impl)) {}
Context::~Context() = default;

Result<std::unique_ptr<Context>> Context::create(std::shared_ptr<const Model> model,
                                                 const ContextOptions& options) {
  if (!model) return invalid_argument("Context::create needs a loaded model");
  const ModelInfo& info = model->info();
  if (options.n_ctx < 0 || options.n_batch <= 0 || options.n_ubatch <= 0 ||
      options.n_seq_max <= 0) {
    return invalid_argument(
        "context sizes must be positive (n_ctx " + std::to_string(options.n_ctx) + ", n_batch " +
        std::to_string(options.n_batch) + ", n_ubatch " + std::to_string(options.n_ubatch) +
        ", n_seq_max " + std::to_string(options.n_seq_max) + ")");
  }
  if (options.n_seq_max > static_cast<int32_t>(llama_max_parallel_sequences())) {
    return invalid_argument("n_seq_max " + std::to_string(options.n_seq_max) +
                            " exceeds llama.cpp's limit of " +
                            std::to_string(llama_max_parallel_sequences()) + " sequences");
  }
  llama_context_params p = context_params(info, options);
  const int32_t n_ctx = static_cast<int32_t>(p.n_ctx);

  auto impl = std::make_unique<Impl>();
  p.abort_callback = abort_requested;
  p.abort_callback_data = &impl->abort;

  LogCapture capture;
  impl->ctx = llama_init_from_model(model->impl().model, p);
  if (!impl->ctx) {
    return resource_exhausted("cannot create a context of " + std::to_string(n_ctx) + " tokens x " +
                              std::to_string(options.n_seq_max) + " sequences for " + info.name +
                              ": " + capture.errors() + " (try a smaller context)");
  }
  return std::unique_ptr<Context>(new Context(std::move(model), std::move(impl)));
}

int32_t Context::n_ctx() const { return static_cast<int32_t>(llama_n_ctx(impl_->ctx)); }
int32_t Context::n_batch() const { return static_cast<int32_t>(llama_n_batch(impl_->ctx)); }
int32_t Context::n_seq_max() const { return static_cast<int32_t>(llama_n_seq_max(impl_->ctx)); }

Status Context::decode(const Batch& batch) {
  const int32_t n = batch.size();
  if (n == 0) return Status::Ok();
  if (n > n_batch()) {
    return resource_exhausted("batch of " + std::to_string(n) + " tokens exceeds n_batch " +
                              std::to_string(n_batch()) + "; split it or raise n_batch");
  }
  const int32_t n_vocab = model_->info().n_vocab;
  const int32_t n_seq = n_seq_max();
  std::vector<llama_seq_id*> seq_ptrs(n);
  std::vector<int32_t> n_seq_id(n);
  int32_t last = -1;
  for (int32_t i = 0; i < n; ++i) {
    Token t = batch.tokens()[i];
    if (t < 0 || t >= n_vocab) {
      return invalid_argument("token id " + std::to_string(t) + " at batch entry " +
                              std::to_string(i) + " is outside the vocabulary [0, " +
                              std::to_string(n_vocab) + ")");
    }
    for (SeqId s : batch.seqs()[i]) {
      if (s < 0 || s >= n_seq) {
        return invalid_argument("sequence id " + std::to_string(s) + " is outside [0, " +
                                std::to_string(n_seq) + "); raise n_seq_max");
      }
    }
    seq_ptrs[i] = const_cast<llama_seq_id*>(batch.seqs()[i].data());
    n_seq_id[i] = static_cast<int32_t>(batch.seqs()[i].size());
    if (batch.logits()[i]) last = i;
  }
  llama_batch b{};
  b.n_tokens = n;
  b.token = const_cast<llama_token*>(batch.tokens().data());
  b.pos = const_cast<llama_pos*>(batch.positions().data());
  b.n_seq_id = n_seq_id.data();
  b.seq_id = seq_ptrs.data();
  b.logits = const_cast<int8_t*>(batch.logits().data());

  impl_->abort.store(false, std::memory_order_relaxed);
  int32_t rc = llama_decode(impl_->ctx, b);
  impl_->last_logits_row = rc == 0 ? last : -1;
  return decode_status(rc, n, n_ctx());
}

Status Context::prefill(std::span<const Token> tokens, SeqId seq, Pos pos0, bool want_last_logits) {
  const int32_t step = n_batch();
  Batch batch;
  for (size_t start = 0; start < tokens.size(); start += step) {
    size_t end = std::min(tokens.size(), start + static_cast<size_t>(step));
    batch.clear();
    for (size_t i = start; i < end; ++i) {
      bool logits = want_last_logits && i + 1 == tokens.size();
      batch.add(tokens[i], pos0 + static_cast<Pos>(i), seq, logits);
    }
    TROIKA_RETURN_IF_ERROR(decode(batch));
  }
  return Status::Ok();
}

std::span<const float> Context::logits(int32_t i) const {
  if (i < 0) i = impl_->last_logits_row;
  if (i < 0) return {};
  const float* row = llama_get_logits_ith(impl_->ctx, i);
  if (!row) return {};
  return {row, static_cast<size_t>(model_->info().n_vocab)};
}

std::span<const float> Context::sequence_embedding(SeqId seq) const {
  const float* e = llama_get_embeddings_seq(impl_->ctx, seq);
  if (!e) return {};
  return {e, static_cast<size_t>(llama_model_n_embd_out(model_->impl().model))};
}

std::span<const float> Context::token_embedding(int32_t i) const {
  const float* e = llama_get_embeddings_ith(impl_->ctx, i);
  if (!e) return {};
  return {e, static_cast<size_t>(llama_model_n_embd_out(model_->impl().model))};
}

void Context::clear() { llama_memory_clear(llama_get_memory(impl_->ctx), true); }

bool Context::seq_remove(SeqId seq, Pos p0, Pos p1) {
  return llama_memory_seq_rm(llama_get_memory(impl_->ctx), seq, p0, p1);
}

void Context::seq_copy(SeqId src, SeqId dst, Pos p0, Pos p1) {
  llama_memory_seq_cp(llama_get_memory(impl_->ctx), src, dst, p0, p1);
}

void Context::seq_keep(SeqId seq) { llama_memory_seq_keep(llama_get_memory(impl_->ctx), seq); }

Pos Context::seq_pos_max(SeqId seq) const {
  return llama_memory_seq_pos_max(llama_get_memory(impl_->ctx), seq);
}

void Context::request_abort() { impl_->abort.store(true, std::memory_order_relaxed); }

}  // namespace troika::engine
