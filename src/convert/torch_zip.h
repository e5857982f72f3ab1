// PyTorch checkpoints written by torch.save (the zip format used since PyTorch 1.6).
//
// Such a file is a zip archive whose entries all sit under one folder (torch names it after the
// file: "model/" for model.ckpt, "archive/" when saving to a buffer):
//   <folder>/data.pkl     the pickled object (protocol 2); tensors refer to storages by key
//   <folder>/data/<key>   each storage's raw bytes, stored uncompressed, 64-byte aligned
//   <folder>/byteorder    "little" or "big" (absent in old files, which are little-endian)
//   <folder>/version      "3\n" (plus .format_version, .storage_alignment, .data/... in newer ones)
// Large checkpoints use ZIP64 records; torch's writer always emits them.
//
// The pickle is run by a restricted interpreter that knows only what torch.save emits for a
// dict of tensors: containers, ints, floats, strings, bools, None, storages (persistent ids),
// torch._utils._rebuild_tensor_v2 and collections.OrderedDict, plus a few inert globals that
// torch.load(weights_only=True) also accepts. It never runs code; any other global or opcode is
// an error naming it.
//
// Thread safety: the functions are reentrant; results are plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "convert/tensor.h"
#include "convert/zip.h"

namespace troika::convert {


// The tensors of a torch.save checkpoint held in memory. `dict_key` selects the state dict:
// non-empty: the value under that key of the top-level dict (gemma_pytorch's "model_state_dict");
// empty: the top-level dict when it holds tensors, else its only nested dict that holds tensors.
// Names are the dict keys, in the dict's order; non-tensor values are skipped. Each
// RawTensor.data points into `data` (storage bytes + storage_offset * element size), so tensors
// sharing a storage share bytes. complex64/complex128 tensors come back as F32/F64 with a
// trailing dimension of 2 (real, imaginary), as torch.view_as_real gives.
// Errors (all name the file): data_loss for a truncated or corrupt zip or pickle, a missing
// storage entry or one too small for its tensors; not_found when `dict_key` is absent or no dict
// of tensors exists; invalid_argument when `dict_key` is empty and several nested dicts hold
// tensors; unimplemented for compressed or encrypted entries, big-endian files, the pre-1.6
// (non-zip) format, non-contiguous tensors (naming the tensor), unsupported storage types, and any
// pickle global or opcode outside the restricted set (naming it).
Result<std::vector<RawTensor>> parse_torch_checkpoint(const uint8_t* data, size_t size,
                                                      const std::string& name,
                                                      const std::string& dict_key);

// Same, for a mapped file. The returned tensors point into `file`; keep it alive while using
// them. REQUIRES: file != nullptr.
Result<std::vector<RawTensor>> read_torch_checkpoint(std::shared_ptr<MappedFile> file,
                                                     const std::string& dict_key);

}  // namespace troika::convert
