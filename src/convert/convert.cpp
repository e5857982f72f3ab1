#include "troika/convert.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "convert/arch.h"
#include "convert/checkpoint.h"
#include "convert/tokenizer.h"
#include "convert/writer.h"
#include "gguf.h"
#include "troika/engine.h"

namespace troika::convert {

namespace fs = std::filesystem;

namespace {

struct DirectType {
  const char* name;
  ggml_type type;
  uint32_t file_type;  // llama_ftype, written as general.file_type
};
constexpr DirectType kDirect[] = {
    {"f32", GGML_TYPE_F32, 0},   {"f16", GGML_TYPE_F16, 1},   {"bf16", GGML_TYPE_BF16, 32},
    {"q8_0", GGML_TYPE_Q8_0, 7}, {"q4_0", GGML_TYPE_Q4_0, 2}, {"q4_1", GGML_TYPE_Q4_1, 3},
    {"q5_0", GGML_TYPE_Q5_0, 8}, {"q5_1", GGML_TYPE_Q5_1, 9}, {"nvfp4", GGML_TYPE_NVFP4, 39},
};

const DirectType* find_direct(std::string_view name) {
  for (const auto& d : kDirect) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// What "auto" means for a checkpoint: keep the precision it was published in.
std::string auto_type(const Checkpoint& ck, const ArchPlan& plan) {
  const std::string& q = ck.quantization;
  if (q.find("nvfp4") != std::string::npos) return "nvfp4";
  if (q.find("fp8") != std::string::npos || q == "fp8" || q == "compressed-tensors") return "q8_0";
  if (!q.empty()) return "q4_1";
  for (const OutTensor& t : plan.tensors) {
    if (t.shape.size() == 2 && !t.parts.empty()) return t.source_format == "BF16" ? "bf16" : "f16";
  }
  return "f16";
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on && isatty(fileno(stderr))), verbose_(on) {}
  void update(const std::string& name, uint64_t done, uint64_t total) {
    if (!verbose_) return;
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int width = 30, fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, ' ');
    if (on_) {
      std::fprintf(stderr, "\r[%s] %3d%% %6.2f/%.2f GB  %-32.32s", bar.c_str(), static_cast<int>(frac * 100),
                   static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9, name.c_str());
    } else if (static_cast<int>(frac * 10) != last_decile_) {  // logs: one line per 10%
      last_decile_ = static_cast<int>(frac * 10);
      std::fprintf(stderr, "convert: %3d%% %.2f/%.2f GB\n", static_cast<int>(frac * 100),
                   static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9);
    }
  }
  void finish() {
    if (on_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_, verbose_;
  int last_decile_ = -1;
};

// NVFP4 weights carry their per-tensor scale as a "<name>.scale" F32 [1] tensor that llama.cpp
// multiplies after the matmul; it goes right after its weight.
ArchPlan with_nvfp4_scales(const ArchPlan& plan) {
  ArchPlan out = plan;
  out.tensors.clear();
  for (const OutTensor& t : plan.tensors) {
    out.tensors.push_back(t);
    if (tensor_type(t, GGML_TYPE_NVFP4) != GGML_TYPE_NVFP4) continue;
    OutTensor s;
    s.name = t.name.substr(0, t.name.size() - std::string(".weight").size()) + ".scale";
    s.shape = {1};
    s.keep_f32 = true;
    s.generated = {t.parts[0]->nvfp4_scale2};
    s.source_format = "NVFP4 scale";
    out.tensors.push_back(std::move(s));
  }
  return out;
}

Result<uint64_t> write_direct(const Checkpoint& ck, const ArchPlan& plan, const Vocab& vocab,
                              const DirectType& type, const std::string& name, const std::string& out,
                              int n_threads, ProgressBar* bar) {
  std::unique_ptr<gguf_context, decltype(&gguf_free)> g(gguf_init_empty(), gguf_free);
  TROIKA_RETURN_IF_ERROR(write_arch_kv(ck, plan, g.get()));
  gguf_set_val_str(g.get(), "general.name", name.c_str());
  gguf_set_val_u32(g.get(), "general.file_type", type.file_type);
  if (ggml_is_quantized(type.type)) gguf_set_val_u32(g.get(), "general.quantization_version", GGML_QNT_VERSION);
  write_vocab_kv(vocab, g.get());
  WriteOptions wo;
  wo.type = type.type;
  wo.n_threads = n_threads;
  wo.on_tensor = [bar](const OutTensor& t, uint64_t done, uint64_t total) { bar->update(t.name, done, total); };
  if (type.type == GGML_TYPE_NVFP4) return write_gguf(g.get(), with_nvfp4_scales(plan), out, wo);
  return write_gguf(g.get(), plan, out, wo);
}

}  // namespace

std::vector<std::string> output_types() {
  std::vector<std::string> out = {"auto"};
  for (const auto& d : kDirect) out.emplace_back(d.name);
  for (const auto& m : engine::quantize_mixes()) out.push_back(m);
  return out;
}

namespace {
Result<ConvertReport> convert_impl(const std::string& src, const std::string& out,
                                   const ConvertOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto mixes = engine::quantize_mixes();
  const bool is_mix = std::find(mixes.begin(), mixes.end(), options.type) != mixes.end();
  if (options.type != "auto" && !find_direct(options.type) && !is_mix) {
    std::string all;
    for (const auto& t : output_types()) all += (all.empty() ? "" : ", ") + t;
    return invalid_argument("unknown output type '" + options.type + "' (one of: " + all + ")");
  }
  if (out.empty()) return invalid_argument("no output path given");
  if (fs::is_directory(out)) return invalid_argument(out + " is a folder; give the output .gguf file's path");
  const int n_threads = options.n_threads > 0 ? options.n_threads
                                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<Checkpoint> ck, open_checkpoint(src));
  TROIKA_ASSIGN_OR_RETURN(ArchPlan plan, plan_architecture(*ck));
  TROIKA_ASSIGN_OR_RETURN(Vocab vocab, read_vocab(*ck, plan.n_vocab));

