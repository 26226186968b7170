// Status and Result<T>: how Drover code reports an error without exceptions.
//
// A Status is either ok or carries one human-readable message that already names
// what failed ("open /var/lib/drover/spool/7: Permission denied"). Result<T> holds
// either a value or a non-ok Status. Both are plain values, cheap to move, and
// [[nodiscard]] so an ignored error is a compiler warning.
//
// errno becomes a Status in exactly one place: ErrnoStatus().
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace drover {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // The errno value an ErrnoStatus() was made from; 0 for any other Status.
  // For the few callers that act on the kind of failure (a full disk).
  int error_number() const { return errno_; }

 private:
  friend Status ErrnoStatus(std::string_view what, int err);
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}

  std::string message_;
  bool failed_ = false;
  int errno_ = 0;
};

// "what: strerror(errno)" for the errno value `err`.
Status ErrnoStatus(std::string_view what, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {}     // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(value_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  // REQUIRES: !ok()
  const Status& status() const { return std::get<Status>(value_); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace drover
