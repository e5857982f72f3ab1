// KbFlags: --db, the embedding model (--embed-model or the config's embed role), chunking, BM25.
#include "cli/retrieval_cli.h"

#include <CLI/CLI.hpp>
#include <filesystem>

#include "troika/host.h"

namespace troika::cli {

void KbFlags::add_to(CLI::App* cmd, bool chunking, bool required_db) {
  auto* opt = cmd->add_option("--db", db, "knowledge base (SQLite; indexes beside it)");
  if (required_db) opt->required();
  cmd->add_option("-c,--config", config, "troika.toml (its embed role is the embedding model)");
  cmd->add_option("--embed-model", embed_model, "embedding GGUF (instead of the embed role)");
  cmd->add_option("-t,--threads", threads, "threads (0 = all)");
  if (chunking) {
    cmd->add_option("--chunk", chunk,
                    "chunk size: tokens of the embedding model (default 256), words without one "
                    "(default 200)");
    cmd->add_option("--overlap", overlap,
                    "units each chunk repeats of the one before (default "
                    "32 tokens or 30 words)");
  }
  cmd->add_option("--k1", k1, "BM25 k1")->capture_default_str();
  cmd->add_option("--b", b, "BM25 b")->capture_default_str();
}

namespace {

Result<std::string> embed_role_model(const std::string& config) {
  TROIKA_ASSIGN_OR_RETURN(host::HostConfig cfg, host::load_config(config));
  for (const auto& r : cfg.roles) {
    if (r.role != "embed") continue;
    if (!r.remote.empty() || r.model.size() < 5 ||
        r.model.compare(r.model.size() - 5, 5, ".gguf") != 0) {
      return invalid_argument(config +
                              ": the embed role must name a local .gguf file for the "
                              "knowledge base (or give --embed-model)");
    }
    return r.model;
  }
  return std::string();
}

}  // namespace

bool KbFlags::has_embedding() const {
  if (!embed_model.empty()) return true;
  if (config.empty()) return false;
  auto m = embed_role_model(config);
  return m.ok() && !m->empty();
}

Result<std::shared_ptr<retrieval::Embedding>> KbFlags::embedding() const {
  std::string path = embed_model;
  if (path.empty() && !config.empty()) {
    TROIKA_ASSIGN_OR_RETURN(path, embed_role_model(config));
  }
  if (path.empty()) return std::shared_ptr<retrieval::Embedding>();
  return retrieval::gguf_embedding(path, threads);
}

Status KbFlags::check_exists() const {
  std::error_code ec;
  if (create || std::filesystem::exists(db, ec)) return Status::Ok();
  return not_found("no knowledge base at " + db + "; build one with troika index add --db " + db +
                   " FILES...");
}

Result<std::unique_ptr<retrieval::Store>> KbFlags::open() const {
  TROIKA_RETURN_IF_ERROR(check_exists());
  TROIKA_ASSIGN_OR_RETURN(auto e, embedding());
  return open(std::move(e));
}

Result<std::unique_ptr<retrieval::Store>> KbFlags::open(
    std::shared_ptr<retrieval::Embedding> e) const {
  TROIKA_RETURN_IF_ERROR(check_exists());
  retrieval::StoreOptions o;
  o.embedding = std::move(e);
  o.chunking.size = chunk > 0 ? chunk : (o.embedding ? 256 : 200);
  o.chunking.overlap = overlap >= 0 ? overlap : (o.embedding ? 32 : 30);
  o.bm25 = {k1, b};
  return retrieval::Store::open(db, o);
}

nlohmann::ordered_json hit_json(const retrieval::Hit& h) {
  nlohmann::ordered_json j = {{"rank", h.rank},         {"score", h.score},
                              {"source", h.source},     {"title", h.title},
                              {"chunk_id", h.chunk_id}, {"document_id", h.document_id},
                              {"ordinal", h.ordinal},   {"start", h.start},
                              {"end", h.end},           {"text", h.text}};
  if (h.bm25_rank) {
    j["bm25_rank"] = h.bm25_rank;
    j["bm25_score"] = h.bm25_score;
  }
  if (h.dense_rank) {
    j["dense_rank"] = h.dense_rank;
    j["dense_score"] = h.dense_score;
  }
  return j;
}

}  // namespace troika::cli
