// recipe.h — the typed YAML recipe: what a run trains, on what, how, and where it writes.
//
// Holds: the recipe's sections as plain structs with their defaults, the enums of every choice,
// and the entry points: load (file + `section.key=value` overrides), validate, render (the
// resolved recipe as YAML, with or without the per-key documentation).
// Does not hold: the key table (schema.cpp) or anything that reads models or data; paths are
// checked by the commands that open them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

// Every choice is an enum with its YAML spellings, in declaration order.
template <class E>
struct EnumTraits;

#define SLM_RECIPE_ENUM(Type, ...)                                                  \
  template <>                                                                       \
  struct EnumTraits<Type> {                                                         \
    static constexpr auto names = std::to_array<std::string_view>({__VA_ARGS__}); \
  };

enum class ModelFamily { Auto, Llama, Qwen2, Qwen3, Gemma3, Phi3, Mistral, Granite };
SLM_RECIPE_ENUM(ModelFamily, "auto", "llama", "qwen2", "qwen3", "gemma3", "phi3", "mistral",
                "granite")
enum class ComputeDtype { Fp32, Bf16 };
SLM_RECIPE_ENUM(ComputeDtype, "fp32", "bf16")
enum class LoraTarget { QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj, AllLinear };
SLM_RECIPE_ENUM(LoraTarget, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                "down_proj", "all-linear")
enum class LoraInit { Kaiming, Gaussian };
SLM_RECIPE_ENUM(LoraInit, "kaiming", "gaussian")
enum class DataFormat { Auto, Chat, Alpaca, Completion, Text };
SLM_RECIPE_ENUM(DataFormat, "auto", "chat", "alpaca", "completion", "text")
enum class DataOnError { Fail, Skip };
SLM_RECIPE_ENUM(DataOnError, "fail", "skip")
enum class DataTruncation { Truncate, Drop };
SLM_RECIPE_ENUM(DataTruncation, "truncate", "drop")
enum class BackendKind { Cpu, Cuda };
SLM_RECIPE_ENUM(BackendKind, "cpu", "cuda")
enum class LrSchedule { Constant, Linear, Cosine };
SLM_RECIPE_ENUM(LrSchedule, "constant", "linear", "cosine")
enum class ExportKind { Peft, Merged, Gguf, GgufLora };
SLM_RECIPE_ENUM(ExportKind, "peft", "merged", "gguf", "gguf_lora")
enum class MergedDtype { Bf16, F16, F32 };
SLM_RECIPE_ENUM(MergedDtype, "bf16", "f16", "f32")
#undef SLM_RECIPE_ENUM

template <class E>
std::string_view enum_name(E value) {
  return EnumTraits<E>::names[static_cast<std::size_t>(value)];
}

template <class E>
std::optional<E> parse_enum(std::string_view text) {
  const auto& names = EnumTraits<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<E>(i);
  return std::nullopt;
}

// Defaults live here and only here; schema.cpp documents each key and reference.yaml is
// rendered from both (a test keeps it in sync).
struct ModelSection {
  std::string path;  // required
  ModelFamily family = ModelFamily::Auto;
  std::string tokenizer;
  std::string chat_template;
  ComputeDtype dtype = ComputeDtype::Fp32;
  bool operator==(const ModelSection&) const = default;
};

struct LoraSection {
  std::int64_t rank = 16;
  double alpha = 32.0;
  double dropout = 0.0;
  std::vector<LoraTarget> target_modules = {LoraTarget::QProj, LoraTarget::KProj,
                                            LoraTarget::VProj, LoraTarget::OProj};
  bool use_rslora = false;
  bool use_dora = false;
  LoraInit init = LoraInit::Kaiming;
  bool operator==(const LoraSection&) const = default;
};

struct DataSection {
  std::vector<std::string> train;   // required: one dataset per entry (a file, glob or directory)
  std::vector<double> train_weights;  // empty, or one positive weight per train entry (mixing)
  DataFormat format = DataFormat::Auto;
  std::string eval;
  double eval_fraction = 0.0;
  std::int64_t seq_len = 2048;
  bool packing = true;
  bool train_on_prompt = false;
  bool shuffle = true;
  std::string cache_dir;
  DataOnError on_error = DataOnError::Fail;
  DataTruncation truncation = DataTruncation::Truncate;
  bool operator==(const DataSection&) const = default;
};

struct TrainSection {
  BackendKind backend = BackendKind::Cpu;
  std::int64_t num_devices = 1;
  std::int64_t threads = 0;
  std::int64_t epochs = 1;
  std::int64_t max_steps = 0;
  std::int64_t micro_batch_size = 1;
  std::int64_t gradient_accumulation_steps = 1;
  double learning_rate = 2e-4;
  double loraplus_lr_ratio = 1.0;
  LrSchedule lr_scheduler = LrSchedule::Cosine;
  std::int64_t warmup_steps = 0;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  std::int64_t seed = 42;
  std::int64_t log_every = 1;
  bool activation_checkpointing = false;
  bool operator==(const TrainSection&) const = default;
};

struct EvalSection {
  std::int64_t every = 0;
  std::int64_t max_batches = 0;
  std::vector<std::string> prompts;
  std::int64_t max_new_tokens = 64;
  bool operator==(const EvalSection&) const = default;
};

struct OutputSection {
  std::string dir = "runs";
  std::string name;
  std::int64_t save_every = 0;
  std::int64_t keep_last = 2;
  std::vector<ExportKind> exports = {ExportKind::Peft};  // YAML key: export
  MergedDtype merged_dtype = MergedDtype::Bf16;
  bool operator==(const OutputSection&) const = default;
};

struct Recipe {
  ModelSection model;
  LoraSection lora;
  DataSection data;
  TrainSection train;
  EvalSection eval;
  OutputSection output;
  bool operator==(const Recipe&) const = default;
};

// Where each setting came from, for messages: "recipes/x.yaml:12:3" or
// "command-line override 'train.learning_rate=1e-4'". Keys are "section.key".
struct RecipeOrigins {
  std::string file;  // the recipe file, or a name for text given directly
  std::map<std::string, std::string> of_key;
  // The origin of a key, or "<file> (default)" when it was not set.
  std::string where(const std::string& key) const;
};

struct LoadedRecipe {
  Recipe recipe;
  RecipeOrigins origins;
};

// Parses recipe text; `source_name` is used in messages. Collects every unknown key, type error
// and range error of the text and throws one slm::Error listing them all, each with
// file:line:column. Does not run validate_recipe.
LoadedRecipe parse_recipe(std::string_view text, const std::string& source_name);

// Applies `section.key=value` overrides in order, with the same type and range checks.
void apply_overrides(LoadedRecipe& loaded, std::span<const std::string> overrides);

// Whole-recipe checks: required keys, cross-key consistency. Throws slm::Error listing all.
void validate_recipe(const LoadedRecipe& loaded);

// Reads, overrides, fills output.name from the file's stem when empty, and validates.
LoadedRecipe load_recipe(const std::filesystem::path& path,
                         std::span<const std::string> overrides);

// The recipe as YAML that parse_recipe reads back to an equal Recipe. With `with_docs`, every
// section and key is preceded by its documentation (this is how recipes/reference.yaml is made).
std::string render_recipe(const Recipe& recipe, bool with_docs);

// The documented reference: defaults, with example values for the required keys.
std::string render_reference_recipe();

// Whether `text` looks like a `section.key=value` override (used by the command line).
bool is_override(std::string_view text);

}  // namespace slm
