// peft_adapter.cpp — PEFT adapter directory read and write.
#include "checkpoints/peft_adapter.h"

#include <nlohmann/json.hpp>

#include "checkpoints/safetensors.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {

LoraSettings read_peft_config(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "adapter_config.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path, "adapter_config.json"));
  } catch (const nlohmann::json::exception& e) {
    SLM_FAIL(path.string(), ": not valid JSON: ", e.what());
  }
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) SLM_FAIL(path.string(), ": '", key, "' is missing; is this a PEFT LoRA adapter?");
    return j[key];
  };
  if (need("peft_type") != "LORA") SLM_FAIL(path.string(), ": peft_type is ", j["peft_type"].dump(), "; only LORA adapters load");
  LoraSettings s;
  try {
    s.rank = need("r").get<std::int64_t>();
    s.alpha = need("lora_alpha").get<double>();
    s.dropout = j.value("lora_dropout", 0.0);
    s.use_rslora = j.value("use_rslora", false);
    s.use_dora = j.value("use_dora", false);
    const auto& targets = need("target_modules");
    std::vector<std::string> names = targets.is_string() ? std::vector<std::string>{targets.get<std::string>()}
                                                         : targets.get<std::vector<std::string>>();
    for (const std::string& name : names) {
      if (name == "all-linear") {
        s.targets.fill(true);
        continue;
      }
      bool found = false;
      for (std::size_t slot = 0; slot < k_num_slots; ++slot) {
        std::string module(slot_module_name(static_cast<LinearSlot>(slot)));
        if (module.substr(module.find('.') + 1) == name) s.targets[slot] = found = true;
      }
      if (!found) SLM_FAIL(path.string(), ": target module '", name, "' is not one of the seven linear layers of a Llama block");
    }
  } catch (const nlohmann::json::exception& e) {
    SLM_FAIL(path.string(), ": a value has the wrong type: ", e.what());
  }
  return s;
}

void load_peft_weights(LoraAdapters& adapters, const std::filesystem::path& file_or_dir) {
  const std::filesystem::path file = std::filesystem::is_directory(file_or_dir)
                                         ? file_or_dir / "adapter_model.safetensors"
                                         : file_or_dir;
  SafetensorsFile st = SafetensorsFile::open(file);
  const std::int64_t r = adapters.settings().rank;
  for (const LoraModule& m : adapters.modules()) {
    const std::tuple<std::string, float*, std::vector<std::int64_t>> parts[] = {
        {m.peft_prefix() + ".lora_A.weight", m.a, {r, m.in}},
        {m.peft_prefix() + ".lora_B.weight", m.b, {m.out, r}},
        {m.peft_prefix() + ".lora_magnitude_vector", m.magnitude, {m.out}}};
    for (const auto& [name, target, shape] : parts) {
      if (!target) continue;  // no magnitudes without DoRA
      const SafetensorsTensor* t = st.find(name);
      if (!t)
        SLM_FAIL(file.string(), ": adapter tensor '", name,
                 "' is missing; the adapter was trained with other target modules than lora.target_modules");
      if (t->shape != shape)
        SLM_FAIL(file.string(), ": adapter tensor '", name, "' does not have the shape of rank ", r,
                 " on this model; check lora.rank and the base model");
      read_tensor_fp32(*t, target);
    }
  }
}

void save_peft_adapter(const LoraAdapters& adapters, const std::filesystem::path& dir,
                       const std::string& base_model_name_or_path) {
  const LoraSettings& s = adapters.settings();
  const std::int64_t r = s.rank;
  std::vector<TensorToWrite> tensors;
  std::vector<std::string> targets;
  for (const LoraModule& m : adapters.modules()) {
    tensors.push_back({m.peft_prefix() + ".lora_A.weight", DType::F32, {r, m.in}, m.a});
    tensors.push_back({m.peft_prefix() + ".lora_B.weight", DType::F32, {m.out, r}, m.b});
    if (m.magnitude) tensors.push_back({m.peft_prefix() + ".lora_magnitude_vector", DType::F32, {m.out}, m.magnitude});
    std::string name(slot_module_name(m.slot));
    name = name.substr(name.find('.') + 1);  // "self_attn.q_proj" -> "q_proj"
    if (std::find(targets.begin(), targets.end(), name) == targets.end()) targets.push_back(name);
  }
  std::sort(targets.begin(), targets.end());
  write_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::ordered_json config = {
      {"peft_type", "LORA"},         {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", base_model_name_or_path},
      {"r", r},                      {"lora_alpha", s.alpha},
      {"lora_dropout", s.dropout},   {"target_modules", targets},
      {"bias", "none"},              {"use_rslora", s.use_rslora},
      {"use_dora", s.use_dora},           {"modules_to_save", nullptr},
      {"fan_in_fan_out", false},     {"init_lora_weights", true},
      {"inference_mode", true},      {"layers_to_transform", nullptr},
      {"rank_pattern", nlohmann::json::object()}, {"alpha_pattern", nlohmann::json::object()},
      {"revision", nullptr}};
  write_file_atomic(dir / "adapter_config.json", config.dump(2) + "\n");
}

}  // namespace slm
