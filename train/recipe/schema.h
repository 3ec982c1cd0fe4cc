// schema.h — the recipe's key table: every section and key, its type, range, and documentation.
//
// Holds: RecipeField (how one key is read from YAML, checked, and rendered back) and the table.
// Does not hold: file-level parsing, overrides or validation (recipe.cpp).
#pragma once

#include <yaml-cpp/yaml.h>  // YAML::Node, YAML::Mark

#include <functional>
#include <string>
#include <vector>

#include "train/recipe/recipe.h"

namespace slm::recipe_schema {

// A bad value: what is wrong, and where in the YAML (the element of a list, or the value).
struct ValueError {
  YAML::Mark mark;
  std::string message;
};

enum class FieldKind { Integer, Number, Boolean, String, Choice, ChoiceList, StringList, NumberList };

struct RecipeField {
  std::string section;
  std::string key;
  FieldKind kind;
  std::string type_text;  // "integer in [1, 1024]", "one of: constant, linear, cosine", ...
  std::string doc;
  std::string example;  // for required keys: a value used in the reference recipe
  bool required = false;
  // Reads `node` into the recipe; throws ValueError on a wrong type or an out-of-range value.
  std::function<void(Recipe&, const YAML::Node&)> set;
  // The value as YAML flow text that `set` reads back to the same value.
  std::function<std::string(const Recipe&)> render;

  std::string path() const { return section + "." + key; }
};

struct RecipeSectionInfo {
  std::string name;
  std::string doc;
};

const std::vector<RecipeSectionInfo>& sections();
const std::vector<RecipeField>& fields();
const RecipeField* find_field(const std::string& section, const std::string& key);

}  // namespace slm::recipe_schema
