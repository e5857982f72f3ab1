// Raw tensors as checkpoint files store them, before any dequantisation or renaming.
//
// A RawTensor points into a memory-mapped file (or a buffer its Source owns); it is valid as
// long as the Source that produced it lives. Shapes are in the file's own order (PyTorch:
// outermost first, so an nn.Linear weight is [out, in]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::convert {

enum class DType {
  kF32, kF16, kBF16, kF64,
  kF8E4M3, kF8E5M2,
  kI8, kU8, kI16, kI32, kI64, kBool,
};

// Bytes per element; 1 for the 8-bit types.
size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "BF16", "F8_E4M3", ...
bool parse_safetensors_dtype(std::string_view s, DType* out);

struct RawTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  std::string file;  // where it lives, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// Tells the kernel that the mapped pages wholly inside [p, p + n) will not be read again, so they
// leave this process's resident set: converting tensor by tensor then keeps memory flat however
// large the checkpoint. Harmless on memory that is not a file mapping.
void release_pages(const void* p, size_t n);
// Asks the kernel to start reading [p, p + n) in the background (the next tensor, while this
// one converts).
void prefetch_pages(const void* p, size_t n);
inline void release(const RawTensor& t) { release_pages(t.data, t.n_bytes); }

// A read-only memory map of a whole file. Move-only.
class MappedFile {
 public:
  // Errors: not_found (no such file), invalid_argument (a directory), internal (mmap failed).
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// "[4096, 14336]", for messages.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A float tensor under its Hugging Face name, produced on demand from whatever the file stores
// (plain floats, FP8 with scales, packed 4-bit blocks, ...). `read` writes numel() floats,
// row-major in `shape` order, and may be called from any thread.
struct SourceTensor {
  std::string name;            // "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // outermost first: [out, in] for a linear weight
  std::string format;          // how it is stored: "BF16", "FP8 E4M3 per-tensor", "AWQ int4 g128"
  std::string file;            // where it is stored, for messages
  std::function<Status(float* out)> read;
  std::function<void()> prefetch;  // optional: start reading the stored bytes in the background
  // Set where the stored blocks map onto ggml's Q4_1 without loss of the 4-bit codes (AWQ int4
  // with zero points: d = scale, m = -scale * zero): writes shape[0] x shape[1]/32 blocks of 20
  // bytes (f16 d, f16 m, 16 bytes holding elements j and j+16 in the low and high nibble).
  std::function<Status(uint8_t* out)> read_q4_1;
  // Set for ModelOpt NVFP4 weights whose rows hold whole 64-element blocks: writes shape[0] x
  // shape[1]/64 blocks of ggml's NVFP4 (4 UE4M3 sub-block scales, then 32 bytes holding elements
  // j and j+8 of each 16-element sub-block in the low and high nibble), the same E2M1 codes and
  // scales re-laid; the per-tensor scale that multiplies them is nvfp4_scale2.
  std::function<Status(uint8_t* out)> read_nvfp4;
  float nvfp4_scale2 = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

}  // namespace troika::convert
