// hf_config.cpp — config.json (Llama family) to ModelConfig, with strict types and errors that
// name the file, the line of the key and the key; and ModelConfig back to config.json.
#include "checkpoints/hf_config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "checkpoints/json_util.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;
constexpr std::string_view k_supported = "llama (SmolLM2, Llama 3.x)";
constexpr std::string_view k_fix = "fix config.json or use the model's original config.json";

// Typed access to one JSON object of config.json (the root or the rope object `section`).
class Reader {
 public:
  Reader(std::string file, const std::string& text, const json& object, std::string section = "")
      : file_(std::move(file)), text_(text), object_(object), section_(std::move(section)) {}

  // "file:line" of `key` (searched after the section's own key), or "file" when not found.
  std::string place(std::string_view key) const {
    std::size_t from = 0;
    if (!section_.empty()) from = find_key(section_, 0);
    std::size_t at = from == std::string::npos ? std::string::npos : find_key(key, from);
    if (at == std::string::npos) return file_;
    std::size_t line = 1;
    for (std::size_t i = 0; i < at; ++i) line += text_[i] == '\n';
    return error_message(file_, ":", line);
  }
  std::string name(std::string_view key) const { return section_.empty() ? std::string(key) : section_ + "." + std::string(key); }

  // The value of `key`, or nullptr when absent or null.
  const json* optional(std::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& required(std::string_view key) const {
    if (const json* v = optional(key)) return *v;
    SLM_FAIL(place(section_.empty() ? key : std::string_view(section_)), ": missing key '", name(key),
             "', which a ", section_.empty() ? "Llama config.json" : "rope type", " must have; ", k_fix);
  }

  std::int64_t integer(std::string_view key, std::optional<std::int64_t> fallback = std::nullopt) const {
    const json* v = fallback ? optional(key) : &required(key);
    if (!v) return *fallback;
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)))
      wrong_type(key, *v, "an integer");
    return v->get<std::int64_t>();
  }
  double number(std::string_view key, std::optional<double> fallback = std::nullopt) const {
    const json* v = fallback ? optional(key) : &required(key);
    if (!v) return *fallback;
    if (!v->is_number()) wrong_type(key, *v, "a number");
    return v->get<double>();
  }
  bool boolean(std::string_view key, bool fallback) const {
    const json* v = optional(key);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong_type(key, *v, "true or false");
    return v->get<bool>();
  }
  std::optional<std::string> string(std::string_view key) const {
    const json* v = optional(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) wrong_type(key, *v, "a string");
    return v->get<std::string>();
  }

  [[noreturn]] void wrong_type(std::string_view key, const json& v, std::string_view expected) const {
    SLM_FAIL(place(key), ": key '", name(key), "' must be ", expected, ", got ", json_type_name(v), " ", v.dump(),
             "; ", k_fix);
  }

 private:
  // Offset of `"key"` followed by a colon, at or after `from`.
  std::size_t find_key(std::string_view key, std::size_t from) const {
    const std::string quoted = "\"" + std::string(key) + "\"";
    for (std::size_t at = text_.find(quoted, from); at != std::string::npos; at = text_.find(quoted, at + 1)) {
      std::size_t i = at + quoted.size();
      while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\n' || text_[i] == '\r')) ++i;
      if (i < text_.size() && text_[i] == ':') return at;
    }
    return std::string::npos;
  }

  std::string file_;
  const std::string& text_;
  const json& object_;
  std::string section_;
};

// Rejects settings our Llama model does not implement.
void check_unsupported(const Reader& r) {
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (r.boolean(key, false))
      SLM_FAIL(r.place(key), ": ", key, " = true is not supported (slmtune's Llama has no biases); "
               "use a model without biases");
  if (auto act = r.string("hidden_act"); act && *act != "silu")
    SLM_FAIL(r.place("hidden_act"), ": hidden_act \"", *act, "\" is not supported; Llama models use \"silu\"");
}

