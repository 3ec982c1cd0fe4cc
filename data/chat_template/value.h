// value.h — the values a chat template computes with, and how Python would print them.
//
// Holds: jinja::Value (undefined, none, bool, int, float, string, list, dict, namespace, function),
// truthiness, equality and ordering with Python's rules, str()/repr() as Python prints them,
// json.dumps as transformers' tojson filter calls it, conversion from nlohmann JSON, and the
// UTF-8 code point helpers that string lengths, indexing and slicing need.
// Does not hold: filters, tests and methods (builtins.h), evaluation (evaluator.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/core/text.h"  // append_utf8

namespace slm::jinja {

// A failure while evaluating, without a place yet; the evaluator adds source:line:column.
struct RuntimeFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void runtime_fail(const std::string& message);

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

class Value;
using List = std::vector<Value>;

// An insertion-ordered dict with string keys (Python dicts keep insertion order; chat template
// dicts are small, so lookups are linear).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
};

// Arguments of a call: positional first, then keyword arguments in call order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  // The argument at `index` or named `name`, if given.
  const Value* get(size_t index, std::string_view name) const;
};
using Function = std::function<Value(const CallArgs&)>;

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string name);
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double f);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  Value(List list);
  static Value tuple(List items);  // a list that prints as Python prints a tuple
  Value(Dict dict);
  static Value namespace_of(Dict attrs);
  static Value function(std::string name, Function fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_tuple() const { return kind_ == Kind::List && b_; }

  bool as_bool() const { return b_; }
  int64_t as_int() const;   // bool and int (as Python's int())
  double as_float() const;  // bool, int and float
  const std::string& str() const { return s_; }  // the string, or the undefined name
  const List& list() const { return *list_; }
  const Dict& dict() const { return *dict_; }  // dict or namespace attributes
  Dict& namespace_attrs() const { return *dict_; }
  const Function& function() const { return *fn_; }
  const std::string& function_name() const { return s_; }

  bool truthy() const;
  // A short name of the type for messages: "string", "list", "dict", ...
  std::string type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;  // the bool; for lists, whether it is a tuple
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<const List> list_;
  std::shared_ptr<Dict> dict_;  // shared and mutable for namespaces only
  std::shared_ptr<const Function> fn_;
};

// Python's ==, and ordering (<) for numbers, strings and lists; throws on unordered types.
bool equal(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);

// Python's str(x) (what {{ x }} prints; undefined prints nothing) and repr(x).
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
std::string float_repr(double f);

// json.dumps(v, ensure_ascii, indent, separators=None, sort_keys).
std::string to_json(const Value& v, std::optional<int> indent, bool ensure_ascii, bool sort_keys);

Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);

// UTF-8 helpers: a string as code points and back; Python's str.isspace per code point.
std::vector<char32_t> to_code_points(std::string_view s);
std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end);
using slm::append_utf8;  // train/core/text.h
bool is_python_space(char32_t cp);
size_t code_point_count(std::string_view s);

}  // namespace slm::jinja
