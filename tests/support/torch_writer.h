// Test support: PyTorch checkpoints written the way torch.save writes them, so converter tests
// can make model.ckpt / pytorch_model.bin files without Python.
//
// The layout follows PyTorch's writer (torch/serialization.py _save over
// caffe2/serialize/inline_container.cc PyTorchStreamWriter, which drives miniz with ZIP64 on):
// a zip whose entries sit under "<file name without extension>/", each stored uncompressed with
// a local header carrying sizes 0, an "FB" extra field of 'Z' padding that puts the data on a
// 64-byte boundary, and a data descriptor after the data; then the central directory, a ZIP64
// end record and locator, and the classic end record. data.pkl is pickle protocol 2 as CPython's
// pickler writes it for a state dict (an OrderedDict with a _metadata attribute) of tensors
// rebuilt by torch._utils._rebuild_tensor_v2. Differences from torch: entry timestamps are fixed
// (1980-01-01) and .data/serialization_id is a constant.
//
// Thread safety: the functions are reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/tensor.h"
#include "troika/status.h"

namespace troika::testing {

struct TorchTensorData {
  std::string name;                             // the state-dict key
  convert::DType dtype = convert::DType::kF32;  // F32, BF16, F16 (also F64, I64, I32, I16, I8, U8,
                                                // BOOL: any type with a legacy torch storage class)
  std::vector<int64_t> shape;                   // outermost first
  std::vector<uint8_t> bytes;  // the whole storage, little-endian; unused when view_of >= 0
  // Views, as torch saves tensors that share memory (tied weights, slices of one buffer):
  int view_of = -1;  // >= 0: use the storage (and dtype) of tensors[view_of], an earlier entry
  int64_t storage_offset = 0;   // where this tensor starts in its storage, in elements
  std::vector<int64_t> stride;  // in elements; empty = contiguous row-major
  // > 0: the storage is this many zero bytes, left as a hole in a sparse file instead of `bytes`
  // (lets a test build a checkpoint over 4 GiB, with ZIP64 offsets, in no time or disk space).
  uint64_t zero_bytes = 0;
};

// Writes `tensors` as torch.save({dict_key: state_dict}, path) would, or torch.save(state_dict,
// path) when `dict_key` is empty. Storages are numbered in first-use order, as torch does.
// Errors: invalid_argument for a bad view_of index or a dtype without a torch storage class;
// unavailable when the file cannot be written.
Status write_torch_checkpoint(const std::string& path, const std::vector<TorchTensorData>& tensors,
                              const std::string& dict_key);

// The data.pkl bytes write_torch_checkpoint stores for these arguments.
// REQUIRES: every view_of refers to an earlier entry and every dtype has a storage class.
std::string torch_pickle(const std::vector<TorchTensorData>& tensors, const std::string& dict_key);

// One record of a torch zip archive.
struct TorchRecord {
  std::string name;         // inside the archive folder, e.g. "data.pkl", "data/0", "byteorder"
  std::string bytes;        // its contents
  uint64_t zero_bytes = 0;  // > 0: contents are this many zeros, written as a hole; bytes unused
};

// Writes exactly `records`, in order, in torch's zip layout under the folder torch would use for
// `path`. Lets tests build archives with hand-made pickles. Errors: unavailable (cannot write).
Status write_torch_zip(const std::string& path, const std::vector<TorchRecord>& records);

}  // namespace troika::testing
