// merge.h — folding LoRA adapters into the frozen weights: W += scale * B A for every adapted
// linear layer. Used to generate with an adapter through the plain inference path (and, later,
// by the merged-model exports).
#pragma once

#include "train/lora/adapters.h"
#include "train/model/llama.h"

namespace slm {

// Adds every adapter's update to its weight in `weights` (in place, fp32). The adapters must
// belong to this model (same layer count and dimensions).
void merge_lora(LlamaWeights& weights, const LoraAdapters& adapters);

}  // namespace slm
