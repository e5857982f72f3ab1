// troika index add|stats|rm and troika search: the knowledge base from the command line.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/retrieval_cli.h"
#include "troika/pipeline.h"
#include "troika/rag.h"
#include "troika/units.h"

namespace troika::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

struct AddFlags {
  KbFlags kb;
  std::vector<std::string> paths;
  retrieval::ReadOptions read;
  int32_t batch = 256;
  bool as_json = false, quiet = false;
};

// The files under the paths: files as given, folders walked for the formats read_documents knows.
Result<std::vector<std::string>> files_of(const std::vector<std::string>& paths) {
  static const std::set<std::string> kKnown = {".txt",   ".md",     ".markdown", ".text",
                                               ".rst",   ".html",   ".htm",      ".pdf",
                                               ".jsonl", ".ndjson", ".csv"};
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
        std::string ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (it->is_regular_file(ec) && kKnown.count(ext)) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      out.push_back(p);
    } else {
      return not_found("no such file or folder: " + p);
    }
  }
  return out;
}

int index_add(const AddFlags& f) {
  auto files = files_of(f.paths);
  if (!files.ok()) return report(files.status());
  auto store = f.kb.open();
  if (!store.ok()) return report(store.status());
  const auto t0 = std::chrono::steady_clock::now();
  int64_t docs = 0, dups = 0, chunks = 0;
  ordered_json per_file = ordered_json::array();
  for (const auto& file : *files) {
    auto read = retrieval::read_documents(file, f.read);
    if (!read.ok()) return report(read.status());
    int64_t file_docs = 0, file_chunks = 0, file_dups = 0;
    for (size_t i = 0; i < read->size(); i += static_cast<size_t>(f.batch)) {
      const size_t end = std::min(read->size(), i + static_cast<size_t>(f.batch));
      std::vector<retrieval::Document> batch(std::make_move_iterator(read->begin() + i),
                                             std::make_move_iterator(read->begin() + end));
      auto added = (*store)->add(batch);
      if (!added.ok()) return report(added.status());
      for (const auto& a : *added) {
        file_docs += a.duplicate ? 0 : 1;
        file_dups += a.duplicate ? 1 : 0;
        file_chunks += a.chunks;
      }
    }
    docs += file_docs;
    dups += file_dups;
    chunks += file_chunks;
    per_file.push_back({{"file", file},
                        {"documents", file_docs},
                        {"chunks", file_chunks},
                        {"duplicates", file_dups}});
    if (!f.quiet && !f.as_json) {
      std::fprintf(stderr, "troika: %s: %lld documents, %lld chunks%s\n", file.c_str(),
                   static_cast<long long>(file_docs), static_cast<long long>(file_chunks),
                   file_dups ? (", " + std::to_string(file_dups) + " already stored").c_str() : "");
    }
  }
  if (Status s = (*store)->flush(); !s.ok()) return report(s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (f.as_json) {
    std::printf("%s\n", ordered_json({{"documents", docs},
                                      {"chunks", chunks},
                                      {"duplicates", dups},
                                      {"seconds", secs},
                                      {"files", per_file}})
                            .dump(2)
                            .c_str());
  } else {
    std::printf("added %lld documents (%lld chunks, %.0f chunks/s), %lld duplicates skipped\n",
                static_cast<long long>(docs), static_cast<long long>(chunks),
                secs > 0 ? static_cast<double>(chunks) / secs : 0.0, static_cast<long long>(dups));
  }
  return 0;
}

int index_stats(const KbFlags& kb, bool as_json, bool sources) {
  auto store = kb.open();
  if (!store.ok()) return report(store.status());
  auto st = (*store)->stats();
  if (!st.ok()) return report(st.status());
  ordered_json j = {{"db", kb.db},
                    {"documents", st->documents},
                    {"chunks", st->chunks},
                    {"words", st->words},
                    {"bm25_chunks", st->indexed_chunks},
                    {"bm25_shards", st->index_shards},
                    {"vectors", st->vectors},
                    {"embedding_model", st->embedding_model},
                    {"store_change", st->store_change},
                    {"bm25_change", st->index_change},
                    {"sqlite_bytes", st->sqlite_bytes},
                    {"bm25_bytes", st->index_bytes},
                    {"vector_bytes", st->vector_bytes}};
  if (st->indexed_vectors >= 0) {
    j["dense_vectors"] = st->indexed_vectors;
    j["dense_change"] = st->vector_change;
    j["dense_kind"] = st->vector_kind;
    j["dim"] = st->dim;
  }
  if (sources) {
    auto src = (*store)->sources();
    if (!src.ok()) return report(src.status());
    ordered_json list = ordered_json::array();
    for (const auto& s : *src) {
      list.push_back({{"source", s.source},
                      {"title", s.title},
                      {"documents", s.documents},
                      {"chunks", s.chunks}});
    }
    j["sources"] = list;
  }
  if (as_json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s: %lld documents, %lld chunks, %lld words\n", kb.db.c_str(),
              static_cast<long long>(st->documents), static_cast<long long>(st->chunks),
              static_cast<long long>(st->words));
  std::printf("bm25:  %lld chunks indexed in %d shards, at change %lld of %lld\n",
              static_cast<long long>(st->indexed_chunks), st->index_shards,
              static_cast<long long>(st->index_change), static_cast<long long>(st->store_change));
  if (st->indexed_vectors >= 0) {
    std::printf("dense: %lld vectors (%s, dim %d) of %s, at change %lld\n",
                static_cast<long long>(st->indexed_vectors), st->vector_kind.c_str(), st->dim,
                st->embedding_model.c_str(), static_cast<long long>(st->vector_change));
  } else if (st->vectors > 0) {
    std::printf("dense: %lld vectors of %s (give the embed role or --embed-model to use them)\n",
                static_cast<long long>(st->vectors), st->embedding_model.c_str());
  } else {
    std::printf("dense: none (index with the embed role or --embed-model to add vectors)\n");
  }
  std::printf("disk:  sqlite %s, bm25 %s, dense %s\n", format_bytes(st->sqlite_bytes).c_str(),
              format_bytes(st->index_bytes).c_str(), format_bytes(st->vector_bytes).c_str());
  if (sources) {
    for (const auto& s : j["sources"]) {
      std::printf("  %-60s %6lld chunks  %s\n", s["source"].get<std::string>().c_str(),
                  static_cast<long long>(s["chunks"].get<int64_t>()),
                  s["title"].get<std::string>().c_str());
    }
  }
  return 0;
}

int index_rm(const KbFlags& kb, const std::vector<std::string>& sources) {
  auto store = kb.open();
  if (!store.ok()) return report(store.status());
  int64_t removed = 0;
  for (const auto& s : sources) {
    auto r = (*store)->remove(s);
    if (!r.ok()) return report(r.status());
    removed += *r;
  }
  if (Status s = (*store)->flush(); !s.ok()) return report(s);
  std::printf("removed %lld documents\n", static_cast<long long>(removed));
  return 0;
}

struct SearchFlags {
  KbFlags kb;
  HostFlags host;
  std::string query, mode;
  int32_t k = 10, depth = 100, rerank_top = 20;
  bool rerank = false, as_json = false;
};

int search(const SearchFlags& f) {
  auto store = f.kb.open();
  if (!store.ok()) return report(store.status());
  retrieval::SearchOptions so;
  so.k = f.rerank ? std::max(f.k, f.rerank_top) : f.k;
  so.mode = f.mode.empty() ? (f.kb.has_embedding() ? "hybrid" : "bm25") : f.mode;
  so.depth = f.depth;
  auto hits = (*store)->search(f.query, so);
  if (!hits.ok()) return report(hits.status());
  std::vector<double> rerank_score(hits->size(), 0);
  ordered_json notes = ordered_json::array();
  if (f.rerank && !hits->empty()) {
    auto host = f.host.up({"tool"});
    if (!host.ok()) return report(host.status());
    pipeline::RerankRequest rr;
    rr.query = f.query;
    for (const auto& h : *hits) rr.documents.push_back(h.text);
    auto ranked = pipeline::rerank(*(*host)->role("tool"), rr);
    if (!ranked.ok()) return report(ranked.status());
    std::vector<retrieval::Hit> order;
    std::vector<double> scores;
    for (const auto& r : ranked->results) {
      order.push_back((*hits)[static_cast<size_t>(r.index)]);
      scores.push_back(r.score);
    }
    for (const auto& n : ranked->usage.notes) notes.push_back(n);
    *hits = std::move(order);
    rerank_score = std::move(scores);
    if (hits->size() > static_cast<size_t>(f.k)) hits->resize(static_cast<size_t>(f.k));
  }
  if (f.as_json) {
    ordered_json out = {{"query", f.query}, {"mode", so.mode}, {"reranked", f.rerank}};
    ordered_json list = ordered_json::array();
    for (size_t i = 0; i < hits->size(); ++i) {
      const auto& h = (*hits)[i];
      ordered_json j = hit_json(h);
      j["rank"] = i + 1;
      if (f.rerank) j["rerank_score"] = rerank_score[i];
      list.push_back(std::move(j));
    }
    out["results"] = std::move(list);
    if (!notes.empty()) out["notes"] = notes;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  for (size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    std::string text = h.text;
    for (char& c : text) c = c == '\n' ? ' ' : c;
    std::printf("%2zu. %.4f  %s [%lld-%lld]\n    %s\n", i + 1, f.rerank ? rerank_score[i] : h.score,
                h.source.c_str(), static_cast<long long>(h.start), static_cast<long long>(h.end),
                clip(text, 200).c_str());
  }
  if (hits->empty()) std::printf("no chunk matches\n");
  return 0;
}

struct AskFlags {
  KbFlags kb;
  HostFlags host;
  std::string question, mode;
  int32_t k = 6, source_tokens = 0, max_tokens = 512;
  float temperature = 0;
  uint32_t seed = 0;
  bool judge = false, as_json = false;
};

int ask(const AskFlags& f) {
  auto store = f.kb.open();
  if (!store.ok()) return report(store.status());
  std::vector<std::string> roles = {"rag", "brain"};
  if (f.judge) roles.push_back("tool");
  auto host = f.host.up(roles);
  if (!host.ok()) return report(host.status());
  host::RoleClient* role = (*host)->role("rag") ? (*host)->role("rag") : (*host)->role("brain");
  if (!role) return report(not_found("ask needs the rag or brain role (docs/host.md)"));
  nlohmann::json req = {{"question", f.question},
                        {"k", f.k},
                        {"judge", f.judge},
                        {"max_tokens", f.max_tokens},
                        {"temperature", f.temperature},
                        {"seed", f.seed}};
  if (!f.mode.empty()) req["mode"] = f.mode;
  if (f.source_tokens > 0) req["source_tokens"] = f.source_tokens;
  auto out = pipeline::run_rag(*role, **store, req.dump(), (*host)->role("tool"));
  if (!out.ok()) return report(out.status());
  if (f.as_json) {
    std::printf("%s\n", nlohmann::json::parse(*out).dump(2).c_str());
    return 0;
  }
  const nlohmann::json j = nlohmann::json::parse(*out);
  std::printf("%s\n", j["answer"].get<std::string>().c_str());
  for (const auto& c : j["citations"]) {
    std::printf(
        "  [%d] %s \"%s\"%s\n", c["source"].get<int>(), c["supported"].get<bool>() ? "ok " : "BAD",
        c["quote"].get<std::string>().c_str(),
        c.contains("problem") ? ("  (" + c["problem"].get<std::string>() + ")").c_str() : "");
  }
  std::printf("sources:\n");
  for (const auto& s : j["sources"]) {
    std::printf("  [%d] %s [%lld-%lld]\n", s["id"].get<int>(),
                s["source"].get<std::string>().c_str(),
                static_cast<long long>(s["start"].get<int64_t>()),
                static_cast<long long>(s["end"].get<int64_t>()));
  }
  if (j["unsupported"].get<int>() > 0) {
    std::printf("%d citation(s) not supported by their source\n", j["unsupported"].get<int>());
  }
  return 0;
}

}  // namespace

void add_index_commands(CLI::App& app, int* exit_code) {
  auto* index = app.add_subcommand(
      "index", "The knowledge base: add files, show what is stored, remove sources; docs/rag.md");
  index->require_subcommand(1);
  {
    auto* cmd = index->add_subcommand(
        "add",
        "Ingest files and folders (.txt .md .html .pdf .jsonl .csv): chunks in SQLite, BM25 and "
        "(with an embedding model) vectors beside it");
    auto f = std::make_shared<AddFlags>();
    f->kb.add_to(cmd, /*chunking=*/true);
    f->kb.create = true;
    cmd->add_option("PATH", f->paths, "files or folders")->required();
    cmd->add_option("--text-field", f->read.text_field, "JSONL key / CSV column of the text")
        ->capture_default_str();
    cmd->add_option("--id-field", f->read.id_field,
                    "JSONL key / CSV column naming a record (\"\" = its line number)")
        ->capture_default_str();
    cmd->add_option("--title-field", f->read.title_field, "JSONL key / CSV column of the title")
        ->capture_default_str();
    cmd->add_option("--batch", f->batch, "documents per transaction")->capture_default_str();
    cmd->add_flag("--json", f->as_json, "print the counts as JSON");
    cmd->add_flag("-q,--quiet", f->quiet, "no line per file on stderr");
    cmd->callback([=] {
      *exit_code = f->batch < 1 ? report(invalid_argument("--batch: at least 1")) : index_add(*f);
    });
  }
  {
    auto* cmd =
        index->add_subcommand("stats", "Counts, index states and sizes of a knowledge base");
    auto kb = std::make_shared<KbFlags>();
    auto as_json = std::make_shared<bool>(false);
    auto sources = std::make_shared<bool>(false);
    kb->add_to(cmd, false);
    cmd->add_flag("--json", *as_json, "print as JSON");
    cmd->add_flag("--sources", *sources, "list the sources stored");
    cmd->callback([=] { *exit_code = index_stats(*kb, *as_json, *sources); });
  }
  {
    auto* cmd = index->add_subcommand(
        "rm", "Remove sources (a file, or every record of a JSONL/CSV file) from a knowledge base");
    auto kb = std::make_shared<KbFlags>();
    auto sources = std::make_shared<std::vector<std::string>>();
    kb->add_to(cmd, false);
    cmd->add_option("SOURCE", *sources, "sources as `index stats --sources` lists them")
        ->required();
    cmd->callback([=] { *exit_code = index_rm(*kb, *sources); });
  }
  {
    auto* cmd = app.add_subcommand(
        "search", "Search a knowledge base: BM25, dense or hybrid (reciprocal rank fusion)");
    auto f = std::make_shared<SearchFlags>();
    f->kb.add_to(cmd, false);
    cmd->add_option("QUERY", f->query, "the query (\"quoted phrases\" must match in order)")
        ->required();
    cmd->add_option("-k,--k", f->k, "results")->capture_default_str();
    cmd->add_option("--mode", f->mode,
                    "bm25, dense or hybrid (default: hybrid with an "
                    "embedding model, else bm25)")
        ->check(CLI::IsMember({"bm25", "dense", "hybrid"}));
    cmd->add_option("--depth", f->depth, "hybrid: candidates from each side")
        ->capture_default_str();
    cmd->add_flag("--rerank", f->rerank, "rerank the top candidates with the tool role");
    cmd->add_option("--rerank-top", f->rerank_top, "candidates the tool role reranks")
        ->capture_default_str();
    cmd->add_option("--dir", f->host.dirs, "models folder to search without a config");
    cmd->add_option("--catalog", f->host.catalog_path, "catalog TOML instead of the embedded one");
    cmd->add_flag("--json", f->as_json, "print the results as JSON");
    cmd->callback([=] {
      f->host.config = f->kb.config;
      f->host.threads = f->kb.threads;
      f->host.no_smoke = true;
      f->host.quiet = true;
      *exit_code = search(*f);
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "ask",
        "Answer a question from a knowledge base with cited sources, every citation checked "
        "(the rag pipeline; docs/pipelines/rag.md)");
    auto f = std::make_shared<AskFlags>();
    f->kb.add_to(cmd, false);
    cmd->add_option("QUESTION", f->question, "the question")->required();
    cmd->add_option("-k,--k", f->k, "chunks retrieved")->capture_default_str();
    cmd->add_option("--mode", f->mode, "retrieval: bm25, dense or hybrid")
        ->check(CLI::IsMember({"bm25", "dense", "hybrid"}));
    cmd->add_option("--source-tokens", f->source_tokens,
                    "token budget for the sources (0 = a quarter of the role's context)");
    cmd->add_flag("--judge", f->judge,
                  "the tool role judges whether each quote supports the answer");
    cmd->add_option("--max-tokens", f->max_tokens, "most tokens of the answer")
        ->capture_default_str();
    cmd->add_option("--temp", f->temperature, "temperature (0 = greedy)")->capture_default_str();
    cmd->add_option("--seed", f->seed, "sampling seed");
    cmd->add_option("--dir", f->host.dirs, "models folder to search without a config");
    cmd->add_option("--catalog", f->host.catalog_path, "catalog TOML instead of the embedded one");
    cmd->add_flag("--json", f->as_json, "print the answer, citations and sources as JSON");
    cmd->callback([=] {
      f->host.config = f->kb.config;
      f->host.threads = f->kb.threads;
      f->host.no_smoke = true;
      f->host.quiet = true;
      *exit_code = ask(*f);
    });
  }
}

}  // namespace troika::cli
