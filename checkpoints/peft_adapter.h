// peft_adapter.h — LoRA adapters as a PEFT adapter directory: adapter_config.json and
// adapter_model.safetensors with PEFT's key names ("<prefix>.lora_A.weight" [r, in],
// "<prefix>.lora_B.weight" [out, r], DoRA's "<prefix>.lora_magnitude_vector" [out]). This is what PEFT's PeftModel.from_pretrained and vLLM load.
// Does not hold: merged or GGUF exports (issue 6).
#pragma once

#include <filesystem>
#include <string>

#include "train/lora/adapters.h"

namespace slm {

// The LoRA settings of a PEFT adapter directory's adapter_config.json (r, lora_alpha,
// target_modules, lora_dropout, use_rslora, use_dora); throws for other PEFT types, or modules
// other than the seven linear layers of a Llama block.
LoraSettings read_peft_config(const std::filesystem::path& dir);

// Reads adapter weights from an adapter_model.safetensors file (or a directory holding one)
// into `adapters`, whose layout must match; throws naming missing keys and shape mismatches.
void load_peft_weights(LoraAdapters& adapters, const std::filesystem::path& file_or_dir);

// Writes <dir>/adapter_model.safetensors and <dir>/adapter_config.json (atomically, each).
void save_peft_adapter(const LoraAdapters& adapters, const std::filesystem::path& dir,
                       const std::string& base_model_name_or_path);

}  // namespace slm
