// export_hf.cpp — write_hf_model_dir: weights (F32/F16/BF16, sharded with an index past a size),
// config.json, tokenizer files (copied from an HF base, or serialized from our Tokenizer) and
// generation_config.json. See export_hf.h.
#include "checkpoints/export_hf.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "checkpoints/hf_config.h"
#include "checkpoints/safetensors.h"
#include "data/model_assets.h"  // load_model_tokenizer, load_model_chat_template
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

struct WeightRef {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data;
  std::int64_t elements;
};

std::vector<WeightRef> weight_list(const LlamaWeights& weights) {
  std::vector<WeightRef> out;
  weights.for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    out.push_back({name, shape, data, n});
  });
  return out;
}

// Shards in HF's way: tensors in order, a new shard when the next tensor would pass the limit
// (a tensor larger than the limit gets a shard of its own). Returns [begin, end) index ranges.
std::vector<std::pair<std::size_t, std::size_t>> plan_shards(const std::vector<WeightRef>& tensors,
                                                             std::size_t element_size, std::int64_t max_bytes) {
  std::vector<std::pair<std::size_t, std::size_t>> shards;
  std::int64_t bytes = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::int64_t n = tensors[i].elements * static_cast<std::int64_t>(element_size);
    if (shards.empty() || (bytes > 0 && bytes + n > max_bytes)) {
      shards.emplace_back(i, i);
      bytes = 0;
    }
    shards.back().second = i + 1;
    bytes += n;
  }
  return shards;
}

void narrow(DType dtype, const float* src, std::uint16_t* dst, std::int64_t n) {
  if (dtype == DType::BF16) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
  }
}

std::string shard_name(std::size_t k, std::size_t n) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, n);
  return name;
}

// model.safetensors, or shards + model.safetensors.index.json.
void write_weights(const LlamaWeights& weights, const fs::path& out_dir, const HfExportOptions& options,
                   std::vector<fs::path>& written) {
  const std::vector<WeightRef> tensors = weight_list(weights);
  const std::size_t element_size = dtype_size(options.dtype);
  const auto shards = plan_shards(tensors, element_size, options.max_shard_bytes);
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};  // transformers checks it
  ojson weight_map = ojson::object();
  std::int64_t total_bytes = 0, total_parameters = 0;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const auto [begin, end] = shards[k];
    const std::string file = shards.size() == 1 ? "model.safetensors" : shard_name(k, shards.size());
    std::int64_t shard_elements = 0;
    for (std::size_t i = begin; i < end; ++i) shard_elements += tensors[i].elements;
    std::vector<std::uint16_t> narrowed(options.dtype == DType::F32 ? 0 : static_cast<std::size_t>(shard_elements));
    std::vector<TensorToWrite> to_write;
    std::int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const WeightRef& t = tensors[i];
      const void* data = t.data;
      if (options.dtype != DType::F32) {
        narrow(options.dtype, t.data, narrowed.data() + offset, t.elements);
        data = narrowed.data() + offset;
      }
      offset += t.elements;
      to_write.push_back({t.name, options.dtype, t.shape, data});
      weight_map[t.name] = file;
      total_bytes += t.elements * static_cast<std::int64_t>(element_size);
      total_parameters += t.elements;
    }
    write_safetensors(out_dir / file, to_write, metadata);
    written.push_back(out_dir / file);
  }
  if (shards.size() == 1) return;
  ojson index = ojson::object();
  index["metadata"] = {{"total_parameters", total_parameters}, {"total_size", total_bytes}};
  index["weight_map"] = std::move(weight_map);
  write_file_atomic(out_dir / "model.safetensors.index.json", index.dump(2) + "\n");
  written.push_back(out_dir / "model.safetensors.index.json");
}

// The token's text for tokenizer_config.json, or null when the id is unset or not a special added
// token (transformers would make a named token special, changing how text containing it encodes).
ojson special_name(const Tokenizer& tok, std::int32_t id) {
  if (id < 0 || !tok.is_special(id)) return nullptr;
  return tok.token_text(id);
}

