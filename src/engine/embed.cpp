// Embedder: texts -> pooled vectors through one embeddings context.
#include <cmath>
#include <mutex>

#include "engine/internal.h"
#include "troika/engine.h"

namespace troika::engine {

struct Embedder::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Context> ctx;
  EmbedderOptions options;
  int32_t dim = 0;
  std::mutex mu;
};

Embedder::Embedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedder::~Embedder() = default;
int32_t Embedder::dim() const { return impl_->dim; }

Result<std::unique_ptr<Embedder>> Embedder::create(std::shared_ptr<const Model> model,
                                                   const EmbedderOptions& options) {
  if (options.n_ctx < 8 || options.n_seq_max < 1 || options.n_seq_max > 256) {
    return invalid_argument("embedder: n_ctx must be at least 8 and n_seq_max in [1, 256]");
  }
  ContextOptions co;
  co.n_ctx = options.n_ctx;
  co.n_batch = options.n_ctx;
  co.n_ubatch = options.n_ctx;  // encoders see a whole text in one micro-batch
  co.n_seq_max = options.n_seq_max;
  co.n_threads = options.n_threads;
  co.embeddings = true;
  TROIKA_ASSIGN_OR_RETURN(auto ctx, Context::create(model, co));
  if (llama_pooling_type(ctx->impl().ctx) == LLAMA_POOLING_TYPE_NONE) {
    // A decoder model has no pooling of its own: average its last hidden states.
    ctx.reset();
    co.pooling = Pooling::kMean;
    TROIKA_ASSIGN_OR_RETURN(ctx, Context::create(model, co));
  }
  auto impl = std::make_unique<Impl>();
  impl->dim = static_cast<int32_t>(llama_model_n_embd_out(model->impl().model));
  impl->model = std::move(model);
  impl->ctx = std::move(ctx);
  impl->options = options;
  return std::unique_ptr<Embedder>(new Embedder(std::move(impl)));
}

Result<std::vector<std::vector<float>>> Embedder::embed(const std::vector<std::string>& texts,
                                                        int64_t* n_tokens) {
  Impl& m = *impl_;
  std::vector<std::vector<Token>> ids(texts.size());
  int64_t total = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) {
      return invalid_argument("input " + std::to_string(i) + " is empty; give text to embed");
    }
    TROIKA_ASSIGN_OR_RETURN(ids[i], m.model->tokenize(texts[i], true, false));
    if (static_cast<int32_t>(ids[i].size()) > m.options.n_ctx) {
      return invalid_argument("input " + std::to_string(i) + " has " +
                              std::to_string(ids[i].size()) + " tokens; the embedding context " +
                              "holds " + std::to_string(m.options.n_ctx) +
                              ": split it or raise the embedding context");
    }
    total += static_cast<int64_t>(ids[i].size());
  }
  std::vector<std::vector<float>> out(texts.size());
  std::lock_guard<std::mutex> lock(m.mu);
  Batch batch;
  size_t next = 0;
  while (next < texts.size()) {
    // Pack whole texts until the batch or the sequences are full.
    batch.clear();
    const size_t first = next;
    int32_t used = 0;
    while (next < texts.size() && static_cast<int32_t>(next - first) < m.options.n_seq_max &&
           used + static_cast<int32_t>(ids[next].size()) <= m.options.n_ctx) {
      const SeqId seq = static_cast<SeqId>(next - first);
      for (size_t p = 0; p < ids[next].size(); ++p) {
        batch.add(ids[next][p], static_cast<Pos>(p), seq, true);
      }
      used += static_cast<int32_t>(ids[next].size());
      ++next;
    }
    m.ctx->clear();
    TROIKA_RETURN_IF_ERROR(m.ctx->decode(batch));
    for (size_t i = first; i < next; ++i) {
      auto e = m.ctx->sequence_embedding(static_cast<SeqId>(i - first));
      if (e.empty()) return internal_error("llama.cpp returned no pooled embedding");
      out[i].assign(e.begin(), e.end());
      if (m.options.normalize) {
        double norm = 0;
        for (float v : out[i]) norm += static_cast<double>(v) * v;
        norm = std::sqrt(norm);
        if (norm > 0) {
          for (float& v : out[i]) v = static_cast<float>(v / norm);
        }
      }
    }
  }
  m.ctx->clear();
  if (n_tokens) *n_tokens = total;
  return out;
}

}  // namespace troika::engine
