// filters.cpp — the filters templates apply with `|`: Jinja's built-in ones that chat templates
// use, and transformers' tojson (json.dumps with ensure_ascii=False and the given indent).
// Does not hold: tests, methods (builtins.cpp), evaluation. Not supported: tojson separators,
// filters that need autoescaping or the environment (indent, wordwrap, urlize, format, batch...).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "data/chat_template/builtins.h"

namespace slm::jinja {
namespace {

using FilterFn = Value (*)(const Value&, const CallArgs&);

bool arg_bool(const CallArgs& a, size_t i, const char* name, bool def) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : def;
}
const Value* arg_str(const CallArgs& a, size_t i, const char* name) {
  const Value* v = a.get(i, name);
  return v && !v->is_none() ? v : nullptr;
}

// Jinja's attribute getter: a dotted path, each part an item (integer parts index lists).
Value attribute_of(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && part.size() < 19 && std::all_of(part.begin(), part.end(), ::isdigit);
    v = digits ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value f_length(const Value& v, const CallArgs&) {
  switch (v.kind()) {
    case Kind::Undefined: return Value(0);
    case Kind::String: return Value(static_cast<int64_t>(code_point_count(v.str())));
    case Kind::List: return Value(static_cast<int64_t>(v.list().size()));
    case Kind::Dict: return Value(static_cast<int64_t>(v.dict().items.size()));
    default: runtime_fail("a " + v.type_name() + " has no length");
  }
}

Value f_trim(const Value& v, const CallArgs& a) { return Value(strip(to_str(v), arg_str(a, 0, "chars"), true, true)); }

Value f_tojson(const Value& v, const CallArgs& a) {
  const Value* indent = a.get(1, "indent");
  const Value* separators = a.get(2, "separators");
  if (separators && !separators->is_none()) runtime_fail("tojson: separators are not supported");
  std::optional<int> ind;
  if (indent && !indent->is_none()) ind = static_cast<int>(indent->as_int());
  return Value(to_json(v, ind, arg_bool(a, 0, "ensure_ascii", false), arg_bool(a, 3, "sort_keys", false)));
}

Value f_upper(const Value& v, const CallArgs& a) { return *call_method(Value(to_str(v)), "upper", a); }
Value f_lower(const Value& v, const CallArgs& a) { return *call_method(Value(to_str(v)), "lower", a); }
Value f_capitalize(const Value& v, const CallArgs& a) { return *call_method(Value(to_str(v)), "capitalize", a); }

// Jinja's title: words start after '-', whitespace, or an opening bracket.
Value f_title(const Value& v, const CallArgs&) {
  std::string s = to_str(v);
  bool start = true;
  for (char& c : s) {
    bool sep = std::isspace(static_cast<unsigned char>(c)) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      start = true;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(start ? std::toupper(c) : std::tolower(c));
    start = false;
  }
  return Value(s);
}

Value f_join(const Value& v, const CallArgs& a) {
  const Value* sep = arg_str(a, 0, "d");
  const Value* attr = arg_str(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first && sep) out += to_str(*sep);
    first = false;
    out += to_str(attr ? attribute_of(item, to_str(*attr)) : item);
  }
  return Value(out);
}

Value f_first(const Value& v, const CallArgs&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("first") : items.front();
}
Value f_last(const Value& v, const CallArgs&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("last") : items.back();
}

Value f_default(const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default_value");
  bool boolean = arg_bool(a, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !v.truthy())) return def ? *def : Value("");
  return v;
}

// select/reject/selectattr/rejectattr share one loop.
Value select_items(const Value& v, const CallArgs& a, bool by_attr, bool keep) {
  size_t first_test_arg = by_attr ? 1 : 0;
  std::string attr = by_attr ? to_str(a.positional.empty() ? Value() : a.positional[0]) : "";
  std::string test = a.positional.size() > first_test_arg ? to_str(a.positional[first_test_arg]) : "";
  if (!test.empty() && !is_test_name(test)) runtime_fail("no test named '" + test + "'");
  CallArgs test_args;
  for (size_t i = first_test_arg + 1; i < a.positional.size(); ++i) test_args.positional.push_back(a.positional[i]);
  List out;
  for (const Value& item : iterate(v)) {
    Value x = by_attr ? attribute_of(item, attr) : item;
    bool pass = test.empty() ? x.truthy() : apply_test(test, x, test_args);
    if (pass == keep) out.push_back(item);
  }
  return Value(std::move(out));
}
Value f_selectattr(const Value& v, const CallArgs& a) { return select_items(v, a, true, true); }
Value f_rejectattr(const Value& v, const CallArgs& a) { return select_items(v, a, true, false); }
Value f_select(const Value& v, const CallArgs& a) { return select_items(v, a, false, true); }
Value f_reject(const Value& v, const CallArgs& a) { return select_items(v, a, false, false); }