// tokenizer_config.json for our serialized tokenizer.json. add_bos_token / add_eos_token make
// transformers rebuild the post-processor as [bos] $A [eos]; they are written only when that is
// exactly what ours adds, else tokenizer.json's post-processor stays in charge.
std::string tokenizer_config_json(const Tokenizer& tok, const std::optional<ChatTemplateText>& chat,
                                  std::int64_t max_length) {
  const std::vector<std::int32_t> plain = tok.encode("a"), with = tok.encode("a", true);
  const auto at = std::search(with.begin(), with.end(), plain.begin(), plain.end());
  SLM_CHECK(at != with.end(), "tokenizer: encode(text, true) does not contain encode(text); cannot describe it");
  const std::vector<std::int32_t> prefix(with.begin(), at), suffix(at + static_cast<std::ptrdiff_t>(plain.size()), with.end());
  const ojson bos = special_name(tok, tok.bos()), eos = special_name(tok, tok.eos()), pad = special_name(tok, tok.pad());
  ojson j = ojson::object();
  const bool bos_fits = prefix.empty() || (prefix.size() == 1 && prefix[0] == tok.bos() && !bos.is_null());
  const bool eos_fits = suffix.empty() || (suffix.size() == 1 && suffix[0] == tok.eos() && !eos.is_null());
  if (bos_fits && eos_fits) {
    j["add_bos_token"] = !prefix.empty();
    j["add_eos_token"] = !suffix.empty();
  }
  j["bos_token"] = bos;
  j["eos_token"] = eos;
  if (!pad.is_null()) j["pad_token"] = pad;
  if (chat) j["chat_template"] = chat->text;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = max_length;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  return j.dump(2) + "\n";
}

// Reads a JSON object file of the base model (generation_config.json); an empty object if absent.
ojson read_json_object(const fs::path& path) {
  if (!fs::exists(path)) return ojson::object();
  try {
    ojson j = ojson::parse(read_file(path, path.filename().string()));
    if (j.is_object()) return j;
  } catch (const nlohmann::json::exception& e) {
    SLM_FAIL(path.string(), ": invalid JSON (", e.what(), "); fix or remove the base model's file");
  }
  SLM_FAIL(path.string(), ": expected a JSON object; fix or remove the base model's file");
}

// generation_config.json: the base's settings, bos, and every id generation should stop on.
std::string generation_config_json(const ModelConfig& config, const Tokenizer& tok, const fs::path& base_generation) {
  ojson j = read_json_object(base_generation);
  std::vector<std::int64_t> eos;
  auto add = [&](std::int64_t id) {
    if (id >= 0 && id < config.vocab_size && std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  };
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) add(j["eos_token_id"].get<std::int64_t>());
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array())
    for (const auto& id : j["eos_token_id"])
      if (id.is_number_integer()) add(id.get<std::int64_t>());
  for (std::int64_t id : config.eos_token_ids) add(id);
  add(tok.eos());
  add(tok.eot());
  if (config.bos_token_id >= 0) j["bos_token_id"] = config.bos_token_id;
  if (eos.size() == 1) j["eos_token_id"] = eos[0];
  if (eos.size() > 1) j["eos_token_id"] = eos;
  if (tok.pad() >= 0 && tok.pad() < config.vocab_size && !j.contains("pad_token_id")) j["pad_token_id"] = tok.pad();
  return j.dump(2) + "\n";
}

// The HF directory of the base model, or empty for a GGUF file.
fs::path base_hf_dir(const fs::path& base_model_path) {
  if (fs::is_directory(base_model_path)) return base_model_path;
  if (base_model_path.extension() == ".gguf") return {};
  return base_model_path.parent_path();
}

void write_text(const fs::path& path, std::string_view text, std::vector<fs::path>& written) {
  write_file_atomic(path, text);
  written.push_back(path);
}

