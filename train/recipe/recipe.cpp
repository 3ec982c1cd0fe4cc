// recipe.cpp — reading a recipe file, command-line overrides, validation and rendering.
//
// Every problem found is collected, so one run of `slmtune train` reports all of a recipe's
// mistakes at once, each with file:line:column (1-based) and, for unknown keys, the closest
// valid key.
#include "train/recipe/recipe.h"

#include <set>

#include "train/core/error.h"
#include "train/core/files.h"
#include "train/core/text.h"
#include "train/recipe/schema.h"

namespace slm {
namespace schema = recipe_schema;

namespace {

std::string place(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return error_message(file, ":", mark.line + 1, ":", mark.column + 1);
}

// Collects problems and throws them together.
class Problems {
 public:
  void add(std::string message) { list_.push_back(std::move(message)); }
  void throw_if_any(const std::string& headline) const {
    if (list_.empty()) return;
    std::string text = list_.size() == 1 ? list_[0] : headline;
    if (list_.size() > 1)
      for (const std::string& p : list_) text += "\n  " + p;
    throw Error(text);
  }

 private:
  std::vector<std::string> list_;
};

std::vector<std::string> section_names() {
  std::vector<std::string> names;
  for (const auto& s : schema::sections()) names.push_back(s.name);
  return names;
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> keys;
  for (const auto& f : schema::fields())
    if (f.section == section) keys.push_back(f.key);
  return keys;
}

// "; did you mean 'x'?" for an unknown key, looking in its own section first, then in the others
// (a key put in the wrong section is a common mistake).
std::string suggest_key(const std::string& section, const std::string& key) {
  std::string own = closest_match(key, keys_of(section));
  if (!own.empty()) return "; did you mean '" + own + "'?";
  for (const auto& f : schema::fields())
    if (f.key == key) return "; '" + key + "' belongs in section '" + f.section + "' (" + f.path() + ")";
  return "; valid keys in '" + section + "' are listed in recipes/reference.yaml";
}

std::string unknown_section_message(const std::string& name) {
  std::string suggestion = closest_match(name, section_names());
  for (const auto& f : schema::fields())
    if (suggestion.empty() && f.key == name)
      return "'" + name + "' is a key of section '" + f.section + "'; write it as\n    " +
             f.section + ":\n      " + name + ": ...";
  return "unknown section '" + name + "'" +
         (suggestion.empty() ? "; the sections are model, lora, data, train, eval, output"
                             : "; did you mean '" + suggestion + "'?");
}

void set_field(const schema::RecipeField& field, LoadedRecipe& loaded, const YAML::Node& value,
               const std::string& origin, const std::string& file, Problems& problems) {
  try {
    field.set(loaded.recipe, value);
    loaded.origins.of_key[field.path()] = origin;
  } catch (const schema::ValueError& e) {
    std::string where = file.empty() ? origin : place(file, e.mark);
    problems.add(where + ": " + field.path() + ": " + e.message);
  }
}

void parse_section(const std::string& section, const YAML::Node& body, LoadedRecipe& loaded,
                   const std::string& file, Problems& problems) {
  if (body.IsNull()) return;  // "lora:" with nothing under it keeps the defaults
  if (!body.IsMap()) {
    problems.add(place(file, body.Mark()) + ": section '" + section +
                 "' must be a mapping of 'key: value' lines");
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (const auto& item : body) {
    const std::string key = item.first.Scalar();
    const std::string where = place(file, item.first.Mark());
    if (auto [it, fresh] = seen.emplace(key, item.first.Mark()); !fresh) {
      problems.add(where + ": " + section + "." + key + " is set twice (first at line " +
                   std::to_string(it->second.line + 1) + ")");
      continue;
    }
    const schema::RecipeField* field = schema::find_field(section, key);
    if (!field) {
      problems.add(where + ": unknown key '" + key + "' in section '" + section + "'" +
                   suggest_key(section, key));
      continue;
    }
    set_field(*field, loaded, item.second, place(file, item.second.Mark()), file, problems);
  }
}

}  // namespace

std::string RecipeOrigins::where(const std::string& key) const {
  auto it = of_key.find(key);
  return it != of_key.end() ? it->second : file + " (default of " + key + ")";
}

LoadedRecipe parse_recipe(std::string_view text, const std::string& source_name) {
  LoadedRecipe loaded;
  loaded.origins.file = source_name;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    SLM_FAIL(place(source_name, e.mark), ": YAML syntax error: ", e.msg,
             "; check indentation (spaces, not tabs) and quoting");
  }
  if (root.IsNull()) return loaded;
  if (!root.IsMap())
    SLM_FAIL(place(source_name, root.Mark()),
             ": a recipe is a mapping of sections (model:, lora:, data:, train:, eval:, output:)");

