// hdf5_io.cpp — HDF5 error reporting, and H5File's dataset and attribute helpers (HDF5 C API).
#include "checkpoints/hdf5_io.h"

#include "train/core/error.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

herr_t collect_first_error(unsigned n, const H5E_error2_t* err, void* out) {
  auto* text = static_cast<std::string*>(out);
  if (n == 0 && err->desc) *text = std::string(err->func_name ? err->func_name : "") + ": " + err->desc;
  return 0;
}

H5Handle utf8_string_type(const fs::path& path) {
  H5Handle type(SLM_H5(H5Tcopy(H5T_C_S1), path), H5Tclose);
  SLM_H5(H5Tset_size(type.get(), H5T_VARIABLE), path);
  SLM_H5(H5Tset_cset(type.get(), H5T_CSET_UTF8), path);
  return type;
}

}  // namespace

void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void h5_fail(const char* call, const fs::path& file) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_first_error, &detail);
  H5Eclear2(H5E_DEFAULT);
  SLM_FAIL(file.string(), ": HDF5 call ", call, " failed", detail.empty() ? "" : " (" + detail + ")",
           "; check that the path is writable and the disk has space, or that the file is complete");
}

H5File H5File::create(const fs::path& path, std::string hint) {
  h5_quiet();
  H5Handle file(SLM_H5(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path), H5Fclose);
  return H5File(std::move(file), path, std::move(hint));
}

H5File H5File::open_read(const fs::path& path, std::string hint, const char* what) {
  h5_quiet();
  if (!fs::exists(path)) SLM_FAIL(path.string(), ": ", what, " not found; ", hint);
  if (H5Fis_hdf5(path.c_str()) <= 0) SLM_FAIL(path.string(), ": not an HDF5 file; ", hint);
  H5Handle file(SLM_H5(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path), H5Fclose);
  return H5File(std::move(file), path, std::move(hint));
}

void H5File::flush() { SLM_H5(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), path_); }

void H5File::write_dataset(const char* name, hid_t type, const void* data, const std::vector<hsize_t>& dims) {
  H5Handle space(SLM_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path_), H5Sclose);
  bool empty = false;
  for (hsize_t d : dims) empty |= d == 0;
  H5Handle set(SLM_H5(H5Dcreate2(file_.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path_),
               H5Dclose);
  if (!empty) SLM_H5(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path_);
}

void H5File::write_int_attr(const char* name, std::int64_t value) {
  H5Handle space(SLM_H5(H5Screate(H5S_SCALAR), path_), H5Sclose);
  H5Handle attr(SLM_H5(H5Acreate2(file_.get(), name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path_),
                H5Aclose);
  SLM_H5(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path_);
}

void H5File::write_string_attr(const char* name, const std::vector<std::string>& values, bool scalar) {
  H5Handle type = utf8_string_type(path_);
  hsize_t n = values.size();
  H5Handle space(SLM_H5(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), path_), H5Sclose);
  std::vector<const char*> ptrs;
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  H5Handle attr(SLM_H5(H5Acreate2(file_.get(), name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path_), H5Aclose);
  if (!ptrs.empty()) SLM_H5(H5Awrite(attr.get(), type.get(), ptrs.data()), path_);
}

bool H5File::has_attr(const char* name) const { return H5Aexists(file_.get(), name) > 0; }

std::int64_t H5File::read_int_attr(const char* name) const {
  if (!has_attr(name)) SLM_FAIL(path_.string(), ": attribute '", name, "' is missing; ", hint_);
  H5Handle attr(SLM_H5(H5Aopen(file_.get(), name, H5P_DEFAULT), path_), H5Aclose);
  std::int64_t value = 0;
  SLM_H5(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path_);
  return value;
}

std::vector<std::string> H5File::read_string_attr(const char* name) const {
  if (!has_attr(name)) SLM_FAIL(path_.string(), ": attribute '", name, "' is missing; ", hint_);
  H5Handle attr(SLM_H5(H5Aopen(file_.get(), name, H5P_DEFAULT), path_), H5Aclose);
  H5Handle space(SLM_H5(H5Aget_space(attr.get()), path_), H5Sclose);
  const hssize_t n = SLM_H5(H5Sget_simple_extent_npoints(space.get()), path_);
  H5Handle type = utf8_string_type(path_);
  std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
  std::vector<std::string> values;
  if (n == 0) return values;
  SLM_H5(H5Aread(attr.get(), type.get(), ptrs.data()), path_);
  for (char* p : ptrs) values.emplace_back(p ? p : "");
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return values;
}

H5Handle H5File::open_dataset(const char* name) const {
  if (H5Lexists(file_.get(), name, H5P_DEFAULT) <= 0) SLM_FAIL(path_.string(), ": dataset '", name, "' is missing; ", hint_);
  return H5Handle(SLM_H5(H5Dopen2(file_.get(), name, H5P_DEFAULT), path_), H5Dclose);
}

std::vector<hsize_t> H5File::dataset_dims(hid_t set, int rank, const char* name) const {
  H5Handle space(SLM_H5(H5Dget_space(set), path_), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != rank)
    SLM_FAIL(path_.string(), ": dataset '", name, "' should have ", rank, " dimensions; ", hint_);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  SLM_H5(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path_);
  return dims;
}

}  // namespace slm
