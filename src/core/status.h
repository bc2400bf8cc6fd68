// Status and Result<T>: the error type of every path that touches input, disk or the network.
//
// A Status is either OK (free: no allocation) or carries a code and a message that says what was
// wrong and where ("config: [gateway] unknown key 'listn' (line 3)"). Result<T> holds a T or a
// non-OK Status. Both are [[nodiscard]]: ignoring one is a compile error (-Werror=unused-result).
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hakone {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kIOError = 3,
  kCorruption = 4,
  kUnavailable = 5,
  kTimeout = 6,
  kResourceExhausted = 7,
  kAlreadyExists = 8,
  kInternal = 9,
  kCancelled = 10,
  kPermissionDenied = 11,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : rep_(code == StatusCode::kOk ? nullptr
                                     : std::make_shared<Rep>(Rep{code, std::move(message)})) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  // An IOError whose message ends with strerror(err).
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "Corruption: spool segment 3: bad checksum at offset 4096"
  std::string ToString() const;
  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

std::string_view StatusCodeName(StatusCode code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hakone

// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define HAKONE_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::hakone::Status _st = (expr);             \
    if (!_st.ok()) return _st;                 \
  } while (0)

#define HAKONE_CONCAT_INNER(a, b) a##b
#define HAKONE_CONCAT(a, b) HAKONE_CONCAT_INNER(a, b)
// HAKONE_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status when MakeX() failed.
#define HAKONE_ASSIGN_OR_RETURN(lhs, expr)                               \
  auto HAKONE_CONCAT(_res_, __LINE__) = (expr);                          \
  if (!HAKONE_CONCAT(_res_, __LINE__).ok())                              \
    return HAKONE_CONCAT(_res_, __LINE__).status();                      \
  lhs = std::move(HAKONE_CONCAT(_res_, __LINE__)).value()
