// evaluator.cpp — the tree-walking interpreter: statements write to one output string,
// expressions evaluate to Values. A RuntimeFailure from any builtin is turned into slm::Error at
// the innermost expression, so the message names the line:column where the template failed;
// raise_exception's message is carried through verbatim.
// Does not hold: lexing, parsing, filters, tests, methods, operator semantics (builtins.h).
#include "data/chat_template/evaluator.h"

#include <unordered_map>

#include "data/chat_template/builtins.h"
#include "train/core/error.h"

namespace slm::jinja {
namespace {

// raise_exception(message) from the template: the message is the template author's.
struct Raised : RuntimeFailure {
  using RuntimeFailure::RuntimeFailure;
};

struct Scope {
  Scope* parent = nullptr;
  std::unordered_map<std::string, Value> vars;

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { Normal, Break, Continue };

class Evaluator {
 public:
  Evaluator(const std::string& source, const std::tm& now) : source_(source), now_(now) {}

  std::string run(const Body& body, const Dict& context) {
    add_globals(root_);
    for (const auto& [k, v] : context.items) root_.vars[k] = v;
    std::string out;
    try {
      exec_body(body, root_, out);
    } catch (const RuntimeFailure& f) {  // failures outside any expression (e.g. a loop target)
      SLM_FAIL(source_, ": ", f.what());
    }
    return out;
  }

 private:
  const std::string& source_;
  std::tm now_;
  Scope root_;