  ConvertReport r;
  r.architecture = plan.gguf_arch;
  r.source = ck->layout + (ck->quantization.empty() ? std::string(" float") : " " + ck->quantization);
  r.tokenizer = vocab.source;
  r.n_tensors = static_cast<int64_t>(plan.tensors.size());
  r.bytes_in = ck->bytes_on_disk;
  r.notes = plan.notes;
  const std::string native_type = auto_type(*ck, plan);
  r.out_type = options.type == "auto" ? native_type : options.type;
  std::string name = options.name;
  if (name.empty()) name = fs::path(fs::path(src).lexically_normal().string()).filename().string();
  if (name.empty() || name == ".") name = fs::absolute(src).lexically_normal().parent_path().filename().string();

  ProgressBar bar(options.progress);
  if (!is_mix && !(options.type == "auto" && std::find(mixes.begin(), mixes.end(), r.out_type) != mixes.end())) {
    TROIKA_ASSIGN_OR_RETURN(r.bytes_out, write_direct(*ck, plan, vocab, *find_direct(r.out_type), name, out, n_threads, &bar));
  } else {
    // llama.cpp's mixes pick a type per tensor; they start from a 16-bit file of our own.
    const std::string mid_type = native_type == "bf16" ? "bf16" : "f16";
    // Hidden names beside the output, as write_gguf's own temporary: never mistaken for a model.
    const fs::path dest(out);
    const std::string stem = (dest.parent_path().empty() ? std::string(".") : dest.parent_path().string()) + "/." +
                             dest.filename().string();
    const std::string mid = stem + ".16bit-partial-" + std::to_string(::getpid());
    const std::string fin = stem + ".mix-partial-" + std::to_string(::getpid());
    struct Cleanup {
      std::vector<std::string> paths;
      ~Cleanup() {
        for (const auto& p : paths) std::remove(p.c_str());
      }
    } cleanup{{mid, fin}};
    TROIKA_RETURN_IF_ERROR(write_direct(*ck, plan, vocab, *find_direct(mid_type), name, mid, n_threads, &bar).status());
    bar.finish();
    TROIKA_RETURN_IF_ERROR(engine::quantize_model(mid, fin, r.out_type, n_threads));
    std::error_code ec;
    fs::rename(fin, out, ec);
    if (ec) return invalid_argument("cannot move " + fin + " to " + out + ": " + ec.message());
    r.bytes_out = fs::file_size(out);
  }
  bar.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}
}  // namespace

Result<ConvertReport> convert(const std::string& src, const std::string& out,
                              const ConvertOptions& options) {
  // A config or tokenizer file with a value of an unexpected JSON type surfaces here.
  try {
    return convert_impl(src, out, options);
  } catch (const nlohmann::json::exception& e) {
    return data_loss(src + ": a JSON file holds a value of an unexpected type: " + e.what());
  }
}

Result<std::vector<TensorInfo>> list_tensors(const std::string& src) {
  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<Checkpoint> ck, open_checkpoint(src));
  std::vector<TensorInfo> out;
  for (const SourceTensor& s : ck->tensors) out.push_back({s.name, s.shape, s.format, s.file});
  return out;
}

Result<std::vector<float>> read_tensor(const std::string& src, const std::string& name) {
  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<Checkpoint> ck, open_checkpoint(src));
  const SourceTensor* s = ck->find(name);
  if (!s) return not_found(src + ": no tensor '" + name + "'");
  std::vector<float> v(static_cast<size_t>(s->numel()));
  TROIKA_RETURN_IF_ERROR(s->read(v.data()));
  return v;
}

}  // namespace troika::convert
