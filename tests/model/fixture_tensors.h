// fixture_tensors.h — reading reference tensors of the golden fixtures (safetensors written by
// tools/fixtures/*.py): token ids stored as I64, values as F32/F16/BF16.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "checkpoints/safetensors.h"

namespace slm::test {

inline std::vector<std::int32_t> ids_of(const SafetensorsTensor& t) {
  EXPECT_EQ(t.dtype, DType::I64) << t.name;
  std::vector<std::int32_t> ids(static_cast<std::size_t>(t.num_elements()));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::int64_t v;
    std::memcpy(&v, t.data + 8 * i, 8);
    ids[i] = static_cast<std::int32_t>(v);
  }
  return ids;
}

inline std::vector<float> floats_of(const SafetensorsTensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.num_elements()));
  read_tensor_fp32(t, out.data());
  return out;
}

}  // namespace slm::test