  void add_globals(Scope& s);
  Flow exec_body(const Body& body, Scope& scope, std::string& out);
  Flow exec(const Node& n, Scope& scope, std::string& out);
  Flow exec_for(const Node& n, Scope& scope, std::string& out);
  void assign(const Expr& target, const Value& v, Scope& scope);
  Value define_macro(const Node& n, Scope& scope);
  Value eval(const Expr& e, Scope& scope);
  Value eval_inner(const Expr& e, Scope& scope);
  Value eval_call(const Expr& e, Scope& scope);
  CallArgs eval_args(const Expr& e, size_t first, Scope& scope);
};

void Evaluator::add_globals(Scope& s) {
  s.vars["raise_exception"] = Value::function("raise_exception", [](const CallArgs& a) -> Value {
    const Value* m = a.get(0, "message");
    throw Raised(m ? to_str(*m) : "");
  });
  std::tm now = now_;
  s.vars["strftime_now"] = Value::function("strftime_now", [now](const CallArgs& a) {
    const Value* fmt = a.get(0, "format");
    if (!fmt) runtime_fail("strftime_now() takes a format");
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, fmt->str().c_str(), &now);
    return Value(std::string(buf, n));
  });
  auto make_dict = [](const CallArgs& a) {
    Dict d;
    if (!a.positional.empty() && a.positional[0].is_dict()) d = a.positional[0].dict();
    for (const auto& [k, v] : a.named) d.set(k, v);
    return d;
  };
  s.vars["namespace"] = Value::function("namespace", [make_dict](const CallArgs& a) {
    return Value::namespace_of(make_dict(a));
  });
  s.vars["dict"] = Value::function("dict", [make_dict](const CallArgs& a) { return Value(make_dict(a)); });
  s.vars["range"] = Value::function("range", [](const CallArgs& a) {
    if (a.positional.empty() || a.positional.size() > 3) runtime_fail("range() takes 1 to 3 arguments");
    int64_t start = a.positional.size() > 1 ? a.positional[0].as_int() : 0;
    int64_t stop = a.positional.size() > 1 ? a.positional[1].as_int() : a.positional[0].as_int();
    int64_t step = a.positional.size() > 2 ? a.positional[2].as_int() : 1;
    if (step == 0) runtime_fail("range() step must not be zero");
    List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value(i));
    return Value(std::move(out));
  });
}

Flow Evaluator::exec_body(const Body& body, Scope& scope, std::string& out) {
  for (const NodePtr& n : body) {
    Flow f = exec(*n, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Flow Evaluator::exec(const Node& n, Scope& scope, std::string& out) {
  switch (n.kind) {
    case NodeKind::Text: out += n.text; return Flow::Normal;
    case NodeKind::Output: out += to_str(eval(*n.expr, scope)); return Flow::Normal;
    case NodeKind::If:
      for (const auto& [cond, body] : n.branches)
        if (eval(*cond, scope).truthy()) return exec_body(body, scope, out);
      return exec_body(n.else_body, scope, out);
    case NodeKind::For: return exec_for(n, scope, out);
    case NodeKind::Set: assign(*n.target, eval(*n.expr, scope), scope); return Flow::Normal;
    case NodeKind::SetBlock: {
      std::string captured;
      exec_body(n.body, scope, captured);
      scope.vars[n.text] = Value(captured);
      return Flow::Normal;
    }
    case NodeKind::Macro: scope.vars[n.text] = define_macro(n, scope); return Flow::Normal;
    case NodeKind::Generation: return exec_body(n.body, scope, out);
    case NodeKind::Break: return Flow::Break;
    case NodeKind::Continue: return Flow::Continue;
  }
  return Flow::Normal;
}

Flow Evaluator::exec_for(const Node& n, Scope& scope, std::string& out) {
  List items = iterate(eval(*n.expr, scope));
  if (n.cond) {
    List kept;
    for (const Value& item : items) {
      Scope probe{&scope, {}};
      assign(*n.target, item, probe);
      if (eval(*n.cond, probe).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(n.else_body, scope, out);
  const int64_t len = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < len; ++i) {
    Scope iteration{&scope, {}};
    assign(*n.target, items[i], iteration);
    Dict loop;
    loop.items = {{"index", Value(i + 1)},
                  {"index0", Value(i)},
                  {"revindex", Value(len - i)},
                  {"revindex0", Value(len - i - 1)},
                  {"first", Value(i == 0)},
                  {"last", Value(i == len - 1)},
                  {"length", Value(len)},
                  {"depth", Value(1)},
                  {"depth0", Value(0)},
                  {"previtem", i > 0 ? items[i - 1] : Value::undefined("previtem")},
                  {"nextitem", i + 1 < len ? items[i + 1] : Value::undefined("nextitem")}};
    iteration.vars["loop"] = Value(std::move(loop));
    if (exec_body(n.body, iteration, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Evaluator::assign(const Expr& target, const Value& v, Scope& scope) {
  if (target.kind == ExprKind::Name) {
    scope.vars[target.name] = v;
    return;
  }
  if (target.kind == ExprKind::Attr) {
    Value ns = eval(*target.args[0], scope);
    if (ns.kind() != Kind::Namespace)
      SLM_FAIL(source_, ":", target.line, ":", target.column, ": cannot assign attribute '", target.name,
               "' on a ", ns.type_name(), "; only namespace() objects take attribute assignment");
    ns.namespace_attrs().set(target.name, v);
    return;
  }
  List items = iterate(v);
  if (items.size() != target.args.size())
    SLM_FAIL(source_, ":", target.line, ":", target.column, ": cannot unpack ", items.size(), " values into ",
             target.args.size(), " names");
  for (size_t i = 0; i < items.size(); ++i) assign(*target.args[i], items[i], scope);
}

Value Evaluator::define_macro(const Node& n, Scope& scope) {
  Scope* defined_in = &scope;
  return Value::function(n.text, [this, &n, defined_in](const CallArgs& a) {
    Scope local{defined_in, {}};
    size_t used_named = 0;
    for (size_t i = 0; i < n.params.size(); ++i) {
      const auto& [name, def] = n.params[i];
      const Value* given = a.get(i, name);
      if (given && i >= a.positional.size()) ++used_named;
      local.vars[name] = given ? *given : def ? eval(*def, local) : Value::undefined(name);
    }
    if (a.positional.size() > n.params.size() || used_named < a.named.size())
      runtime_fail("macro '" + n.text + "' was called with arguments it does not take");
    std::string out;
    exec_body(n.body, local, out);
    return Value(out);
  });
}

Value Evaluator::eval(const Expr& e, Scope& scope) {
  try {
    return eval_inner(e, scope);
  } catch (const Raised& r) {
    SLM_FAIL(source_, ":", e.line, ":", e.column, ": the chat template raised an error: ", r.what());
  } catch (const RuntimeFailure& f) {
    SLM_FAIL(source_, ":", e.line, ":", e.column, ": ", f.what());
  }
}

Value Evaluator::eval_inner(const Expr& e, Scope& scope) {
  switch (e.kind) {
    case ExprKind::Literal: return e.value;
    case ExprKind::Name: {
      const Value* v = scope.find(e.name);
      return v ? *v : Value::undefined(e.name);
    }
    case ExprKind::List: {
      List items;
      for (const ExprPtr& x : e.args) items.push_back(eval(*x, scope));
      return e.name == "tuple" ? Value::tuple(std::move(items)) : Value(std::move(items));
    }
    case ExprKind::Dict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i], scope);
        if (!k.is_string()) runtime_fail("dict keys must be strings here, not a " + k.type_name());
        d.set(k.str(), eval(*e.args[i + 1], scope));
      }
      return Value(std::move(d));
    }
    case ExprKind::Attr: return get_attr(eval(*e.args[0], scope), e.name);
    case ExprKind::Item: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
    case ExprKind::Slice: {
      auto part = [&](size_t i) { return e.args[i] ? eval(*e.args[i], scope) : Value(); };
      return get_slice(eval(*e.args[0], scope), part(1), part(2), part(3));
    }
    case ExprKind::Call: return eval_call(e, scope);
    case ExprKind::Filter: return apply_filter(e.name, eval(*e.args[0], scope), eval_args(e, 1, scope));
    case ExprKind::Test: return Value(apply_test(e.name, eval(*e.args[0], scope), eval_args(e, 1, scope)) != e.negate);
    case ExprKind::Unary: {
      Value v = eval(*e.args[0], scope);
      if (e.name == "not") return Value(!v.truthy());
      if (!v.is_number()) runtime_fail("bad operand type for unary " + e.name + ": " + v.type_name());
      if (e.name == "+") return v;
      return v.kind() == Kind::Float ? Value(-v.as_float()) : Value(-v.as_int());
    }
    case ExprKind::Binary: return binary_op(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
    case ExprKind::And: {
      Value a = eval(*e.args[0], scope);
      return a.truthy() ? eval(*e.args[1], scope) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.args[0], scope);
      return a.truthy() ? a : eval(*e.args[1], scope);
    }
    case ExprKind::Cond:
      if (eval(*e.args[1], scope).truthy()) return eval(*e.args[0], scope);
      return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("if-expression");
  }
  return Value();
}

CallArgs Evaluator::eval_args(const Expr& e, size_t first, Scope& scope) {
  CallArgs args;
  for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], scope));
  for (const auto& [name, x] : e.kwargs) {
    Value v = eval(*x, scope);
    if (name == "*") {
      for (Value& item : iterate(v)) args.positional.push_back(std::move(item));
    } else if (name == "**") {
      if (!v.is_dict()) runtime_fail("** needs a mapping, not a " + v.type_name());
      for (const auto& [k, item] : v.dict().items) args.named.emplace_back(k, item);
    } else {
      args.named.emplace_back(name, std::move(v));
    }
  }
  return args;
}

Value Evaluator::eval_call(const Expr& e, Scope& scope) {
  const Expr& callee = *e.args[0];
  Value fn;
  if (callee.kind == ExprKind::Attr) {
    Value obj = eval(*callee.args[0], scope);
    if (obj.is_undefined()) runtime_fail("'" + obj.str() + "' is undefined (calling its method '" + callee.name + "')");
    CallArgs args = eval_args(e, 1, scope);
    if (std::optional<Value> r = call_method(obj, callee.name, args)) return *r;
    fn = get_attr(obj, callee.name);
    if (fn.kind() != Kind::Function) runtime_fail("a " + obj.type_name() + " has no method '" + callee.name + "'");
    return fn.function()(args);
  }
  fn = eval(callee, scope);
  if (fn.is_undefined()) runtime_fail("'" + fn.str() + "' is undefined (called as a function)");
  if (fn.kind() != Kind::Function) runtime_fail("a " + fn.type_name() + " is not callable");
  return fn.function()(eval_args(e, 1, scope));
}

}  // namespace

std::string render_template(const Body& body, const Dict& context, const std::string& source, const std::tm& now) {
  return Evaluator(source, now).run(body, context);
}

}  // namespace slm::jinja
