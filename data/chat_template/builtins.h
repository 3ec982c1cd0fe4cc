// builtins.h — what templates can call: filters, tests, methods of strings, dicts and lists,
// attribute and item access, slicing, and the operators' value semantics.
//
// Holds: the names of known filters and tests (the parser rejects others), apply_filter,
// apply_test, call_method, get_attr, get_item, get_slice, binary_op, iterate, strip. They fail with
// runtime_fail (value.h), which the evaluator turns into slm::Error with the template's place.
// Does not hold: globals such as range/namespace/raise_exception (evaluator.cpp), evaluation.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "data/chat_template/value.h"

namespace slm::jinja {

bool is_filter_name(std::string_view name);
bool is_test_name(std::string_view name);

Value apply_filter(const std::string& name, const Value& subject, const CallArgs& args);
bool apply_test(const std::string& name, const Value& subject, const CallArgs& args);

// obj.name(args) for built-in methods of strings, dicts and lists; nullopt when there is none.
std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args);

// obj.name: dict key or namespace attribute; undefined when absent. Fails on undefined obj.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: list/string index (negative from the end), dict key; undefined when absent.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] with Python's rules, for lists and strings.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// + - * / // % ** ~ == != < <= > >= in, "not in" with Python's semantics.
Value binary_op(const std::string& op, const Value& a, const Value& b);

// Iterating a value as a for loop does: list items, dict keys, string characters.
List iterate(const Value& v);

// Python's str.strip/lstrip/rstrip (whitespace, or the characters in `chars`).
std::string strip(const std::string& s, const Value* chars, bool left, bool right);

}  // namespace slm::jinja
