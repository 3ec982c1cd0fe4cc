// export_gguf.cpp — write_gguf_model and write_gguf_lora: what goes into the GGUF files (names,
// layouts, metadata); the bytes are GgufWriter's. Rows of q_proj / k_proj (and of their lora_b)
// are streamed in llama.cpp's permuted order straight from the fp32 weights, so no copy of the
// model is made.
#include "checkpoints/export_gguf.h"

#include <cmath>
#include <iostream>

#include "checkpoints/export_gguf_tokenizer.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/gguf_quants.h"
#include "checkpoints/gguf_write.h"
#include "train/core/error.h"

namespace slm {
namespace {

constexpr std::uint32_t k_quantization_version = 2;  // ggml's GGML_QNT_VERSION

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// general.file_type: llama.cpp's LLAMA_FTYPE numbers (ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16).
std::uint32_t file_type_of(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
    default: break;
  }
  SLM_FAIL("GGUF export: type ", ggml_type_name(type), " is not offered; choose F32, F16, BF16 or Q8_0");
}

// Per-frequency RoPE divisors [E/2] for llama3 scaling, as convert_hf_to_gguf computes them
// (float32). The original context length is the config's (transformers' meaning); the converter
// reads a top-level key that Llama 3.x configs lack and falls back to 8192, their value.
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const float factor = static_cast<float>(c.rope_factor), low = static_cast<float>(c.rope_low_freq_factor);
  const float high = static_cast<float>(c.rope_high_freq_factor);
  const float old_len = static_cast<float>(c.rope_original_max_position);
  const float low_wavelen = old_len / low, high_wavelen = old_len / high;
  std::vector<float> out(static_cast<std::size_t>(c.head_dim / 2));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta),
                                       static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
    const float wavelen = 2.0f * static_cast<float>(M_PI) / freq;
    if (wavelen < high_wavelen) {
      out[i] = 1.0f;
    } else if (wavelen > low_wavelen) {
      out[i] = factor;
    } else {
      const float smooth = (old_len / wavelen - low) / (high - low);
      out[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
    }
  }
  return out;
}

// The llama.* hyperparameters llama.cpp reads for LLM_ARCH_LLAMA.
void set_llama_metadata(GgufWriter& w, const ModelConfig& c) {
  auto u32 = [&](const char* key, std::int64_t v) { w.set_u32(std::string("llama.") + key, static_cast<std::uint32_t>(v)); };
  u32("block_count", c.num_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_heads);
  u32("attention.head_count_kv", c.num_kv_heads);
  w.set_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  u32("attention.key_length", c.head_dim);
  u32("attention.value_length", c.head_dim);
  u32("vocab_size", c.vocab_size);
  u32("rope.dimension_count", c.head_dim);
  if (c.rope_scaling == RopeScaling::Linear) {
    w.set_string("llama.rope.scaling.type", "linear");
    w.set_f32("llama.rope.scaling.factor", static_cast<float>(c.rope_factor));
  }
}

bool is_descriptive_general(std::string_view key) {
  return key.substr(0, 8) == "general." && key != "general.architecture" && key != "general.type" &&
         key != "general.file_type" && key != "general.quantization_version" && key != "general.alignment";
}

// Copies the base GGUF's descriptive general.* keys now and returns its tokenizer.* keys for later.
std::vector<std::pair<std::string, GgufValue>> copy_from_gguf_base(GgufWriter& w, const std::filesystem::path& base,
                                                                  const ModelConfig& c) {
  const GgufFile file = GgufFile::open(base);
  std::vector<std::pair<std::string, GgufValue>> tokenizer;
  for (const std::string& key : file.keys()) {
    if (is_descriptive_general(key)) w.set(key, file.get(key));
    if (key.substr(0, 10) == "tokenizer.") tokenizer.emplace_back(key, file.get(key));
  }
  if (file.has("tokenizer.ggml.tokens")) {
    const std::size_t n = file.get("tokenizer.ggml.tokens").size();
    if (static_cast<std::int64_t>(n) != c.vocab_size)
      SLM_FAIL(base.string(), ": the base model's tokenizer has ", n, " tokens but the model to export has ", c.vocab_size,
               " embedding rows; llama.cpp needs them equal. Is this the model the weights came from?");
  }
  return tokenizer;
}

