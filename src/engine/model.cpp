#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "chat.h"
#include "engine/internal.h"

namespace troika::engine {

namespace {

std::string meta_string(const llama_model* model, const char* key) {
  char buf[512];
  int32_t n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
  if (n < 0) return "";
  if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, n);
  std::string big(n + 1, '\0');
  llama_model_meta_val_str(model, key, big.data(), big.size());
  big.resize(n);
  return big;
}

const char* vocab_type_name(enum llama_vocab_type t) {
  switch (t) {
    case LLAMA_VOCAB_TYPE_NONE:
      return "none";
    case LLAMA_VOCAB_TYPE_SPM:
      return "spm";
    case LLAMA_VOCAB_TYPE_BPE:
      return "bpe";
    case LLAMA_VOCAB_TYPE_WPM:
      return "wpm";
    case LLAMA_VOCAB_TYPE_UGM:
      return "ugm";
    case LLAMA_VOCAB_TYPE_RWKV:
      return "rwkv";
    default:
      return "other";
  }
}

// Checks what llama.cpp would only log: the file exists, is readable, and starts with "GGUF".
Status precheck_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return not_found("model file not found: " + path +
                     " (pass the path of a .gguf file; `troika mkmodel` makes a test one)");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument("model path is a directory, not a GGUF file: " + path);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open model file " + path + ": " + std::strerror(errno));
  char magic[4] = {0, 0, 0, 0};
  f.read(magic, 4);
  if (f.gcount() < 4) {
    return data_loss("model file " + path + " is too short to be a GGUF file (" +
                     std::to_string(f.gcount()) + " bytes)");
  }
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    std::string shown;
    for (char c : magic) shown += (c >= 32 && c < 127) ? c : '?';
    return data_loss("not a GGUF file: " + path + " starts with '" + shown +
                     "', expected 'GGUF'; convert Hugging Face checkpoints with `troika convert`");
  }
  return Status::Ok();
}

ModelInfo read_info(const std::string& path, const llama_model* model, bool vocab_only) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  ModelInfo info;
  info.path = path;
  info.architecture = meta_string(model, "general.architecture");
  info.name = meta_string(model, "general.name");
  if (info.name.empty()) info.name = std::filesystem::path(path).stem().string();
  char desc[256];
  llama_model_desc(model, desc, sizeof(desc));
  info.description = desc;
  info.file_type = llama_ftype_name(llama_model_ftype(model));
  info.n_vocab = llama_vocab_n_tokens(vocab);
  // Without weights llama.cpp has not read the hyperparameters; asking for them aborts.
  if (!vocab_only) {
    info.n_params = llama_model_n_params(model);
    info.size_bytes = llama_model_size(model);
    info.n_ctx_train = llama_model_n_ctx_train(model);
    info.n_embd = llama_model_n_embd(model);
    info.n_layer = llama_model_n_layer(model);
    info.n_head = llama_model_n_head(model);
    info.n_head_kv = llama_model_n_head_kv(model);
    info.n_swa = llama_model_n_swa(model);
  }
  info.vocab_type = vocab_type_name(llama_vocab_type(vocab));
  SpecialTokens& sp = info.special;
  sp.bos = llama_vocab_bos(vocab);
  sp.eos = llama_vocab_eos(vocab);
  sp.eot = llama_vocab_eot(vocab);
  sp.pad = llama_vocab_pad(vocab);
  sp.add_bos = llama_vocab_get_add_bos(vocab);
  sp.add_eos = llama_vocab_get_add_eos(vocab);
  for (Token t = 0; t < info.n_vocab; ++t) {
    if (llama_vocab_is_eog(vocab, t)) sp.eog.push_back(t);
  }
  const char* tmpl = llama_model_chat_template(model, nullptr);
  info.chat_template = tmpl ? tmpl : "";
  info.has_encoder = llama_model_has_encoder(model);
  info.has_decoder = llama_model_has_decoder(model);
  return info;
}

}  // namespace

Model::Impl::~Impl() {
  if (chat) common_chat_templates_free(chat);
  if (model) llama_model_free(model);
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(const std::string& path, const ModelOptions& options) {
  ensure_backend();
  TROIKA_RETURN_IF_ERROR(precheck_file(path));

  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = options.n_gpu_layers;
  params.vocab_only = options.vocab_only;
  params.load_mode = options.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;

  LogCapture capture;
  llama_model* raw = nullptr;
  try {
    raw = llama_model_load_from_file(path.c_str(), params);
  } catch (const std::exception& e) {
    return data_loss("failed to load model " + path + ": " + e.what());
  }
  if (!raw) {
    std::string why = capture.errors();
    if (why.find("alloc") != std::string::npos || why.find("memory") != std::string::npos) {
      return resource_exhausted("not enough memory to load " + path + ": " + why);
    }
    return data_loss("failed to load model " + path + ": " +
                     (why.empty() ? "llama.cpp gave no reason" : why) +
                     " (is the file complete and made for this llama.cpp version?)");
  }
  auto impl = std::make_unique<Impl>();
  impl->model = raw;
  impl->vocab = llama_model_get_vocab(raw);
  impl->info = read_info(path, raw, options.vocab_only);
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->info; }

Result<std::vector<Token>> Model::tokenize(std::string_view text, bool add_special,
                                           bool parse_special) const {
  if (text.size() > static_cast<size_t>(INT32_MAX) / 2) {
    return invalid_argument("text of " + std::to_string(text.size()) +
                            " bytes is too long to tokenize at once");
  }
  // A token covers at least one byte, plus room for BOS/EOS.
  std::vector<Token> out(text.size() + 4);
  int32_t n =
      llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                     static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.resize(-n);
    n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  if (n < 0)
    return internal_error("llama_tokenize failed on " + std::to_string(text.size()) +
                          " bytes of text");
  out.resize(n);
  return out;
}

std::string Model::token_to_piece(Token token, bool special) const {
  if (!is_valid(token)) return "";
  char buf[128];
  int32_t n = llama_token_to_piece(impl_->vocab, token, buf, sizeof(buf), 0, special);
  if (n >= 0) return std::string(buf, n);
  std::string big(-n, '\0');
  n = llama_token_to_piece(impl_->vocab, token, big.data(), big.size(), 0, special);
  big.resize(n < 0 ? 0 : n);
  return big;
}

std::string Model::detokenize(std::span<const Token> tokens, bool special) const {
  std::string out(tokens.size() * 4 + 16, '\0');
  int32_t n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()),
                               out.data(), static_cast<int32_t>(out.size()), false, special);
  if (n < 0) {
    out.resize(-n);
    n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()),
                         out.data(), static_cast<int32_t>(out.size()), false, special);
  }
  out.resize(n < 0 ? 0 : n);
  return out;
}

bool Model::is_eog(Token token) const {
  return is_valid(token) && llama_vocab_is_eog(impl_->vocab, token);
}

bool supports_gpu_offload() { return llama_supports_gpu_offload(); }

std::string system_info() {
  ensure_backend();
  return llama_print_system_info();
}

}  // namespace troika::engine
