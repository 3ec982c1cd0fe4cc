// command_generate.cpp — `slmtune generate`: load a model, optionally wrap the prompt in the
// model's chat template, optionally apply a PEFT adapter (merged into the weights), stream the
// continuation to stdout, report speed on stderr.
#include <chrono>
#include <iostream>

#include "checkpoints/model_loader.h"
#include "checkpoints/peft_adapter.h"
#include "data/chat_template/chat_template.h"
#include "data/model_assets.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"
#include "train/lora/merge.h"
#include "train/model/generate.h"

namespace slm::cli {
namespace {

std::vector<std::int32_t> prompt_tokens(const ParsedArgs& args, const Tokenizer& tokenizer,
                                        const std::filesystem::path& model) {
  const std::string prompt = args.get("--prompt");
  if (!args.has("--chat")) return tokenizer.encode(prompt, true);
  auto text = load_model_chat_template(model);
  if (!text)
    SLM_FAIL(model.string(), ": the model has no chat template; drop --chat, or use a model with one");
  ChatTemplate chat(text->text, text->source);
  const ChatMessage user{"user", prompt};
  const std::string bos = tokenizer.bos() >= 0 ? tokenizer.token_text(tokenizer.bos()) : "";
  const std::string eos = tokenizer.eos() >= 0 ? tokenizer.token_text(tokenizer.eos()) : "";
  return tokenizer.encode(chat.render(std::span(&user, 1), true, bos, eos), false);
}

}  // namespace

int run_generate(const ParsedArgs& args) {
  if (!args.has("--model")) throw UsageError("--model PATH is required");
  if (!args.has("--prompt")) throw UsageError("--prompt TEXT is required");
  const std::filesystem::path model = args.get("--model");
  SamplingParams params;
  params.max_new_tokens = args.get_int("--max-new-tokens", 128);
  params.temperature = static_cast<float>(args.get_double("--temperature", 0.0));
  params.top_p = static_cast<float>(args.get_double("--top-p", 1.0));
  params.seed = static_cast<std::uint64_t>(args.get_int("--seed", 0));
  if (params.max_new_tokens < 1) throw UsageError("--max-new-tokens must be at least 1");

  const auto load_start = std::chrono::steady_clock::now();
  auto weights = load_llama_model(model);
  if (args.has("--adapter")) {  // merged into the fp32 weights: the same function as base + adapter
    const std::filesystem::path adapter_dir = args.get("--adapter");
    LoraAdapters adapters(weights->config, read_peft_config(adapter_dir));
    load_peft_weights(adapters, adapter_dir);
    merge_lora(*weights, adapters);
  }
  const Tokenizer tokenizer = load_model_tokenizer(model);
  const std::vector<std::int32_t> prompt = prompt_tokens(args, tokenizer, model);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  std::vector<std::int32_t> stop;
  for (std::int32_t id : {tokenizer.eos(), tokenizer.eot()})
    if (id >= 0) stop.push_back(id);
  for (std::int64_t id : weights->config.eos_token_ids) stop.push_back(static_cast<std::int32_t>(id));

  LlamaRunner runner(*weights, static_cast<std::int64_t>(prompt.size()) + params.max_new_tokens, 256);
  auto result = generate(runner, prompt, params, stop, [&](std::int32_t token) {
    if (!tokenizer.is_special(token)) std::cout << tokenizer.token_bytes(token) << std::flush;
  });
  std::cout << "\n";
  const std::size_t n = result.tokens.size();
  std::cerr << "[" << n << " tokens in " << result.generate_seconds << " s: "
            << (result.generate_seconds > 0 ? static_cast<double>(n) / result.generate_seconds : 0.0)
            << " tokens/s; prompt " << prompt.size() << " tokens in " << result.prompt_seconds << " s; load "
            << load_seconds << " s; " << (result.stopped ? "stopped at end of turn" : "stopped at --max-new-tokens")
            << "]\n";
  return 0;
}

}  // namespace slm::cli
