// builtins.cpp — tests, methods of strings/dicts, attribute and item access, slicing, operators
// and iteration, with the semantics Python gives them under Jinja.
// Does not hold: filters (filters.cpp), globals and evaluation (evaluator.cpp).
// Not supported: Unicode case mapping (upper/lower/title change ASCII letters only).
#include "data/chat_template/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace slm::jinja {

namespace {

const char* const k_tests[] = {
    "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number",
    "string", "mapping", "iterable", "sequence", "callable", "sameas", "lower", "upper", "odd",
    "even", "divisibleby", "equalto", "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">",
    "ge", ">=", "in"};

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(f(c));
  return s;
}

// Python's str.title(): a cased letter after a non-letter starts a word.
std::string python_title(const std::string& s) {
  std::string out = s;
  bool prev_letter = false;
  for (char& c : out) {
    bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (letter) c = static_cast<char>(prev_letter ? std::tolower(c) : std::toupper(c));
    prev_letter = letter || static_cast<unsigned char>(c) >= 0x80;
  }
  return out;
}

// Python's str.split(sep=None, maxsplit=-1).
List python_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  List out;
  if (!sep || sep->is_none()) {
    std::vector<char32_t> cps = to_code_points(s);
    size_t i = 0;
    while (true) {
      while (i < cps.size() && is_python_space(cps[i])) ++i;
      if (i == cps.size()) break;
      size_t j = i;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) j = cps.size();
      while (j < cps.size() && !is_python_space(cps[j])) ++j;
      std::string part = from_code_points(cps, i, j);
      if (j == cps.size() && maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)
        part = strip(part, nullptr, false, true);
      out.push_back(Value(part));
      i = j;
    }
    return out;
  }
  const std::string& d = sep->str();
  if (d.empty()) runtime_fail("split(): empty separator");
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t at = s.find(d, start);
    if (at == std::string::npos) break;
    out.push_back(Value(s.substr(start, at - start)));
    start = at + d.size();
  }
  out.push_back(Value(s.substr(start)));
  return out;
}

std::string python_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  size_t start = 0;
  int64_t done = 0;
  if (from.empty()) runtime_fail("replace() with an empty pattern is not supported");
  while (count < 0 || done < count) {
    size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out += s.substr(start, at - start) + to;
    start = at + from.size();
    ++done;
  }
  return out + s.substr(start);
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  if (affix.is_list()) {
    for (const Value& a : affix.list())
      if (affix_match(s, a, prefix)) return true;
    return false;
  }
  if (!affix.is_string()) runtime_fail("startswith/endswith take a string or a tuple of strings");
  const std::string& a = affix.str();
  if (a.size() > s.size()) return false;
  return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
}

std::optional<Value> string_method(const std::string& s, const std::string& name, const CallArgs& args) {
  const Value* a0 = args.get(0, "");
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return Value(strip(s, a0, name != "rstrip", name != "lstrip"));
  if (name == "startswith" || name == "endswith") {
    if (!a0) runtime_fail(name + "() takes an argument");
    return Value(affix_match(s, *a0, name == "startswith"));
  }
  if (name == "split") {
    const Value* max = args.get(1, "maxsplit");
    return Value(python_split(s, args.get(0, "sep"), max ? max->as_int() : -1));
  }
  if (name == "replace") {
    const Value* to = args.get(1, "new");
    const Value* count = args.get(2, "count");
    if (!a0 || !to) runtime_fail("replace() takes two arguments");
    return Value(python_replace(s, a0->str(), to->str(), count ? count->as_int() : -1));
  }
  if (name == "upper") return Value(ascii_map(s, ::toupper));
  if (name == "lower") return Value(ascii_map(s, ::tolower));
  if (name == "title") return Value(python_title(s));
  if (name == "capitalize") {
    std::string out = ascii_map(s, ::tolower);
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(out[0]));
    return Value(out);
  }
  if (name == "find") {
    if (!a0) runtime_fail("find() takes an argument");
    size_t at = s.find(a0->str());
    return Value(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(code_point_count(s.substr(0, at))));
  }
  if (name == "count") {
    if (!a0 || a0->str().empty()) runtime_fail("count() takes a non-empty string");
    int64_t n = 0;
    for (size_t at = s.find(a0->str()); at != std::string::npos; at = s.find(a0->str(), at + a0->str().size())) ++n;
    return Value(n);
  }
  return std::nullopt;
}

std::optional<Value> dict_method(const Dict& d, const std::string& name, const CallArgs& args) {
  if (name == "get") {
    const Value* key = args.get(0, "key");
    const Value* def = args.get(1, "default");
    if (!key) runtime_fail("get() takes a key");
    const Value* found = key->is_string() ? d.find(key->str()) : nullptr;
    return found ? *found : def ? *def : Value::none();
  }
  List out;
  if (name == "items") {
    for (const auto& [k, v] : d.items) out.push_back(Value::tuple(List{Value(k), v}));
  } else if (name == "keys") {
    for (const auto& [k, v] : d.items) out.push_back(Value(k));
  } else if (name == "values") {
    for (const auto& [k, v] : d.items) out.push_back(v);
  } else {
    return std::nullopt;
  }
  return Value(std::move(out));
}

// Python's slice.indices(): clamps start/stop for a sequence of `len` items.
void slice_indices(int64_t len, const Value& start, const Value& stop, int64_t step, int64_t& lo, int64_t& hi) {
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.is_undefined() || v.is_none()) return def;
    int64_t i = v.as_int();
    if (i < 0) i += len;
    if (step > 0) return std::clamp<int64_t>(i, 0, len);
    return std::clamp<int64_t>(i, -1, len - 1);
  };
  lo = clamp(start, step > 0 ? 0 : len - 1);
  hi = clamp(stop, step > 0 ? len : -1);
}

}  // namespace

