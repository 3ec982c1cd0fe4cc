// quantized_matrices.cpp — copying quantized layer matrices out of a GGUF file in HF row order.
#include "checkpoints/quantized_matrices.h"

#include <cstring>
#include <set>

#include "checkpoints/gguf_names.h"
#include "checkpoints/gguf_quants.h"
#include "train/core/error.h"
#include "train/lora/adapters.h"

namespace slm {
namespace {

bool kept_quantized(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

// Calls visit(hf name, tensor, rows, cols, heads) for every layer matrix kept quantized; heads is
// the q/k permutation's head count, 0 for the other slots.
template <class Visit>
void for_each_quantized(const GgufFile& file, const std::filesystem::path& model, const ModelConfig& config,
                        Visit visit) {
  for (std::int64_t l = 0; l < config.num_layers; ++l)
    for (std::size_t s = 0; s < k_num_slots; ++s) {
      const auto slot = static_cast<LinearSlot>(s);
      const std::string name = "model.layers." + std::to_string(l) + "." + std::string(slot_module_name(slot)) + ".weight";
      const GgufTensor* t = file.find_tensor(gguf_tensor_name(name));
      if (!t || !kept_quantized(t->type)) continue;
      const auto [in, rows] = slot_dims(config, slot);
      SLM_CHECK(t->dims.size() == 2 && t->dims[0] == in && t->dims[1] == rows, model.string(), ": tensor '", t->name,
                "' does not have the shape the metadata implies");
      const std::int64_t heads = slot == LinearSlot::QProj ? config.num_heads
                                 : slot == LinearSlot::KProj ? config.num_kv_heads
                                                             : 0;
      visit(name, *t, rows, in, heads);
    }
}

}  // namespace

std::map<std::string, QuantizedMatrix> load_quantized_matrices(const std::filesystem::path& model,
                                                               const ModelConfig& config) {
  std::map<std::string, QuantizedMatrix> out;
  if (model.extension() != ".gguf") return out;
  const GgufFile file = GgufFile::open(model);
  for_each_quantized(file, model, config, [&](const std::string& name, const GgufTensor& t, std::int64_t rows,
                                              std::int64_t cols, std::int64_t heads) {
    QuantizedMatrix m;
    m.type = t.type;
    m.rows = rows;
    m.cols = cols;
    m.blocks.resize(t.nbytes);
    const std::size_t row_bytes = t.nbytes / static_cast<std::size_t>(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t hf_row = heads > 0 ? llama_qk_source_row(r, rows, heads) : r;
      std::memcpy(m.blocks.data() + static_cast<std::size_t>(hf_row) * row_bytes,
                  t.data + static_cast<std::size_t>(r) * row_bytes, row_bytes);
    }
    out.emplace(name, std::move(m));
  });
  return out;
}

QuantizedSizes quantized_matrix_bytes(const std::filesystem::path& model, const ModelConfig& config) {
  QuantizedSizes out;
  if (model.extension() != ".gguf") return out;
  const GgufFile file = GgufFile::open(model);
  std::set<std::string_view> types;
  for_each_quantized(file, model, config, [&](const std::string& name, const GgufTensor& t, std::int64_t,
                                              std::int64_t, std::int64_t) {
    out.bytes.emplace(name, static_cast<std::int64_t>(t.nbytes));
    types.insert(ggml_type_name(t.type));
  });
  for (std::string_view t : types) out.types += (out.types.empty() ? "" : ", ") + std::string(t);
  return out;
}

}  // namespace slm
