// attention_case.h — one shape of the attention op tests (forward and backward) and its name
// in failure messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slm::emu::testing {

struct AttentionCase {
  int t, h, g, e;                // tokens, query heads, kv heads, head dim
  std::vector<std::int32_t> cu;  // document offsets; empty: one document
  int window;                    // sliding window, 0 = none
  float q_scale = 1.0f;  // > 1: sharp, nearly one-hot softmax rows (the running max jumps between tiles)
};

inline std::string describe(const AttentionCase& c) {
  std::string s = "T " + std::to_string(c.t) + " H " + std::to_string(c.h) + " G " + std::to_string(c.g) + " E " +
                  std::to_string(c.e) + " window " + std::to_string(c.window);
  if (c.q_scale != 1.0f) s += " q scale " + std::to_string(static_cast<int>(c.q_scale));
  s += " docs";
  for (const auto x : c.cu) s += " " + std::to_string(x);
  return s;
}

}  // namespace slm::emu::testing
