#include "convert/writer.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include "ggml-cpu.h"
#include "gguf.h"

namespace troika::convert {

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Half-split (NEOX) rows of each head to adjacent rotary pairs, as llama.cpp's "norm" rope
// expects: within a head, output row 2i+j is input row j*half + i. Rows are opaque bytes, so
// this serves floats and packed blocks (NVFP4) alike.
void permute_rope(uint8_t* data, int64_t rows, size_t row_bytes, int n_head) {
  const int64_t head = rows / n_head, half = head / 2;
  std::vector<uint8_t> tmp(static_cast<size_t>(head) * row_bytes);
  for (int h = 0; h < n_head; ++h) {
    uint8_t* base = data + h * head * row_bytes;
    std::memcpy(tmp.data(), base, tmp.size());
    for (int64_t i = 0; i < half; ++i) {
      for (int j = 0; j < 2; ++j) {
        std::memcpy(base + (2 * i + j) * row_bytes, tmp.data() + (j * half + i) * row_bytes, row_bytes);
      }
    }
  }
}

// Converts rows of f32 to `type`, splitting the rows over threads. Returns the index of a NaN
// or infinite element, or -1: a corrupt weight must not pass silently into the GGUF.
int64_t convert_rows(ggml_type type, const float* src, uint8_t* dst, int64_t rows, int64_t cols,
                     int n_threads) {
  const size_t row_bytes = ggml_row_size(type, cols);
  std::atomic<int64_t> bad{-1};
  auto work = [&](int64_t r0, int64_t r1) {
    if (r0 >= r1) return;
    const float* s = src + r0 * cols;
    // Branch-free over the exponent bits so that it vectorizes; the index is found only on failure.
    uint32_t non_finite = 0;
    for (int64_t i = 0; i < (r1 - r0) * cols; ++i) {
      uint32_t bits;
      std::memcpy(&bits, s + i, 4);
      non_finite |= (bits & 0x7F800000u) == 0x7F800000u;
    }
    if (non_finite) {
      for (int64_t i = 0; i < (r1 - r0) * cols; ++i) {
        if (!std::isfinite(s[i])) {
          bad = r0 * cols + i;
          return;
        }
      }
    }
    uint8_t* d = dst + r0 * row_bytes;
    const int64_t n = (r1 - r0) * cols;
    switch (type) {
      case GGML_TYPE_F32: std::memcpy(d, s, n * sizeof(float)); break;
      // The CPU backend's SIMD rows (what llama.cpp itself uses for these types at run time);
      // ggml_quantize_chunk's reference code for Q8_0 is several times slower.
      case GGML_TYPE_F16:
      case GGML_TYPE_BF16:
      case GGML_TYPE_Q8_0: ggml_get_type_traits_cpu(type)->from_float(s, d, n); break;
      default: ggml_quantize_chunk(type, s, d, 0, r1 - r0, cols, nullptr); break;
    }
  };
  const int64_t min_rows_per_thread = 64;
  const int n = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n_threads, rows / min_rows_per_thread)));
  if (n == 1) {
    work(0, rows);
    return bad;
  }
  std::vector<std::thread> threads;
  const int64_t chunk = (rows + n - 1) / n;
  for (int i = 0; i < n; ++i) threads.emplace_back(work, i * chunk, std::min(rows, (i + 1) * chunk));
  for (auto& t : threads) t.join();
  return bad;
}

// Removes the temporary file unless released.
struct TempFile {
  std::string path;
  FILE* f = nullptr;
  bool keep = false;
  ~TempFile() {
    if (f) std::fclose(f);
    if (!keep) std::remove(path.c_str());
  }
};

constexpr uint8_t kZeros[64] = {};

}  // namespace

ggml_type tensor_type(const OutTensor& t, ggml_type wanted) {
  if (t.keep_f32 || t.shape.size() < 2) return GGML_TYPE_F32;
  if (wanted == GGML_TYPE_NVFP4) {  // only weights published as NVFP4; the rest stay 16-bit
    return t.parts.size() == 1 && t.parts[0]->read_nvfp4 ? GGML_TYPE_NVFP4 : GGML_TYPE_F16;
  }
  if (t.shape.back() % ggml_blck_size(wanted) != 0) return wanted == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
  return wanted;
}

Status materialize(const OutTensor& t, float* out) {
  if (!t.generated.empty()) {
    std::memcpy(out, t.generated.data(), t.generated.size() * sizeof(float));
    return {};
  }
  const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
  float* p = out;
  for (const SourceTensor* s : t.parts) {
    TROIKA_RETURN_IF_ERROR(s->read(p));
    p += s->numel();
  }
  const int64_t n = numel(t.shape);
  switch (t.transform) {
    case Transform::kNone: break;
    case Transform::kAddOne:
      for (int64_t i = 0; i < n; ++i) out[i] += 1.0f;
      break;
    case Transform::kPermuteRope:
      permute_rope(reinterpret_cast<uint8_t*>(out), t.shape[0], static_cast<size_t>(cols) * sizeof(float), t.n_head);
      break;
  }
  return {};
}

