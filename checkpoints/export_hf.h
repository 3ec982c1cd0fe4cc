// export_hf.h — the merged Hugging Face model export: an HF model directory that transformers
// (AutoModelForCausalLM, AutoTokenizer), vLLM and llama.cpp's converter load.
//
// Holds: HfExportOptions and write_hf_model_dir, which writes config.json, the weights
// (model.safetensors, or model-0000k-of-0000n.safetensors shards with model.safetensors.index.json),
// tokenizer.json, tokenizer_config.json (chat template, bos / eos, add_bos_token) and
// generation_config.json (eos_token_id includes the end-of-turn token, so generation stops at the
// end of an assistant turn).
// Does not hold: merging the adapter into the weights (train/lora/merge.h), the `export` command,
// GGUF or PEFT exports.
//
// Lives in its own library (slm_export) because it needs both slm_checkpoints (safetensors,
// config.json) and slm_data (tokenizer, chat template), and slm_data already links slm_checkpoints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "checkpoints/dtype.h"
#include "train/model/llama.h"

namespace slm {

struct HfExportOptions {
  DType dtype = DType::F32;                      // F32, F16 or BF16 (others: error)
  std::int64_t max_shard_bytes = 2'000'000'000;  // larger models are sharded with an index
  // What training used instead of the base model's own (a recipe's model.tokenizer and
  // model.chat_template; see data/model_assets.h); empty = the base model's.
  std::filesystem::path tokenizer_json;
  std::filesystem::path chat_template;
};

// Writes an HF model directory for `weights` (already merged with the adapter, fp32, HF layout)
// into `out_dir` (which the caller has created and emptied). The tokenizer and chat template come
// from the base model at `base_model_path` (a GGUF file, or an HF directory or a .safetensors
// file in one), or from the options' overrides:
//  - tokenizer.json (and special_tokens_map.json) are copied verbatim from the HF directory, or
//    from beside options.tokenizer_json; from a GGUF, our Tokenizer is serialized
//    (Tokenizer::to_tokenizer_json, which keeps what we run, e.g. SmolLM2's digit splitting);
//  - tokenizer_config.json is copied verbatim when the tokenizer's directory has one and its
//    chat_template is the one training used, patched when the template differs (an override),
//    and otherwise written from the Tokenizer: chat_template, bos / eos / pad tokens,
//    add_bos_token, model_max_length, tokenizer_class PreTrainedTokenizerFast (which loads
//    tokenizer.json as it is); the base's chat_template.jinja is copied when nothing is overridden;
//  - generation_config.json keeps a base one's settings; eos_token_id becomes the union of the
//    config's, the tokenizer's eos and its end-of-turn token.
// Narrowing to F16 / BF16 rounds to nearest even and holds one shard's converted bytes in memory.
// Every file is written atomically. Returns the files written, in the order written.
std::vector<std::filesystem::path> write_hf_model_dir(const LlamaWeights& weights,
                                                      const std::filesystem::path& base_model_path,
                                                      const std::filesystem::path& out_dir,
                                                      const HfExportOptions& options);

}  // namespace slm