// rope_parameters (transformers 5) or rope_scaling + rope_theta (transformers 4).
void read_rope(const Reader& root, const std::string& file, const std::string& text, const json& j, ModelConfig& c) {
  const char* section = j.contains("rope_parameters") && !j["rope_parameters"].is_null() ? "rope_parameters"
                                                                                          : "rope_scaling";
  c.rope_theta = root.number("rope_theta", 10000.0);
  const json* rope = root.optional(section);
  if (!rope) return;
  if (!rope->is_object()) root.wrong_type(section, *rope, "an object");
  const Reader r(file, text, *rope, section);
  c.rope_theta = r.number("rope_theta", c.rope_theta);
  std::optional<std::string> type = r.string("rope_type");
  if (!type) type = r.string("type");
  if (const json* partial = r.optional("partial_rotary_factor"); partial && r.number("partial_rotary_factor") != 1.0)
    SLM_FAIL(r.place("partial_rotary_factor"), ": partial rotary embeddings are not supported for Llama models");
  if (!type || *type == "default") return;
  if (*type == "llama3") {
    c.rope_scaling = RopeScaling::Llama3;
    c.rope_factor = r.number("factor");
    c.rope_low_freq_factor = r.number("low_freq_factor");
    c.rope_high_freq_factor = r.number("high_freq_factor");
    c.rope_original_max_position = r.integer("original_max_position_embeddings");
  } else if (*type == "linear") {
    c.rope_scaling = RopeScaling::Linear;
    c.rope_factor = r.number("factor");
  } else {
    SLM_FAIL(r.place("rope_type"), ": rope type \"", *type, "\" in ", section, " is not supported; supported: "
             "default, llama3, linear");
  }
}

void read_token_ids(const Reader& r, ModelConfig& c) {
  c.bos_token_id = r.integer("bos_token_id", -1);
  c.eos_token_ids.clear();
  const json* eos = r.optional("eos_token_id");
  if (!eos) return;
  if (eos->is_number_integer()) {
    c.eos_token_ids.push_back(r.integer("eos_token_id"));
    return;
  }
  if (!eos->is_array()) r.wrong_type("eos_token_id", *eos, "an integer or a list of integers");
  for (const json& id : *eos) {
    if (!id.is_number_integer()) r.wrong_type("eos_token_id", *eos, "an integer or a list of integers");
    c.eos_token_ids.push_back(id.get<std::int64_t>());
  }
}

}  // namespace

ModelConfig read_hf_config(const std::filesystem::path& config_json) {
  std::error_code ec;
  const std::filesystem::path path =
      std::filesystem::is_directory(config_json, ec) ? config_json / "config.json" : config_json;
  const std::string file = path.string();
  const std::string text = read_file(path, "config.json");
  const json j = parse_json_strict(text, file, "config.json", 0, false, k_fix);
  if (!j.is_object()) SLM_FAIL(file, ": config.json must be a JSON object, got ", json_type_name(j), "; ", k_fix);
  const Reader r(file, text, j);
  const std::optional<std::string> type = r.string("model_type");
  if (!type)
    SLM_FAIL(file, ": no \"model_type\"; a Hugging Face config.json names its architecture there; supported: ",
             k_supported);
  if (*type != "llama")
    SLM_FAIL(r.place("model_type"), ": model_type \"", *type, "\" is not supported yet; supported: ", k_supported);
  check_unsupported(r);

  ModelConfig c;
  c.architecture = *type;
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = r.integer("num_key_value_heads", c.num_heads);
  if (!r.optional("head_dim") && c.num_heads > 0 && c.hidden_size % c.num_heads != 0)
    SLM_FAIL(r.place("hidden_size"), ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ",
             c.num_heads, " and there is no head_dim; add \"head_dim\" or fix the sizes");
  c.head_dim = r.integer("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  read_rope(r, file, text, j, c);
  read_token_ids(r, c);
  c.validate(file);
  return c;
}

namespace {

// The per-frequency divisors llama.cpp's converter writes as rope_freqs.weight for llama3 scaling
// (convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors), in double.
std::vector<double> llama3_freq_factors(const ModelConfig& c) {
  const double low_wavelen = static_cast<double>(c.rope_original_max_position) / c.rope_low_freq_factor;
  const double high_wavelen = static_cast<double>(c.rope_original_max_position) / c.rope_high_freq_factor;
  std::vector<double> factors;
  for (std::int64_t i = 0; i < c.head_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(c.rope_theta, 2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    const double wavelen = 2.0 * M_PI / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0);
    } else if (wavelen > low_wavelen) {
      factors.push_back(c.rope_factor);
    } else {
      const double smooth = (static_cast<double>(c.rope_original_max_position) / wavelen - c.rope_low_freq_factor) /
                            (c.rope_high_freq_factor - c.rope_low_freq_factor);
      factors.push_back(1.0 / ((1.0 - smooth) / c.rope_factor + smooth));
    }
  }
  return factors;
}

const char* torch_dtype_name(DType dtype, const std::string& source) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default:
      SLM_FAIL(source, ": cannot export weights as ", dtype_name(dtype), "; choose F32, F16 or BF16");
  }
}

}  // namespace

