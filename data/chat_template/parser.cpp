// parser.cpp — recursive descent over the token list, one function per precedence level as in
// Jinja's parser: conditional < or < and < not < comparisons < + - < ~ < * / // % < ** < unary
// < postfix (. [] ()) with filters and tests binding to the postfix expression.
// Does not hold: lexing or evaluation. Not supported: chained comparisons (a < b < c is parsed
// left to right), call blocks, recursive loops, raw/filter/with blocks.
#include "data/chat_template/parser.h"

#include <initializer_list>
#include <string_view>

#include "data/chat_template/builtins.h"  // is_filter_name, is_test_name
#include "train/core/error.h"

namespace slm::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& source) : t_(std::move(tokens)), source_(source) {}

  Body parse_all() {
    Body body = parse_body({});
    if (cur().kind != TokenKind::Eof) fail(cur(), "unexpected '" + cur().text + "' tag");
    return body;
  }

 private:
  std::vector<Token> t_;
  const std::string& source_;
  size_t i_ = 0;

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < t_.size()) ++i_;
  }

  [[noreturn]] void fail(const Token& at, const std::string& what) const {
    SLM_FAIL(source_, ":", at.line, ":", at.column, ": template syntax error: ", what);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::Eof: return "end of template";
      case TokenKind::BlockEnd: return "'%}'";
      case TokenKind::VarEnd: return "'}}'";
      case TokenKind::String: return "a string";
      case TokenKind::Int:
      case TokenKind::Float: return "a number";
      default: return "'" + t.text + "'";
    }
  }
  bool is_op(std::string_view op) const { return cur().kind == TokenKind::Op && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().kind == TokenKind::Name && cur().text == name; }
  void expect_op(std::string_view op) {
    if (!is_op(op)) fail(cur(), "expected '" + std::string(op) + "', got " + describe(cur()));
    advance();
  }
  void expect(TokenKind kind, const char* what) {
    if (cur().kind != kind) fail(cur(), std::string("expected ") + what + ", got " + describe(cur()));
    advance();
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::Name) fail(cur(), "expected a name, got " + describe(cur()));
    std::string name = cur().text;
    advance();
    return name;
  }
  ExprPtr make(ExprKind kind, const Token& at) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  NodePtr make_node(NodeKind kind, const Token& at) const {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  // ---- statements -------------------------------------------------------------------------

  // Nodes up to a `{% <end tag>` (left with the tag name current) or the end of the template.
  Body parse_body(std::initializer_list<std::string_view> end_tags) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == TokenKind::Eof) {
        if (end_tags.size() == 0) return body;
        std::string tags;
        for (std::string_view tag : end_tags) tags += (tags.empty() ? "'" : " or '") + std::string(tag) + "'";
        fail(t, "unexpected end of template; expected " + tags);
      }
      if (t.kind == TokenKind::Text) {
        NodePtr n = make_node(NodeKind::Text, t);
        n->text = t.text;
        body.push_back(std::move(n));
        advance();
      } else if (t.kind == TokenKind::VarBegin) {
        NodePtr n = make_node(NodeKind::Output, t);
        advance();
        n->expr = parse_tuple();
        expect(TokenKind::VarEnd, "'}}'");
        body.push_back(std::move(n));
      } else {  // BlockBegin
        const Token& name = peek();
        for (std::string_view end : end_tags)
          if (name.kind == TokenKind::Name && name.text == end) {
            advance();
            return body;
          }
        advance();
        body.push_back(parse_statement());
      }
    }
  }

  void end_tag() { expect(TokenKind::BlockEnd, "'%}'"); }

  NodePtr parse_statement() {
    const Token at = cur();
    if (at.kind != TokenKind::Name) fail(at, "expected a tag name, got " + describe(at));
    const std::string& tag = at.text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "generation") {
      NodePtr n = make_node(NodeKind::Generation, at);
      advance();
      end_tag();
      n->body = parse_body({"endgeneration"});
      advance();
      end_tag();
      return n;
    }
    if (tag == "break" || tag == "continue") {
      NodePtr n = make_node(tag == "break" ? NodeKind::Break : NodeKind::Continue, at);
      advance();
      end_tag();
      return n;
    }
    fail(at, "unknown tag '" + tag + "'");
  }

  NodePtr parse_if() {
    NodePtr n = make_node(NodeKind::If, cur());
    advance();
    while (true) {
      ExprPtr cond = parse_tuple();
      end_tag();
      Body body = parse_body({"elif", "else", "endif"});
      n->branches.emplace_back(std::move(cond), std::move(body));
      std::string tag = cur().text;
      advance();
      if (tag == "elif") continue;
      if (tag == "else") {
        end_tag();
        n->else_body = parse_body({"endif"});
        advance();
      }
      end_tag();
      return n;
    }
  }

  NodePtr parse_for() {
    NodePtr n = make_node(NodeKind::For, cur());
    advance();
    n->target = parse_target(false);
    if (!is_name("in")) fail(cur(), "expected 'in' in for loop, got " + describe(cur()));
    advance();
    n->expr = parse_tuple(false);
    if (is_name("if")) {
      advance();
      n->cond = parse_expression();
    }
    if (is_name("recursive")) fail(cur(), "recursive loops are not supported");
    end_tag();
    n->body = parse_body({"endfor", "else"});
    if (cur().text == "else") {
      advance();
      end_tag();
      n->else_body = parse_body({"endfor"});
    }
    advance();
    end_tag();
    return n;
  }

  NodePtr parse_set() {
    const Token at = cur();
    advance();
    ExprPtr target = parse_target(true);
    if (is_op("=")) {
      advance();
      NodePtr n = make_node(NodeKind::Set, at);
      n->target = std::move(target);
      n->expr = parse_tuple();
      end_tag();
      return n;
    }
    if (target->kind != ExprKind::Name) fail(cur(), "expected '=' after the set target");
    NodePtr n = make_node(NodeKind::SetBlock, at);
    n->text = target->name;
    end_tag();
    n->body = parse_body({"endset"});
    advance();
    end_tag();
    return n;
  }

  NodePtr parse_macro() {
    NodePtr n = make_node(NodeKind::Macro, cur());
    advance();
    n->text = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      if (!n->params.empty()) expect_op(",");
      std::string name = expect_name();
      ExprPtr def;
      if (is_op("=")) {
        advance();
        def = parse_expression();
      }
      n->params.emplace_back(std::move(name), std::move(def));
    }
    advance();
    end_tag();
    n->body = parse_body({"endmacro"});
    advance();
    end_tag();
    return n;
  }

  // `x`, `ns.attr` (set only), or `a, b` (a list of names).
  ExprPtr parse_target(bool allow_attr) {
    const Token at = cur();
    ExprPtr first = make(ExprKind::Name, at);
    first->name = expect_name();
    if (allow_attr && is_op(".")) {
      advance();
      ExprPtr attr = make(ExprKind::Attr, at);
      attr->name = expect_name();
      attr->args.push_back(std::move(first));
      return attr;
    }
    if (!is_op(",")) return first;
    ExprPtr list = make(ExprKind::List, at);
    list->args.push_back(std::move(first));
    while (is_op(",")) {
      advance();
      ExprPtr item = make(ExprKind::Name, cur());
      item->name = expect_name();
      list->args.push_back(std::move(item));
    }
    return list;
  }

  // ---- expressions ------------------------------------------------------------------------

  // An expression, or several separated by commas (a tuple, kept as a list).
  ExprPtr parse_tuple(bool condexpr = true) {
    const Token at = cur();
    ExprPtr first = condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    ExprPtr list = make(ExprKind::List, at);
    list->name = "tuple";
    list->args.push_back(std::move(first));
    while (is_op(",")) {
      advance();
      if (cur().kind == TokenKind::BlockEnd || cur().kind == TokenKind::VarEnd) break;
      list->args.push_back(condexpr ? parse_expression() : parse_or());
    }
    return list;
  }

  ExprPtr parse_expression() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const Token at = cur();
      advance();
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        advance();
        other = parse_expression();
      }
      ExprPtr c = make(ExprKind::Cond, at);
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(ExprKind kind, const Token& at, std::string op, ExprPtr a, ExprPtr b) {
    ExprPtr e = make(kind, at);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token at = cur();
      advance();
      e = binary(ExprKind::Or, at, "or", std::move(e), parse_and());
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token at = cur();
      advance();
      e = binary(ExprKind::And, at, "and", std::move(e), parse_not());
    }
    return e;
  }
  ExprPtr parse_not() {
    if (!is_name("not")) return parse_compare();
    ExprPtr e = make(ExprKind::Unary, cur());
    e->name = "not";
    advance();
    e->args.push_back(parse_not());
    return e;
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    while (true) {
      const Token at = cur();
      std::string op;
      if (at.kind == TokenKind::Op &&
          (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == "<=" || at.text == ">" ||
           at.text == ">=")) {
        op = at.text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == TokenKind::Name && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        return e;
      }
      e = binary(ExprKind::Binary, at, op, std::move(e), parse_math1());
    }
  }

  // One left-associative level of binary operators.
  template <typename Next>
  ExprPtr parse_level(std::initializer_list<std::string_view> ops, Next next) {
    ExprPtr e = (this->*next)();
    while (cur().kind == TokenKind::Op) {
      bool match = false;
      for (std::string_view op : ops) match = match || cur().text == op;
      if (!match) break;
      const Token at = cur();
      advance();
      e = binary(ExprKind::Binary, at, at.text, std::move(e), (this->*next)());
    }
    return e;
  }
  ExprPtr parse_math1() { return parse_level({"+", "-"}, &Parser::parse_concat); }
  ExprPtr parse_concat() { return parse_level({"~"}, &Parser::parse_math2); }
  ExprPtr parse_math2() { return parse_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
  ExprPtr parse_pow() { return parse_level({"**"}, &Parser::parse_unary_filtered); }
  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(ExprKind::Unary, cur());
      e->name = cur().text;
      advance();
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr e, const Token& at);
  ExprPtr parse_filters(ExprPtr e);
  void parse_call_args(Expr& call);
};