  Problems problems;
  std::set<std::string> seen;
  for (const auto& item : root) {
    const std::string name = item.first.Scalar();
    const std::string where = place(source_name, item.first.Mark());
    if (!seen.insert(name).second) {
      problems.add(where + ": section '" + name + "' appears twice; merge the two");
      continue;
    }
    bool known = false;
    for (const auto& s : schema::sections()) known = known || s.name == name;
    if (!known) {
      problems.add(where + ": " + unknown_section_message(name));
      continue;
    }
    parse_section(name, item.second, loaded, source_name, problems);
  }
  problems.throw_if_any(source_name + ": the recipe has these problems:");
  return loaded;
}

bool is_override(std::string_view text) {
  auto eq = text.find('=');
  auto dot = text.find('.');
  return eq != std::string_view::npos && dot != std::string_view::npos && dot < eq &&
         text.substr(0, 2) != "--";
}

void apply_overrides(LoadedRecipe& loaded, std::span<const std::string> overrides) {
  Problems problems;
  for (const std::string& text : overrides) {
    const std::string origin = "command-line override '" + text + "'";
    if (!is_override(text)) {
      problems.add(origin + ": expected section.key=value, for example train.learning_rate=1e-4");
      continue;
    }
    const std::size_t eq = text.find('=');
    const std::string path = text.substr(0, eq);
    const std::string value = text.substr(eq + 1);
    const std::string section = path.substr(0, path.find('.'));
    const std::string key = path.substr(path.find('.') + 1);
    bool known_section = false;
    for (const auto& s : schema::sections()) known_section = known_section || s.name == section;
    if (!known_section) {
      problems.add(origin + ": " + unknown_section_message(section));
      continue;
    }
    const schema::RecipeField* field = schema::find_field(section, key);
    if (!field) {
      problems.add(origin + ": unknown key '" + key + "' in section '" + section + "'" +
                   suggest_key(section, key));
      continue;
    }
    // Strings are taken verbatim (paths may hold ':' or '#'), and so is a list of strings given
    // as one plain value (data.train=a/b.jsonl); a YAML list or a quoted value is read as YAML,
    // like everything else.
    YAML::Node node;
    const bool plain = value.empty() || (value.front() != '[' && value.front() != '"' && value.front() != '\'');
    if (field->kind == schema::FieldKind::String || (field->kind == schema::FieldKind::StringList && plain)) {
      node = YAML::Node(value);
    } else {
      try {
        node = YAML::Load(value);
      } catch (const YAML::Exception& e) {
        problems.add(origin + ": " + path + ": cannot read the value: " + e.msg);
        continue;
      }
    }
    set_field(*field, loaded, node, origin, "", problems);
  }
  problems.throw_if_any("the command-line overrides have these problems:");
}

void validate_recipe(const LoadedRecipe& loaded) {
  const Recipe& r = loaded.recipe;
  const RecipeOrigins& o = loaded.origins;
  Problems problems;
  for (const auto& f : schema::fields())
    if (f.required && (f.render(r) == "\"\"" || f.render(r) == "[]"))
      problems.add(o.file + ": " + f.path() + " is required: " + f.doc.substr(0, f.doc.find('\n')) +
                   " For example:\n    " + f.section + ":\n      " + f.key + ": " + f.example);
  for (std::size_t i = 0; i < r.data.train.size(); ++i)
    if (r.data.train[i].empty())
      problems.add(o.where("data.train") + ": data.train: entry " + std::to_string(i + 1) +
                   " is empty; name a JSONL or JSON file, a glob or a directory");
  if (!r.data.train_weights.empty() && r.data.train_weights.size() != r.data.train.size())
    problems.add(o.where("data.train_weights") + ": data.train_weights has " +
                 std::to_string(r.data.train_weights.size()) + " weight(s) but data.train names " +
                 std::to_string(r.data.train.size()) +
                 " dataset(s); give one weight per dataset, in the order of data.train, or [] to "
                 "concatenate them");
  if (r.train.max_steps > 0 && r.train.warmup_steps > r.train.max_steps)
    problems.add(o.where("train.warmup_steps") + ": train.warmup_steps (" +
                 std::to_string(r.train.warmup_steps) + ") exceeds train.max_steps (" +
                 std::to_string(r.train.max_steps) + ")");
  if (!r.data.eval.empty() && r.data.eval_fraction > 0)
    problems.add(o.where("data.eval_fraction") +
                 ": data.eval_fraction holds out training records, but data.eval already names "
                 "evaluation data; set only one");
  if (r.lora.target_modules.empty())
    problems.add(o.where("lora.target_modules") + ": lora.target_modules is empty; nothing would train");
  for (ExportKind kind : r.output.exports)
    if (r.lora.use_dora && (kind == ExportKind::GgufLora))
      problems.add(o.where("output.export") +
                   ": llama.cpp adapters cannot carry DoRA magnitudes; export 'merged' or 'gguf' "
                   "instead of 'gguf_lora', or set lora.use_dora=false");
  if (r.train.backend == BackendKind::Cpu && r.train.num_devices > 1)
    problems.add(o.where("train.num_devices") +
                 ": train.num_devices > 1 needs train.backend: cuda (CPU training uses threads)");
  if (r.output.name.find('/') != std::string::npos || r.output.name == ".." || r.output.name == ".")
    problems.add(o.where("output.name") + ": output.name must be a plain name, not a path");
  problems.throw_if_any(o.file + ": the recipe is not valid:");
}

LoadedRecipe load_recipe(const std::filesystem::path& path, std::span<const std::string> overrides) {
  std::string text = read_file(path, "recipe");
  LoadedRecipe loaded = parse_recipe(text, path.string());
  apply_overrides(loaded, overrides);
  if (loaded.recipe.output.name.empty()) loaded.recipe.output.name = path.stem().string();
  validate_recipe(loaded);
  return loaded;
}

namespace {
void append_comment(std::string& out, const std::string& doc, const char* indent) {
  std::size_t start = 0;
  while (start <= doc.size()) {
    std::size_t end = doc.find('\n', start);
    if (end == std::string::npos) end = doc.size();
    out += indent + std::string("# ") + doc.substr(start, end - start) + "\n";
    start = end + 1;
  }
}
}  // namespace

std::string render_recipe(const Recipe& recipe, bool with_docs) {
  std::string out;
  for (const auto& section : schema::sections()) {
    if (with_docs) {
      if (!out.empty()) out += "\n";
      append_comment(out, section.doc, "");
    }
    out += section.name + ":\n";
    for (const auto& f : schema::fields()) {
      if (f.section != section.name) continue;
      if (with_docs) append_comment(out, f.doc + "\nType: " + f.type_text + ".", "  ");
      out += "  " + f.key + ": " + f.render(recipe) + "\n";
    }
  }
  return out;
}

std::string render_reference_recipe() {
  LoadedRecipe loaded;
  for (const auto& f : schema::fields())
    if (f.required) f.set(loaded.recipe, YAML::Node(f.example));
  std::string header =
      "# slmtune recipe reference: every key, its default, its type and range.\n"
      "# Generated from the schema (train/recipe/schema.cpp) by `slmtune train --print-reference`;\n"
      "# a test keeps this file equal to that output. Required keys show an example value.\n\n";
  return header + render_recipe(loaded.recipe, true);
}

}  // namespace slm
