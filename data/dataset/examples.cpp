// examples.cpp — rendering records to tokens and computing completion-only loss masks by
// rendering conversation prefixes and diffing (see examples.h for the rules).
#include "data/dataset/examples.h"

#include <algorithm>
#include <cstdio>

#include "train/core/error.h"

namespace slm {
namespace {

// Start byte of every token in the concatenation of their bytes; empty when the concatenation
// is not `text` (a normalizer changed the text), in which case spans cannot be mapped.
std::vector<std::size_t> token_starts(const Tokenizer& tok, const std::vector<std::int32_t>& ids, const std::string& text) {
  std::vector<std::size_t> starts;
  starts.reserve(ids.size());
  std::size_t at = 0;
  for (std::int32_t id : ids) {
    starts.push_back(at);
    const std::string bytes = tok.token_bytes(id);
    if (text.compare(at, bytes.size(), bytes) != 0) return {};
    at += bytes.size();
  }
  if (at != text.size()) return {};
  return starts;
}

std::size_t token_end(const std::vector<std::size_t>& starts, std::size_t k, const std::string& text) {
  return k + 1 < starts.size() ? starts[k + 1] : text.size();
}

std::string show(const std::string& s) {
  std::string out = s.size() > 60 ? s.substr(0, 60) + "..." : s;
  for (char& c : out)
    if (c == '\n') c = ' ';
  return out;
}

}  // namespace

std::string fnv1a_hex(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ExampleBuilder::ExampleBuilder(const Tokenizer& tokenizer, const std::optional<ChatTemplateText>& chat_template,
                               ExampleOptions options)
    : tokenizer_(tokenizer), options_(options) {
  if (chat_template) template_.emplace(chat_template->text, chat_template->source);
  if (tokenizer.bos() >= 0) bos_text_ = tokenizer.token_text(tokenizer.bos());
  if (tokenizer.eos() >= 0) eos_text_ = tokenizer.token_text(tokenizer.eos());
  if (tokenizer.eot() >= 0) terminators_.insert(tokenizer.eot());
  if (tokenizer.eos() >= 0) terminators_.insert(tokenizer.eos());
}

std::string ExampleBuilder::render(const std::vector<ChatMessage>& messages, std::size_t count,
                                   bool generation_prompt) const {
  std::span<const ChatMessage> head(messages.data(), count);
  return template_->render(head, generation_prompt, bos_text_, eos_text_);
}

Example ExampleBuilder::build_chat(const std::vector<ChatMessage>& messages, const std::string& where) const {
  if (!template_)
    SLM_FAIL(where, ": a chat record, but the model has no chat template; set model.chat_template to the "
             "model's Jinja template file, or to a built-in one (chatml)");
  const std::string full = render(messages, messages.size(), false);
  Example ex;
  ex.tokens = tokenizer_.encode(full, false);
  ex.mask.assign(ex.tokens.size(), 0);
  if (options_.train_on_prompt) {
    std::int64_t terminators = 0;
    for (std::size_t t = 1; t < ex.tokens.size(); ++t) ex.mask[t] = 1, terminators += terminators_.count(ex.tokens[t]);
    for (const ChatMessage& m : messages) ex.replies += m.role == "assistant";
    ex.replies_terminated = std::min(ex.replies, terminators);
  } else {
    const std::vector<std::size_t> starts = token_starts(tokenizer_, ex.tokens, full);
    if (starts.empty() && !ex.tokens.empty())
      SLM_FAIL(where, ": the tokenizer's tokens do not spell the rendered text byte for byte (a normalizer "
               "changes it), so assistant spans cannot be located; set data.train_on_prompt: true");
    std::size_t t = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role != "assistant") continue;
      const std::string before = render(messages, i, true);
      const std::string upto = render(messages, i + 1, false);
      if (full.compare(0, upto.size(), upto) != 0)
        SLM_FAIL(where, ": the chat template (", template_->source(), ") renders message ", i,
                 " differently once later messages follow (it rewrites earlier turns: '", show(upto.substr(0, 60)),
                 "'), so assistant-only masks cannot be derived by prefix; set data.train_on_prompt: true "
                 "or split the conversations into one assistant turn each");
      std::size_t start = before.size();
      if (upto.compare(0, before.size(), before) != 0) {
        // E.g. an assistant-first chat under a default system prompt: the reply starts after
        // the last generation prompt ("<|im_start|>assistant\n") of upto.
        const std::string prompt = before.substr(std::min(before.size(), render(messages, i, false).size()));
        const std::size_t at = prompt.empty() ? std::string::npos : upto.rfind(prompt);
        if (at == std::string::npos)
          SLM_FAIL(where, ": cannot locate assistant message ", i, " in the rendering of the chat template (",
                   template_->source(), "); set data.train_on_prompt: true");
        start = at + prompt.size();
      }
      // Tokens overlapping [before.size(), upto.size()): transformers' rule for generation masks.
      while (t + 1 < starts.size() && starts[t + 1] <= start) ++t;
      if (t < starts.size() && token_end(starts, t, full) <= start) ++t;
      std::size_t end = t;
      while (end < starts.size() && starts[end] < upto.size()) ++end;
      std::size_t last = end;  // one past the last terminator in [t, end), or end without one
      bool terminated = false;
      for (std::size_t k = t; k < end; ++k)
        if (terminators_.count(ex.tokens[k])) last = k + 1, terminated = true;
      if (terminated) ex.replies_terminated += 1;
      for (std::size_t k = t; k < last; ++k) ex.mask[k] = 1;
      ++ex.replies;
      t = end;
    }
  }
  if (!ex.mask.empty()) ex.mask[0] = 0;
  return ex;
}

