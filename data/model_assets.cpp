// model_assets.cpp — finding a model's tokenizer and chat template in a GGUF or an HF directory.
#include "data/model_assets.h"

#include <nlohmann/json.hpp>

#include "checkpoints/gguf.h"
#include "data/chat_template/builtin.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

bool is_gguf(const std::filesystem::path& p) { return p.extension() == ".gguf" && !std::filesystem::is_directory(p); }

// The HF directory that holds a model's side files.
std::filesystem::path model_dir(const std::filesystem::path& model_path) {
  return std::filesystem::is_directory(model_path) ? model_path : model_path.parent_path();
}

TokenizerSpec spec_from_gguf(const GgufFile& file) {
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    SLM_FAIL(file.path().string(), ": tokenizer.ggml.model is '", model,
             "'; this version reads byte-level BPE tokenizers (gpt2); give model.tokenizer a tokenizer.json");
  TokenizerSpec spec;
  spec.source = file.path().string();
  spec.tokens = file.get_string_array("tokenizer.ggml.tokens");
  spec.merges = file.get_string_array("tokenizer.ggml.merges");
  if (file.has("tokenizer.ggml.token_type"))
    for (std::int64_t t : file.get_int_array("tokenizer.ggml.token_type")) spec.token_types.push_back(static_cast<std::int32_t>(t));
  spec.pre = file.has("tokenizer.ggml.pre") ? file.get_string("tokenizer.ggml.pre") : "gpt2";
  auto id = [&](const char* key) { return file.has(key) ? static_cast<std::int32_t>(file.get_int(key)) : -1; };
  spec.bos = id("tokenizer.ggml.bos_token_id");
  spec.eos = id("tokenizer.ggml.eos_token_id");
  spec.eot = id("tokenizer.ggml.eot_token_id");
  spec.pad = id("tokenizer.ggml.padding_token_id");
  spec.add_bos = file.has("tokenizer.ggml.add_bos_token") && file.get_bool("tokenizer.ggml.add_bos_token");
  return spec;
}

}  // namespace

Tokenizer load_model_tokenizer(const std::filesystem::path& model_path, const std::filesystem::path& override_json) {
  if (!override_json.empty()) return Tokenizer::from_tokenizer_json(override_json);
  if (is_gguf(model_path)) return Tokenizer::from_spec(spec_from_gguf(GgufFile::open(model_path)));
  const std::filesystem::path json = model_dir(model_path) / "tokenizer.json";
  if (!std::filesystem::exists(json))
    SLM_FAIL(json.string(), ": not found; the model directory has no tokenizer.json. Set model.tokenizer to one");
  return Tokenizer::from_tokenizer_json(json);
}

std::optional<ChatTemplateText> load_model_chat_template(const std::filesystem::path& model_path,
                                                        const std::filesystem::path& override_file) {
  if (!override_file.empty()) {
    if (auto builtin = builtin_chat_template(override_file.string()); builtin && !std::filesystem::exists(override_file))
      return ChatTemplateText{*builtin, "built-in chat template '" + override_file.string() + "'"};
    return ChatTemplateText{read_file(override_file, "chat template"), override_file.string()};
  }
  if (is_gguf(model_path)) {
    GgufFile file = GgufFile::open(model_path);
    if (!file.has("tokenizer.chat_template")) return std::nullopt;
    return ChatTemplateText{file.get_string("tokenizer.chat_template"), model_path.string() + " (tokenizer.chat_template)"};
  }
  const std::filesystem::path config = model_dir(model_path) / "tokenizer_config.json";
  if (!std::filesystem::exists(config)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config, "tokenizer_config.json"));
  } catch (const nlohmann::json::parse_error& e) {
    SLM_FAIL(config.string(), ": invalid JSON at byte ", e.byte, ": ", e.what());
  }
  if (!j.contains("chat_template")) return std::nullopt;
  const auto& t = j["chat_template"];
  if (t.is_string()) return ChatTemplateText{t.get<std::string>(), config.string() + " (chat_template)"};
  if (t.is_array())  // named templates: [{"name": "default", "template": "..."}, ...]
    for (const auto& item : t)
      if (item.value("name", "") == "default" && item.contains("template") && item["template"].is_string())
        return ChatTemplateText{item["template"].get<std::string>(), config.string() + " (chat_template default)"};
  SLM_FAIL(config.string(), ": chat_template is neither a string nor a list with a 'default' entry");
}

}  // namespace slm
