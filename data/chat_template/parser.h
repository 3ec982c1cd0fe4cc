// parser.h — tokens to the statement tree, with Jinja's operator precedence.
//
// Holds: parse_template. Unknown tags, filters and tests are syntax errors, as Jinja reports them
// when it compiles a template; every error names the source and line:column.
// Does not hold: lexing (lexer.h), evaluation (evaluator.h).
#pragma once

#include <string>
#include <vector>

#include "data/chat_template/ast.h"
#include "data/chat_template/lexer.h"

namespace slm::jinja {

Body parse_template(std::vector<Token> tokens, const std::string& source);

}  // namespace slm::jinja
