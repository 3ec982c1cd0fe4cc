// export.h — one entry point for every export of a trained adapter: the compatibility report for
// the consumers of each format, the output-directory policy, and the dispatch to the writers.
//
// Formats (ExportKind, train/recipe/recipe.h) and what --out DIR receives:
//   peft       DIR/adapter_config.json + adapter_model.safetensors (PEFT, vLLM)
//   merged     DIR/ an HF model directory (config, safetensors, tokenizer, generation config)
//   gguf       DIR/model-<dtype>.gguf, a merged GGUF (F16, Q8_0, BF16 or F32) for llama.cpp
//   gguf_lora  DIR/lora-<dtype>.gguf, a llama.cpp LoRA adapter (F32 or F16) over the base GGUF
// Policy: an existing non-empty DIR is refused unless `force`, which empties it first; nothing is
// written outside DIR. Errors of the compatibility report stop the export before any file is
// written; warnings are printed and the export goes on.
// Does not hold: the writers (peft_adapter.h, export_hf.h, export_gguf.h), finding the adapter
// of a run (the export command).
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "train/lora/adapters.h"
#include "train/model/llama.h"
#include "train/recipe/recipe.h"

namespace slm {

struct ExportSettings {
  ExportKind format = ExportKind::Peft;
  std::filesystem::path out_dir;
  std::string dtype;  // f32, f16, bf16, q8_0; "" = the format's default (peft f32, merged bf16,
                      // gguf f16, gguf_lora f32)
  bool force = false;
  std::filesystem::path base_model;       // the model the adapter was trained on (model.path)
  std::filesystem::path tokenizer_json;   // model.tokenizer override ("" = the model's own)
  std::filesystem::path chat_template;    // model.chat_template override
  std::string base_model_name;            // adapter_config.json's base_model_name_or_path
};

struct CompatNote {
  bool error = false;    // the combination cannot work in this consumer
  std::string consumer;  // "vLLM", "llama.cpp", "PEFT", "transformers"
  std::string text;
};

// What the consumers of `format` will make of these adapters on this base model. `base_type` is
// the base's weight type ("Q4_1", "BF16", ...; "" when unknown).
std::vector<CompatNote> compatibility_report(const LoraSettings& lora, const ModelConfig& config, ExportKind format,
                                             const std::string& dtype, const std::string& base_type);

// The dominant type of the base model's 2-D weights: a GGUF's tensor type ("Q4_1"), or the
// safetensors dtype ("BF16"); "" when the file cannot tell.
std::string base_weight_type(const std::filesystem::path& base_model);

// True for the formats that need the base weights with the adapter folded in (merged, gguf).
bool export_needs_merged_weights(ExportKind format);

// Runs one export: prints the compatibility report to `log`, refuses on errors, prepares the
// directory, writes. `merged` (the base with the adapter folded in, train/lora/merge.h) is needed
// by merged and gguf, and may be null for the others. Returns the files written.
std::vector<std::filesystem::path> run_export(const ExportSettings& settings, const LoraAdapters& adapters,
                                              const ModelConfig& config, const LlamaWeights* merged,
                                              std::ostream& log);

}  // namespace slm
