// hdf5_io.h — the HDF5 member of the check-macro family, an owning handle for hid_t, and the few
// dataset and attribute operations our HDF5 files (data shards, training state) are made of.
//
// Holds: SLM_H5(call, file) (throws slm::Error naming the file, the failing call and HDF5's own
// description), H5Handle (closes its id with the right H5?close), H5File (one file opened for
// writing or reading, with typed helpers; every "missing" error carries the file's own hint).
// Does not hold: any schema (data/shards.h, checkpoints/training_state.h).
// Include from .cpp files only: it brings in <hdf5.h>.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace slm {

// Throws slm::Error: "<file>: HDF5 call <call> failed (<HDF5's message>); <what to check>".
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

// One HDF5 file. `hint` ends the messages about missing or malformed contents ("rerun `slmtune
// prepare`", "the checkpoint is damaged; ...").
class H5File {
 public:
  static H5File create(const std::filesystem::path& path, std::string hint);  // truncates
  // Checks the file exists and is HDF5 before opening it read-only; `what` names it ("data shard").
  static H5File open_read(const std::filesystem::path& path, std::string hint, const char* what);

  hid_t get() const { return file_.get(); }
  const std::filesystem::path& path() const { return path_; }
  const std::string& hint() const { return hint_; }
  void flush();
  void close() { file_.reset(); }

  // Contiguous datasets (rows are read at random; chunked + compressed layouts would turn that
  // into whole-chunk decompressions).
  void write_dataset(const char* name, hid_t type, const void* data, const std::vector<hsize_t>& dims);
  void write_int_attr(const char* name, std::int64_t value);
  void write_string_attr(const char* name, const std::vector<std::string>& values, bool scalar);

  bool has_attr(const char* name) const;
  std::int64_t read_int_attr(const char* name) const;
  std::vector<std::string> read_string_attr(const char* name) const;
  H5Handle open_dataset(const char* name) const;
  // Dimensions of an open dataset, which must have `rank` dimensions.
  std::vector<hsize_t> dataset_dims(hid_t set, int rank, const char* name) const;
  // A whole 1-D dataset of `mem_type` elements.
  template <class T>
  std::vector<T> read_1d(const char* name, hid_t mem_type) const {
    H5Handle set = open_dataset(name);
    std::vector<T> values(dataset_dims(set.get(), 1, name)[0]);
    if (!values.empty()) h5_check(H5Dread(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "H5Dread", path_);
    return values;
  }

 private:
  H5File(H5Handle file, std::filesystem::path path, std::string hint)
      : file_(std::move(file)), path_(std::move(path)), hint_(std::move(hint)) {}
  H5Handle file_;
  std::filesystem::path path_;
  std::string hint_;
};

}  // namespace slm

#define SLM_H5(call, file) ::slm::h5_check((call), #call, (file))