// tokenizer.json, tokenizer_config.json and their companions (see export_hf.h).
void write_tokenizer_files(const Tokenizer& tok, const fs::path& base_model_path, const HfExportOptions& options,
                           std::int64_t max_length, const fs::path& out_dir, std::vector<fs::path>& written) {
  const std::optional<ChatTemplateText> chat = load_model_chat_template(base_model_path, options.chat_template);
  const bool overridden = !options.chat_template.empty() || !options.tokenizer_json.empty();
  fs::path json_path = options.tokenizer_json;  // load_model_tokenizer made sure it exists
  if (json_path.empty() && !base_hf_dir(base_model_path).empty()) json_path = base_hf_dir(base_model_path) / "tokenizer.json";
  if (json_path.empty()) {  // a GGUF's tokenizer
    write_text(out_dir / "tokenizer.json", tok.to_tokenizer_json(), written);
    write_text(out_dir / "tokenizer_config.json", tokenizer_config_json(tok, chat, max_length), written);
    return;
  }
  const fs::path dir = json_path.parent_path();
  write_text(out_dir / "tokenizer.json", read_file(json_path, "tokenizer.json"), written);
  if (fs::exists(dir / "special_tokens_map.json"))
    write_text(out_dir / "special_tokens_map.json", read_file(dir / "special_tokens_map.json", "special_tokens_map.json"),
               written);
  if (!overridden && fs::exists(dir / "chat_template.jinja"))  // the base model's own files, all of them
    write_text(out_dir / "chat_template.jinja", read_file(dir / "chat_template.jinja", "chat_template.jinja"), written);
  if (!fs::exists(dir / "tokenizer_config.json")) {
    write_text(out_dir / "tokenizer_config.json", tokenizer_config_json(tok, chat, max_length), written);
    return;
  }
  // Verbatim, unless an override makes the template training used differ from the file's.
  const std::string text = read_file(dir / "tokenizer_config.json", "tokenizer_config.json");
  ojson config = read_json_object(dir / "tokenizer_config.json");
  const bool same = chat ? config.contains("chat_template") && config["chat_template"] == chat->text
                         : !config.contains("chat_template");
  if (!overridden || same) {
    write_text(out_dir / "tokenizer_config.json", text, written);
    return;
  }
  if (chat) {
    config["chat_template"] = chat->text;
  } else {
    config.erase("chat_template");
  }
  write_text(out_dir / "tokenizer_config.json", config.dump(2) + "\n", written);
}

}  // namespace

std::vector<fs::path> write_hf_model_dir(const LlamaWeights& weights, const fs::path& base_model_path,
                                         const fs::path& out_dir, const HfExportOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::F16 && options.dtype != DType::BF16)
    SLM_FAIL("merged export: cannot write weights as ", dtype_name(options.dtype), "; choose f32, f16 or bf16");
  SLM_CHECK(options.max_shard_bytes > 0, "merged export: max_shard_bytes = ", options.max_shard_bytes,
            " must be positive");
  SLM_CHECK(fs::is_directory(out_dir), out_dir.string(), ": the export directory does not exist; create it first");
  const Tokenizer tok = load_model_tokenizer(base_model_path, options.tokenizer_json);
  ModelConfig config = weights.config;  // the tokenizer fills ids the model file left unset
  if (config.bos_token_id < 0 && tok.bos() >= 0 && tok.bos() < config.vocab_size) config.bos_token_id = tok.bos();
  if (config.eos_token_ids.empty() && tok.eos() >= 0 && tok.eos() < config.vocab_size) config.eos_token_ids = {tok.eos()};
  const std::string config_text = hf_config_json(config, options.dtype, (out_dir / "config.json").string());

  std::vector<fs::path> written;
  write_weights(weights, out_dir, options, written);
  write_text(out_dir / "config.json", config_text, written);
  write_tokenizer_files(tok, base_model_path, options, config.max_position_embeddings, out_dir, written);
  const fs::path base_dir = base_hf_dir(base_model_path);
  const fs::path base_generation = base_dir.empty() ? fs::path() : base_dir / "generation_config.json";
  write_text(out_dir / "generation_config.json", generation_config_json(config, tok, base_generation), written);
  return written;
}

}  // namespace slm
