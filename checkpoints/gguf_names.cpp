// gguf_names.cpp — tensor name mapping, the llama q/k unpermutation, and describe_gguf.
//
// Holds no parsing (checkpoints/gguf.cpp) and no dequantization (checkpoints/gguf_quants.cpp).
#include "checkpoints/gguf_names.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <map>
#include <sstream>
#include <vector>

#include "checkpoints/gguf_quants.h"
#include "train/core/error.h"

namespace slm {
namespace {

struct NamePair {
  std::string_view gguf;
  std::string_view hf;
};

// Whole-model tensors (no block index); the suffix (.weight / .bias) is kept as is.
constexpr NamePair k_global_names[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
};

// Per-block tensors: "blk.{i}.<gguf>" <-> "model.layers.{i}.<hf>".
constexpr NamePair k_block_names[] = {
    {"attn_norm", "input_layernorm"},    {"ffn_norm", "post_attention_layernorm"},
    {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},      {"attn_output", "self_attn.o_proj"},
    {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

// Splits "stem.weight" / "stem.bias" into stem and suffix (with its dot); false otherwise.
bool split_suffix(std::string_view name, std::string_view& stem, std::string_view& suffix) {
  for (std::string_view s : {std::string_view(".weight"), std::string_view(".bias")}) {
    if (name.size() > s.size() && name.substr(name.size() - s.size()) == s) {
      stem = name.substr(0, name.size() - s.size());
      suffix = s;
      return true;
    }
  }
  return false;
}

// Parses "<prefix><digits>.<rest>"; on success sets layer (the digits) and rest.
bool split_layer(std::string_view stem, std::string_view prefix, std::string_view& layer,
                 std::string_view& rest) {
  if (stem.substr(0, prefix.size()) != prefix) return false;
  std::string_view tail = stem.substr(prefix.size());
  std::size_t dot = tail.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 9) return false;
  for (char c : tail.substr(0, dot))
    if (c < '0' || c > '9') return false;
  if (dot > 1 && tail[0] == '0') return false;  // no leading zeros: the mapping must round-trip
  layer = tail.substr(0, dot);
  rest = tail.substr(dot + 1);
  return true;
}

// Maps `name` using the tables in direction from -> to; empty string when unknown.
std::string map_name(std::string_view name, bool to_hf) {
  std::string_view stem, suffix, layer, rest;
  if (!split_suffix(name, stem, suffix)) return {};
  for (const NamePair& p : k_global_names)
    if (stem == (to_hf ? p.gguf : p.hf))
      return std::string(to_hf ? p.hf : p.gguf) + std::string(suffix);
  std::string_view from_prefix = to_hf ? "blk." : "model.layers.";
  std::string_view to_prefix = to_hf ? "model.layers." : "blk.";
  if (!split_layer(stem, from_prefix, layer, rest)) return {};
  for (const NamePair& p : k_block_names)
    if (rest == (to_hf ? p.gguf : p.hf))
      return std::string(to_prefix) + std::string(layer) + "." +
             std::string(to_hf ? p.hf : p.gguf) + std::string(suffix);
  return {};
}

}  // namespace

std::string hf_tensor_name(std::string_view gguf_name) {
  std::string out = map_name(gguf_name, true);
  if (out.empty())
    SLM_FAIL("GGUF tensor '", gguf_name,
             "' has no Hugging Face name in slmtune's llama-style "
             "mapping (token_embd, output_norm, output, blk.N.attn_*/ffn_*); the architecture "
             "may not be supported yet");
  return out;
}

std::string gguf_tensor_name(std::string_view hf_name) {
  std::string out = map_name(hf_name, false);
  if (out.empty())
    SLM_FAIL("Hugging Face tensor '", hf_name,
             "' has no GGUF name in slmtune's llama-style "
             "mapping (model.embed_tokens, model.norm, lm_head, model.layers.N.self_attn/mlp/"
             "*_layernorm); the architecture may not be supported yet");
  return out;
}

namespace {

void check_qk_shape(const char* what, std::int64_t n_rows, std::int64_t n_cols, std::int64_t n_heads) {
  if (n_heads <= 0 || n_rows <= 0 || n_cols <= 0 || n_rows % (2 * n_heads) != 0)
    SLM_FAIL(what, ": ", n_rows, " rows cannot be split into ", n_heads,
             " heads of an even head_dim; check attention.head_count(_kv) in the GGUF metadata");
}

// Moves rows head by head: GGUF row 2i+t <-> HF row t*half+i (to_hf picks the direction).
void move_qk_rows(float* weight, std::int64_t n_rows, std::int64_t n_cols, std::int64_t n_heads, bool to_hf) {
  const std::int64_t head_dim = n_rows / n_heads, half = head_dim / 2;
  const auto row_bytes = static_cast<std::size_t>(n_cols) * sizeof(float);
  std::vector<float> head(static_cast<std::size_t>(head_dim * n_cols));  // [head_dim, n_cols]
  for (std::int64_t h = 0; h < n_heads; ++h) {
    float* base = weight + h * head_dim * n_cols;
    std::memcpy(head.data(), base, static_cast<std::size_t>(head_dim) * row_bytes);
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t t = 0; t < 2; ++t) {
        const std::int64_t gguf_row = 2 * i + t, hf_row = t * half + i;
        const std::int64_t to = to_hf ? hf_row : gguf_row, from = to_hf ? gguf_row : hf_row;
        std::memcpy(base + to * n_cols, head.data() + from * n_cols, row_bytes);
      }
  }
}

}  // namespace

void unpermute_llama_qk(float* weight, std::int64_t n_rows, std::int64_t n_cols,
                        std::int64_t n_heads) {
  check_qk_shape("unpermute_llama_qk", n_rows, n_cols, n_heads);
  move_qk_rows(weight, n_rows, n_cols, n_heads, true);
}

void permute_llama_qk(float* weight, std::int64_t n_rows, std::int64_t n_cols, std::int64_t n_heads) {
  check_qk_shape("permute_llama_qk", n_rows, n_cols, n_heads);
  move_qk_rows(weight, n_rows, n_cols, n_heads, false);
}

std::int64_t llama_qk_source_row(std::int64_t gguf_row, std::int64_t n_rows, std::int64_t n_heads) {
  check_qk_shape("llama_qk_source_row", n_rows, 1, n_heads);
  SLM_CHECK(gguf_row >= 0 && gguf_row < n_rows, "llama_qk_source_row: row ", gguf_row, " outside [0, ", n_rows,
            "); this is a bug in the caller");
  const std::int64_t head_dim = n_rows / n_heads, half = head_dim / 2;
  const std::int64_t h = gguf_row / head_dim, r = gguf_row % head_dim;
  return h * head_dim + (r % 2) * half + r / 2;
}

// --- describe_gguf ----------------------------------------------------------------------------

namespace {

std::string shape_text(const GgufTensor& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.dims.size(); ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
  return s + "]";
}

void describe_metadata(const GgufFile& f, std::ostringstream& os) {
  os << "metadata (" << f.keys().size() << " keys):\n";
  for (const std::string& key : f.keys()) {
    if (key == "tokenizer.chat_template") continue;  // shown below
    const GgufValue& v = f.get(key);
    os << "  " << key << " (" << v.type_text() << "): " << f.value_text(key, 8) << "\n";
  }
}

void describe_tokenizer(const GgufFile& f, std::ostringstream& os) {
  os << "tokenizer:";
  for (const char* key : {"tokenizer.ggml.model", "tokenizer.ggml.pre"})
    if (f.has(key) && f.get(key).type == GgufValueType::STRING)
      os << " " << (std::strrchr(key, '.') + 1) << "=" << f.get_string(key);
  if (f.has("tokenizer.ggml.tokens")) os << " vocab_size=" << f.get("tokenizer.ggml.tokens").size();
  if (f.has("tokenizer.ggml.merges")) os << " merges=" << f.get("tokenizer.ggml.merges").size();
  os << "\n";
  if (f.has("tokenizer.chat_template"))
    os << "chat template: " << f.value_text("tokenizer.chat_template") << "\n";
  else
    os << "chat template: (none)\n";
}

void describe_tensors(const GgufFile& f, std::ostringstream& os) {
  std::size_t width = 4;
  for (const GgufTensor& t : f.tensors()) width = std::max(width, t.name.size());
  os << "tensors (" << f.tensors().size() << "):\n";
  os << "  " << std::left << std::setw(static_cast<int>(width)) << "name"
     << "  " << std::setw(5) << "type"
     << "  shape (ne[0] first)\n";
  std::map<std::string, std::pair<std::size_t, std::uint64_t>> per_type;  // name -> count, bytes
  std::uint64_t params = 0;
  for (const GgufTensor& t : f.tensors()) {
    os << "  " << std::setw(static_cast<int>(width)) << t.name << "  " << std::setw(5)
       << ggml_type_name(t.type) << "  " << shape_text(t) << "\n";
    auto& [count, bytes] = per_type[std::string(ggml_type_name(t.type))];
    ++count;
    bytes += t.nbytes;
    params += static_cast<std::uint64_t>(t.num_elements());
  }
  os << "tensors per type:";
  for (const auto& [name, cb] : per_type)
    os << " " << name << "=" << cb.first << " (" << cb.second / 1024 << " KiB)";
  os << "\nparameters: " << params << "\n";
}

}  // namespace

std::string describe_gguf(const GgufFile& f) {
  std::ostringstream os;
  os << "file: " << f.path().string() << " (" << f.file_size() << " bytes)\n";
  os << "format: GGUF v" << f.version() << ", alignment " << f.alignment() << ", data at byte "
     << f.data_offset() << "\n";
  std::string arch =
      f.has("general.architecture") && f.get("general.architecture").type == GgufValueType::STRING
          ? f.get_string("general.architecture")
          : "(missing)";
  os << "architecture: " << arch << "\n";
  if (f.has("general.name")) os << "name: " << f.value_text("general.name") << "\n";
  describe_tokenizer(f, os);
  describe_metadata(f, os);
  describe_tensors(f, os);
  return os.str();
}

}  // namespace slm