// The tokenizer metadata of an HF directory (or of the directory holding a .safetensors file).
std::vector<std::pair<std::string, GgufValue>> tokenizer_from_hf_base(const std::filesystem::path& base,
                                                                     const std::filesystem::path& out_file,
                                                                     const ModelConfig& c) {
  const std::filesystem::path dir = std::filesystem::is_directory(base) ? base : base.parent_path();
  if (std::filesystem::exists(dir / "tokenizer.json")) return gguf_tokenizer_from_hf_dir(dir, c.vocab_size);
  std::cerr << "slmtune: warning: " << (dir / "tokenizer.json").string() << " not found: " << out_file.string()
            << " has no tokenizer metadata; slmtune loads it, llama.cpp does not (give a base model with a tokenizer)\n";
  return {};
}

// A row source over a [rows, cols] fp32 matrix; q/k rows come out in llama.cpp's order. Checks
// that every value is finite (a NaN would quantize to garbage without a word).
GgufRowSource matrix_rows(const float* data, std::int64_t rows, std::int64_t cols, std::int64_t permute_heads,
                          std::string name) {
  return [=](std::int64_t begin, std::int64_t n, float* dst) {
    for (std::int64_t r = begin; r < begin + n; ++r) {
      const std::int64_t src = permute_heads > 0 ? llama_qk_source_row(r, rows, permute_heads) : r;
      const float* row = data + src * cols;
      float* out = dst + (r - begin) * cols;
      for (std::int64_t j = 0; j < cols; ++j) {
        if (!std::isfinite(row[j]))
          SLM_FAIL("weight '", name, "' holds ", row[j], " at [", src, ", ", j,
                   "]; a model with non-finite weights cannot be exported (training diverged?)");
        out[j] = row[j];
      }
    }
  };
}

// Heads for the q/k permutation of an HF weight name, 0 for other weights.
std::int64_t qk_heads(std::string_view hf_name, const ModelConfig& c) {
  if (ends_with(hf_name, "self_attn.q_proj.weight")) return c.num_heads;
  if (ends_with(hf_name, "self_attn.k_proj.weight")) return c.num_kv_heads;
  return 0;
}

void check_base_path(const std::filesystem::path& base) {
  std::error_code ec;
  if (!std::filesystem::exists(base, ec))
    SLM_FAIL(base.string(), ": base model not found; the GGUF export copies its tokenizer from it");
}

}  // namespace

