// Errors as values: the core never throws, so the WASM build can use
// -fno-exceptions (exceptions roughly halve JSON speed there).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace er {

enum class Code {
#define ER_CODE(name, desc) name,
#include "core/error_codes.def"
#undef ER_CODE
};

// Stable text of a code ("ER_SCHEMA"): what JS sees as `error.code`.
std::string_view code_name(Code code);

struct Error {
  Code code;
  std::string message;
  // Where in a value the problem is, as a JavaScript-style path such as
  // "metadata.tags[2]" (empty when the error is not about a place).
  std::string path;
};

inline Error make_error(Code code, std::string message, std::string path = {}) {
  return Error{code, std::move(message), std::move(path)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error take_error() { return std::move(std::get<1>(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}                                                  // NOLINT
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Error take_error() { return std::move(error_); }

 private:
  Error error_{Code::ER_BAD_ARGUMENT, {}, {}};
  bool ok_ = true;
};

}  // namespace er
