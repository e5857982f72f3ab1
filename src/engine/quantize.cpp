#include <filesystem>

#include "engine/internal.h"
#include "troika/engine.h"

namespace troika::engine {

namespace {
struct FtypeName {
  const char* name;
  llama_ftype ftype;
};
constexpr FtypeName kFtypes[] = {
    {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},     {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S},
    {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"q3_k_l", LLAMA_FTYPE_MOSTLY_Q3_K_L},
    {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M},
    {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},     {"iq4_nl", LLAMA_FTYPE_MOSTLY_IQ4_NL},
    {"iq4_xs", LLAMA_FTYPE_MOSTLY_IQ4_XS},
};
}  // namespace

std::vector<std::string> quantize_mixes() {
  std::vector<std::string> out;
  for (const auto& f : kFtypes) out.emplace_back(f.name);
  return out;
}

Status quantize_model(const std::string& in, const std::string& out, std::string_view mix,
                      int n_threads) {
  const FtypeName* found = nullptr;
  for (const auto& f : kFtypes) {
    if (mix == f.name) found = &f;
  }
  if (!found) return invalid_argument("unknown quantization mix '" + std::string(mix) + "'");
  if (!std::filesystem::exists(in)) return not_found(in + ": no such file");
  ensure_backend();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.nthread = n_threads;
  p.ftype = found->ftype;
  if (llama_model_quantize(in.c_str(), out.c_str(), &p) != 0) {
    return internal_error("llama.cpp could not quantize " + in + " to " + std::string(mix) +
                          " (see the log above)");
  }
  return {};
}

}  // namespace troika::engine
