// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and [begin, end) byte range in the data section, then the data.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "convert/tensor.h"

namespace troika::convert {

struct SafetensorsFile {
  std::shared_ptr<MappedFile> file;
  std::vector<RawTensor> tensors;  // in header order
  std::map<std::string, std::string> metadata;  // "__metadata__", strings only
};

// Parses a header held in memory. `data` is the whole file (the tensors point into it);
// `name` is used in error messages. Errors: data_loss naming the file and what is wrong
// (truncated, not JSON, bad dtype or shape, a range outside the file or of the wrong size,
// overlapping ranges).
Result<std::vector<RawTensor>> parse_safetensors(const uint8_t* data, size_t size,
                                                 const std::string& name,
                                                 std::map<std::string, std::string>* metadata);

// Maps and parses a file.
Result<SafetensorsFile> open_safetensors(const std::string& path);

}  // namespace troika::convert
