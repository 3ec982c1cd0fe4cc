// merge.cpp — W[out, in] += scale * B[out, r] A[r, in], one adapted weight at a time.
#include "train/lora/merge.h"

#include <vector>

#include "kernels/cpu/matmul_backward.h"
#include "train/core/error.h"

namespace slm {
namespace {
float* weight_of(LlamaWeights& w, const LoraModule& m) {
  LlamaLayerWeights& l = w.layers.at(static_cast<std::size_t>(m.layer));
  switch (m.slot) {
    case LinearSlot::QProj: return l.q_proj;
    case LinearSlot::KProj: return l.k_proj;
    case LinearSlot::VProj: return l.v_proj;
    case LinearSlot::OProj: return l.o_proj;
    case LinearSlot::GateProj: return l.gate_proj;
    case LinearSlot::UpProj: return l.up_proj;
    case LinearSlot::DownProj: return l.down_proj;
  }
  return nullptr;
}
}  // namespace

void merge_lora(LlamaWeights& weights, const LoraAdapters& adapters) {
  const std::int64_t r = adapters.settings().rank;
  const float scale = adapters.settings().scale();
  std::vector<float> scaled_b;
  for (const LoraModule& m : adapters.modules()) {
    SLM_CHECK(m.layer < weights.config.num_layers, "the adapter has layer ", m.layer, " but the model only ",
              weights.config.num_layers, "; it belongs to another model");
    scaled_b.assign(m.b, m.b + m.out * r);
    for (float& x : scaled_b) x *= scale;
    cpu::matmul_nn(weight_of(weights, m), scaled_b.data(), m.a, m.out, m.in, r, 1.0f);  // W += (s B) A
  }
}

}  // namespace slm