Value f_map(const Value& v, const CallArgs& a) {
  List out;
  const Value* attr = a.get(99, "attribute");
  if (attr) {
    const Value* def = a.get(99, "default");
    for (const Value& item : iterate(v)) {
      Value x = attribute_of(item, to_str(*attr));
      out.push_back(x.is_undefined() && def ? *def : x);
    }
    return Value(std::move(out));
  }
  if (a.positional.empty()) runtime_fail("map() needs a filter name or attribute=");
  std::string filter = to_str(a.positional[0]);
  if (!is_filter_name(filter)) runtime_fail("no filter named '" + filter + "'");
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.named = a.named;
  for (const Value& item : iterate(v)) out.push_back(apply_filter(filter, item, rest));
  return Value(std::move(out));
}

Value f_items(const Value& v, const CallArgs& a) {
  if (v.is_undefined()) return Value(List{});
  if (!v.is_dict()) runtime_fail("items: expected a mapping, got a " + v.type_name());
  return *call_method(v, "items", a);
}

Value f_list(const Value& v, const CallArgs&) { return Value(iterate(v)); }
Value f_string(const Value& v, const CallArgs&) { return Value(to_str(v)); }
Value f_safe(const Value& v, const CallArgs&) { return v; }

Value f_int(const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default");
  Value fallback = def ? *def : Value(0);
  if (v.is_number()) return Value(v.as_int());
  if (!v.is_string()) return fallback;
  std::string s = strip(v.str(), nullptr, true, true);
  try {
    size_t used = 0;
    long long i = std::stoll(s, &used, static_cast<int>(a.get(1, "base") ? a.get(1, "base")->as_int() : 10));
    if (used == s.size()) return Value(static_cast<int64_t>(i));
    size_t fused = 0;
    double f = std::stod(s, &fused);
    if (fused == s.size()) return Value(static_cast<int64_t>(f));
  } catch (const std::exception&) {
  }
  return fallback;
}

Value f_float(const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default");
  if (v.is_number()) return Value(v.as_float());
  try {
    size_t used = 0;
    std::string s = strip(to_str(v), nullptr, true, true);
    double f = std::stod(s, &used);
    if (used == s.size()) return Value(f);
  } catch (const std::exception&) {
  }
  return def ? *def : Value(0.0);
}

// A sort key honouring case_sensitive=False for strings, as Jinja's filters do.
Value sort_key(const Value& v, bool case_sensitive) {
  if (case_sensitive || !v.is_string()) return v;
  return *call_method(v, "lower", {});
}

Value f_dictsort(const Value& v, const CallArgs& a) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  const Value* by = a.get(1, "by");
  bool by_value = by && to_str(*by) == "value";
  bool reverse = arg_bool(a, 2, "reverse", false);
  if (!v.is_dict()) runtime_fail("dictsort: expected a mapping, got a " + v.type_name());
  List pairs = call_method(v, "items", {})->list();
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    const Value& kx = x.list()[by_value ? 1 : 0];
    const Value& ky = y.list()[by_value ? 1 : 0];
    return reverse ? less(sort_key(ky, cs), sort_key(kx, cs)) : less(sort_key(kx, cs), sort_key(ky, cs));
  });
  return Value(std::move(pairs));
}

