// Status and Result<T>: how every fallible Troika call reports failure.
//
// Contract: a function that can fail returns Status (no value) or Result<T> (a value or a
// failure). A failure carries a Code, one of a fixed set shared by the whole library, and a
// message that names what failed, the value involved and what to try. No exception crosses a
// Troika module boundary. Each Code maps to one CLI exit code and one HTTP status (exit_code(),
// http_status()); docs/errors.md lists the table.
//
// Thread safety: Status and Result are values; distinct objects may be used from any thread.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace troika {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong (bad flag, bad JSON, prompt too long)
  kNotFound,           // a named file, model, role or document does not exist
  kResourceExhausted,  // out of memory, context full, budget spent
  kUnavailable,        // a dependency (device, remote endpoint) cannot be reached now
  kDeadlineExceeded,   // the request's deadline passed
  kCancelled,          // the caller cancelled
  kDataLoss,           // a file is truncated or corrupt
  kUnimplemented,      // valid request we cannot serve (e.g. an unsupported schema keyword)
  kInternal,           // a bug in Troika or a library it calls
  kBadOutput,          // a model's output could not be made valid (schema, tool call) in the tries
};

// "ok", "invalid_argument", ... (stable; used in JSON error bodies).
const char* to_string(Code code);
// Process exit code for the CLI: 0 for kOk, then 2..10 in the order of the enum.
int exit_code(Code code);
// HTTP status for the server: 200, 400, 404, 429/507..., see docs/errors.md.
int http_status(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: <message>", or "ok".
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status data_loss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
inline Status internal_error(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status bad_output(std::string m) { return {Code::kBadOutput, std::move(m)}; }

// A value of type T, or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The failure, or an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace troika

// Return early from the enclosing function when `expr` (a Status) is not ok.
#define TROIKA_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::troika::Status troika_status_ = (expr);        \
    if (!troika_status_.ok()) return troika_status_; \
  } while (0)

// `lhs = value of expr` (a Result), or return its Status from the enclosing function.
#define TROIKA_CONCAT_INNER_(a, b) a##b
#define TROIKA_CONCAT_(a, b) TROIKA_CONCAT_INNER_(a, b)
#define TROIKA_ASSIGN_OR_RETURN(lhs, expr) \
  TROIKA_ASSIGN_OR_RETURN_IMPL_(TROIKA_CONCAT_(troika_result_, __LINE__), lhs, expr)
#define TROIKA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
