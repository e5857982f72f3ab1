// troika mkmodel: a GGUF with random weights, a real vocabulary and the family's chat template.
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "troika/synth.h"

namespace troika::cli {

namespace {

namespace fs = std::filesystem;

std::string default_vocab(const std::string& arch) {
  if (arch == "llama") return "llama-bpe";
  if (arch == "phi3") return "phi-3";
  if (arch == "bert") return "bert-bge";
  return "llama-spm";  // mistral, gemma2: the closest SentencePiece vocabulary shipped
}

// A vocab name ("llama-bpe") is looked up as ggml-vocab-NAME.gguf in $TROIKA_VOCAB_DIR, then in
// the llama.cpp source tree Troika was built from; a path to a .gguf is taken as is.
Result<std::string> resolve_vocab(const std::string& vocab) {
  std::error_code ec;
  if (vocab.size() > 5 && vocab.ends_with(".gguf")) {
    if (fs::exists(vocab, ec)) return vocab;
    return not_found("vocabulary file not found: " + vocab);
  }
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("TROIKA_VOCAB_DIR")) dirs.push_back(d);
  dirs.push_back(std::string(TROIKA_SOURCE_DIR) + "/third_party/llama.cpp/models");
  for (const auto& d : dirs) {
    fs::path p = fs::path(d) / ("ggml-vocab-" + vocab + ".gguf");
    if (fs::exists(p, ec)) return p.string();
  }
  return not_found("vocabulary '" + vocab + "' not found as ggml-vocab-" + vocab +
                   ".gguf in $TROIKA_VOCAB_DIR or " + dirs.back() +
                   "; run scripts/setup, or pass --vocab PATH.gguf");
}

}  // namespace

void add_mkmodel_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "mkmodel",
      "Write a GGUF with random weights (fixed seed), a real vocabulary and the family's chat "
      "template. For tests, demos and speed/memory work: its text is meaningless");
  struct Flags {
    engine::SynthOptions o;
    std::string shape = "tiny";
    std::string vocab;
    int32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, head_dim = 0, n_ctx = 0;
    bool quiet = false;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("-o,--output", f->o.out_path, "GGUF file to write")->required();
  cmd->add_option("--arch", f->o.arch, "llama (Llama 3.1) | mistral | gemma2 | phi3 | bert")
      ->capture_default_str();
  cmd->add_option("--vocab", f->vocab,
                  "llama-bpe (Llama 3, 128k) | llama-spm | phi-3 | bert-bge | PATH.gguf "
                  "(default: the family's closest)");
  cmd->add_option("--shape", f->shape,
                  "tiny | 8b (llama) | 7b (mistral) | 9b (gemma2) | 3.8b (phi3) | 33m, 335m (bert)")
      ->capture_default_str();
  cmd->add_option("--n-embd", f->n_embd, "override: embedding width");
  cmd->add_option("--n-layer", f->n_layer, "override: layers");
  cmd->add_option("--n-head", f->n_head, "override: attention heads");
  cmd->add_option("--n-head-kv", f->n_head_kv, "override: key/value heads");
  cmd->add_option("--n-ff", f->n_ff, "override: feed-forward width");
  cmd->add_option("--head-dim", f->head_dim, "override: head size (default n_embd / n_head)");
  cmd->add_option("--n-ctx-train", f->n_ctx, "override: training context written to the file");
  cmd->add_option("--type", f->o.type, "f32 | f16 | q8_0 | q4_k_m (with --sparse: any file type)")
      ->capture_default_str();
  cmd->add_option("--n-vocab", f->o.n_vocab,
                  "pad the vocabulary with unused tokens to this size (e.g. 256000 for Gemma 2)");
  cmd->add_flag("--sparse", f->o.sparse,
                "header only, data left as a hole (zeros, no disk): for memory planning");
  cmd->add_option("--seed", f->o.seed, "weights seed")->capture_default_str();
  cmd->add_option("--name", f->o.name, "general.name");
  cmd->add_option("-t,--threads", f->o.n_threads, "threads (0 = all)");
  cmd->add_flag("-q,--quiet", f->quiet, "no progress output");
  cmd->callback([f, exit_code] {
    engine::SynthOptions o = f->o;
    bool custom = f->n_embd || f->n_layer || f->n_head || f->n_head_kv || f->n_ff;
    auto base = engine::synth_shape(o.arch, f->shape);
    if (!base.ok()) {
      *exit_code = report(base.status());
      return;
    }
    o.shape = *base;
    if (custom) o.shape.head_dim = 0;  // re-derive unless given
    if (f->n_embd) o.shape.n_embd = f->n_embd;
    if (f->n_layer) o.shape.n_layer = f->n_layer;
    if (f->n_head) o.shape.n_head = f->n_head;
    if (f->n_head_kv) o.shape.n_head_kv = f->n_head_kv;
    if (f->n_ff) o.shape.n_ff = f->n_ff;
    if (f->head_dim) o.shape.head_dim = f->head_dim;
    if (f->n_ctx) o.shape.n_ctx_train = f->n_ctx;
    auto vocab = resolve_vocab(f->vocab.empty() ? default_vocab(o.arch) : f->vocab);
    if (!vocab.ok()) {
      *exit_code = report(vocab.status());
      return;
    }
    o.vocab_path = *vocab;
    if (!f->quiet && isatty(2)) {
      o.on_progress = [last = -1](double frac, const std::string& label) mutable {
        int pct = static_cast<int>(frac * 100);
        if (pct == last) return;
        last = pct;
        std::fprintf(stderr, "\rmkmodel: %3d%% %-40.40s", pct, label.c_str());
      };
    }
    Status st = engine::make_random_model(o);
    if (!f->quiet) std::fprintf(stderr, "\n");
    if (!st.ok()) {
      *exit_code = report(st);
      return;
    }
    if (!f->quiet) std::fprintf(stderr, "mkmodel: wrote %s\n", o.out_path.c_str());
  });
}

}  // namespace troika::cli
