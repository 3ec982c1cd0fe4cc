// run_inputs.h — what train and eval load from a recipe: the model, its tokenizer and chat
// template, the prepared data; and the conversion of the data loader's rows into the model's
// input batches.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "data/loader.h"
#include "data/model_assets.h"
#include "data/prepare.h"
#include "train/model/llama_train.h"
#include "train/recipe/recipe.h"

namespace slm::cli {

struct RunInputs {
  std::unique_ptr<LlamaWeights> model;
  Tokenizer tokenizer;
  std::optional<ChatTemplateText> chat_template;
  PreparedData data;
};

// Loads the model and its assets, and prepares (or reuses) the data; prints the data report.
RunInputs load_run_inputs(const Recipe& recipe, const std::filesystem::path& run_dir);

// The evaluation split in order, micro_batch_size rows per batch, at most eval.max_batches.
std::vector<TokenBatch> eval_batches(const PreparedData& data, const Recipe& recipe);

}  // namespace slm::cli
