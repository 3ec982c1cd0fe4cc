// merge.cpp — W + s B A per adapted weight, DoRA's row norms and magnitudes, merging.
#include "train/lora/merge.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_backward.h"
#include "train/core/error.h"

namespace slm {
namespace {

// out[N, K] = W + s B A; scaled_b: scratch [N, r]
void adapted_weight(const float* w, const LoraModule& m, std::int64_t r, float s, float* out, float* scaled_b) {
  std::memcpy(out, w, sizeof(float) * static_cast<std::size_t>(m.out * m.in));
  for (std::int64_t i = 0; i < m.out * r; ++i) scaled_b[i] = m.b[i] * s;
  cpu::matmul_nn(out, scaled_b, m.a, m.out, m.in, r, 1.0f);
}

// inv[N] = 1 / ||mat row|| of mat [N, K]
void row_inverse_norms(const float* mat, std::int64_t n, std::int64_t k, float* inv) {
  for (std::int64_t j = 0; j < n; ++j) {
    const float* row = mat + j * k;
    float sum = 0.0f;
    for (std::int64_t c = 0; c < k; ++c) sum += row[c] * row[c];
    inv[j] = 1.0f / std::sqrt(sum);
  }
}

void check_fits(const LlamaWeights& weights, const LoraModule& m) {
  SLM_CHECK(m.layer < weights.config.num_layers, "the adapter has layer ", m.layer, " but the model only ",
            weights.config.num_layers, "; it belongs to another model");
}

}  // namespace

const float* frozen_weight(const LlamaWeights& w, const LoraModule& m) {
  const LlamaLayerWeights& l = w.layers.at(static_cast<std::size_t>(m.layer));
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

void dora_inverse_row_norms(const float* w, const LoraModule& m, std::int64_t r, float s, float* work,
                            float* inv_norm) {
  adapted_weight(w, m, r, s, work, work + m.out * m.in);
  row_inverse_norms(work, m.out, m.in, inv_norm);
}

void initialize_dora_magnitudes(const LlamaWeights& weights, LoraAdapters& adapters) {
  const LoraSettings& s = adapters.settings();
  if (!s.use_dora) return;
  std::vector<float> work, inv;
  for (const LoraModule& m : adapters.modules()) {
    check_fits(weights, m);
    work.resize(static_cast<std::size_t>(m.out * (m.in + s.rank)));
    inv.resize(static_cast<std::size_t>(m.out));
    dora_inverse_row_norms(frozen_weight(weights, m), m, s.rank, s.scale(), work.data(), inv.data());
    for (std::int64_t j = 0; j < m.out; ++j) m.magnitude[j] = 1.0f / inv[static_cast<std::size_t>(j)];
  }
}

void merge_lora(LlamaWeights& weights, const LoraAdapters& adapters) {
  const LoraSettings& s = adapters.settings();
  std::vector<float> merged, inv;
  for (const LoraModule& m : adapters.modules()) {
    check_fits(weights, m);
    auto* w = const_cast<float*>(frozen_weight(weights, m));  // the weights are ours to change
    merged.resize(static_cast<std::size_t>(m.out * (m.in + s.rank)));
    adapted_weight(w, m, s.rank, s.scale(), merged.data(), merged.data() + m.out * m.in);
    if (s.use_dora) {
      inv.resize(static_cast<std::size_t>(m.out));
      row_inverse_norms(merged.data(), m.out, m.in, inv.data());
      for (std::int64_t j = 0; j < m.out; ++j)
        for (std::int64_t k = 0; k < m.in; ++k) merged[j * m.in + k] *= m.magnitude[j] * inv[j];
    }
    std::memcpy(w, merged.data(), sizeof(float) * static_cast<std::size_t>(m.out * m.in));
  }
}

}  // namespace slm
