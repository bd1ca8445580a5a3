// Errors btfit throws. Misuse and bad input throw; algorithmic outcomes (no finite
// estimate, no convergence) are a status in the result instead.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace btfit {

// Invalid input data. what() reads "FILE:LINE:COLUMN: message" (line and column 1-based,
// physical lines with the header as line 1; either is 0 when it does not apply).
class InputError : public std::runtime_error {
 public:
  InputError(std::string file, std::size_t line, std::size_t column, const std::string& message);
  const std::string& file() const { return file_; }
  std::size_t line() const { return line_; }
  std::size_t column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  std::size_t line_;
  std::size_t column_;
  std::string message_;
};

// An option or argument that cannot be honoured (a bad value, a conflicting combination).
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

// A backend failure (a CUDA call that failed, a device that is missing): names the call,
// file and line.
class BackendError : public std::runtime_error {
 public:
  explicit BackendError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace btfit
