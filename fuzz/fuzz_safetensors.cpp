// The safetensors header parser on arbitrary bytes: it must never crash or read outside the
// buffer, and every tensor it accepts must lie inside the data section with exactly the bytes
// its dtype and shape need, with no two tensors overlapping.
#include <cstdint>
#include <string>

#include "convert/safetensors.h"
#include "fuzz_common.h"
#include "fuzz_tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tensors = troika::convert::parse_safetensors(data, size, "fuzz.safetensors", nullptr);
  if (!tensors.ok()) {
    if (tensors.status().message().find("fuzz.safetensors") == std::string::npos) {
      troika::fuzz::fail("an error does not name the file: " + tensors.status().message());
    }
    return 0;
  }
  troika::fuzz::check_tensors(data, size, *tensors);
  return 0;
}
