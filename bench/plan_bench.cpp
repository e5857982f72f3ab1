// The planner against llama.cpp's allocator on full-size seed shapes: for each architecture x
// {q4_k_m, q8_0, f16} x {4k, 8k, 32k} context, the prediction (computed from the shape alone)
// beside (a) llama.cpp's no_alloc sizing of a sparse GGUF of that shape and (b), where it fits
// this machine's memory, a real load (no mmap) and context creation. Prints a table, then one
// JSON line per case and one for the worst error.
//   troika-bench-planner VOCAB_DIR WORK_DIR [REAL_LOAD_LIMIT_GIB]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "troika/catalog.h"
#include "troika/engine.h"
#include "troika/plan.h"
#include "troika/synth.h"
#include "troika/units.h"

using namespace troika;

namespace {

struct Model {
  const char* arch;
  const char* shape;
  const char* vocab;
  int n_vocab;
};

std::string make(const Model& m, const std::string& type, const std::string& vocab_dir,
                 const std::string& work) {
  const std::string out = work + "/" + m.arch + "-" + m.shape + "-" + type + ".gguf";
  if (std::filesystem::exists(out)) return out;
  engine::SynthOptions o;
  o.arch = m.arch;
  o.shape = *engine::synth_shape(m.arch, m.shape);
  o.vocab_path = vocab_dir + "/ggml-vocab-" + m.vocab + ".gguf";
  o.type = type;
  o.sparse = true;
  o.n_vocab = m.n_vocab;
  o.out_path = out;
  Status st = engine::make_random_model(o);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.to_string().c_str());
    std::exit(1);
  }
  return out;
}

double pct(uint64_t predicted, uint64_t measured) {
  return 100.0 * (static_cast<double>(predicted) - static_cast<double>(measured)) / measured;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VOCAB_DIR WORK_DIR [REAL_LOAD_LIMIT_GIB]\n", argv[0]);
    return 2;
  }
  const std::string vocab_dir = argv[1], work = argv[2];
  const double limit_gib = argc > 3 ? std::atof(argv[3]) : 12;
  std::filesystem::create_directories(work);
  const Model models[] = {{"llama", "8b", "llama-bpe", 0},
                          {"mistral", "7b", "llama-spm", 32768},
                          {"gemma2", "9b", "llama-spm", 256000},
                          {"phi3", "3.8b", "phi-3", 0}};
  std::printf("%-8s %-7s %6s | %10s %10s %7s | %10s %7s | %s\n", "arch", "type", "ctx", "predicted",
              "no_alloc", "error", "real load", "error", "kv / compute (predicted)");
  double worst = 0, worst_real = 0;
  int n_real = 0;
  std::string lines;
  for (const Model& m : models) {
    for (const char* type : {"q4_k_m", "q8_0", "f16"}) {
      const std::string path = make(m, type, vocab_dir, work);
      auto gguf = catalog::read_gguf(path);
      auto shape = plan::shape_of(*gguf);
      auto tensors = plan::tensors_for(*shape, type);
      for (int ctx : {4096, 8192, 32768}) {
        plan::ContextSpec spec;
        spec.n_ctx = ctx;
        spec.gpu = false;
        const plan::Estimate e = plan::estimate(*shape, *tensors, spec);
        const uint64_t predicted = e.host.weights + e.host.kv + e.host.compute;
        engine::ModelOptions mo;
        mo.n_gpu_layers = 0;
        mo.use_mmap = false;
        engine::ContextOptions co;
        co.n_ctx = ctx;
        co.n_threads = 2;
        auto sim = engine::measure_memory(path, mo, co, true);
        if (!sim.ok()) {
          std::fprintf(stderr, "%s\n", sim.status().to_string().c_str());
          return 1;
        }
        const uint64_t simulated = sim->host.total() + sim->device.total();
        const double err = pct(predicted, simulated);
        worst = std::max(worst, std::fabs(err));
        std::string real = "-", real_err = "-";
        double rerr = NAN;
        if (predicted < limit_gib * (1ull << 30)) {
          auto got = engine::measure_memory(path, mo, co, false);
          if (got.ok()) {
            const uint64_t measured = got->host.total() + got->device.total();
            rerr = pct(predicted, measured);
            worst_real = std::max(worst_real, std::fabs(rerr));
            ++n_real;
            real = format_bytes(measured);
            char b[32];
            std::snprintf(b, sizeof(b), "%+.2f%%", rerr);
            real_err = b;
          }
        }
        std::printf("%-8s %-7s %6d | %10s %10s %+6.2f%% | %10s %7s | %s / %s\n", m.arch, type, ctx,
                    format_bytes(predicted).c_str(), format_bytes(simulated).c_str(), err,
                    real.c_str(), real_err.c_str(), format_bytes(e.host.kv).c_str(),
                    format_bytes(e.host.compute).c_str());
        std::fflush(stdout);
        char line[512];
        std::snprintf(
            line, sizeof(line),
            "{\"bench\": \"planner\", \"metric\": \"error_pct %s %s %d\", \"value\": %.4f, "
            "\"unit\": \"%%\", \"anchor\": %llu, \"predicted\": %llu, "
            "\"real_error_pct\": %s, \"goal\": 3.0}\n",
            m.arch, type, ctx, err, static_cast<unsigned long long>(simulated),
            static_cast<unsigned long long>(predicted),
            std::isnan(rerr) ? "null" : std::to_string(rerr).c_str());
        lines += line;
      }
    }
  }
  std::printf("worst |error| against no_alloc %.2f%% (36 cases); against %d real loads %.2f%%\n",
              worst, n_real, worst_real);
  std::printf("%s", lines.c_str());
  std::printf(
      "{\"bench\": \"planner\", \"metric\": \"worst_error_pct\", \"value\": %.4f, \"unit\": "
      "\"%%\", \"anchor\": null, \"ratio\": null, \"goal\": 3.0}\n",
      worst);
  return worst <= 3.0 ? 0 : 1;
}
