// examples.h — records to token sequences with per-token loss masks.
//
// Holds: Example (tokens + mask + terminator counts), ExampleOptions, ExampleBuilder.
// Does not hold: reading records (records.h), packing into rows (data/packing.h), shards.
//
// Mask convention (the shard's loss_mask): mask[t] = 1 means token t is a training target,
// predicted from position t - 1 of the same document. mask[0] of an example is always 0.
//
// What each format trains:
//   chat        rendered with the model's own chat template, exactly as apply_chat_template
//               (tokenize=True, add_special_tokens=False). Without data.train_on_prompt only the
//               assistant turns are targets: turn i's span is the text that rendering
//               messages[:i+1] adds to rendering messages[:i] with add_generation_prompt=True,
//               i.e. the reply and its terminator, never the "<|im_start|>assistant\n" header.
//               The span ends at its last end-of-turn token (eot or eos, e.g. <|im_end|>): the
//               "\n" a ChatML template writes after <|im_end|> is not trained, as in TRL's
//               {% generation %} templates and axolotl's train_on_eos: turn (it belongs between
//               turns, and generation stops at <|im_end|>). A token is in the span when any of
//               its bytes is (transformers' rule for generation masks: a reply that starts with
//               spaces shares its first token with the header's "\n"). With train_on_prompt,
//               every token but the first is a target.
//   alpaca      with a chat template: the chat [user: instruction, "\n\n", input; assistant:
//               output]. Without one: "### Instruction:\n...\n\n### Input:\n...\n\n### Response:\n"
//               as a completion prompt.
//   completion  tokens(prompt, with the tokenizer's BOS if it adds one) + tokens(completion) + EOS,
//               tokenized separately (no token straddles the boundary); completion + EOS trained.
//   text        tokens(text, with BOS if the tokenizer adds one) + EOS; all targets.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "data/chat_template/chat_template.h"
#include "data/dataset/records.h"
#include "data/model_assets.h"  // ChatTemplateText
#include "data/tokenizer/tokenizer.h"

namespace slm {

struct Example {
  std::vector<std::int32_t> tokens;
  std::vector<std::uint8_t> mask;       // same length; 1 = target
  std::int64_t replies = 0;             // assistant turns (chat, alpaca) or completions
  std::int64_t replies_terminated = 0;  // of them, ending in a trained end-of-turn / EOS token
};

struct ExampleOptions {
  bool train_on_prompt = false;
};

class ExampleBuilder {
 public:
  // `chat_template` may be empty: chat records are then an error, alpaca falls back to the
  // plain prompt. Parses the template (errors name its source).
  ExampleBuilder(const Tokenizer& tokenizer, const std::optional<ChatTemplateText>& chat_template,
                 ExampleOptions options);

  // Throws slm::Error naming record.where for anything that cannot be rendered or tokenized.
  Example build(const Record& record) const;

  // Tokens that end an assistant turn (eot and eos ids present in the tokenizer).
  const std::set<std::int32_t>& terminators() const { return terminators_; }
  bool has_chat_template() const { return template_.has_value(); }

 private:
  Example build_chat(const std::vector<ChatMessage>& messages, const std::string& where) const;
  Example build_prompt_completion(const std::string& prompt, const std::string& completion) const;
  Example build_text(const std::string& text) const;
  std::string render(const std::vector<ChatMessage>& messages, std::size_t count, bool generation_prompt) const;

  const Tokenizer& tokenizer_;
  std::optional<ChatTemplate> template_;
  ExampleOptions options_;
  std::string bos_text_, eos_text_;
  std::set<std::int32_t> terminators_;
};

// FNV-1a/64 of `text` as 16 hex digits (template hashes, cache keys).
std::string fnv1a_hex(std::string_view text);

}  // namespace slm
