// export.cpp — the compatibility report, the output-directory policy and the dispatch of exports.
#include "checkpoints/export.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <ostream>
#include <sstream>

#include "checkpoints/export_gguf.h"
#include "checkpoints/export_hf.h"
#include "checkpoints/gguf.h"
#include "checkpoints/gguf_quants.h"
#include "checkpoints/peft_adapter.h"
#include "checkpoints/safetensors.h"
#include "data/model_assets.h"
#include "train/core/error.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

// vLLM's accepted LoRA ranks (vllm/config: possible max_lora_rank values).
constexpr std::int64_t k_vllm_ranks[] = {8, 16, 32, 64, 128, 256, 320, 512};

std::string default_dtype(ExportKind format) {
  switch (format) {
    case ExportKind::Merged: return "bf16";
    case ExportKind::Gguf: return "f16";
    default: return "f32";
  }
}

std::vector<std::string> allowed_dtypes(ExportKind format) {
  switch (format) {
    case ExportKind::Peft: return {"f32"};
    case ExportKind::Merged: return {"f32", "f16", "bf16"};
    case ExportKind::Gguf: return {"f32", "f16", "bf16", "q8_0"};
    case ExportKind::GgufLora: return {"f32", "f16"};
  }
  return {};
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void vllm_notes(const LoraSettings& lora, std::vector<CompatNote>& notes) {
  const bool rank_ok = std::find(std::begin(k_vllm_ranks), std::end(k_vllm_ranks), lora.rank) != std::end(k_vllm_ranks);
  if (!rank_ok)
    notes.push_back({false, "vLLM", "rank " + std::to_string(lora.rank) +
                                        " is not one vLLM serves (8, 16, 32, 64, 128, 256, 320, 512); PEFT loads it"});
  if (lora.use_dora) notes.push_back({false, "vLLM", "vLLM does not serve DoRA adapters; PEFT loads it, or export merged"});
  if (rank_ok && !lora.use_dora)
    notes.push_back({false, "vLLM", "servable: rank " + std::to_string(lora.rank) + " (start vLLM with --max-lora-rank >= " +
                                        std::to_string(lora.rank) + "), standard module names, no modules_to_save"});
}

std::string number(double x) {
  std::ostringstream os;
  os.precision(9);
  os << x;
  return os.str();
}

void llama_cpp_lora_notes(const LoraSettings& lora, const ModelConfig& config, std::vector<CompatNote>& notes) {
  if (lora.use_dora) {
    notes.push_back({true, "llama.cpp", "a DoRA adapter cannot be a llama.cpp LoRA (llama.cpp has no magnitude "
                                        "vectors); export gguf (merged) instead"});
    return;
  }
  if (lora.use_rslora)
    notes.push_back({false, "llama.cpp", "rsLoRA: llama.cpp scales by alpha / r, so adapter.lora.alpha is written as " +
                                             number(lora.alpha * std::sqrt(static_cast<double>(lora.rank))) +
                                             " (= alpha * sqrt(r)) to keep the trained scale alpha / sqrt(r)"});
  if (config.tie_word_embeddings)
    notes.push_back({false, "llama.cpp", "tied embeddings: fine, the adapter touches only the attention and MLP "
                                         "projections"});
}

}  // namespace

std::vector<CompatNote> compatibility_report(const LoraSettings& lora, const ModelConfig& config, ExportKind format,
                                             const std::string& dtype, const std::string& base_type) {
  std::vector<CompatNote> notes;
  const bool quantized = !base_type.empty() && base_type[0] == 'Q';
  switch (format) {
    case ExportKind::Peft:
      vllm_notes(lora, notes);
      if (quantized)
        notes.push_back({false, "PEFT", "trained on a " + base_type + " GGUF: PEFT and vLLM apply the adapter to the "
                                        "HF model of the same name, whose weights differ from the dequantized ones "
                                        "training saw by the quantization error"});
      break;
    case ExportKind::Merged:
    case ExportKind::Gguf:
      if (quantized)
        notes.push_back({false, "transformers", "the base is " + base_type + ": merged means the dequantized base plus "
                                                "the adapter, written as " + dtype + " (larger than the base, not "
                                                "requantized to " + base_type + ")"});
      if (format == ExportKind::Gguf && config.architecture != "llama")
        notes.push_back({true, "llama.cpp", "GGUF export writes the llama architecture; " + config.architecture +
                                            " is not supported yet"});
      break;
    case ExportKind::GgufLora:
      llama_cpp_lora_notes(lora, config, notes);
      if (quantized)
        notes.push_back({false, "llama.cpp", "load it over the same " + base_type + " GGUF it was trained on "
                                             "(llama-cli -m BASE.gguf --lora FILE)"});
      break;
  }
  return notes;
}