Value f_sort(const Value& v, const CallArgs& a) {
  bool reverse = arg_bool(a, 0, "reverse", false);
  bool cs = arg_bool(a, 1, "case_sensitive", false);
  const Value* attr = arg_str(a, 2, "attribute");
  List items = iterate(v);
  auto key = [&](const Value& x) { return sort_key(attr ? attribute_of(x, to_str(*attr)) : x, cs); };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less(key(y), key(x)) : less(key(x), key(y));
  });
  return Value(std::move(items));
}

Value f_unique(const Value& v, const CallArgs& a) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  const Value* attr = arg_str(a, 1, "attribute");
  List out, seen;
  for (const Value& item : iterate(v)) {
    Value k = sort_key(attr ? attribute_of(item, to_str(*attr)) : item, cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return Value(std::move(out));
}

Value f_reverse(const Value& v, const CallArgs&) {
  if (v.is_string()) return get_slice(v, Value(), Value(), Value(-1));
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value(std::move(items));
}

Value f_sum(const Value& v, const CallArgs& a) {
  const Value* attr = arg_str(a, 0, "attribute");
  const Value* start = a.get(1, "start");
  Value total = start ? *start : Value(0);
  for (const Value& item : iterate(v)) total = binary_op("+", total, attr ? attribute_of(item, to_str(*attr)) : item);
  return total;
}

Value min_max(const Value& v, const CallArgs& a, bool want_max) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  const Value* attr = arg_str(a, 1, "attribute");
  List items = iterate(v);
  if (items.empty()) return Value::undefined(want_max ? "max" : "min");
  auto key = [&](const Value& x) { return sort_key(attr ? attribute_of(x, to_str(*attr)) : x, cs); };
  Value best = items[0];
  for (const Value& item : items)
    if (want_max ? less(key(best), key(item)) : less(key(item), key(best))) best = item;
  return best;
}
Value f_min(const Value& v, const CallArgs& a) { return min_max(v, a, false); }
Value f_max(const Value& v, const CallArgs& a) { return min_max(v, a, true); }

Value f_abs(const Value& v, const CallArgs&) {
  if (v.kind() == Kind::Float) return Value(std::fabs(v.as_float()));
  if (!v.is_number()) runtime_fail("abs: expected a number, got a " + v.type_name());
  return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
}

Value f_round(const Value& v, const CallArgs& a) {
  const Value* precision = a.get(0, "precision");
  const Value* method = a.get(1, "method");
  std::string m = method ? to_str(*method) : "common";
  double scale = std::pow(10.0, precision ? precision->as_float() : 0.0);
  double x = v.as_float() * scale;
  double r = m == "ceil" ? std::ceil(x) : m == "floor" ? std::floor(x) : std::nearbyint(x);
  if (m == "common" && v.kind() != Kind::Float) return Value(v.as_int());
  return Value(r / scale);
}

Value f_replace(const Value& v, const CallArgs& a) {
  return *call_method(Value(to_str(v)), "replace", a);
}

Value f_escape(const Value& v, const CallArgs&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(out);
}

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const std::map<std::string, FilterFn, std::less<>> k_filters = {
      {"length", f_length}, {"count", f_length}, {"trim", f_trim}, {"tojson", f_tojson},
      {"upper", f_upper}, {"lower", f_lower}, {"capitalize", f_capitalize}, {"title", f_title},
      {"join", f_join}, {"first", f_first}, {"last", f_last}, {"default", f_default}, {"d", f_default},
      {"selectattr", f_selectattr}, {"rejectattr", f_rejectattr}, {"select", f_select},
      {"reject", f_reject}, {"map", f_map}, {"items", f_items}, {"list", f_list}, {"string", f_string},
      {"safe", f_safe}, {"int", f_int}, {"float", f_float}, {"dictsort", f_dictsort}, {"sort", f_sort},
      {"unique", f_unique}, {"reverse", f_reverse}, {"sum", f_sum}, {"min", f_min}, {"max", f_max},
      {"abs", f_abs}, {"round", f_round}, {"replace", f_replace}, {"escape", f_escape}, {"e", f_escape},
  };
  return k_filters;
}

}  // namespace

bool is_filter_name(std::string_view name) { return filters().find(name) != filters().end(); }

Value apply_filter(const std::string& name, const Value& subject, const CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) runtime_fail("no filter named '" + name + "'");
  return it->second(subject, args);
}

}  // namespace slm::jinja
