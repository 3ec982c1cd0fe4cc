// lexer.h — splits a Jinja template into text and tag tokens, the way Jinja's lexer does with
// transformers' settings (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False).
//
// Holds: Token, lex_template (newline normalization, {%- -%} {{- -}} {#- -#} whitespace control,
// trim_blocks, lstrip_blocks, comments, expression tokens with line:column).
// Does not hold: parsing (parser.h). Raw blocks and line statements are not supported.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slm::jinja {

enum class TokenKind {
  Text,        // template data, already whitespace-controlled
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,        // identifiers and keywords
  String,      // string literal, escapes resolved
  Int,
  Float,
  Op,          // operators and punctuation: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  Eof,
};

struct Token {
  TokenKind kind;
  std::string text;  // Text, Name, String (value), Op
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

// Where a template is: the source name for messages ("file.jinja", "GGUF tokenizer.chat_template").
struct SourcePos {
  std::string_view source;
  int line;
  int column;
};

// Tokenizes `text`; lexical errors throw slm::Error naming `source` and line:column.
std::vector<Token> lex_template(std::string_view text, const std::string& source);

}  // namespace slm::jinja
