// test_recipe.cpp — recipes: every shipped recipe validates, the reference stays in sync with the
// schema, and every kind of mistake gets a message with its place and a way out.
#include <gtest/gtest.h>

#include <filesystem>

#include "train/core/error.h"
#include "train/core/files.h"
#include "train/recipe/recipe.h"

namespace slm {
namespace {

const std::filesystem::path k_recipes = std::filesystem::path(SLM_SOURCE_DIR) / "recipes";

const char* k_minimal =
    "model:\n"
    "  path: m.gguf\n"
    "data:\n"
    "  train: d.jsonl\n";

// The message of the slm::Error that parsing (and validating) `text` throws; "" if none.
std::string error_of(const std::string& text, std::vector<std::string> overrides = {}) {
  try {
    LoadedRecipe loaded = parse_recipe(text, "r.yaml");
    apply_overrides(loaded, overrides);
    validate_recipe(loaded);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST(Recipe, EveryShippedRecipeParsesAndValidates) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(k_recipes)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    LoadedRecipe loaded = load_recipe(entry.path(), {});
    EXPECT_FALSE(loaded.recipe.output.name.empty());
    ++count;
  }
  EXPECT_GE(count, 2);  // quickstart.yaml and reference.yaml at least
}

TEST(Recipe, ReferenceIsTheRenderedSchema) {
  std::string committed = read_file(k_recipes / "reference.yaml", "reference recipe");
  EXPECT_EQ(committed, render_reference_recipe())
      << "recipes/reference.yaml is out of date; regenerate it with\n"
         "  build/slmtune train --print-reference > recipes/reference.yaml";
}

TEST(Recipe, ReferenceHoldsTheDefaults) {
  LoadedRecipe loaded = parse_recipe(render_reference_recipe(), "reference");
  Recipe expected;
  expected.model.path = loaded.recipe.model.path;
  expected.data.train = loaded.recipe.data.train;
  EXPECT_EQ(loaded.recipe, expected);
}

TEST(Recipe, ValuesOfEveryKindAreRead) {
  LoadedRecipe loaded = parse_recipe(std::string(k_minimal) +
                                         "lora:\n  rank: 8\n  alpha: 16.5\n  use_rslora: true\n"
                                         "  target_modules: [q_proj, down_proj]\n"
                                         "train:\n  lr_scheduler: linear\n  learning_rate: 1e-4\n"
                                         "eval:\n  prompts: [\"What is a compiler?\", 'x: y']\n"
                                         "output:\n  export: gguf_lora\n",
                                     "r.yaml");
  const Recipe& r = loaded.recipe;
  EXPECT_EQ(r.lora.rank, 8);
  EXPECT_DOUBLE_EQ(r.lora.alpha, 16.5);
  EXPECT_TRUE(r.lora.use_rslora);
  EXPECT_EQ(r.lora.target_modules, (std::vector{LoraTarget::QProj, LoraTarget::DownProj}));
  EXPECT_EQ(r.train.lr_scheduler, LrSchedule::Linear);
  EXPECT_DOUBLE_EQ(r.train.learning_rate, 1e-4);
  EXPECT_EQ(r.eval.prompts, (std::vector<std::string>{"What is a compiler?", "x: y"}));
  EXPECT_EQ(r.output.exports, std::vector{ExportKind::GgufLora});
  EXPECT_EQ(loaded.origins.where("lora.rank"), "r.yaml:6:9");
  EXPECT_EQ(loaded.origins.where("lora.dropout"), "r.yaml (default of lora.dropout)");
}

TEST(Recipe, UnknownKeyNamesLineColumnAndClosestKey) {
  std::string message = error_of(std::string(k_minimal) + "train:\n  epochs: 2\n  lerning_rate: 0.001\n");
  EXPECT_CONTAINS(message, "r.yaml:7:3: unknown key 'lerning_rate' in section 'train'");
  EXPECT_CONTAINS(message, "did you mean 'learning_rate'?");
}

TEST(Recipe, KeyInTheWrongSectionIsPointedOut) {
  std::string message = error_of(std::string(k_minimal) + "train:\n  rank: 8\n");
  EXPECT_CONTAINS(message, "r.yaml:6:3: unknown key 'rank' in section 'train'");
  EXPECT_CONTAINS(message, "'rank' belongs in section 'lora' (lora.rank)");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "rank: 8\n"), "'rank' is a key of section 'lora'");
}

TEST(Recipe, UnknownSectionSuggestsTheClosest) {
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "trian:\n  epochs: 1\n"),
                  "r.yaml:5:1: unknown section 'trian'; did you mean 'train'?");
}

