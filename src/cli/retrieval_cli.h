// The knowledge-base flags that index, search, ask and serve share, and a search hit as JSON.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "troika/retrieval.h"
#include "troika/status.h"

namespace CLI {
class App;
}

namespace troika::cli {

struct KbFlags {
  std::string db;           // the SQLite file
  std::string config;       // troika.toml: its `embed` role names the embedding model
  std::string embed_model;  // a GGUF path, instead of the embed role
  int32_t threads = 0;
  int32_t chunk = 0, overlap = -1;  // 0 / -1: the defaults (tokens with a model, else words)
  double k1 = 1.2, b = 0.75;
  bool create = false;  // index add: a missing --db is made; elsewhere it is not_found

  // `required_db` false: --db may be left out (serve without a knowledge base).
  void add_to(CLI::App* cmd, bool chunking, bool required_db = true);
  // Whether an embedding model is named (--embed-model, or an embed role in --config).
  bool has_embedding() const;
  // The embedding model, or nullptr when none is named. Errors: invalid_argument (an embed
  // role that is not a local .gguf file), and those of loading it.
  Result<std::shared_ptr<retrieval::Embedding>> embedding() const;
  // not_found for a --db that is not there (unless `create`), naming troika index add.
  Status check_exists() const;
  // Opens the store with the embedding model (if any) and the BM25 and chunk settings.
  Result<std::unique_ptr<retrieval::Store>> open() const;
  // The same with an embedding already made (serve shares the host's).
  Result<std::unique_ptr<retrieval::Store>> open(std::shared_ptr<retrieval::Embedding> e) const;
};

nlohmann::ordered_json hit_json(const retrieval::Hit& h);

}  // namespace troika::cli
