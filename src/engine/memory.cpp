// measure_memory(): llama.cpp's own account of what a model and a context allocate.
#include <filesystem>

#include "engine/internal.h"
#include "llama-ext.h"

namespace troika::engine {

namespace {

MemoryReport report_of(const llama_context* ctx, bool simulated) {
  MemoryReport report;
  report.simulated = simulated;
  for (const auto& [buft, mb] : llama_get_memory_breakdown(ctx)) {
    MemoryReport::Buffer b;
    b.name = ggml_backend_buft_name(buft);
    // Device memory is a GPU's; everything else (CPU, CPU_Mapped, CPU_REPACK, pinned host) is
    // system memory, whatever ggml_backend_buft_is_host says (CPU_REPACK says no).
    ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
    const auto type = dev ? ggml_backend_dev_type(dev) : GGML_BACKEND_DEVICE_TYPE_CPU;
    b.host = type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU;
    b.use = {mb.model, mb.context, mb.compute};
    MemoryUse& side = b.host ? report.host : report.device;
    side.weights_bytes += mb.model;
    side.kv_bytes += mb.context;
    side.compute_bytes += mb.compute;
    report.buffers.push_back(b);
  }
  return report;
}

}  // namespace

Result<MemoryReport> measure_memory(const std::string& path, const ModelOptions& model_options,
                                    const ContextOptions& context_options, bool simulate) {
  ModelOptions mo = model_options;
  mo.vocab_only = false;
  if (!simulate) {
    // The real load checks the file and reports errors as Model::load() does.
    TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(path, mo));
    TROIKA_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::create(model, context_options));
    return report_of(ctx->impl().ctx, false);
  }
  ensure_backend();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("model file not found: " + path);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = mo.n_gpu_layers;
  mp.no_alloc = true;
  mp.load_mode = LLAMA_LOAD_MODE_NONE;  // no_alloc with a mapping asserts in llama.cpp
  LogCapture capture;
  llama_model* model = llama_model_load_from_file(path.c_str(), mp);
  if (!model) return data_loss("cannot read the model header of " + path + ": " + capture.errors());
  ModelInfo info;
  info.n_ctx_train = llama_model_n_ctx_train(model);
  llama_context_params cp = context_params(info, context_options);
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    llama_model_free(model);
    return resource_exhausted("llama.cpp cannot size a context of " + std::to_string(cp.n_ctx) +
                              " tokens for " + path + ": " + capture.errors());
  }
  MemoryReport report = report_of(ctx, true);
  llama_free(ctx);
  llama_model_free(model);
  return report;
}

}  // namespace troika::engine
