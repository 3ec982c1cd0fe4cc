// operators.cpp — the binary operators of template expressions with Python's semantics:
// int/float arithmetic (true division, floor division and modulo rounding toward -inf), string
// and list concatenation and repetition, ~ as str() concatenation, comparisons and membership.
// Does not hold: and/or/not (short-circuit, in the evaluator), string % formatting (unsupported).
#include <cmath>

#include "data/chat_template/builtins.h"

namespace slm::jinja {
namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) runtime_fail("'" + a.str() + "' is undefined");
  if (b.is_undefined()) runtime_fail("'" + b.str() + "' is undefined");
  runtime_fail("unsupported operand types for " + op + ": " + a.type_name() + " and " + b.type_name());
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value(out);
  }
  List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return Value(std::move(out));
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  bool floats = a.kind() == Kind::Float || b.kind() == Kind::Float;
  if (op == "/") {
    if (b.as_float() == 0) runtime_fail("division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "**") {
    if (!floats && b.as_int() >= 0) {
      int64_t r = 1;
      for (int64_t i = 0; i < b.as_int(); ++i) r *= a.as_int();
      return Value(r);
    }
    return Value(std::pow(a.as_float(), b.as_float()));
  }
  if (floats) {
    double x = a.as_float(), y = b.as_float();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (y == 0) runtime_fail("float division by zero");
    if (op == "//") return Value(std::floor(x / y));
    double m = std::fmod(x, y);
    return Value(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
  }
  int64_t x = a.as_int(), y = b.as_int();
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (y == 0) runtime_fail("integer division or modulo by zero");
  int64_t q = x / y, r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) {
    --q;
    r += y;
  }
  return op == "//" ? Value(q) : Value(r);
}

bool contains(const Value& item, const Value& container) {
  switch (container.kind()) {
    case Kind::String:
      if (!item.is_string()) runtime_fail("'in <string>' requires a string on the left, not a " + item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      for (const Value& v : container.list())
        if (equal(v, item)) return true;
      return false;
    case Kind::Dict:
    case Kind::Namespace: return item.is_string() && container.dict().find(item.str()) != nullptr;
    default: unsupported("in", item, container);
  }
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value(to_str(a) + to_str(b));
  if (op == "==") return Value(equal(a, b));
  if (op == "!=") return Value(!equal(a, b));
  if (op == "<") return Value(less(a, b));
  if (op == ">") return Value(less(b, a));
  if (op == "<=") return Value(!less(b, a));
  if (op == ">=") return Value(!less(a, b));
  if (op == "in") return Value(contains(a, b));
  if (op == "not in") return Value(!contains(a, b));
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == "+" && a.is_string() && b.is_string()) return Value(a.str() + b.str());
  if (op == "+" && a.is_list() && b.is_list()) {
    List out = a.list();
    out.insert(out.end(), b.list().begin(), b.list().end());
    return Value(std::move(out));
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.kind() == Kind::Int || b.kind() == Kind::Bool))
    return repeat(a, b.as_int());
  if (op == "*" && (b.is_string() || b.is_list()) && (a.kind() == Kind::Int || a.kind() == Kind::Bool))
    return repeat(b, a.as_int());
  unsupported(op, a, b);
}

}  // namespace slm::jinja
