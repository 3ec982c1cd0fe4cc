// error.h — the one error type of slmtune and its check-macro family.
//
// Holds: slm::Error (what failed, where, and a hint on what to do), SLM_CHECK / SLM_FAIL for our
// own checks. The CUDA, cuBLAS, NCCL and HDF5 checks live beside their APIs and build on
// slm::Error, so every failure reaching main has the same shape.
// Does not hold: printing or exit codes; only main catches and prints.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace slm {

// An error the user can act on. `what()` is the whole message: the place (file:line:col,
// tensor name, byte offset, ...) first, then what is wrong, then the hint.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds a message from stream-insertable pieces: error_message("x = ", 3, " too big").
template <typename... Parts>
std::string error_message(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace slm

// Throws slm::Error with the pieces joined; for user-facing failures with a clear place.
#define SLM_FAIL(...) throw ::slm::Error(::slm::error_message(__VA_ARGS__))

// Checks an internal invariant or an input condition; the message pieces follow the condition.
#define SLM_CHECK(cond, ...)      \
  do {                            \
    if (!(cond)) SLM_FAIL(__VA_ARGS__); \
  } while (0)
