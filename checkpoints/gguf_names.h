// gguf_names.h — llama.cpp tensor names <-> Hugging Face names, the llama q/k row permutation,
// and the human-readable description of a GGUF file that `slmtune inspect` prints.
//
// Holds: the name mapping for llama-style decoder blocks (Llama, SmolLM2, Qwen 2/3, Mistral,
// Granite: attention, SwiGLU MLP, RMSNorms, Qwen3's q/k norms), convert_hf_to_gguf's q/k
// permutation and its inverse, describe_gguf.
// Does not hold: Gemma's extra norms (their llama.cpp names collide with the llama meaning of
// ffn_norm, so they need the architecture), MoE or vision tensors, file parsing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "checkpoints/gguf.h"

namespace slm {

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"; also token_embd,
// output_norm, output, attn_norm, ffn_norm, attn_k/v/output, ffn_gate/up/down, attn_q_norm,
// attn_k_norm, with .weight or .bias. Throws slm::Error for unknown names.
std::string hf_tensor_name(std::string_view gguf_name);
// The inverse: "model.layers.3.mlp.down_proj.weight" -> "blk.3.ffn_down.weight".
std::string gguf_tensor_name(std::string_view hf_name);

// Undoes llama.cpp's convert_hf_to_gguf permutation of the rows of q_proj (n_heads = H) and
// k_proj (n_heads = G, the KV heads) for llama-architecture GGUFs, in place.
// weight: [n_rows][n_cols] row-major, rows = out features = n_heads * head_dim.
// Within each head, GGUF row 2*i + t holds HF row t * head_dim/2 + i (t in {0, 1}).
// Throws slm::Error unless n_rows is a multiple of 2 * n_heads.
void unpermute_llama_qk(float* weight, std::int64_t n_rows, std::int64_t n_cols,
                        std::int64_t n_heads);
// The permutation itself (convert_hf_to_gguf's LlamaModel.permute), in place: HF row
// t * head_dim/2 + i of each head moves to GGUF row 2*i + t. unpermute_llama_qk undoes it.
// Throws slm::Error unless n_rows is a multiple of 2 * n_heads.
void permute_llama_qk(float* weight, std::int64_t n_rows, std::int64_t n_cols, std::int64_t n_heads);
// The HF row that GGUF row `gguf_row` holds after permute_llama_qk (rows = n_heads * head_dim),
// for writers that stream rows instead of permuting a copy.
std::int64_t llama_qk_source_row(std::int64_t gguf_row, std::int64_t n_rows, std::int64_t n_heads);

// Multi-line text for `slmtune inspect`: version, architecture, key metadata (long arrays
// abbreviated), tokenizer model/pre/vocab size, chat template (abbreviated), a table of tensors
// with type and shape, and a count of tensors per type.
std::string describe_gguf(const GgufFile& file);

}  // namespace slm
