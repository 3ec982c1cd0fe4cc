// ast.h — the parsed form of a chat template: expression and statement nodes.
//
// Holds: Expr (one struct for every expression kind, children in `args`), Node (statements),
// with the line:column each starts at.
// Does not hold: parsing (parser.h) or evaluation (evaluator.h).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/chat_template/value.h"

namespace slm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Literal,  // value
  Name,     // name
  List,     // args: items (also tuples)
  Dict,     // args: key, value, key, value, ...
  Attr,     // args[0].name
  Item,     // args[0][args[1]]
  Slice,    // args[0][args[1]:args[2]:args[3]], absent parts are null
  Call,     // args[0](args[1..], kwargs); kwargs named "*" / "**" are f(*list) / f(**dict)
  Filter,   // args[0] | name(args[1..], kwargs)
  Test,     // args[0] is [not] name(args[1..], kwargs); negate
  Unary,    // name ("-", "+", "not") args[0]
  Binary,   // args[0] name args[1]: + - * / // % ** ~ == != < <= > >= in "not in"
  And,      // args[0] and args[1]
  Or,       // args[0] or args[1]
  Cond,     // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  int column = 0;
  Value value;       // Literal
  std::string name;  // Name, Attr, Filter, Test, Unary/Binary operator
  bool negate = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  Text,        // text
  Output,      // {{ expr }}
  If,          // branches: (cond, body) ...; else_body
  For,         // for target in expr [if cond]: body, else_body
  Set,         // set target = expr
  SetBlock,    // set name %} body {% endset
  Macro,       // macro name(params) body
  Generation,  // generation body (transformers' assistant-mask extension; renders its body)
  Break,
  Continue,
};

struct Node {
  NodeKind kind;
  int line = 0;
  int column = 0;
  std::string text;  // Text; Macro and SetBlock name
  ExprPtr target;    // For, Set: a Name, Attr (ns.x) or List of Names
  ExprPtr expr;      // Output, For iterable, Set value
  ExprPtr cond;      // For filter
  std::vector<std::pair<ExprPtr, Body>> branches;  // If
  Body body;
  Body else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro: name and default (or null)
};

}  // namespace slm::jinja
