// run_inputs.cpp — loading a run's model, assets and data; rows to model batches.
#include "tools/slmtune/run_inputs.h"

#include <iostream>

#include "checkpoints/model_loader.h"
#include "train/core/error.h"

namespace slm::cli {

RunInputs load_run_inputs(const Recipe& r, const std::filesystem::path& run_dir) {
  const std::filesystem::path model_path = r.model.path;
  auto model = load_llama_model(model_path);
  Tokenizer tokenizer = load_model_tokenizer(model_path, r.model.tokenizer);
  if (tokenizer.vocab_size() > model->config.vocab_size)
    SLM_FAIL(model_path.string(), ": the tokenizer has ", tokenizer.vocab_size(), " tokens but the model only ",
             model->config.vocab_size, " embeddings; model.tokenizer belongs to another model");
  auto chat_template = load_model_chat_template(model_path, r.model.chat_template);
  PreparedData data = prepare_data(r, run_dir, tokenizer, chat_template);
  std::cerr << format_prepare_report(data);
  return RunInputs{std::move(model), std::move(tokenizer), std::move(chat_template), std::move(data)};
}

std::vector<TokenBatch> eval_batches(const PreparedData& data, const Recipe& r) {
  std::vector<TokenBatch> out;
  if (!data.eval) return out;
  LoaderOptions o;
  o.micro_batch_size = r.train.micro_batch_size;
  o.shuffle = false;
  o.drop_last = false;
  DataLoader loader(data.eval->shards, o);
  MicroBatch rows;
  while (loader.next(rows) && (r.eval.max_batches == 0 || static_cast<std::int64_t>(out.size()) < r.eval.max_batches))
    if (rows.rows > 0) out.push_back(to_token_batch(rows));
  return out;
}

}  // namespace slm::cli
