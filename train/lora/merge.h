// merge.h — LoRA adapters meeting the frozen weights: folding them in (W += s B A, or DoRA's
// W' = m / ||W + s B A||_row * (W + s B A)), DoRA's row norms, and its magnitude initialization.
// Used to generate with an adapter through the plain inference path, by DoRA training, and,
// later, by the merged-model exports.
#pragma once

#include "train/lora/adapters.h"
#include "train/model/llama.h"

namespace slm {

// The frozen weight [out, in] an adapter module sits on.
const float* frozen_weight(const LlamaWeights& weights, const LoraModule& module);

// inv_norm[N] = 1 / ||W + s B A|| per output row; `work` is scratch of N * (K + r) floats.
// Allocates nothing (the training step calls it every forward).
void dora_inverse_row_norms(const float* w, const LoraModule& module, std::int64_t rank, float scale, float* work,
                            float* inv_norm);

// DoRA: m = ||W + s B A|| per row (with B = 0 at initialization: the rows' norms), as PEFT does.
void initialize_dora_magnitudes(const LlamaWeights& weights, LoraAdapters& adapters);

// Folds every adapter into its weight in `weights` (in place, fp32). The adapters must belong to
// this model (same layer count and dimensions).
void merge_lora(LlamaWeights& weights, const LoraAdapters& adapters);

}  // namespace slm