Example ExampleBuilder::build_prompt_completion(const std::string& prompt, const std::string& completion) const {
  Example ex;
  ex.tokens = tokenizer_.encode(prompt, true);
  ex.mask.assign(ex.tokens.size(), options_.train_on_prompt ? 1 : 0);
  for (std::int32_t id : tokenizer_.encode(completion, false)) ex.tokens.push_back(id), ex.mask.push_back(1);
  ex.replies = 1;
  if (tokenizer_.eos() >= 0) {
    ex.tokens.push_back(tokenizer_.eos());
    ex.mask.push_back(1);
    ex.replies_terminated = 1;
  }
  if (!ex.mask.empty()) ex.mask[0] = 0;
  return ex;
}

Example ExampleBuilder::build_text(const std::string& text) const {
  Example ex;
  ex.tokens = tokenizer_.encode(text, true);
  if (tokenizer_.eos() >= 0 && (ex.tokens.empty() || ex.tokens.back() != tokenizer_.eos())) ex.tokens.push_back(tokenizer_.eos());
  ex.mask.assign(ex.tokens.size(), 1);
  if (!ex.mask.empty()) ex.mask[0] = 0;
  return ex;
}

Example ExampleBuilder::build(const Record& r) const {
  try {
    switch (r.format) {
      case DataFormat::Chat: return build_chat(r.messages, r.where);
      case DataFormat::Alpaca: {
        std::string user = r.instruction;
        if (!r.input.empty()) user += "\n\n" + r.input;
        if (template_) return build_chat({{"user", user}, {"assistant", r.output}}, r.where);
        std::string prompt = "### Instruction:\n" + r.instruction + "\n\n";
        if (!r.input.empty()) prompt += "### Input:\n" + r.input + "\n\n";
        return build_prompt_completion(prompt + "### Response:\n", r.output);
      }
      case DataFormat::Completion: return build_prompt_completion(r.prompt, r.completion);
      case DataFormat::Text: return build_text(r.text);
      case DataFormat::Auto: break;
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(r.where, 0) == 0) throw;
    SLM_FAIL(r.where, ": ", what);
  }
  SLM_FAIL(r.where, ": record has no format");
}

}  // namespace slm