Result<uint64_t> write_gguf(gguf_context* g, const ArchPlan& plan, const std::string& out,
                            const WriteOptions& opts) {
  ggml_cpu_init();  // fp16 tables of the CPU backend's conversion rows
  // Tensor infos: ggml tensors without data, in a context that only holds their headers.
  ggml_init_params ip{};
  ip.mem_size = ggml_tensor_overhead() * (plan.tensors.size() + 1);
  ip.no_alloc = true;
  std::unique_ptr<ggml_context, decltype(&ggml_free)> ctx(ggml_init(ip), ggml_free);
  std::vector<ggml_type> types;
  uint64_t total = 0;
  for (const OutTensor& t : plan.tensors) {
    const ggml_type type = tensor_type(t, opts.type);
    int64_t ne[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < t.shape.size(); ++i) ne[i] = t.shape[t.shape.size() - 1 - i];
    ggml_tensor* gt = ggml_new_tensor(ctx.get(), type, static_cast<int>(t.shape.size()), ne);
    ggml_set_name(gt, t.name.c_str());
    gguf_add_tensor(g, gt);
    types.push_back(type);
    total += ggml_nbytes(gt);
  }

  const std::filesystem::path dest(out);
  TempFile tmp;
  tmp.path = (dest.parent_path().empty() ? std::string(".") : dest.parent_path().string()) + "/." +
             dest.filename().string() + ".partial-" + std::to_string(::getpid());
  tmp.f = std::fopen(tmp.path.c_str(), "wb");
  if (!tmp.f) return invalid_argument("cannot create " + tmp.path + ": " + std::strerror(errno));
  auto write = [&](const void* p, size_t n) -> Status {
    if (n && std::fwrite(p, 1, n, tmp.f) != n) {
      const int err = errno;
      if (err == ENOSPC) return resource_exhausted("disk full while writing " + out);
      return internal_error("writing " + tmp.path + ": " + std::strerror(err));
    }
    return {};
  };
  std::vector<uint8_t> meta(gguf_get_meta_size(g));
  gguf_get_meta_data(g, meta.data());
  TROIKA_RETURN_IF_ERROR(write(meta.data(), meta.size()));
  const size_t align = gguf_get_alignment(g);

  // Two output buffers: while one tensor's bytes are written on a background thread, the next
  // is read, decoded and converted (the disk and the cores work at the same time). Buffers grow
  // to the largest tensor and are reused; never zero-filled (every byte is written).
  struct Buffer {
    std::unique_ptr<uint8_t[]> data;
    size_t cap = 0;
    uint8_t* get(size_t n) {
      if (n > cap) {
        data.reset();
        data.reset(new uint8_t[n]);
        cap = n;
      }
      return data.get();
    }
  } out_buf[2];
  std::unique_ptr<float[]> f32;
  size_t f32_cap = 0;
  std::future<Status> writing;
  auto finish_write = [&]() -> Status { return writing.valid() ? writing.get() : Status(); };
  uint64_t done = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const OutTensor& t = plan.tensors[i];
    if (i + 1 < plan.tensors.size()) {
      for (const SourceTensor* p : plan.tensors[i + 1].parts) {
        if (p->prefetch) p->prefetch();
      }
    }
    const int64_t n = numel(t.shape);
    const int64_t cols = t.shape.back(), rows = n / cols;
    const size_t size = ggml_row_size(types[i], cols) * rows;
    uint8_t* bytes = out_buf[i % 2].get(size);
    if (types[i] == GGML_TYPE_Q4_1 && t.parts.size() == 1 && t.parts[0]->read_q4_1 &&
        t.transform == Transform::kNone) {
      // The source's own 4-bit codes, re-laid as Q4_1 blocks: no second rounding.
      Status st = t.parts[0]->read_q4_1(bytes);
      if (!st.ok()) return Status(st.code(), "converting " + t.name + ": " + st.message());
    } else if (types[i] == GGML_TYPE_NVFP4) {
      // ModelOpt's E2M1 codes and block scales, re-laid as ggml's NVFP4 blocks (lossless).
      Status st = t.parts[0]->read_nvfp4(bytes);
      if (!st.ok()) return Status(st.code(), "converting " + t.name + ": " + st.message());
      if (t.transform == Transform::kPermuteRope) permute_rope(bytes, rows, size / rows, t.n_head);
    } else {
      if (static_cast<size_t>(n) > f32_cap) {
        f32.reset();
        f32.reset(new float[static_cast<size_t>(n)]);
        f32_cap = static_cast<size_t>(n);
      }
      Status st = materialize(t, f32.get());
      if (!st.ok()) return Status(st.code(), "converting " + t.name + ": " + st.message());
      const int64_t bad = convert_rows(types[i], f32.get(), bytes, rows, cols, opts.n_threads);
      if (bad >= 0) {
        return data_loss(t.name + " (from " + (t.parts.empty() ? "generated" : t.parts[0]->name + " in " + t.parts[0]->file) +
                         ") holds a NaN or infinity at element " + std::to_string(bad));
      }
    }
    TROIKA_RETURN_IF_ERROR(finish_write());
    const size_t pad = (align - size % align) % align;
    writing = std::async(std::launch::async, [&write, bytes, size, pad]() -> Status {
      TROIKA_RETURN_IF_ERROR(write(bytes, size));
      return write(kZeros, pad);
    });
    done += size;
    if (opts.on_tensor) opts.on_tensor(t, done, total);
  }
  TROIKA_RETURN_IF_ERROR(finish_write());
  if (std::fflush(tmp.f) != 0 || fsync(fileno(tmp.f)) != 0) {
    return resource_exhausted("flushing " + tmp.path + ": " + std::strerror(errno));
  }
  const long size = std::ftell(tmp.f);
  std::fclose(tmp.f);
  tmp.f = nullptr;
  std::error_code ec;
  std::filesystem::rename(tmp.path, out, ec);
  if (ec) return invalid_argument("cannot move " + tmp.path + " to " + out + ": " + ec.message());
  tmp.keep = true;
  return static_cast<uint64_t>(size);
}

}  // namespace troika::convert