std::string base_weight_type(const fs::path& base_model) {
  std::error_code ec;
  if (base_model.extension() == ".gguf" && fs::is_regular_file(base_model, ec)) {
    std::map<std::string, std::int64_t> elements;  // type -> elements of 2-D weights
    const GgufFile file = GgufFile::open(base_model);
    for (const GgufTensor& t : file.tensors())
      if (t.dims.size() == 2) elements[std::string(ggml_type_name(t.type))] += t.num_elements();
    auto best = std::max_element(elements.begin(), elements.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    return best == elements.end() ? "" : best->first;
  }
  try {
    const SafetensorsCheckpoint c = SafetensorsCheckpoint::open(base_model);
    const SafetensorsTensor* t = c.find("model.layers.0.self_attn.q_proj.weight");
    return t ? std::string(dtype_name(t->dtype)) : "";
  } catch (const Error&) {
    return "";
  }
}

bool export_needs_merged_weights(ExportKind format) {
  return format == ExportKind::Merged || format == ExportKind::Gguf;
}

std::vector<fs::path> run_export(const ExportSettings& s, const LoraAdapters& adapters, const ModelConfig& config,
                                 const LlamaWeights* merged, std::ostream& log) {
  SLM_CHECK(merged || !export_needs_merged_weights(s.format), "run_export: ", enum_name(s.format),
            " needs the merged weights");
  const std::string dtype = s.dtype.empty() ? default_dtype(s.format) : s.dtype;
  const std::vector<std::string> allowed = allowed_dtypes(s.format);
  if (std::find(allowed.begin(), allowed.end(), dtype) == allowed.end())
    SLM_FAIL("export ", enum_name(s.format), ": --dtype ", dtype, " is not offered; choose one of ", joined(allowed));
  const std::vector<CompatNote> notes =
      compatibility_report(adapters.settings(), config, s.format, dtype, base_weight_type(s.base_model));
  bool refused = false;
  for (const CompatNote& n : notes) {
    log << (n.error ? "error" : "note") << " (" << n.consumer << "): " << n.text << "\n";
    refused |= n.error;
  }
  if (refused) SLM_FAIL("export ", enum_name(s.format), ": refused (see the errors above); nothing was written");

  std::error_code ec;
  if (fs::exists(s.out_dir, ec) && !fs::is_directory(s.out_dir, ec))
    SLM_FAIL(s.out_dir.string(), ": --out must be a directory, and this is a file");
  if (fs::is_directory(s.out_dir, ec) && !fs::is_empty(s.out_dir, ec)) {
    if (!s.force)
      SLM_FAIL(s.out_dir.string(), ": the directory exists and is not empty; choose another --out, or add --force "
               "to replace its contents");
    for (const fs::directory_entry& e : fs::directory_iterator(s.out_dir)) fs::remove_all(e.path());
  }
  fs::create_directories(s.out_dir);

  switch (s.format) {
    case ExportKind::Peft:
      save_peft_adapter(adapters, s.out_dir, s.base_model_name);
      return {s.out_dir / "adapter_config.json", s.out_dir / "adapter_model.safetensors"};
    case ExportKind::Merged: {
      HfExportOptions o;
      o.dtype = dtype == "f32" ? DType::F32 : dtype == "f16" ? DType::F16 : DType::BF16;
      o.tokenizer_json = s.tokenizer_json;
      o.chat_template = s.chat_template;
      return write_hf_model_dir(*merged, s.base_model, s.out_dir, o);
    }
    case ExportKind::Gguf: {
      const GgmlType t = dtype == "f32" ? GgmlType::F32 : dtype == "f16" ? GgmlType::F16
                         : dtype == "bf16" ? GgmlType::BF16 : GgmlType::Q8_0;
      const fs::path file = s.out_dir / ("model-" + dtype + ".gguf");
      GgufModelAssets assets;
      if (!s.tokenizer_json.empty()) {
        if (s.tokenizer_json.filename() != "tokenizer.json")
          SLM_FAIL(s.tokenizer_json.string(), ": the GGUF export reads a tokenizer override from a file named "
                   "tokenizer.json (with its tokenizer_config.json beside it); rename it");
        assets.tokenizer_json = s.tokenizer_json;
      }
      if (!s.chat_template.empty())
        if (auto tmpl = load_model_chat_template(s.base_model, s.chat_template)) assets.chat_template = tmpl->text;
      write_gguf_model(*merged, s.base_model, file, t, assets);
      return {file};
    }
    case ExportKind::GgufLora: {
      const fs::path file = s.out_dir / ("lora-" + dtype + ".gguf");
      write_gguf_lora(adapters, config, file, dtype == "f16" ? GgmlType::F16 : GgmlType::F32, s.base_model_name);
      return {file};
    }
  }
  return {};
}

}  // namespace slm
