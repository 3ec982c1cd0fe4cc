// backend.cpp — what every backend shares: carving its allocations into aligned pieces.
#include "train/backend/backend.h"

#include "train/core/error.h"

namespace slm {

BackendArena::BackendArena(std::shared_ptr<void> memory, std::size_t capacity_bytes, std::string name)
    : memory_(std::move(memory)), capacity_(capacity_bytes), name_(std::move(name)) {}

void* BackendArena::take_bytes(std::size_t bytes) {
  const std::size_t need = padded_bytes(bytes);
  SLM_CHECK(used_ + need <= capacity_, "internal: backend arena '", name_, "' is full (", used_, " + ", need, " > ",
            capacity_, " bytes)");
  void* p = static_cast<char*>(memory_.get()) + used_;
  used_ += need;
  return p;
}

}  // namespace slm
