// The anchor for `troika constrain-bench`: llama.cpp's own JSON-Schema path (its converter to
// GBNF and its grammar sampler) on the same files, vocabulary and canonical instances. For each
// case whose schema converts, its valid instances are walked token by token; every step applies
// the grammar to the full vocabulary (what llama-server does with `grammar_first`, and what its
// resampling path does whenever the sampled token is rejected) and times it.
//
// Usage: troika-bench-grammar-anchor VOCAB.gguf MAX_MASKS PATH...   (prints one JSON line)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "constrain/schema_compile.h"
#include "json-schema-to-grammar.h"
#include "json.h"
#include "llama.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1)))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s VOCAB.gguf MAX_MASKS PATH...\n", argv[0]);
    return 1;
  }
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  auto mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) {
    std::fprintf(stderr, "cannot load %s\n", argv[1]);
    return 1;
  }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  const size_t max_masks = std::stoul(argv[2]);
  std::vector<fs::path> files;
  for (int i = 3; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::directory_iterator(argv[i])) {
        if (e.path().extension() == ".json") files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<double> compile_us, mask_us;
  int schemas = 0, converted = 0;
  std::vector<llama_token_data> cand(n_vocab);
  for (const auto& f : files) {
    std::ifstream in(f);
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(in);
    if (doc.is_object()) doc = nlohmann::ordered_json::array({doc});
    for (const auto& c : doc) {
      ++schemas;
      if (mask_us.size() >= max_masks) continue;
      auto t0 = Clock::now();
      std::string gbnf;
      try {
        gbnf = json_schema_to_grammar(common_json::parse(c["schema"].dump()));
      } catch (const std::exception&) {
        continue;
      }
      llama_sampler* probe = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
      if (!probe) continue;
      llama_sampler_free(probe);
      compile_us.push_back(us_since(t0));
      ++converted;
      for (const auto& t : c["tests"]) {
        if (!t.value("valid", false) || mask_us.size() >= max_masks) continue;
        std::string text =
            troika::constrain::canonical_dump(troika::constrain::Json::parse(t["data"].dump()));
        std::vector<llama_token> toks(text.size() + 8);
        int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(),
                               static_cast<int32_t>(toks.size()), false, false);
        if (n < 0) continue;
        toks.resize(n);
        llama_sampler* g = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
        if (!g) continue;
        for (llama_token tok : toks) {
          for (int32_t i = 0; i < n_vocab; ++i) cand[i] = {i, 0.0f, 0.0f};
          llama_token_data_array arr = {cand.data(), static_cast<size_t>(n_vocab), -1, false};
          auto m0 = Clock::now();
          llama_sampler_apply(g, &arr);
          mask_us.push_back(us_since(m0));
          if (arr.data[tok].logit == -INFINITY) break;  // rejected: stop this instance
          try {
            llama_sampler_accept(g, tok);
          } catch (const std::exception&) {
            break;
          }
        }
        llama_sampler_free(g);
      }
    }
  }
  nlohmann::ordered_json out = {{"schemas", schemas},
                                {"converted", converted},
                                {"masks", mask_us.size()},
                                {"compile_p50_us", percentile(compile_us, 0.5)},
                                {"compile_p99_us", percentile(compile_us, 0.99)},
                                {"mask_p50_us", percentile(mask_us, 0.5)},
                                {"mask_p99_us", percentile(mask_us, 0.99)}};
  std::printf("%s\n", out.dump().c_str());
  llama_model_free(model);
  return 0;
}
