// train_plan.cpp — `slmtune train RECIPE --plan [--gpu-memory SIZE]`: the CUDA backend's
// predicted peak device memory for the recipe (train/plan/memory_plan.h), without training.
// Reads only the model's config and tensor table, never the weights.
#include <iostream>

#include "checkpoints/model_loader.h"
#include "checkpoints/quantized_matrices.h"
#include "tools/slmtune/commands.h"
#include "train/plan/memory_plan.h"

namespace slm::cli {

int print_train_plan(const Recipe& r, const ParsedArgs& args) {
  MemoryPlanInputs in;
  in.config = load_model_config(r.model.path);
  in.lora = LoraSettings::from_recipe(r.lora);
  in.micro_batch_size = r.train.micro_batch_size;
  in.seq_len = r.data.seq_len;
  in.activation_checkpointing = r.train.activation_checkpointing;
  const QuantizedSizes quantized = quantized_matrix_bytes(r.model.path, in.config);
  in.quantized_bytes = quantized.bytes;
  in.quantized_format = quantized.types;
  const std::int64_t device = parse_memory_size(args.get("--gpu-memory", "24GiB"));
  std::cout << format_memory_plan(plan_cuda_memory(in), in, device);
  return 0;
}

}  // namespace slm::cli
