// The torch.save reader (zip container + restricted pickle machine) on arbitrary bytes: it must
// never crash, recurse without bound or read outside the buffer, and every tensor it accepts
// must lie inside the buffer with the bytes its dtype and shape need.
#include <cstdint>
#include <string>

#include "convert/torch_zip.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const char* key : {"model_state_dict", ""}) {
    auto tensors = troika::convert::parse_torch_checkpoint(data, size, "fuzz.ckpt", key);
    if (!tensors.ok()) {
      if (tensors.status().message().find("fuzz.ckpt") == std::string::npos) {
        troika::fuzz::fail("an error does not name the file: " + tensors.status().message());
      }
      continue;
    }
    for (const auto& t : *tensors) {
      if (t.data < data || t.data + t.n_bytes > data + size) troika::fuzz::fail("tensor '" + t.name + "' lies outside the buffer");
      if (static_cast<size_t>(t.numel()) * troika::convert::dtype_size(t.dtype) != t.n_bytes) {
        troika::fuzz::fail("tensor '" + t.name + "' byte count disagrees with its shape");
      }
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.n_bytes; ++i) sink = sink ^ t.data[i];
    }
  }
  return 0;
}