ExprPtr Parser::parse_primary() {
  const Token at = cur();
  if (at.kind == TokenKind::Name) {
    advance();
    ExprPtr e = make(ExprKind::Literal, at);
    if (at.text == "true" || at.text == "True") e->value = Value(true);
    else if (at.text == "false" || at.text == "False") e->value = Value(false);
    else if (at.text == "none" || at.text == "None") e->value = Value::none();
    else {
      e->kind = ExprKind::Name;
      e->name = at.text;
    }
    return e;
  }
  if (at.kind == TokenKind::String) {
    std::string s;
    while (cur().kind == TokenKind::String) {  // adjacent literals concatenate
      s += cur().text;
      advance();
    }
    ExprPtr e = make(ExprKind::Literal, at);
    e->value = Value(std::move(s));
    return e;
  }
  if (at.kind == TokenKind::Int || at.kind == TokenKind::Float) {
    advance();
    ExprPtr e = make(ExprKind::Literal, at);
    e->value = at.kind == TokenKind::Int ? Value(at.int_value) : Value(at.float_value);
    return e;
  }
  if (is_op("(")) {
    advance();
    if (is_op(")")) {
      advance();
      ExprPtr empty = make(ExprKind::List, at);
      empty->name = "tuple";
      return empty;
    }
    ExprPtr e = parse_expression();
    if (is_op(",")) {
      ExprPtr list = make(ExprKind::List, at);
      list->name = "tuple";
      list->args.push_back(std::move(e));
      while (is_op(",")) {
        advance();
        if (is_op(")")) break;
        list->args.push_back(parse_expression());
      }
      e = std::move(list);
    }
    expect_op(")");
    return e;
  }
  if (is_op("[") || is_op("{")) {
    bool dict = is_op("{");
    advance();
    ExprPtr e = make(dict ? ExprKind::Dict : ExprKind::List, at);
    const char* close = dict ? "}" : "]";
    while (!is_op(close)) {
      if (!e->args.empty()) {
        expect_op(",");
        if (is_op(close)) break;
      }
      e->args.push_back(parse_expression());
      if (dict) {
        expect_op(":");
        e->args.push_back(parse_expression());
      }
    }
    advance();
    return e;
  }
  fail(at, "unexpected " + describe(at));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    const Token at = cur();
    if (is_op(".")) {
      advance();
      if (cur().kind == TokenKind::Int) {
        ExprPtr item = make(ExprKind::Item, at);
        ExprPtr index = make(ExprKind::Literal, cur());
        index->value = Value(cur().int_value);
        advance();
        item->args.push_back(std::move(e));
        item->args.push_back(std::move(index));
        e = std::move(item);
        continue;
      }
      ExprPtr attr = make(ExprKind::Attr, at);
      attr->name = expect_name();
      attr->args.push_back(std::move(e));
      e = std::move(attr);
    } else if (is_op("[")) {
      advance();
      e = parse_subscript(std::move(e), at);
    } else if (is_op("(")) {
      ExprPtr call = make(ExprKind::Call, at);
      call->args.push_back(std::move(e));
      parse_call_args(*call);
      e = std::move(call);
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr e, const Token& at) {
  ExprPtr parts[3];
  int n = 0;
  bool slice = false;
  while (true) {
    if (!is_op(":") && !is_op("]")) parts[n] = parse_expression();
    if (is_op(":")) {
      slice = true;
      if (++n > 2) fail(cur(), "too many ':' in a slice");
      advance();
      continue;
    }
    expect_op("]");
    break;
  }
  ExprPtr out = make(slice ? ExprKind::Slice : ExprKind::Item, at);
  out->args.push_back(std::move(e));
  if (!slice && !parts[0]) fail(at, "empty subscript");
  for (int k = 0; k < (slice ? 3 : 1); ++k) out->args.push_back(std::move(parts[k]));
  return out;
}

void Parser::parse_call_args(Expr& call) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      expect_op(",");
      if (is_op(")")) break;
    }
    first = false;
    if (is_op("*") || is_op("**")) {  // f(*list) and f(**dict): kept as kwargs named "*" / "**"
      std::string splat = cur().text;
      advance();
      call.kwargs.emplace_back(std::move(splat), parse_expression());
      continue;
    }
    if (cur().kind == TokenKind::Name && peek().kind == TokenKind::Op && peek().text == "=") {
      std::string name = cur().text;
      advance();
      advance();
      call.kwargs.emplace_back(std::move(name), parse_expression());
    } else {
      if (!call.kwargs.empty() && call.kwargs.back().first != "*")
        fail(cur(), "positional argument after a keyword argument");
      call.args.push_back(parse_expression());
    }
  }
  advance();
}

