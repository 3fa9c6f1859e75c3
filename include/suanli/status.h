// Status and StatusOr<T>: how every fallible suanli function reports failure.
//
// A Status is OK or carries a code and a one-line message naming what is wrong (the file, the
// field, the value). Exceptions never cross a module boundary; input errors travel as Status.
//
// The code says what a caller may do: IsRetryable() codes (unavailable, deadline exceeded,
// aborted, resource exhausted) may succeed if tried again later or elsewhere — a pool re-places,
// a server answers 503/429 with Retry-After — while the others will fail the same way again.
// Codes travel between devices as their numbers (values are fixed; new ones are only appended).
#pragma once

#include <cassert>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace suanli {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument = 1,      // bad input: a malformed file, a bad parameter, a prompt too long
  kNotFound = 2,             // a file, key, tensor or model that is absent
  kOutOfRange = 3,           // an offset or count beyond the data actually present
  kUnimplemented = 4,        // valid input this build does not support (architecture, tensor type)
  kResourceExhausted = 5,    // a queue, memory or a budget is full now (retryable)
  kIoError = 6,              // a local file or device failed
  kInternal = 7,             // a broken invariant or a peer that answered nonsense
  kCancelled = 8,            // the caller gave up (a client disconnected)
  kDeadlineExceeded = 9,     // no answer in time (retryable)
  kUnavailable = 10,         // a peer or service cannot be reached, or is shutting down (retryable)
  kAborted = 11,             // the work was interrupted and may be redone (retryable)
  kUnauthenticated = 12,     // missing or wrong credentials
  kPermissionDenied = 13,    // authenticated, but not allowed
  kFailedPrecondition = 14,  // the system is not in the state the call needs
};
inline constexpr int kMaxStatusCode = 14;

const char* StatusCodeName(StatusCode code);
// Whether trying again later (or on another device) may succeed.
bool IsRetryable(StatusCode code);
// The code for a number received from another device (unknown numbers: kInternal).
StatusCode StatusCodeFromInt(int v);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: tensor 'x' data past end of file" (or "OK").
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (adds context while unwinding).
  Status WithContext(std::string_view prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(StatusCode::kOutOfRange, std::move(m)); }
inline Status Unimplemented(std::string m) {
  return Status(StatusCode::kUnimplemented, std::move(m));
}
inline Status IoError(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status ResourceExhausted(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}
inline Status Cancelled(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
inline Status DeadlineExceeded(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status Unavailable(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
inline Status Aborted(std::string m) { return Status(StatusCode::kAborted, std::move(m)); }
inline Status Unauthenticated(std::string m) {
  return Status(StatusCode::kUnauthenticated, std::move(m));
}
inline Status PermissionDenied(std::string m) {
  return Status(StatusCode::kPermissionDenied, std::move(m));
}
inline Status FailedPrecondition(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Internal("StatusOr constructed from OK status without a value");
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void CheckOk() const {
    if (!status_.ok()) std::abort();  // using the value of an error is a programming bug
  }
  Status status_;
  std::optional<T> value_;
};

}  // namespace suanli

// Propagate a non-OK Status to the caller.
#define SL_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::suanli::Status _sl_status = (expr);    \
    if (!_sl_status.ok()) return _sl_status; \
  } while (0)

#define SL_CONCAT_INNER(a, b) a##b
#define SL_CONCAT(a, b) SL_CONCAT_INNER(a, b)
// SL_ASSIGN_OR_RETURN(auto x, FunctionReturningStatusOr());
#define SL_ASSIGN_OR_RETURN(lhs, expr) \
  SL_ASSIGN_OR_RETURN_IMPL(SL_CONCAT(_sl_statusor_, __LINE__), lhs, expr)
#define SL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
