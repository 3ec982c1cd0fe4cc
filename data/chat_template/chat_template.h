// chat_template.h — renders a model's chat template exactly as transformers'
// apply_chat_template(messages, add_generation_prompt=..., tokenize=False) does.
//
// Holds: ChatMessage, ChatTemplate (parse once, render many times). The template language is the
// Jinja2 subset the families' real templates use (see README.md in this folder for what is and is
// not supported), with transformers' environment: trim_blocks, lstrip_blocks, loop controls,
// {% generation %}, raise_exception, strftime_now, namespace, tojson(ensure_ascii=False).
// Does not hold: tokenization, assistant-token masks, continue_final_message.
#pragma once

#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "data/chat_template/ast.h"

namespace slm {

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // Parses once; errors (slm::Error) name `source` (a file, or "GGUF tokenizer.chat_template")
  // with line:column. Unknown tags, filters and tests are errors here, as in Jinja.
  ChatTemplate(std::string_view template_text, std::string source);

  // What apply_chat_template(messages, add_generation_prompt=..., tokenize=False) returns, with
  // bos_token/eos_token passed as its tokenizer would (tools and documents are None).
  // A template's raise_exception(msg) becomes slm::Error whose message contains msg.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token) const;

  // General form: a JSON object is the whole context (messages, add_generation_prompt,
  // bos_token, tools, enable_thinking, date_string, ...). An ordered_json keeps key order the way
  // a Python dict does (it matters for tojson and for iterating dicts); nlohmann::json sorts keys.
  std::string render_json(const nlohmann::json& context) const;
  std::string render_json(const nlohmann::ordered_json& context) const;

  // strftime_now renders this time instead of the local time now (for reproducible output).
  void set_fixed_now(const std::tm& when) { fixed_now_ = when; }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  jinja::Body body_;
  std::optional<std::tm> fixed_now_;

  std::string render_context(const jinja::Value& context) const;
};

}  // namespace slm
