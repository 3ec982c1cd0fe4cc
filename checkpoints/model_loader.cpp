// model_loader.cpp — GGUF and safetensors to LlamaWeights: config, shape checks, conversion.
#include "checkpoints/model_loader.h"

#include <set>

#include "checkpoints/gguf.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/gguf_quants.h"
#include "checkpoints/hf_config.h"
#include "checkpoints/safetensors.h"
#include "train/core/error.h"

namespace slm {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::unique_ptr<LlamaWeights> load_safetensors_model(const std::filesystem::path& path) {
  const bool is_dir = std::filesystem::is_directory(path);
  const std::filesystem::path config_path = (is_dir ? path : path.parent_path()) / "config.json";
  ModelConfig config = read_hf_config(config_path);
  config.validate(config_path.string());
  SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
  auto weights = std::make_unique<LlamaWeights>(config);
  std::set<std::string> used;
  weights->for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* dst) {
    const SafetensorsTensor& t = checkpoint.get(name);
    if (t.shape != shape)
      SLM_FAIL(checkpoint.path().string(), ": tensor '", name, "' has shape ", shape_text(t.shape), " but ",
               config_path.string(), " implies ", shape_text(shape), "; the config and weights disagree");
    read_tensor_fp32(t, dst);
    used.insert(name);
  });
  for (const std::string& name : checkpoint.names()) {
    if (used.count(name) || ends_with(name, ".rotary_emb.inv_freq")) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) continue;  // saved copy of the tie
    SLM_FAIL(checkpoint.path().string(), ": tensor '", name, "' is not part of a ", config.architecture,
             " model as ", config_path.string(), " describes it; check that the config belongs to these weights");
  }
  return weights;
}

std::unique_ptr<LlamaWeights> load_gguf_model(const std::filesystem::path& path) {
  GgufFile file = GgufFile::open(path);
  ModelConfig config = config_from_gguf(file);
  config.validate(path.string());
  std::set<std::string> used;
  if (const GgufTensor* f = file.find_tensor("rope_freqs.weight")) {  // Llama 3.1+ RoPE scaling
    config.rope_freq_factors.resize(static_cast<std::size_t>(f->num_elements()));
    dequantize_tensor(*f, config.rope_freq_factors.data());
    used.insert(f->name);
  }
  auto weights = std::make_unique<LlamaWeights>(config);
  weights->for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* dst) {
    const std::string gguf_name = gguf_tensor_name(name);
    const GgufTensor* t = file.find_tensor(gguf_name);
    if (!t)
      SLM_FAIL(path.string(), ": tensor '", gguf_name, "' (", name, ") is missing; the file is incomplete or not a ",
               config.architecture, " model");
    const std::vector<std::int64_t> hf_shape(t->dims.rbegin(), t->dims.rend());  // GGUF lists ne[0] first
    if (hf_shape != shape)
      SLM_FAIL(path.string(), ": tensor '", gguf_name, "' has shape ", shape_text(hf_shape),
               " but the metadata implies ", shape_text(shape));
    dequantize_tensor(*t, dst);
    if (ends_with(name, "self_attn.q_proj.weight")) unpermute_llama_qk(dst, shape[0], shape[1], config.num_heads);
    if (ends_with(name, "self_attn.k_proj.weight")) unpermute_llama_qk(dst, shape[0], shape[1], config.num_kv_heads);
    used.insert(gguf_name);
  });
  for (const GgufTensor& t : file.tensors())
    if (!used.count(t.name))
      SLM_FAIL(path.string(), ": tensor '", t.name, "' is not part of a llama model as the metadata describes it");
  return weights;
}

}  // namespace

ModelConfig config_from_gguf(const GgufFile& file) {
  const std::string arch = file.get_string("general.architecture");
  if (arch != "llama")
    SLM_FAIL(file.path().string(), ": general.architecture is '", arch,
             "'; this version runs llama-architecture models (SmolLM2, Llama 3.x)");
  auto key = [&](const char* k) { return arch + "." + k; };
  ModelConfig c;
  c.architecture = "llama";
  c.hidden_size = file.get_int(key("embedding_length"));
  c.intermediate_size = file.get_int(key("feed_forward_length"));
  c.num_layers = file.get_int(key("block_count"));
  c.num_heads = file.get_int(key("attention.head_count"));
  c.num_kv_heads = file.has(key("attention.head_count_kv")) ? file.get_int(key("attention.head_count_kv")) : c.num_heads;
  c.head_dim = file.has(key("attention.key_length")) ? file.get_int(key("attention.key_length"))
                                                      : (c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.rms_norm_eps = file.get_float(key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = file.has(key("rope.freq_base")) ? file.get_float(key("rope.freq_base")) : 10000.0;
  c.max_position_embeddings = file.has(key("context_length")) ? file.get_int(key("context_length")) : 2048;
  c.vocab_size = file.has(key("vocab_size")) ? file.get_int(key("vocab_size"))
                                              : static_cast<std::int64_t>(file.get_string_array("tokenizer.ggml.tokens").size());
  if (file.has(key("rope.scaling.type"))) {
    const std::string type = file.get_string(key("rope.scaling.type"));
    if (type == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = file.get_float(key("rope.scaling.factor"));
    } else if (type != "none") {
      SLM_FAIL(file.path().string(), ": rope scaling type '", type, "' is not supported yet (none, linear)");
    }
  }
  c.tie_word_embeddings = file.find_tensor("output.weight") == nullptr;
  if (file.has("tokenizer.ggml.bos_token_id")) c.bos_token_id = file.get_int("tokenizer.ggml.bos_token_id");
  if (file.has("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {file.get_int("tokenizer.ggml.eos_token_id")};
  return c;
}

namespace {

enum class ModelFileKind { Gguf, Safetensors };

ModelFileKind model_file_kind(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    SLM_FAIL(path.string(), ": model not found; give a GGUF file, a .safetensors file or an HF model directory "
             "(tools/fetch_models.sh fetches the default model)");
  if (std::filesystem::is_directory(path, ec) || path.extension() == ".safetensors") return ModelFileKind::Safetensors;
  if (path.extension() == ".gguf") return ModelFileKind::Gguf;
  SLM_FAIL(path.string(), ": unknown model file type '", path.extension().string(),
           "'; expected .gguf, .safetensors or an HF model directory");
}

}  // namespace

std::unique_ptr<LlamaWeights> load_llama_model(const std::filesystem::path& path) {
  return model_file_kind(path) == ModelFileKind::Gguf ? load_gguf_model(path) : load_safetensors_model(path);
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  if (model_file_kind(path) == ModelFileKind::Gguf) {
    ModelConfig config = config_from_gguf(GgufFile::open(path));
    config.validate(path.string());
    return config;
  }
  std::error_code ec;
  const std::filesystem::path config_path =
      (std::filesystem::is_directory(path, ec) ? path : path.parent_path()) / "config.json";
  ModelConfig config = read_hf_config(config_path);
  config.validate(config_path.string());
  return config;
}

}  // namespace slm
