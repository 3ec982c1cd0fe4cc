// train_plan.cpp — `slmtune train RECIPE --plan [--gpu-memory SIZE]`: the CUDA backend's
// predicted peak device memory for the recipe (train/plan/memory_plan.h), without training.
// Reads only the model's config and its tensor table, never the weights.
#include <iostream>

#include "checkpoints/gguf.h"
#include "checkpoints/gguf_quants.h"
#include "checkpoints/model_loader.h"
#include "checkpoints/safetensors.h"
#include "tools/slmtune/commands.h"
#include "train/plan/memory_plan.h"

namespace slm::cli {
namespace {

// GGML types the CUDA backend keeps as stored and dequantizes to bf16 inside its GEMMs (issue 8).
bool dequantized_on_the_fly(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q8_0: case GgmlType::Q2_K: case GgmlType::Q3_K:
    case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

// The device bytes of the model's 2-D weights and a description of their format.
std::pair<std::int64_t, std::string> device_weight_bytes(const std::filesystem::path& model) {
  std::int64_t bytes = 0, quantized = 0, bf16 = 0;
  std::string type;
  if (model.extension() == ".gguf") {
    const GgufFile file = GgufFile::open(model);
    for (const GgufTensor& t : file.tensors()) {
      if (t.dims.size() != 2) continue;
      if (dequantized_on_the_fly(t.type)) {
        bytes += static_cast<std::int64_t>(t.nbytes);
        quantized += t.num_elements();
        type = std::string(ggml_type_name(t.type));
      } else {
        bytes += 2 * t.num_elements();
        bf16 += t.num_elements();
      }
    }
  } else {
    const SafetensorsCheckpoint c = SafetensorsCheckpoint::open(model);
    for (const std::string& name : c.names())
      if (c.get(name).shape.size() == 2) bf16 += c.get(name).num_elements();
    bytes = 2 * bf16;
  }
  if (quantized == 0) return {bytes, "bf16"};
  return {bytes, type + " kept quantized, dequantized on the fly" + (bf16 ? std::string("; the rest bf16") : "")};
}

}  // namespace

int print_train_plan(const Recipe& r, const ParsedArgs& args) {
  MemoryPlanInputs in;
  in.config = load_model_config(r.model.path);
  in.lora = LoraSettings::from_recipe(r.lora);
  in.micro_batch_size = r.train.micro_batch_size;
  in.seq_len = r.data.seq_len;
  in.activation_checkpointing = r.train.activation_checkpointing;
  std::tie(in.frozen_weight_bytes, in.frozen_weight_format) = device_weight_bytes(r.model.path);
  const std::int64_t device = parse_memory_size(args.get("--gpu-memory", "24GiB"));
  std::cout << format_memory_plan(plan_cuda_memory(in), in, device);
  return 0;
}

}  // namespace slm::cli
