// command_logits.cpp — `slmtune logits`: the model's logits at every position of a token
// sequence, with or without an adapter, written to a safetensors file. This is how the export
// checks (tools/verify_export_*.py) compare slmtune with transformers, PEFT and llama.cpp.
//
// Unmerged (--adapter): the training forward, y = x W^T + s (x A^T) B^T per adapted layer.
// Merged (--adapter --merge): the adapter folded into the fp32 weights, then the inference path.
#include <charconv>
#include <iostream>

#include "checkpoints/model_loader.h"
#include "checkpoints/peft_adapter.h"
#include "checkpoints/safetensors.h"
#include "data/model_assets.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"
#include "train/lora/merge.h"
#include "train/model/llama_train.h"

namespace slm::cli {
namespace {

std::vector<std::int32_t> parse_token_list(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find(',', at), text.size());
    std::int32_t id = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + at, text.data() + end, id);
    if (ec != std::errc() || ptr != text.data() + end || id < 0)
      throw UsageError("--tokens: '" + text.substr(at, end - at) + "' is not a token id; give ids like 1,2,3");
    ids.push_back(id);
    at = end + 1;
  }
  return ids;
}

}  // namespace

int run_logits(const ParsedArgs& args) {
  if (!args.has("--model")) throw UsageError("--model PATH is required");
  if (!args.has("--out")) throw UsageError("--out FILE is required");
  if (args.has("--tokens") == args.has("--text")) throw UsageError("give exactly one of --tokens and --text");
  if (args.has("--merge") && !args.has("--adapter")) throw UsageError("--merge needs --adapter");
  const std::filesystem::path model_path = args.get("--model");
  const std::vector<std::int32_t> ids = args.has("--tokens") ? parse_token_list(args.get("--tokens"))
                                                             : load_model_tokenizer(model_path).encode(args.get("--text"), true);
  auto weights = load_llama_model(model_path);
  const std::int64_t vocab = weights->config.vocab_size;
  for (std::int32_t id : ids)
    if (id >= vocab) throw UsageError("token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(vocab) + ")");

  std::unique_ptr<LoraAdapters> adapters;
  if (args.has("--adapter")) {
    const std::filesystem::path dir = args.get("--adapter");
    adapters = std::make_unique<LoraAdapters>(weights->config, read_peft_config(dir));
    load_peft_weights(*adapters, dir);
    if (args.has("--merge")) {
      merge_lora(*weights, *adapters);
      adapters.reset();
    }
  }
  TokenBatch batch;
  const std::vector<std::int32_t> no_labels(ids.size(), -100);
  batch.add_segment(ids, no_labels);
  std::vector<float> logits(ids.size() * static_cast<std::size_t>(vocab));
  LoraTrainStep step(*weights, adapters.get(), batch.size());
  step.logits(batch, logits.data());

  const std::int64_t n = static_cast<std::int64_t>(ids.size());
  const TensorToWrite tensors[] = {{"logits", DType::F32, {n, vocab}, logits.data()},
                                   {"tokens", DType::I32, {n}, ids.data()}};
  write_safetensors(args.get("--out"), tensors);
  std::cerr << "wrote logits [" << n << ", " << vocab << "] to " << args.get("--out") << "\n";
  return 0;
}

}  // namespace slm::cli
