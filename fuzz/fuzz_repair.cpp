// repair_json on arbitrary bytes: it must never crash, what it returns must be JSON, repair must
// be idempotent (its output comes back unchanged with no fixes), and input that already is JSON
// must come back with no fixes and the same value.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "troika/constrain.h"

namespace {

using troika::fuzz::fail;

std::string hex(std::string_view s) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : s.substr(0, 200)) {
    out += kDigits[ch >> 4];
    out += kDigits[ch & 15];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto repaired = troika::constrain::repair_json(text);
  // Strict JSON per nlohmann (RFC 8259, valid UTF-8); discarded (not thrown) when it is not.
  // nlohmann's lexer takes a NUL byte for the end of input ("6\0x" parses as 6), and JSON allows
  // no raw NUL anywhere, so such text is never strict JSON.
  const bool has_nul = text.find('\0') != std::string_view::npos;
  const auto strict = has_nul ? nlohmann::json(nlohmann::json::value_t::discarded)
                              : nlohmann::json::parse(text, nullptr, false);
  if (!repaired.ok()) {
    // Valid JSON is always recoverable, unless it nests past repair's documented depth limit.
    if (!strict.is_discarded() && repaired.status().message().find("512") == std::string::npos) {
      fail("repair_json refused valid JSON (hex " + hex(text) +
           "): " + repaired.status().to_string());
    }
    return 0;
  }
  const auto value = nlohmann::json::parse(repaired->json, nullptr, false);
  if (value.is_discarded() || repaired->json.find('\0') != std::string::npos) {
    fail("repair_json returned non-JSON '" + repaired->json + "' for input hex " + hex(text));
  }
  auto again = troika::constrain::repair_json(repaired->json);
  if (!again.ok() || again->json != repaired->json || !again->fixes.empty()) {
    fail("repair_json is not idempotent on its own output '" + repaired->json + "': got " +
         (again.ok() ? "'" + again->json + "' with " + std::to_string(again->fixes.size()) +
                           " fixes" + (again->fixes.empty() ? "" : " (" + again->fixes[0] + ")")
                     : again.status().to_string()) +
         "; input hex " + hex(text));
  }
  if (!strict.is_discarded()) {
    if (!repaired->fixes.empty()) {
      fail("repair_json changed valid JSON (hex " + hex(text) + "): " + repaired->fixes[0]);
    }
    if (value != strict) {
      fail("repair_json changed the value of valid JSON (hex " + hex(text) + ") to '" +
           repaired->json + "'");
    }
  }
  return 0;
}
