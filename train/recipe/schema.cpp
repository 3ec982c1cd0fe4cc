// schema.cpp — the table of every recipe key: type, range, documentation, reader and renderer.
//
// Defaults are not here: they are the member initializers in recipe.h, so there is one place
// for them. Each builder below binds a key to a member through member pointers
// (section-of-Recipe, then member-of-section), so the table cannot drift from the structs.
#include "train/recipe/schema.h"

#include <cmath>
#include <limits>

#include "train/core/error.h"
#include "train/core/text.h"

namespace slm::recipe_schema {
namespace {

// A numeric range; open ends exclude the bound.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string text() const {
    bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
    if (has_lo && has_hi)
      return error_message(lo_open ? "in (" : "in [", format_number(lo), ", ", format_number(hi),
                           hi_open ? ")" : "]");
    if (has_lo) return error_message(lo_open ? "> " : ">= ", format_number(lo));
    if (has_hi) return error_message(hi_open ? "< " : "<= ", format_number(hi));
    return "any value";
  }
};

Range at_least(double lo) { return Range{.lo = lo}; }
Range above(double lo) { return Range{.lo = lo, .lo_open = true}; }
Range between(double lo, double hi) { return Range{.lo = lo, .hi = hi}; }

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "'" + node.Scalar() + "'";
  }
}

// The scalar text of `node`, or a ValueError saying a `wanted` was expected.
const std::string& scalar_of(const YAML::Node& node, const std::string& wanted) {
  if (!node.IsScalar()) throw ValueError{node.Mark(), "expected " + wanted + ", got " + node_kind(node)};
  return node.Scalar();
}

template <class T>
T convert(const YAML::Node& node, const std::string& wanted) {
  scalar_of(node, wanted);
  T value;
  if (!YAML::convert<T>::decode(node, value))
    throw ValueError{node.Mark(), "expected " + wanted + ", got '" + node.Scalar() + "'"};
  return value;
}

template <class E>
std::string choices_text() {
  std::string text;
  for (std::string_view n : EnumTraits<E>::names) text += (text.empty() ? "" : ", ") + std::string(n);
  return text;
}

