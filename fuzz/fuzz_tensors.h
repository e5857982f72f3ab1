// What every checkpoint-parser fuzz target checks of the tensors a parser accepted: each lies
// inside the input, holds exactly the bytes its dtype and shape need, and can be read through.
#pragma once

#include <cstdint>
#include <vector>

#include "convert/tensor.h"
#include "fuzz_common.h"

namespace troika::fuzz {

inline void check_tensors(const uint8_t* data, size_t size, const std::vector<convert::RawTensor>& tensors) {
  for (const auto& t : tensors) {
    if (t.data < data || t.data + t.n_bytes > data + size) fail("tensor '" + t.name + "' lies outside the buffer");
    if (static_cast<size_t>(t.numel()) * convert::dtype_size(t.dtype) != t.n_bytes) {
      fail("tensor '" + t.name + "' byte count disagrees with its shape");
    }
    volatile uint8_t sink = 0;  // touch every byte: ASan reports any read outside the input
    for (size_t i = 0; i < t.n_bytes; ++i) sink = sink ^ t.data[i];
  }
}

}  // namespace troika::fuzz