TEST(Recipe, TypeErrorsNameThePlace) {
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  rank: sixteen\n"),
                  "r.yaml:6:9: lora.rank: expected an integer, got 'sixteen'");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  rank: 8.5\n"), "expected an integer");
  EXPECT_CONTAINS(error_of("data:\n  packing: maybe\n"),
                  "expected true or false, got 'maybe'");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "train:\n  learning_rate: [1]\n"),
                  "expected a number, got a list");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "train:\n  lr_scheduler: cosin\n"),
                  "'cosin' is not one of: constant, linear, cosine; did you mean 'cosine'?");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  target_modules: [q_proj, w_proj]\n"),
                  "r.yaml:6:28: lora.target_modules: 'w_proj' is not one of");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  target_modules: [q_proj, q_proj]\n"),
                  "'q_proj' is listed twice");
}

TEST(Recipe, RangeErrorsSayTheRange) {
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  rank: 0\n"),
                  "lora.rank: 0 is out of range: must be in [1, 1024]");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "train:\n  learning_rate: -1\n"),
                  "train.learning_rate: -1 is out of range: must be in (0, 1]");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  dropout: 1\n"), "must be in [0, 1)");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "train:\n  max_grad_norm: .nan\n"), "out of range");
}

TEST(Recipe, AllProblemsAreReportedAtOnce) {
  std::string message = error_of(std::string(k_minimal) + "lora:\n  rank: 0\n  alpah: 3\n");
  EXPECT_CONTAINS(message, "r.yaml:6:9: lora.rank");
  EXPECT_CONTAINS(message, "r.yaml:7:3: unknown key 'alpah'");
}

TEST(Recipe, DuplicatesAndSyntaxErrors) {
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  rank: 4\n  rank: 8\n"),
                  "r.yaml:7:3: lora.rank is set twice (first at line 6)");
  EXPECT_CONTAINS(error_of("model:\n  path: [unclosed\n"), "r.yaml:3:1: YAML syntax error");
  EXPECT_CONTAINS(error_of("- a\n- b\n"), "a recipe is a mapping of sections");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora: 3\n"), "section 'lora' must be a mapping");
}

TEST(Recipe, OverridesAreTypeChecked) {
  LoadedRecipe loaded = parse_recipe(k_minimal, "r.yaml");
  apply_overrides(loaded, std::vector<std::string>{"train.learning_rate=1e-4", "lora.rank=8",
                                                   "lora.target_modules=[v_proj,up_proj]",
                                                   "model.path=dir/with:colon#hash.gguf", "data.packing=false"});
  EXPECT_DOUBLE_EQ(loaded.recipe.train.learning_rate, 1e-4);
  EXPECT_EQ(loaded.recipe.lora.rank, 8);
  EXPECT_EQ(loaded.recipe.lora.target_modules, (std::vector{LoraTarget::VProj, LoraTarget::UpProj}));
  EXPECT_EQ(loaded.recipe.model.path, "dir/with:colon#hash.gguf");
  EXPECT_FALSE(loaded.recipe.data.packing);
  EXPECT_EQ(loaded.origins.where("lora.rank"), "command-line override 'lora.rank=8'");

  EXPECT_CONTAINS(error_of(k_minimal, {"lora.rank=big"}),
                  "command-line override 'lora.rank=big': lora.rank: expected an integer, got 'big'");
  EXPECT_CONTAINS(error_of(k_minimal, {"train.lerning_rate=1"}), "did you mean 'learning_rate'?");
  EXPECT_CONTAINS(error_of(k_minimal, {"tran.epochs=1"}), "did you mean 'train'?");
  EXPECT_CONTAINS(error_of(k_minimal, {"lora.rank=2000"}), "out of range");
}

TEST(Recipe, ValidationChecksRequiredKeysAndConsistency) {
  EXPECT_CONTAINS(error_of("lora:\n  rank: 4\n"), "model.path is required");
  EXPECT_CONTAINS(error_of("lora:\n  rank: 4\n"), "data.train is required");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "train:\n  max_steps: 10\n  warmup_steps: 20\n"),
                  "r.yaml:7:17: train.warmup_steps (20) exceeds train.max_steps (10)");
  EXPECT_CONTAINS(error_of(std::string(k_minimal) + "lora:\n  use_dora: true\noutput:\n  export: [gguf_lora]\n"),
                  "llama.cpp adapters cannot carry DoRA");
  EXPECT_CONTAINS(error_of(k_minimal, {"output.name=../x"}), "output.name must be a plain name");
  EXPECT_EQ(error_of(k_minimal), "");
}

