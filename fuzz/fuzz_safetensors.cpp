// The safetensors header parser on arbitrary bytes: it must never crash or read outside the
// buffer, and every tensor it accepts must lie inside the data section with exactly the bytes
// its dtype and shape need, with no two tensors overlapping.
#include <cstdint>
#include <string>

#include "convert/safetensors.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tensors = troika::convert::parse_safetensors(data, size, "fuzz.safetensors", nullptr);
  if (!tensors.ok()) {
    if (tensors.status().message().find("fuzz.safetensors") == std::string::npos) {
      troika::fuzz::fail("an error does not name the file: " + tensors.status().message());
    }
    return 0;
  }
  for (const auto& t : *tensors) {
    if (t.data < data || t.data + t.n_bytes > data + size) troika::fuzz::fail("tensor '" + t.name + "' lies outside the buffer");
    if (static_cast<size_t>(t.numel()) * troika::convert::dtype_size(t.dtype) != t.n_bytes) {
      troika::fuzz::fail("tensor '" + t.name + "' byte count disagrees with its shape");
    }
    // Touch every byte: ASan reports any read outside the input.
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < t.n_bytes; ++i) sink = sink ^ t.data[i];
  }
  return 0;
}
