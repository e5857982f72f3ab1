// gguf_embedding: the engine's Embedder behind the retrieval Embedding interface.
#include <filesystem>

#include "troika/engine.h"
#include "troika/retrieval.h"

namespace troika::retrieval {

namespace {

class GgufEmbedding final : public Embedding {
 public:
  GgufEmbedding(std::shared_ptr<engine::Model> model, std::unique_ptr<engine::Embedder> e,
                int32_t max_tokens)
      : model_(std::move(model)), embedder_(std::move(e)), max_tokens_(max_tokens) {
    const auto& i = model_->info();
    id_ = std::filesystem::path(i.path).filename().string() + " (" + i.architecture + ", " +
          std::to_string(i.n_params) + " params, dim " + std::to_string(embedder_->dim()) + ")";
  }
  std::string model_id() const override { return id_; }
  int32_t dim() const override { return embedder_->dim(); }
  int32_t count_tokens(std::string_view text) const override {
    auto t = model_->tokenize(text, /*add_special=*/false);
    return t.ok() ? static_cast<int32_t>(t->size()) : static_cast<int32_t>(text.size());
  }
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) override {
    // A text past the model's window (a chunk of one giant word) is cut at a UTF-8 boundary.
    std::vector<std::string> fitted;
    fitted.reserve(texts.size());
    for (const auto& t : texts) {
      std::string s = t.empty() ? std::string(" ") : t;
      while (count_tokens(s) + 2 > max_tokens_ && s.size() > 1) {
        size_t cut = s.size() * 3 / 4;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
        s.resize(std::max<size_t>(cut, 1));
      }
      fitted.push_back(std::move(s));
    }
    return embedder_->embed(fitted);
  }

 private:
  std::shared_ptr<engine::Model> model_;
  std::unique_ptr<engine::Embedder> embedder_;
  int32_t max_tokens_;
  std::string id_;
};

}  // namespace

Result<std::shared_ptr<Embedding>> gguf_embedding(const std::string& path, int32_t n_threads,
                                                  int32_t max_tokens) {
  TROIKA_ASSIGN_OR_RETURN(auto model, engine::Model::load(path));
  engine::EmbedderOptions eo;
  eo.n_threads = n_threads;
  eo.n_ctx = std::max(64, max_tokens);
  if (model->info().n_ctx_train > 0) eo.n_ctx = std::min(eo.n_ctx, model->info().n_ctx_train);
  TROIKA_ASSIGN_OR_RETURN(auto embedder, engine::Embedder::create(model, eo));
  return std::shared_ptr<Embedding>(
      std::make_shared<GgufEmbedding>(std::move(model), std::move(embedder), eo.n_ctx));
}

}  // namespace troika::retrieval
