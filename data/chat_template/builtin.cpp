// builtin.cpp — the built-in templates' text.
#include "data/chat_template/builtin.h"

namespace slm {
namespace {

// ChatML: every turn is "<|im_start|>ROLE\nCONTENT<|im_end|>\n"; a generation prompt opens an
// assistant turn. (No default system prompt.)
constexpr std::string_view k_chatml =
    "{%- for m in messages -%}"
    "{{ '<|im_start|>' ~ m['role'] ~ '\\n' ~ m['content'] ~ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}";

}  // namespace

std::optional<std::string> builtin_chat_template(std::string_view name) {
  if (name == "chatml") return std::string(k_chatml);
  return std::nullopt;
}

std::string builtin_chat_template_names() { return "chatml"; }

}  // namespace slm
