#include "troika/status.h"

namespace troika {

namespace {
struct CodeInfo {
  const char* name;
  int exit_code;
  int http_status;
};

// One row per Code, in enum order. docs/errors.md mirrors this table.
constexpr CodeInfo kCodes[] = {
    {"ok", 0, 200},
    {"invalid_argument", 2, 400},
    {"not_found", 3, 404},
    {"resource_exhausted", 4, 429},
    {"unavailable", 5, 503},
    {"deadline_exceeded", 6, 504},
    {"cancelled", 7, 499},
    {"data_loss", 8, 422},
    {"unimplemented", 9, 501},
    {"internal", 10, 500},
    {"bad_output", 11, 502},
};

const CodeInfo& info(Code code) {
  auto i = static_cast<size_t>(code);
  return i < std::size(kCodes) ? kCodes[i] : kCodes[static_cast<size_t>(Code::kInternal)];
}
}  // namespace

const char* to_string(Code code) { return info(code).name; }
int exit_code(Code code) { return info(code).exit_code; }
int http_status(Code code) { return info(code).http_status; }

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(troika::to_string(code_)) + ": " + message_;
}

}  // namespace troika
