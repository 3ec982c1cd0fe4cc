// evaluator.h — runs a parsed template against a context and returns the text it renders.
//
// Holds: render_template — scopes as Jinja has them (a for loop body gets a fresh scope per
// iteration, if blocks none, macros their own), the loop variable, set/namespace assignment,
// macros, break/continue, and the globals transformers defines (raise_exception, strftime_now,
// namespace, dict) plus range. Errors become slm::Error naming source:line:column.
// Does not hold: lexing, parsing, filters/tests/methods (builtins.h).
#pragma once

#include <ctime>
#include <string>

#include "data/chat_template/ast.h"
#include "data/chat_template/value.h"

namespace slm::jinja {

// `context` is a dict of the template's variables; `now` is what strftime_now formats.
std::string render_template(const Body& body, const Dict& context, const std::string& source, const std::tm& now);

}  // namespace slm::jinja