bool is_test_name(std::string_view name) {
  return std::find(std::begin(k_tests), std::end(k_tests), name) != std::end(k_tests);
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& args) {
  const Value* a = args.get(0, "");
  auto need = [&]() -> const Value& {
    if (!a) runtime_fail("test '" + name + "' takes an argument");
    return *a;
  };
  Kind k = v.kind();
  if (name == "defined") return k != Kind::Undefined;
  if (name == "undefined") return k == Kind::Undefined;
  if (name == "none") return k == Kind::None;
  if (name == "boolean") return k == Kind::Bool;
  if (name == "false") return k == Kind::Bool && !v.as_bool();
  if (name == "true") return k == Kind::Bool && v.as_bool();
  if (name == "integer") return k == Kind::Int;
  if (name == "float") return k == Kind::Float;
  if (name == "number") return v.is_number();
  if (name == "string") return k == Kind::String;
  if (name == "mapping") return k == Kind::Dict;
  if (name == "iterable" || name == "sequence") return k == Kind::String || k == Kind::List || k == Kind::Dict;
  if (name == "callable") return k == Kind::Function;
  if (name == "lower") return k == Kind::String && ascii_map(v.str(), ::tolower) == v.str();
  if (name == "upper") return k == Kind::String && ascii_map(v.str(), ::toupper) == v.str();
  if (name == "odd" || name == "even") {
    int64_t r = v.as_int() % 2;
    return name == "odd" ? r != 0 : r == 0;
  }
  if (name == "divisibleby") return need().as_int() != 0 && v.as_int() % need().as_int() == 0;
  if (name == "sameas") return v.kind() == need().kind() && (v.is_none() || v.is_undefined() || equal(v, need()));
  if (name == "equalto" || name == "eq" || name == "==") return equal(v, need());
  if (name == "ne" || name == "!=") return !equal(v, need());
  if (name == "lt" || name == "<") return less(v, need());
  if (name == "le" || name == "<=") return !less(need(), v);
  if (name == "gt" || name == ">") return less(need(), v);
  if (name == "ge" || name == ">=") return !less(v, need());
  if (name == "in") return binary_op("in", v, need()).as_bool();
  runtime_fail("no test named '" + name + "'");
}

std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args) {
  if (obj.is_string()) return string_method(obj.str(), name, args);
  if (obj.is_dict()) return dict_method(obj.dict(), name, args);
  return std::nullopt;
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) runtime_fail("'" + obj.str() + "' is undefined (reading its attribute '" + name + "')");
  if (obj.kind() == Kind::Dict || obj.kind() == Kind::Namespace) {
    const Value* v = obj.dict().find(name);
    if (v) return *v;
  }
  return Value::undefined(name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) runtime_fail("'" + obj.str() + "' is undefined (reading an item of it)");
  if (obj.kind() == Kind::Dict || obj.kind() == Kind::Namespace) {
    if (!key.is_string()) return Value::undefined(to_str(key));
    const Value* v = obj.dict().find(key.str());
    return v ? *v : Value::undefined(key.str());
  }
  if ((obj.is_list() || obj.is_string()) && (key.kind() == Kind::Int || key.kind() == Kind::Bool)) {
    if (obj.is_list()) {
      int64_t n = static_cast<int64_t>(obj.list().size());
      int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
      return i >= 0 && i < n ? obj.list()[i] : Value::undefined(to_str(key));
    }
    std::vector<char32_t> cps = to_code_points(obj.str());
    int64_t n = static_cast<int64_t>(cps.size());
    int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
    return i >= 0 && i < n ? Value(from_code_points(cps, i, i + 1)) : Value::undefined(to_str(key));
  }
  if (key.is_string()) return get_attr(obj, key.str());
  return Value::undefined(to_str(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step_v) {
  int64_t step = step_v.is_undefined() || step_v.is_none() ? 1 : step_v.as_int();
  if (step == 0) runtime_fail("slice step cannot be zero");
  if (!obj.is_list() && !obj.is_string()) runtime_fail("cannot slice a " + obj.type_name());
  std::vector<char32_t> cps;
  if (obj.is_string()) cps = to_code_points(obj.str());
  int64_t len = obj.is_list() ? static_cast<int64_t>(obj.list().size()) : static_cast<int64_t>(cps.size());
  int64_t lo, hi;
  slice_indices(len, start, stop, step, lo, hi);
  List items;
  std::vector<char32_t> chars;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
    if (obj.is_list()) items.push_back(obj.list()[i]);
    else chars.push_back(cps[i]);
  }
  if (obj.is_list()) return Value(std::move(items));
  return Value(from_code_points(chars, 0, chars.size()));
}

List iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List: return v.list();
    case Kind::Dict: {
      List keys;
      for (const auto& [k, x] : v.dict().items) keys.push_back(Value(k));
      return keys;
    }
    case Kind::String: {
      List chars;
      std::vector<char32_t> cps = to_code_points(v.str());
      for (size_t i = 0; i < cps.size(); ++i) chars.push_back(Value(from_code_points(cps, i, i + 1)));
      return chars;
    }
    default: runtime_fail("a " + v.type_name() + " is not iterable");
  }
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<char32_t> cps = to_code_points(s);
  std::vector<char32_t> set;
  bool custom = chars && !chars->is_none() && !chars->is_undefined();
  if (custom) set = to_code_points(chars->str());
  auto strip_it = [&](char32_t c) {
    return custom ? std::find(set.begin(), set.end(), c) != set.end() : is_python_space(c);
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return from_code_points(cps, b, e);
}

}  // namespace slm::jinja