template <class E>
E convert_choice(const YAML::Node& node) {
  const std::string& text = scalar_of(node, "one of: " + choices_text<E>());
  if (auto value = parse_enum<E>(text)) return *value;
  std::vector<std::string> names(EnumTraits<E>::names.begin(), EnumTraits<E>::names.end());
  std::string suggestion = closest_match(text, names);
  throw ValueError{node.Mark(), "'" + text + "' is not one of: " + choices_text<E>() +
                                    (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?")};
}

// Builders. S is the section struct, T the member type.
template <class S>
using SectionPtr = S Recipe::*;

template <class S, class T>
T& member(Recipe& r, SectionPtr<S> section, T S::* m) {
  return (r.*section).*m;
}
template <class S, class T>
const T& member(const Recipe& r, SectionPtr<S> section, T S::* m) {
  return (r.*section).*m;
}

template <class S>
RecipeField integer(const char* sec, SectionPtr<S> sp, const char* key, std::int64_t S::* mp,
                    Range range, const char* doc) {
  std::string type = "an integer " + range.text();
  return RecipeField{
      sec, key, FieldKind::Integer, type, doc, "", false,
      [=](Recipe& r, const YAML::Node& n) {
        auto v = convert<std::int64_t>(n, "an integer");
        if (!range.contains(static_cast<double>(v)))
          throw ValueError{n.Mark(), error_message(v, " is out of range: must be ", range.text())};
        member(r, sp, mp) = v;
      },
      [=](const Recipe& r) { return std::to_string(member(r, sp, mp)); }};
}

template <class S>
RecipeField number(const char* sec, SectionPtr<S> sp, const char* key, double S::* mp, Range range,
                   const char* doc) {
  std::string type = "a number " + range.text();
  return RecipeField{
      sec, key, FieldKind::Number, type, doc, "", false,
      [=](Recipe& r, const YAML::Node& n) {
        auto v = convert<double>(n, "a number");
        if (!std::isfinite(v) || !range.contains(v))
          throw ValueError{n.Mark(), error_message(n.Scalar(), " is out of range: must be ", range.text())};
        member(r, sp, mp) = v;
      },
      [=](const Recipe& r) { return format_number(member(r, sp, mp)); }};
}

template <class S>
RecipeField boolean(const char* sec, SectionPtr<S> sp, const char* key, bool S::* mp, const char* doc) {
  return RecipeField{
      sec, key, FieldKind::Boolean, "true or false", doc, "", false,
      [=](Recipe& r, const YAML::Node& n) { member(r, sp, mp) = convert<bool>(n, "true or false"); },
      [=](const Recipe& r) { return std::string(member(r, sp, mp) ? "true" : "false"); }};
}

template <class S>
RecipeField text(const char* sec, SectionPtr<S> sp, const char* key, std::string S::* mp,
                 const char* doc, const char* example = nullptr) {
  return RecipeField{
      sec, key, FieldKind::String, "a string", doc, example ? example : "", example != nullptr,
      [=](Recipe& r, const YAML::Node& n) { member(r, sp, mp) = scalar_of(n, "a string"); },
      [=](const Recipe& r) { return quote(member(r, sp, mp)); }};
}

template <class S, class E>
RecipeField choice(const char* sec, SectionPtr<S> sp, const char* key, E S::* mp, const char* doc) {
  return RecipeField{
      sec, key, FieldKind::Choice, "one of: " + choices_text<E>(), doc, "", false,
      [=](Recipe& r, const YAML::Node& n) { member(r, sp, mp) = convert_choice<E>(n); },
      [=](const Recipe& r) { return std::string(enum_name(member(r, sp, mp))); }};
}

// Lists accept a YAML sequence, or a single scalar meaning a list of one.
template <class T, class Convert>
std::vector<T> convert_list(const YAML::Node& n, Convert convert_one) {
  std::vector<T> values;
  if (n.IsScalar()) {
    values.push_back(convert_one(n));
  } else if (n.IsSequence()) {
    for (const YAML::Node& item : n) values.push_back(convert_one(item));
  } else if (!n.IsNull()) {
    throw ValueError{n.Mark(), "expected a list, got " + node_kind(n)};
  }
  return values;
}

template <class S, class E>
RecipeField choice_list(const char* sec, SectionPtr<S> sp, const char* key, std::vector<E> S::* mp,
                        const char* doc) {
  return RecipeField{
      sec, key, FieldKind::ChoiceList, "a list of: " + choices_text<E>(), doc, "", false,
      [=](Recipe& r, const YAML::Node& n) {
        std::vector<E> values = convert_list<E>(n, convert_choice<E>);
        for (std::size_t i = 0; i < values.size(); ++i)
          for (std::size_t j = 0; j < i; ++j)
            if (values[i] == values[j])
              throw ValueError{n.Mark(), "'" + std::string(enum_name(values[i])) + "' is listed twice"};
        member(r, sp, mp) = std::move(values);
      },
      [=](const Recipe& r) {
        std::string out;
        for (E v : member(r, sp, mp)) out += (out.empty() ? "" : ", ") + std::string(enum_name(v));
        return "[" + out + "]";
      }};
}

template <class S>
RecipeField text_list(const char* sec, SectionPtr<S> sp, const char* key,
                      std::vector<std::string> S::* mp, const char* doc, const char* example = nullptr) {
  return RecipeField{
      sec, key, FieldKind::StringList, "a list of strings", doc, example ? example : "", example != nullptr,
      [=](Recipe& r, const YAML::Node& n) {
        member(r, sp, mp) = convert_list<std::string>(
            n, [](const YAML::Node& item) { return scalar_of(item, "a string"); });
      },
      [=](const Recipe& r) {
        std::string out;
        for (const std::string& v : member(r, sp, mp)) out += (out.empty() ? "" : ", ") + quote(v);
        return "[" + out + "]";
      }};
}

// Each element is range-checked; an error points at the element and says which one it is.
template <class S>
RecipeField number_list(const char* sec, SectionPtr<S> sp, const char* key, std::vector<double> S::* mp,
                        Range range, const char* doc) {
  return RecipeField{
      sec, key, FieldKind::NumberList, "a list of numbers " + range.text(), doc, "", false,
      [=](Recipe& r, const YAML::Node& n) {
        std::size_t index = 0;
        member(r, sp, mp) = convert_list<double>(n, [&](const YAML::Node& item) {
          ++index;
          auto v = convert<double>(item, "a number");
          if (!std::isfinite(v) || !range.contains(v))
            throw ValueError{item.Mark(), error_message("element ", index, " (", item.Scalar(),
                                                        ") is out of range: must be ", range.text())};
          return v;
        });
      },
      [=](const Recipe& r) {
        std::string out;
        for (double v : member(r, sp, mp)) out += (out.empty() ? "" : ", ") + format_number(v);
        return "[" + out + "]";
      }};
}

std::vector<RecipeField> make_fields() {
  using R = Recipe;
  const char* m = "model";
  const char* l = "lora";
  const char* d = "data";
  const char* t = "train";
  const char* e = "eval";
  const char* o = "output";
  return {
      text(m, &R::model, "path", &ModelSection::path,
           "Base model: a GGUF file, a .safetensors file, or a Hugging Face model directory\n"
           "(config.json, model.safetensors or shards, tokenizer.json). Required.",
           "third_party/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
      choice(m, &R::model, "family", &ModelSection::family,
             "Architecture family; auto reads it from config.json or the GGUF metadata."),
      text(m, &R::model, "tokenizer", &ModelSection::tokenizer,
           "A tokenizer.json to use instead of the model's own; empty = the model's."),
      text(m, &R::model, "chat_template", &ModelSection::chat_template,
           "A Jinja chat template file to use instead of the model's own, or a built-in one by name\n"
           "(chatml) for a model without a template; empty = the model's."),
      choice(m, &R::model, "dtype", &ModelSection::dtype,
             "Compute precision of weights and activations. Adapters, gradients and optimizer\n"
             "state are always fp32."),

      integer(l, &R::lora, "rank", &LoraSection::rank, between(1, 1024),
              "Rank r of every adapter (vLLM serves 8, 16, 32, 64, 128, 256, 320 and 512)."),
      number(l, &R::lora, "alpha", &LoraSection::alpha, above(0),
             "Scaling numerator: the update is (alpha / r) * B A, or (alpha / sqrt(r)) * B A\n"
             "with use_rslora."),
      number(l, &R::lora, "dropout", &LoraSection::dropout, Range{.lo = 0, .hi = 1, .hi_open = true},
             "Dropout on the adapter's input, as PEFT's lora_dropout."),
      choice_list(l, &R::lora, "target_modules", &LoraSection::target_modules,
                  "Linear layers that get an adapter; all-linear means all seven."),
      boolean(l, &R::lora, "use_rslora", &LoraSection::use_rslora,
              "Rank-stabilized LoRA: scale by alpha / sqrt(r) instead of alpha / r."),
      boolean(l, &R::lora, "use_dora", &LoraSection::use_dora,
              "DoRA: learn a per-output-row magnitude besides B A (not loadable by vLLM or llama.cpp)."),
      choice(l, &R::lora, "init", &LoraSection::init,
             "Initialization of A (B starts at zero): kaiming = PEFT's default Kaiming-uniform,\n"
             "gaussian = normal with std 1/r; both seeded by train.seed."),

      text_list(d, &R::data, "train", &DataSection::train,
                "Training datasets, one per entry: a JSONL or JSON (array) file, a glob (data/*.jsonl)\n"
                "or a directory of them; a single string is a list of one. Records: chat messages (or\n"
                "ShareGPT conversations), alpaca instruction/input/output, prompt/completion, or text.\n"
                "Required.",
                "third_party/data/foldoc-qa.jsonl"),
      number_list(d, &R::data, "train_weights", &DataSection::train_weights, above(0),
                  "How the datasets of data.train are mixed: empty = concatenated (each weighs its own\n"
                  "size); otherwise one weight per dataset, in order, as relative proportions of the\n"
                  "examples of an epoch. With weights w_i and sizes n_i (examples after the eval\n"
                  "hold-out), dataset i gives round(w_i / sum(w) * sum(n)) examples: a smaller one is\n"
                  "repeated (whole passes plus a sample for the rest), a larger one is subsampled;\n"
                  "samples are without replacement and seeded by train.seed. Eval data is not reweighted."),
      choice(d, &R::data, "format", &DataSection::format,
             "Record format; auto detects it per file from the first record's keys (messages or\n"
             "conversations = chat, instruction = alpaca, prompt = completion, text = text)."),
      text(d, &R::data, "eval", &DataSection::eval, "Evaluation data, same formats; empty = none."),
      number(d, &R::data, "eval_fraction", &DataSection::eval_fraction, between(0, 0.5),
             "Fraction of the training records held out for evaluation when data.eval is empty."),
      integer(d, &R::data, "seq_len", &DataSection::seq_len, between(16, 1048576),
              "Tokens per training row; longer examples are truncated or dropped (data.truncation)."),
      boolean(d, &R::data, "packing", &DataSection::packing,
              "Pack several examples per row; attention never crosses their boundaries."),
      boolean(d, &R::data, "train_on_prompt", &DataSection::train_on_prompt,
              "Also compute the loss on system and user tokens (default: assistant replies only)."),
      boolean(d, &R::data, "shuffle", &DataSection::shuffle, "Shuffle the examples each epoch (seeded)."),
      text(d, &R::data, "cache_dir", &DataSection::cache_dir,
           "Where prepared HDF5 shards are cached; empty = <run directory>/data. A folder per\n"
           "hash of inputs, tokenizer, chat template and data settings is reused when present."),
      choice(d, &R::data, "on_error", &DataSection::on_error,
             "A malformed or ill-typed record: fail (stop, naming file:line) or skip (count and\n"
             "report the skipped records)."),
      choice(d, &R::data, "truncation", &DataSection::truncation,
             "Examples longer than seq_len: truncate (keep the first seq_len tokens) or drop."),

      choice(t, &R::train, "backend", &TrainSection::backend,
             "Where the step runs: cpu, or cuda (one NVIDIA GPU; `train --plan` shows its memory)."),
      integer(t, &R::train, "num_devices", &TrainSection::num_devices, between(1, 64),
              "GPUs for data-parallel training (backend: cuda)."),
      integer(t, &R::train, "threads", &TrainSection::threads, between(0, 4096),
              "CPU threads; 0 = one per core."),
      integer(t, &R::train, "epochs", &TrainSection::epochs, between(1, 100000),
              "Passes over the training data (unless max_steps ends the run first)."),
      integer(t, &R::train, "max_steps", &TrainSection::max_steps, at_least(0),
              "Optimizer steps to run; 0 = as many as the epochs take."),
      integer(t, &R::train, "micro_batch_size", &TrainSection::micro_batch_size, between(1, 65536),
              "Rows per forward and backward pass."),
      integer(t, &R::train, "gradient_accumulation_steps", &TrainSection::gradient_accumulation_steps,
              between(1, 1048576),
              "Micro-batches per optimizer step. The loss is normalized by the number of target\n"
              "tokens in the whole step, so accumulation equals one large batch exactly."),
      number(t, &R::train, "learning_rate", &TrainSection::learning_rate,
             Range{.lo = 0, .hi = 1, .lo_open = true}, "Peak learning rate of AdamW."),
      number(t, &R::train, "loraplus_lr_ratio", &TrainSection::loraplus_lr_ratio, above(0),
             "LoRA+: B matrices learn at learning_rate * ratio; 1 = plain LoRA."),
      choice(t, &R::train, "lr_scheduler", &TrainSection::lr_scheduler,
             "Learning-rate schedule after warmup (to zero at the last step for linear and cosine)."),
      integer(t, &R::train, "warmup_steps", &TrainSection::warmup_steps, at_least(0),
              "Linear warmup from zero over this many optimizer steps."),
      number(t, &R::train, "weight_decay", &TrainSection::weight_decay, between(0, 1),
             "AdamW's decoupled weight decay on the adapter weights."),
      number(t, &R::train, "adam_beta1", &TrainSection::adam_beta1, Range{.lo = 0, .hi = 1, .hi_open = true},
             "AdamW's first-moment decay."),
      number(t, &R::train, "adam_beta2", &TrainSection::adam_beta2, Range{.lo = 0, .hi = 1, .hi_open = true},
             "AdamW's second-moment decay."),
      number(t, &R::train, "adam_epsilon", &TrainSection::adam_epsilon, above(0),
             "AdamW's epsilon, added to the root of the second moment."),
      number(t, &R::train, "max_grad_norm", &TrainSection::max_grad_norm, at_least(0),
             "Clip the global gradient norm to this; 0 = no clipping."),
      integer(t, &R::train, "seed", &TrainSection::seed, between(0, 4294967295.0),
              "Seeds adapter initialization, dropout and data order."),
      integer(t, &R::train, "log_every", &TrainSection::log_every, at_least(1),
              "Print and record metrics every this many optimizer steps."),
      boolean(t, &R::train, "activation_checkpointing", &TrainSection::activation_checkpointing,
              "Keep only each layer's input and recompute the layer in the backward: one layer's\n"
              "activations in memory instead of all, for about a third more compute; identical numbers."),

      integer(e, &R::eval, "every", &EvalSection::every, at_least(0),
              "Evaluate every this many optimizer steps; 0 = only at the end."),
      integer(e, &R::eval, "max_batches", &EvalSection::max_batches, at_least(0),
              "Evaluation micro-batches per evaluation; 0 = the whole evaluation set."),
      text_list(e, &R::eval, "prompts", &EvalSection::prompts,
                "Prompts answered (greedy, with the chat template) at each evaluation."),
      integer(e, &R::eval, "max_new_tokens", &EvalSection::max_new_tokens, between(1, 65536),
              "Length limit of those answers."),

      text(o, &R::output, "dir", &OutputSection::dir,
           "Runs are written to <dir>/<name>/: resolved recipe, metrics, checkpoints, exports."),
      text(o, &R::output, "name", &OutputSection::name, "Run name; empty = the recipe file's stem."),
      integer(o, &R::output, "save_every", &OutputSection::save_every, at_least(0),
              "Write a checkpoint every this many optimizer steps; 0 = only at the end."),
      integer(o, &R::output, "keep_last", &OutputSection::keep_last, between(1, 1000000),
              "Checkpoints kept; older ones are deleted once a newer one is complete."),
      choice_list(o, &R::output, "export", &OutputSection::exports,
                  "What the run exports at the end: peft (adapter directory for PEFT and vLLM),\n"
                  "merged (Hugging Face model with the adapter merged), gguf (merged model as GGUF),\n"
                  "gguf_lora (adapter for llama.cpp)."),
      choice(o, &R::output, "merged_dtype", &OutputSection::merged_dtype,
             "Weight type of merged exports."),
  };
}

}  // namespace

const std::vector<RecipeSectionInfo>& sections() {
  static const std::vector<RecipeSectionInfo> k_sections = {
      {"model", "The base model, frozen during training."},
      {"lora", "The adapters that are trained."},
      {"data", "Training and evaluation data."},
      {"train", "The optimization."},
      {"eval", "Evaluation during and after training."},
      {"output", "Where the run writes, and what it exports."},
  };
  return k_sections;
}

const std::vector<RecipeField>& fields() {
  static const std::vector<RecipeField> k_fields = make_fields();
  return k_fields;
}

const RecipeField* find_field(const std::string& section, const std::string& key) {
  for (const RecipeField& f : fields())
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

}  // namespace slm::recipe_schema
