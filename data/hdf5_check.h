// hdf5_check.h — the HDF5 member of the check-macro family, and an owning handle for hid_t.
//
// Holds: SLM_H5(call, file) (throws slm::Error naming the file, the failing call, HDF5's own
// description and what to do), H5Handle (closes its id with the right H5?close).
// Does not hold: the shard schema (shards.h). Include only from .cpp files of data/.
#pragma once

#include <hdf5.h>

#include <filesystem>
#include <string>
#include <utility>

namespace slm {

// Throws slm::Error: "<file>: HDF5 call <call> failed (<HDF5's message>); <hint>".
[[noreturn]] void h5_fail(const char* call, const std::filesystem::path& file);

// Silences HDF5's printing of its error stack (we report it in the exception instead).
void h5_quiet();

template <class T>
T h5_check(T result, const char* call, const std::filesystem::path& file) {
  if (result < 0) h5_fail(call, file);
  return result;
}

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      closer_ = o.closer_;
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { reset(); }
  hid_t get() const { return id_; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

}  // namespace slm

#define SLM_H5(call, file) ::slm::h5_check((call), #call, (file))
