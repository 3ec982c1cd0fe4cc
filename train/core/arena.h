// arena.h — one fp32 allocation per category (frozen weights, activations, ...), handed out in
// 64-byte aligned pieces. Sized once up front; nothing is allocated afterwards.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace slm {

class FloatArena {
 public:
  FloatArena() = default;
  // `name` appears in messages ("frozen weights", ...).
  FloatArena(std::size_t capacity_floats, std::string name);

  // The next n floats, 64-byte aligned, zero-filled. Throws slm::Error when the arena is full
  // (a sizing bug: arenas are sized from the model configuration before anything is taken).
  float* take(std::size_t n);

  std::size_t capacity() const { return capacity_; }
  std::size_t used() const { return used_; }
  std::size_t bytes() const { return capacity_ * sizeof(float); }

  // Floats `take(n)` consumes, alignment included; for sizing arenas.
  static std::size_t padded(std::size_t n) { return (n + 15) / 16 * 16; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::string name_;
};

}  // namespace slm