TEST(Recipe, TrainDataIsOneDatasetOrAWeightedList) {
  EXPECT_EQ(parse_recipe(k_minimal, "r.yaml").recipe.data.train, std::vector<std::string>{"d.jsonl"});
  LoadedRecipe mixed = parse_recipe("model:\n  path: m.gguf\n"
                                    "data:\n  train: [third_party/data/foldoc-qa.jsonl, 'x/*.jsonl']\n"
                                    "  train_weights: [3, 1]\n",
                                    "r.yaml");
  EXPECT_EQ(mixed.recipe.data.train, (std::vector<std::string>{"third_party/data/foldoc-qa.jsonl", "x/*.jsonl"}));
  EXPECT_EQ(mixed.recipe.data.train_weights, (std::vector<double>{3, 1}));
  EXPECT_NO_THROW(validate_recipe(mixed));
  EXPECT_EQ(mixed.origins.where("data.train_weights"), "r.yaml:5:18");
  EXPECT_TRUE(Recipe{}.data.train_weights.empty());  // default: concatenation

  // Overrides: a plain value is one verbatim path; a YAML list is several.
  LoadedRecipe loaded = parse_recipe(k_minimal, "r.yaml");
  apply_overrides(loaded, std::vector<std::string>{"data.train=dir/a: b #c.jsonl"});
  EXPECT_EQ(loaded.recipe.data.train, std::vector<std::string>{"dir/a: b #c.jsonl"});
  apply_overrides(loaded, std::vector<std::string>{"data.train=[a.jsonl, b.jsonl]", "data.train_weights=[0.5,2]"});
  EXPECT_EQ(loaded.recipe.data.train, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  EXPECT_EQ(loaded.recipe.data.train_weights, (std::vector<double>{0.5, 2}));
  EXPECT_NO_THROW(validate_recipe(loaded));
}

TEST(Recipe, TrainWeightsAreCheckedWithTheirPlace) {
  const std::string two = "model:\n  path: m.gguf\ndata:\n  train: [a.jsonl, b.jsonl]\n";
  EXPECT_CONTAINS(error_of(two + "  train_weights: [3]\n"),
                  "r.yaml:5:18: data.train_weights has 1 weight(s) but data.train names 2 dataset(s); give one "
                  "weight per dataset");
  EXPECT_CONTAINS(error_of(two + "  train_weights: [1, 2, 3]\n"), "has 3 weight(s) but data.train names 2");
  EXPECT_CONTAINS(error_of(k_minimal, {"data.train_weights=[1,1]"}),
                  "command-line override 'data.train_weights=[1,1]': data.train_weights has 2 weight(s)");
  EXPECT_CONTAINS(error_of(two + "  train_weights: [3, 0]\n"),
                  "r.yaml:5:22: data.train_weights: element 2 (0) is out of range: must be > 0");
  EXPECT_CONTAINS(error_of(two + "  train_weights: [-1, 1]\n"), "element 1 (-1) is out of range");
  EXPECT_CONTAINS(error_of(two + "  train_weights: [1, .inf]\n"), "out of range");
  EXPECT_CONTAINS(error_of(two + "  train_weights: [1, heavy]\n"),
                  "r.yaml:5:22: data.train_weights: expected a number, got 'heavy'");
  EXPECT_CONTAINS(error_of(two + "  train_weights: {a: 1}\n"), "expected a list, got a mapping");
  EXPECT_EQ(error_of(two + "  train_weights: []\n"), "");
  EXPECT_EQ(error_of(k_minimal, {"data.train_weights=2"}), "");  // a scalar is a list of one
  EXPECT_CONTAINS(error_of("model:\n  path: m.gguf\ndata:\n  train: []\n"), "data.train is required");
  EXPECT_CONTAINS(error_of("model:\n  path: m.gguf\ndata:\n  train: [a.jsonl, '']\n"),
                  "r.yaml:4:10: data.train: entry 2 is empty");
}

TEST(Recipe, PrintConfigRoundTrips) {
  LoadedRecipe loaded = parse_recipe(k_minimal, "r.yaml");
  apply_overrides(loaded, std::vector<std::string>{
                              "lora.alpha=0.1", "lora.target_modules=all-linear", "train.adam_epsilon=1e-12",
                              "eval.prompts=[\"quote \\\" and\\nnewline\", plain]", "output.export=[]",
                              "model.chat_template=tab\there", "train.seed=4294967295",
                              "data.train=[a.jsonl, \"b, c.jsonl\", 'd/*.jsonl']",
                              "data.train_weights=[3, 0.1, 3.3333333333333335e-07]"});
  EXPECT_EQ(loaded.recipe.data.train_weights.size(), 3u);
  std::string printed = render_recipe(loaded.recipe, false);
  LoadedRecipe again = parse_recipe(printed, "printed");
  EXPECT_EQ(again.recipe, loaded.recipe) << printed;
  EXPECT_EQ(render_recipe(again.recipe, false), printed);
  // Documented rendering reads back the same too.
  EXPECT_EQ(parse_recipe(render_recipe(loaded.recipe, true), "doc").recipe, loaded.recipe);
}

TEST(Recipe, LoadNamesTheRunAfterTheFileAndReportsMissingFiles) {
  LoadedRecipe loaded = load_recipe(k_recipes / "quickstart.yaml", {});
  EXPECT_EQ(loaded.recipe.output.name, "quickstart");
  try {
    load_recipe("no/such/recipe.yaml", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "no/such/recipe.yaml: recipe not found");
  }
}

}  // namespace
}  // namespace slm
