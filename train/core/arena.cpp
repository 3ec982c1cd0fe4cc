// arena.cpp — aligned allocation of an arena and bump-pointer hand-out.
#include "train/core/arena.h"

#include <cstdlib>
#include <cstring>

#include "train/core/error.h"

namespace slm {

void FloatArena::Free::operator()(float* p) const { std::free(p); }

FloatArena::FloatArena(std::size_t capacity_floats, std::string name)
    : capacity_(padded(capacity_floats)), name_(std::move(name)) {
  if (capacity_ == 0) return;
  void* p = std::aligned_alloc(64, capacity_ * sizeof(float));
  if (!p)
    SLM_FAIL("cannot allocate ", capacity_ * sizeof(float) / (1 << 20), " MiB for ", name_,
             "; free memory or choose a smaller model or sequence length");
  std::memset(p, 0, capacity_ * sizeof(float));
  data_.reset(static_cast<float*>(p));
}

float* FloatArena::take(std::size_t n) {
  const std::size_t need = padded(n);
  SLM_CHECK(used_ + need <= capacity_, "internal: arena '", name_, "' is full (", used_, " + ", need,
            " > ", capacity_, " floats)");
  float* p = data_.get() + used_;
  used_ += need;
  return p;
}

}  // namespace slm
