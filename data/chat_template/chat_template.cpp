// chat_template.cpp — ChatTemplate: lex + parse at construction, render with the context
// transformers builds (messages, tools=None, documents=None, add_generation_prompt, special tokens).
// Does not hold: the interpreter itself (lexer, parser, evaluator, builtins).
#include "data/chat_template/chat_template.h"

#include "data/chat_template/evaluator.h"
#include "data/chat_template/lexer.h"
#include "data/chat_template/parser.h"
#include "train/core/error.h"

namespace slm {

ChatTemplate::ChatTemplate(std::string_view template_text, std::string source) : source_(std::move(source)) {
  body_ = jinja::parse_template(jinja::lex_template(template_text, source_), source_);
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token) const {
  jinja::List list;
  for (const ChatMessage& m : messages) {
    jinja::Dict d;
    d.items = {{"role", jinja::Value(m.role)}, {"content", jinja::Value(m.content)}};
    list.push_back(jinja::Value(std::move(d)));
  }
  jinja::Dict context;
  context.items = {{"messages", jinja::Value(std::move(list))},
                   {"tools", jinja::Value::none()},
                   {"documents", jinja::Value::none()},
                   {"add_generation_prompt", jinja::Value(add_generation_prompt)},
                   {"bos_token", jinja::Value(bos_token)},
                   {"eos_token", jinja::Value(eos_token)}};
  return render_context(jinja::Value(std::move(context)));
}

std::string ChatTemplate::render_json(const nlohmann::json& context) const {
  return render_context(jinja::from_json(context));
}

std::string ChatTemplate::render_json(const nlohmann::ordered_json& context) const {
  return render_context(jinja::from_json(context));
}

std::string ChatTemplate::render_context(const jinja::Value& context) const {
  SLM_CHECK(context.is_dict(), source_, ": the chat template context must be a JSON object, not a ",
            context.type_name());
  std::tm now{};
  if (fixed_now_) {
    now = *fixed_now_;
  } else {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &now);
  }
  try {
    return jinja::render_template(body_, context.dict(), source_, now);
  } catch (const jinja::RuntimeFailure& f) {
    SLM_FAIL(source_, ": ", f.what());
  }
}

}  // namespace slm
