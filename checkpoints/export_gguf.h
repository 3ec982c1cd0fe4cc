// export_gguf.h — exports for llama.cpp: a merged model as a GGUF file, and LoRA adapters as a
// llama.cpp LoRA GGUF.
//
// Conventions taken from llama.cpp (convert_hf_to_gguf.py, convert_lora_to_gguf.py,
// src/llama-adapter.cpp):
//  - q_proj / k_proj rows (and a LoRA's lora_b rows) are permuted into llama.cpp's rotary layout
//    (permute_llama_qk); everything else keeps HF's layout, dims listed ne[0] first ([out, in]
//    is {in, out}).
//  - 1-D tensors (norms, rope_freqs) stay F32 whatever the type; a 2-D weight whose rows do not
//    split into blocks of 32 is written F16 when Q8_0 is asked for (as the converter does).
//  - Llama 3.1+ RoPE scaling is the per-frequency tensor rope_freqs.weight ([head_dim / 2] F32,
//    made from the config's llama3 factors the way the converter does); linear scaling is
//    llama.rope.scaling.type "linear" + llama.rope.scaling.factor.
//  - A LoRA GGUF holds, per adapted weight W [out, in], "<W's GGUF name>.lora_a" = A [r, in]
//    (ne {in, r}) and ".lora_b" = B [out, r] (ne {r, out}); llama.cpp adds
//    (alpha / r) * B (A x), with r read from lora_b, and adapter.lora.alpha must be FLOAT32.
// Does not hold: the GGUF byte format (checkpoints/gguf_write.*), HF or PEFT exports.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "checkpoints/gguf.h"
#include "train/lora/adapters.h"
#include "train/model/llama.h"

namespace slm {

// A merged model as GGUF (llama architecture): type F32, F16, BF16 or Q8_0 for the 2-D weights
// (1-D norms stay F32 as llama.cpp does). q_proj/k_proj rows are permuted back into llama.cpp's
// layout. Metadata: llama.* hyperparameters from weights.config (incl. rope_freqs / linear rope
// scaling), general.file_type, and the tokenizer (tokenizer.ggml.*) and tokenizer.chat_template
// copied from the base model when base_model_path is a GGUF (with its descriptive general.* keys).
// For an HF-directory base the tokenizer is built from its tokenizer.json (see
// checkpoints/export_gguf_tokenizer.h; a tokenizer llama.cpp cannot name is an error); a directory
// without tokenizer.json gives a file without a tokenizer, which slmtune loads but llama.cpp does
// not, and a warning on stderr says so. Writes atomically; throws slm::Error naming the tensor
// for non-finite weights.
// What training used instead of the base model's own tokenizer and template (a recipe's
// model.tokenizer and model.chat_template): they replace the base's in the file.
struct GgufModelAssets {
  std::filesystem::path tokenizer_json;       // a tokenizer.json (its directory's files are read)
  std::optional<std::string> chat_template;   // the template's text
};

void write_gguf_model(const LlamaWeights& weights, const std::filesystem::path& base_model_path,
                      const std::filesystem::path& out_file, GgmlType type, const GgufModelAssets& assets = {});

// A llama.cpp LoRA adapter: general.architecture llama, general.type "adapter", adapter.type
// "lora", adapter.lora.alpha (alpha * sqrt(r) for rsLoRA, so that llama.cpp's alpha / r equals
// rsLoRA's alpha / sqrt(r)), tensors blk.{i}.attn_q.weight.lora_a / .lora_b, F32 or F16 (F16 as
// convert_lora_to_gguf's default). DoRA adapters cannot be expressed (llama.cpp has no
// magnitudes): slm::Error. `config` is the base model's (heads for the q/k permutation, llama.*
// metadata); base_model_name goes to general.name and general.base_model.0.name.
void write_gguf_lora(const LoraAdapters& adapters, const ModelConfig& config,
                     const std::filesystem::path& out_file, GgmlType type, const std::string& base_model_name);

}  // namespace slm