ModelConfig rope_scaling_for_hf(const ModelConfig& config, const std::string& source) {
  if (config.rope_freq_factors.empty()) return config;
  if (config.rope_scaling != RopeScaling::None)
    SLM_FAIL(source, ": the model has both a rope scaling type and per-frequency RoPE factors (rope_freqs.weight); "
             "config.json can say only one of them. Export a GGUF instead");
  ModelConfig c = config;
  c.rope_freq_factors.clear();
  const float largest = *std::max_element(config.rope_freq_factors.begin(), config.rope_freq_factors.end());
  if (std::all_of(config.rope_freq_factors.begin(), config.rope_freq_factors.end(), [](float f) { return f == 1.0f; }))
    return c;  // factors of 1 scale nothing
  c.rope_scaling = RopeScaling::Llama3;
  c.rope_factor = largest;
  const std::vector<double> want = llama3_freq_factors(c);
  if (want.size() != config.rope_freq_factors.size())
    SLM_FAIL(source, ": rope_freqs.weight has ", config.rope_freq_factors.size(), " factors but head_dim / 2 is ",
             want.size(), "; the model file is inconsistent");
  for (std::size_t i = 0; i < want.size(); ++i)
    if (std::abs(config.rope_freq_factors[i] - want[i]) > 1e-4 * want[i])
      SLM_FAIL(source, ": the RoPE factors (rope_freqs.weight) are not Llama 3 scaling with factor ", c.rope_factor,
               ", low_freq_factor ", c.rope_low_freq_factor, ", high_freq_factor ", c.rope_high_freq_factor,
               ", original_max_position_embeddings ", c.rope_original_max_position, ": factor ", i, " is ",
               config.rope_freq_factors[i], ", that scaling gives ", want[i],
               "; config.json cannot express these factors. Export a GGUF instead");
  return c;
}

std::string hf_config_json(const ModelConfig& config, DType dtype, const std::string& source) {
  const ModelConfig c = rope_scaling_for_hf(config, source);
  c.validate(source);
  using ojson = nlohmann::ordered_json;
  // rope_parameters (transformers 5) and rope_scaling + rope_theta (transformers 4, vLLM, llama.cpp's
  // converter): transformers 5 takes rope_scaling when it is not null, so both say the same.
  ojson scaling = nullptr, parameters = ojson{{"rope_theta", c.rope_theta}, {"rope_type", "default"}};
  if (c.rope_scaling == RopeScaling::Llama3) {
    scaling = ojson{{"factor", c.rope_factor}, {"high_freq_factor", c.rope_high_freq_factor},
                    {"low_freq_factor", c.rope_low_freq_factor},
                    {"original_max_position_embeddings", c.rope_original_max_position}, {"rope_type", "llama3"}};
  } else if (c.rope_scaling == RopeScaling::Linear) {
    scaling = ojson{{"factor", c.rope_factor}, {"rope_type", "linear"}};
  }
  if (!scaling.is_null()) {
    parameters = scaling;
    parameters["rope_theta"] = c.rope_theta;
  }
  ojson eos = nullptr;
  if (c.eos_token_ids.size() == 1) eos = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) eos = c.eos_token_ids;
  const char* dtype_text = torch_dtype_name(dtype, source);
  ojson j = ojson::object();
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = c.architecture;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = c.bos_token_id >= 0 ? ojson(c.bos_token_id) : ojson(nullptr);
  j["eos_token_id"] = eos;
  j["dtype"] = dtype_text;
  j["torch_dtype"] = dtype_text;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = c.intermediate_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["mlp_bias"] = false;
  j["num_attention_heads"] = c.num_heads;
  j["num_hidden_layers"] = c.num_layers;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["pretraining_tp"] = 1;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = scaling;
  j["rope_parameters"] = parameters;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j.dump(2) + "\n";
}

void write_hf_config(const ModelConfig& config, const std::filesystem::path& path, DType dtype) {
  write_file_atomic(path, hf_config_json(config, dtype, path.string()));
}

}  // namespace slm