ExprPtr Parser::parse_filters(ExprPtr e) {
  while (true) {
    const Token at = cur();
    if (is_op("|")) {
      advance();
      const Token name_at = cur();
      ExprPtr f = make(ExprKind::Filter, name_at);
      f->name = expect_name();
      if (!is_filter_name(f->name)) fail(name_at, "unknown filter '" + f->name + "'");
      f->args.push_back(std::move(e));
      if (is_op("(")) parse_call_args(*f);
      e = std::move(f);
    } else if (is_name("is")) {
      advance();
      ExprPtr test = make(ExprKind::Test, at);
      if (is_name("not")) {
        test->negate = true;
        advance();
      }
      const Token name_at = cur();
      test->name = expect_name();
      if (!is_test_name(test->name)) fail(name_at, "unknown test '" + test->name + "'");
      test->args.push_back(std::move(e));
      const Token& n = cur();
      bool arg_follows = n.kind == TokenKind::String || n.kind == TokenKind::Int || n.kind == TokenKind::Float ||
                         (n.kind == TokenKind::Name && n.text != "else" && n.text != "or" && n.text != "and" &&
                          n.text != "if" && n.text != "is" && n.text != "in" && n.text != "not") ||
                         is_op("[") || is_op("{");
      if (is_op("(")) parse_call_args(*test);
      else if (arg_follows) test->args.push_back(parse_postfix(parse_primary()));
      e = std::move(test);
    } else if (is_op("(")) {
      ExprPtr call = make(ExprKind::Call, at);
      call->args.push_back(std::move(e));
      parse_call_args(*call);
      e = std::move(call);
    } else {
      return e;
    }
  }
}

}  // namespace

Body parse_template(std::vector<Token> tokens, const std::string& source) {
  return Parser(std::move(tokens), source).parse_all();
}

}  // namespace slm::jinja
