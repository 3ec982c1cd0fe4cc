// lexer.cpp — template text to tokens, following the rules of Jinja's lexer.
//
// Jinja first normalizes newlines and drops one trailing newline. Then, for every tag, the text
// before it is cut: `{%-`/`{{-`/`{#-` strip all whitespace before the tag; otherwise (for block and
// comment tags, unless `{%+`) lstrip_blocks removes spaces and tabs back to the start of the line
// when only whitespace precedes the tag there (at the template start or after a token that ended
// a line, also when the text has no newline). After a tag, `-%}`/`-}}`/`-#}` eat all following
// whitespace, and trim_blocks lets `%}`/`#}` eat one following newline.
// Does not hold: parsing, raw blocks, line statements.
#include "data/chat_template/lexer.h"

#include <stdexcept>
#include <algorithm>
#include <cctype>

#include "data/chat_template/value.h"  // append_utf8
#include "train/core/error.h"

namespace slm::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string normalize_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += text[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

class Lexer {
 public:
  Lexer(std::string src, const std::string& source) : src_(std::move(src)), source_(source) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t start = find_tag(pos_);
      std::string text = src_.substr(pos_, start - pos_);
      if (start == src_.size()) {
        push_text(text, pos_);
        break;
      }
      char kind = src_[start + 1];
      char sign = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (sign == '-') {
        size_t keep = text.size();
        while (keep > 0 && is_ws(text[keep - 1])) --keep;
        text.resize(keep);
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        bool only_ws = l_pos < text.size();
        for (size_t i = l_pos; i < text.size(); ++i) only_ws = only_ws && is_ws(text[i]);
        if ((l_pos > 0 || line_starting) && only_ws) text.resize(l_pos);
      }
      push_text(text, pos_);
      pos_ = start + 2 + (sign == '-' || sign == '+' ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(start);
      } else {
        line_starting = lex_tag(start, kind == '%');
      }
    }
    tokens_.push_back(make(TokenKind::Eof, src_.size()));
    return std::move(tokens_);
  }

 private:
  std::string src_;
  const std::string& source_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;  // offset where each line begins
  std::vector<Token> tokens_;

  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  Token make(TokenKind kind, size_t at) const {
    Token t{kind, {}};
    size_t line = std::upper_bound(line_starts_.begin(), line_starts_.end(), at) - line_starts_.begin();
    t.line = static_cast<int>(line);
    t.column = static_cast<int>(at - line_starts_[line - 1]) + 1;
    return t;
  }

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    Token t = make(TokenKind::Eof, at);
    SLM_FAIL(source_, ":", t.line, ":", t.column, ": template syntax error: ", what);
  }

  void push_text(const std::string& text, size_t at) {
    if (text.empty()) return;
    Token t = make(TokenKind::Text, at);
    t.text = text;
    tokens_.push_back(std::move(t));
  }

  // Consumes a comment; returns whether what it consumed ended with a newline.
  bool lex_comment(size_t start) {
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) fail(start, "missing end of comment tag '#}'");
    char before = end > pos_ ? src_[end - 1] : '\0';
    pos_ = end + 2;
    return consume_after_end(before == '-', before != '+');
  }

  // After an end tag: `-` eats all whitespace, otherwise trim_blocks eats one newline.
  bool consume_after_end(bool strip_all, bool trim_one_newline) {
    bool ended_newline = false;
    if (strip_all) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ended_newline = src_[pos_++] == '\n';
    } else if (trim_one_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ended_newline = true;
    }
    return ended_newline;
  }

  // Expression tokens up to the closing `%}` / `}}` at bracket depth 0.
  bool lex_tag(size_t start, bool block) {
    tokens_.push_back(make(block ? TokenKind::BlockBegin : TokenKind::VarBegin, start));
    int depth = 0;
    const char* close = block ? "%}" : "}}";
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) fail(start, std::string("missing end of tag '") + close + "'");
      if (depth == 0) {
        bool minus = src_.compare(pos_, 3, std::string("-") + close) == 0;
        bool plus = block && src_.compare(pos_, 3, std::string("+") + close) == 0;
        if (minus || plus || src_.compare(pos_, 2, close) == 0) {
          tokens_.push_back(make(block ? TokenKind::BlockEnd : TokenKind::VarEnd, pos_));
          pos_ += (minus || plus) ? 3 : 2;
          return consume_after_end(minus, block && !plus);
        }
      }
      lex_token(depth);
    }
  }

  void lex_token(int& depth) {
    char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      Token t = make(TokenKind::Name, pos_);
      size_t end = pos_;
      while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
      t.text = src_.substr(pos_, end - pos_);
      pos_ = end;
      tokens_.push_back(std::move(t));
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number();
    } else if (c == '\'' || c == '"') {
      lex_string();
    } else {
      lex_operator(depth);
    }
  }

  void lex_number() {
    size_t end = pos_;
    auto digits = [&] {
      while (end < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
    };
    digits();
    bool is_float = false;
    if (end + 1 < src_.size() && src_[end] == '.' && std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
      ++end;
      digits();
      is_float = true;
    }
    if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t e = end + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) {
        end = e;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i)
      if (src_[i] != '_') text += src_[i];
    Token t = make(is_float ? TokenKind::Float : TokenKind::Int, pos_);
    try {
      if (is_float) t.float_value = std::stod(text);
      else t.int_value = std::stoll(text);
    } catch (const std::out_of_range&) {
      fail(pos_, "number literal '" + text + "' is out of range");
    }
    pos_ = end;
    tokens_.push_back(std::move(t));
  }

  // A quoted string; escapes as Python's "unicode-escape" codec resolves them.
  void lex_string() {
    Token t = make(TokenKind::String, pos_);
    char quote = src_[pos_];
    size_t i = pos_ + 1;
    std::string value;
    while (true) {
      if (i >= src_.size()) fail(pos_, "unterminated string literal");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      i = lex_escape(i, value);
    }
    pos_ = i + 1;
    t.text = std::move(value);
    tokens_.push_back(std::move(t));
  }

  size_t lex_escape(size_t i, std::string& value) {
    char e = src_[i + 1];
    const char* simple = "n\nt\tr\r\\\\'\'\"\"a\ab\bf\fv\v0\0";
    for (const char* p = simple; *p; p += 2)
      if (*p == e && e != '0') {
        value += p[1];
        return i + 2;
      }
    int hex_len = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (hex_len) {
      if (i + 2 + hex_len > src_.size()) fail(i, "truncated \\" + std::string(1, e) + " escape");
      std::string hex = src_.substr(i + 2, hex_len);
      for (char h : hex)
        if (!std::isxdigit(static_cast<unsigned char>(h))) fail(i, "bad \\" + std::string(1, e) + " escape");
      append_utf8(value, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
      return i + 2 + hex_len;
    }
    if (e >= '0' && e <= '7') {
      size_t j = i + 1;
      unsigned v = 0;
      while (j < src_.size() && j < i + 4 && src_[j] >= '0' && src_[j] <= '7') v = v * 8 + (src_[j++] - '0');
      append_utf8(value, v);
      return j;
    }
    if (e == '\n') return i + 2;  // line continuation
    value += '\\';  // unknown escapes stay as written
    return i + 1;
  }

  void lex_operator(int& depth) {
    static const char* k_two[] = {"//", "**", "==", "!=", "<=", ">="};
    Token t = make(TokenKind::Op, pos_);
    for (const char* op : k_two)
      if (src_.compare(pos_, 2, op) == 0) {
        t.text = op;
        pos_ += 2;
        tokens_.push_back(std::move(t));
        return;
      }
    char c = src_[pos_];
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos)
      fail(pos_, std::string("unexpected character '") + c + "'");
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (depth == 0) fail(pos_, std::string("unexpected '") + c + "'");
      --depth;
    }
    t.text = std::string(1, c);
    ++pos_;
    tokens_.push_back(std::move(t));
  }
};

}  // namespace

std::vector<Token> lex_template(std::string_view text, const std::string& source) {
  return Lexer(normalize_newlines(text), source).run();
}

}  // namespace slm::jinja
