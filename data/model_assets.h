// model_assets.h — the tokenizer and chat template that belong to a model, found where the
// model keeps them: GGUF metadata (tokenizer.ggml.*, tokenizer.chat_template) or the files of an
// HF model directory (tokenizer.json, tokenizer_config.json's chat_template). A recipe or flag
// may name replacements.
// Does not hold: the weights (checkpoints/model_loader.*).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "data/tokenizer/tokenizer.h"

namespace slm {

// The model's tokenizer, or the tokenizer.json at `override_json` when it is non-empty.
Tokenizer load_model_tokenizer(const std::filesystem::path& model_path, const std::filesystem::path& override_json = {});

struct ChatTemplateText {
  std::string text;
  std::string source;  // for messages: "<file> (tokenizer.chat_template)", a template file, ...
};

// The model's chat template, or the Jinja file at `override_file` when it is non-empty (a
// built-in name such as "chatml" when no such file exists); nullopt when the model has none.
std::optional<ChatTemplateText> load_model_chat_template(const std::filesystem::path& model_path,
                                                        const std::filesystem::path& override_file = {});

}  // namespace slm
