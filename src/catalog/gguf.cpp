// GGUF headers through ggml's gguf reader: keys and the tensor table, never tensor data.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ggml.h"
#include "gguf.h"
#include "troika/catalog.h"

namespace troika::catalog {

namespace {

int64_t key_int(const gguf_context* g, const std::string& key, int64_t fallback) {
  int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return fallback;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(g, id);
    case GGUF_TYPE_INT8:
      return gguf_get_val_i8(g, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(g, id);
    case GGUF_TYPE_INT16:
      return gguf_get_val_i16(g, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(g, id);
    case GGUF_TYPE_UINT64:
      return static_cast<int64_t>(gguf_get_val_u64(g, id));
    case GGUF_TYPE_INT64:
      return gguf_get_val_i64(g, id);
    // Per-layer arrays (some converters write head_count_kv per layer): the first entry.
    case GGUF_TYPE_ARRAY:
      if (gguf_get_arr_n(g, id) > 0 && gguf_get_arr_type(g, id) == GGUF_TYPE_INT32)
        return static_cast<const int32_t*>(gguf_get_arr_data(g, id))[0];
      if (gguf_get_arr_n(g, id) > 0 && gguf_get_arr_type(g, id) == GGUF_TYPE_UINT32)
        return static_cast<const uint32_t*>(gguf_get_arr_data(g, id))[0];
      return fallback;
    default:
      return fallback;
  }
}

std::string key_str(const gguf_context* g, const char* key) {
  int64_t id = gguf_find_key(g, key);
  if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return "";
  return gguf_get_val_str(g, id);
}

}  // namespace

uint64_t GgufInfo::tensor_bytes() const {
  uint64_t n = 0;
  for (const GgufTensor& t : tensors) n += t.bytes;
  return n;
}

std::string file_type_name(int32_t ftype) {
  // llama.cpp's enum llama_ftype (include/llama.h); the values are part of the GGUF format.
  switch (ftype) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K_S";
    case 12:
      return "Q3_K_M";
    case 13:
      return "Q3_K_L";
    case 14:
      return "Q4_K_S";
    case 15:
      return "Q4_K_M";
    case 16:
      return "Q5_K_S";
    case 17:
      return "Q5_K_M";
    case 18:
      return "Q6_K";
    case 19:
      return "IQ2_XXS";
    case 20:
      return "IQ2_XS";
    case 21:
      return "Q2_K_S";
    case 22:
      return "IQ3_XS";
    case 23:
      return "IQ3_XXS";
    case 24:
      return "IQ1_S";
    case 25:
      return "IQ4_NL";
    case 26:
      return "IQ3_S";
    case 27:
      return "IQ3_M";
    case 28:
      return "IQ2_S";
    case 29:
      return "IQ2_M";
    case 30:
      return "IQ4_XS";
    case 31:
      return "IQ1_M";
    case 32:
      return "BF16";
    case 36:
      return "TQ1_0";
    case 37:
      return "TQ2_0";
    case 38:
      return "MXFP4_MOE";
    case 39:
      return "NVFP4";
    case 40:
      return "Q1_0";
    case 41:
      return "Q2_0";
    default:
      return "";
  }
}

Result<GgufInfo> read_gguf(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found("GGUF file not found: " + path);
  {
    std::ifstream f(path, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    if (f.gcount() < 4 || std::memcmp(magic, "GGUF", 4) != 0)
      return data_loss(path + " is not a GGUF file (it does not start with 'GGUF')");
  }
  ggml_context* meta = nullptr;
  gguf_init_params params = {/*no_alloc=*/true, /*ctx=*/&meta};
  gguf_context* g = gguf_init_from_file(path.c_str(), params);
  if (!g) {
    return data_loss("cannot read the GGUF header of " + path +
                     " (truncated or corrupt; re-download or re-convert it)");
  }
  GgufInfo info;
  info.path = path;
  info.file_bytes = std::filesystem::file_size(path, ec);
  info.architecture = key_str(g, "general.architecture");
  info.name = key_str(g, "general.name");
  int64_t ft = key_int(g, "general.file_type", -1);
  if (ft >= 0) info.file_type = file_type_name(static_cast<int32_t>(ft));
  const std::string a = info.architecture + ".";
  info.n_layer = static_cast<int32_t>(key_int(g, a + "block_count", 0));
  info.n_embd = static_cast<int32_t>(key_int(g, a + "embedding_length", 0));
  info.n_head = static_cast<int32_t>(key_int(g, a + "attention.head_count", 0));
  info.n_head_kv = static_cast<int32_t>(key_int(g, a + "attention.head_count_kv", info.n_head));
  info.n_ff = static_cast<int32_t>(key_int(g, a + "feed_forward_length", 0));
  info.n_ctx_train = static_cast<int32_t>(key_int(g, a + "context_length", 0));
  int32_t head = info.n_head > 0 ? info.n_embd / info.n_head : 0;
  info.head_dim_k = static_cast<int32_t>(key_int(g, a + "attention.key_length", head));
  info.head_dim_v = static_cast<int32_t>(key_int(g, a + "attention.value_length", head));
  info.n_swa = static_cast<int32_t>(key_int(g, a + "attention.sliding_window", 0));
  int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
  if (tokens >= 0) info.n_vocab = static_cast<int32_t>(gguf_get_arr_n(g, tokens));
  info.has_chat_template = gguf_find_key(g, "tokenizer.chat_template") >= 0;
  const int64_t n = gguf_get_n_tensors(g);
  info.tensors.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const char* name = gguf_get_tensor_name(g, i);
    ggml_tensor* t = ggml_get_tensor(meta, name);
    GgufTensor out;
    out.name = name;
    out.type_id = static_cast<int32_t>(gguf_get_tensor_type(g, i));
    out.type = ggml_type_name(gguf_get_tensor_type(g, i));
    out.bytes = gguf_get_tensor_size(g, i);
    if (t) {
      for (int d = 0; d < ggml_n_dims(t); ++d) out.shape.push_back(t->ne[d]);
    }
    info.tensors.push_back(std::move(out));
  }
  gguf_free(g);
  ggml_free(meta);
  return info;
}

}  // namespace troika::catalog
