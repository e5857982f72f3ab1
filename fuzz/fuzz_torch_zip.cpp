// The torch.save reader (zip container + restricted pickle machine) on arbitrary bytes: it must
// never crash, recurse without bound or read outside the buffer, and every tensor it accepts
// must lie inside the buffer with the bytes its dtype and shape need.
#include <cstdint>
#include <string>

#include "convert/torch_zip.h"
#include "fuzz_common.h"
#include "fuzz_tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const char* key : {"model_state_dict", ""}) {
    auto tensors = troika::convert::parse_torch_checkpoint(data, size, "fuzz.ckpt", key);
    if (!tensors.ok()) {
      if (tensors.status().message().find("fuzz.ckpt") == std::string::npos) {
        troika::fuzz::fail("an error does not name the file: " + tensors.status().message());
      }
      continue;
    }
    troika::fuzz::check_tensors(data, size, *tensors);
  }
  return 0;
}
