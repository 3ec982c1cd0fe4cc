// builtin.h — named chat templates of our own, the fallback for models that carry none (or for a
// recipe that asks for one by name: model.chat_template: chatml). A model's own template always
// comes first; these exist so a base model without one can still be trained on chats.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slm {

// The Jinja text of the built-in template `name`, or nullopt. Names: chatml.
std::optional<std::string> builtin_chat_template(std::string_view name);

// "chatml" — the names, for messages.
std::string builtin_chat_template_names();

}  // namespace slm