void write_gguf_model(const LlamaWeights& weights, const std::filesystem::path& base_model_path,
                      const std::filesystem::path& out_file, GgmlType type, const GgufModelAssets& assets) {
  const ModelConfig& c = weights.config;
  c.validate(out_file.string());
  const std::uint32_t file_type = file_type_of(type);
  check_base_path(base_model_path);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "model");
  const bool gguf_base = base_model_path.extension() == ".gguf" && !std::filesystem::is_directory(base_model_path);
  std::vector<std::pair<std::string, GgufValue>> tokenizer =
      gguf_base ? copy_from_gguf_base(w, base_model_path, c) : tokenizer_from_hf_base(base_model_path, out_file, c);
  if (!assets.tokenizer_json.empty()) tokenizer = gguf_tokenizer_from_hf_dir(assets.tokenizer_json.parent_path(), c.vocab_size);
  if (assets.chat_template) {
    std::erase_if(tokenizer, [](const auto& kv) { return kv.first.rfind("tokenizer.chat_template", 0) == 0; });
    tokenizer.emplace_back("tokenizer.chat_template", gguf_value_string(*assets.chat_template));
  }
  if (!w.has("general.name")) w.set_string("general.name", base_model_path.filename().string());
  set_llama_metadata(w, c);
  w.set_u32("general.file_type", file_type);
  w.set_u32("general.quantization_version", k_quantization_version);
  for (auto& [key, value] : tokenizer) w.set(key, std::move(value));

  std::vector<float> rope_factors = c.rope_freq_factors;
  if (rope_factors.empty() && c.rope_scaling == RopeScaling::Llama3) rope_factors = llama3_rope_factors(c);
  if (!rope_factors.empty())
    w.add_tensor("rope_freqs.weight", {static_cast<std::int64_t>(rope_factors.size())}, GgmlType::F32, rope_factors.data());
  weights.for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
    const std::string gguf_name = gguf_tensor_name(name);
    if (shape.size() == 1) {
      w.add_tensor(gguf_name, {shape[0]}, GgmlType::F32, matrix_rows(data, 1, shape[0], 0, name));
      return;
    }
    // Rows that do not split into Q8_0 blocks fall back to F16, as convert_hf_to_gguf does.
    const GgmlType t = shape[1] % ggml_block_elements(type) == 0 ? type : GgmlType::F16;
    w.add_tensor(gguf_name, {shape[1], shape[0]}, t, matrix_rows(data, shape[0], shape[1], qk_heads(name, c), name));
  });
  w.write(out_file);
}

void write_gguf_lora(const LoraAdapters& adapters, const ModelConfig& config, const std::filesystem::path& out_file,
                     GgmlType type, const std::string& base_model_name) {
  const LoraSettings& s = adapters.settings();
  if (s.use_dora)
    SLM_FAIL(out_file.string(), ": a DoRA adapter cannot be written as a llama.cpp LoRA GGUF (llama.cpp has no DoRA "
             "magnitudes); export it merged (--format gguf) instead");
  if (type != GgmlType::F32 && type != GgmlType::F16)
    SLM_FAIL(out_file.string(), ": LoRA GGUF tensors are written as F32 or F16, not ", ggml_type_name(type));
  if (!(s.alpha > 0))
    SLM_FAIL(out_file.string(), ": lora alpha is ", s.alpha, "; llama.cpp reads alpha 0 as scale 1, so only a "
             "positive alpha can be exported");
  config.validate(out_file.string());
  const double alpha = s.use_rslora ? s.alpha * std::sqrt(static_cast<double>(s.rank)) : s.alpha;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "adapter");
  w.set_string("adapter.type", "lora");
  w.set_f32("adapter.lora.alpha", static_cast<float>(alpha));  // llama.cpp reads it as FLOAT32 only
  w.set_string("general.name", base_model_name + " LoRA");
  w.set_u32("general.base_model.count", 1);
  w.set_string("general.base_model.0.name", base_model_name);
  set_llama_metadata(w, config);
  w.set_u32("general.file_type", file_type_of(type));
  w.set_u32("general.quantization_version", k_quantization_version);
  const std::int64_t r = s.rank;
  for (const LoraModule& m : adapters.modules()) {
    const std::string hf = "model.layers." + std::to_string(m.layer) + "." + std::string(slot_module_name(m.slot)) + ".weight";
    const std::string base = gguf_tensor_name(hf);
    SLM_CHECK(m.layer < config.num_layers, out_file.string(), ": adapter for layer ", m.layer, " but the model has ",
              config.num_layers, " layers; the adapter belongs to another model");
    w.add_tensor(base + ".lora_a", {m.in, r}, type, matrix_rows(m.a, r, m.in, 0, hf + " lora_A"));
    w.add_tensor(base + ".lora_b", {r, m.out}, type, matrix_rows(m.b, m.out, r, qk_heads(hf, config), hf + " lora_B"));
  }
  w.write(out_file);
}

}  // namespace slm
