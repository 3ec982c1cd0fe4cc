// memory_plan.cpp — device buffers of the CUDA training step and their report.
#include "train/plan/memory_plan.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kernels/cuda/workspace_sizes.h"
#include "train/core/error.h"
#include "train/model/llama_train.h"

namespace slm {
namespace {

constexpr std::int64_t k_bf16 = 2, k_f32 = 4;

std::string gib(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(1ll << 30));
  return text;
}

// What cudaMalloc is asked for: at least 256 bytes, counted in its 256-byte granularity.
std::int64_t allocation(std::int64_t bytes) { return (std::max<std::int64_t>(bytes, 256) + 255) / 256 * 256; }

}  // namespace

std::int64_t MemoryPlan::total() const {
  std::int64_t t = 0;
  for (const PlannedBuffer& b : buffers) t += b.bytes;
  return t;
}

std::vector<std::pair<std::string, std::int64_t>> MemoryPlan::by_category() const {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const PlannedBuffer& b : buffers) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == b.category; });
    if (it == out.end()) out.emplace_back(b.category, b.bytes);
    else it->second += b.bytes;
  }
  return out;
}

CudaScratchSizes cuda_scratch_sizes(const ModelConfig& c, std::int64_t max_tokens, const LoraSettings* lora,
                                    bool small_tiles) {
  const std::int64_t n = max_tokens, d = c.hidden_size, f = c.intermediate_size;
  const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
  const std::int64_t widest = std::max({d, f, qd, kvd});
  CudaScratchSizes s;
  s.x_bf16 = s.dy_bf16 = k_bf16 * n * widest;
  s.q_bf16 = s.dout_bf16 = k_bf16 * n * qd;
  s.k_bf16 = s.v_bf16 = k_bf16 * n * kvd;
  s.attention_delta = k_f32 * n * c.num_heads;
  if (lora && lora->rank > 0) {
    s.lora_g = k_f32 * n * lora->rank;
    for (std::size_t slot = 0; slot < k_num_slots; ++slot) {
      const auto [in, out] = slot_dims(c, static_cast<LinearSlot>(slot));
      s.lora_workspace = std::max(s.lora_workspace, k_f32 * cuda::lora_backward_workspace_floats(n, out, in, lora->rank));
    }
  }
  s.ce_chunk = std::min(n, k_ce_chunk_rows);
  s.ce_workspace = static_cast<std::int64_t>(cuda::cross_entropy_bf16_layout(n, d, c.vocab_size, s.ce_chunk, !small_tiles).bytes);
  return s;
}

MemoryPlan plan_cuda_memory(const MemoryPlanInputs& in) {
  const ModelConfig& c = in.config;
  const std::int64_t tokens = in.micro_batch_size * in.seq_len, d = c.hidden_size, v = c.vocab_size;
  const auto adapter_floats = static_cast<std::int64_t>(lora_parameter_count(c, in.lora));
  MemoryPlan p;
  auto add = [&](const char* category, std::string name, std::int64_t bytes) {
    p.buffers.push_back({category, std::move(name), bytes});
  };
  // Frozen weights: one allocation per tensor; a quantized layer matrix keeps its blocks, and the
  // largest of them has a bf16 scratch to be dequantized into.
  // The embedding table and the lm_head (one tensor when tied).
  std::int64_t dense = allocation(k_bf16 * v * d) * (c.tie_word_embeddings ? 1 : 2), quantized = 0, scratch = 0;
  for (std::int64_t l = 0; l < c.num_layers; ++l)
    for (std::size_t slot = 0; slot < k_num_slots; ++slot) {
      const auto [cols, rows] = slot_dims(c, static_cast<LinearSlot>(slot));
      const std::string name =
          "model.layers." + std::to_string(l) + "." + std::string(slot_module_name(static_cast<LinearSlot>(slot))) + ".weight";
      if (const auto q = in.quantized_bytes.find(name); q != in.quantized_bytes.end()) {
        quantized += allocation(q->second);
        scratch = std::max(scratch, k_bf16 * rows * cols);
      } else {
        dense += allocation(k_bf16 * rows * cols);
      }
    }
  add("frozen weights", "matrices kept in bf16 (embedding table and lm_head included)", dense);
  if (quantized > 0) {
    add("frozen weights", "layer matrices kept " + in.quantized_format + ", dequantized per product", quantized);
    add("frozen weights", "dequantization scratch (bf16, the largest matrix)", allocation(scratch));
  }
  add("frozen weights", "norm weights (fp32)", (2 * c.num_layers + 1) * allocation(k_f32 * d));
  add("adapters", "LoRA A, B (and DoRA magnitudes), fp32", allocation(k_f32 * adapter_floats));
  add("gradients", "LoRA gradients, fp32", allocation(k_f32 * adapter_floats));
  add("optimizer", "AdamW first and second moments, fp32", 2 * allocation(k_f32 * adapter_floats));
  add("activations",
      in.activation_checkpointing ? "each layer's input, one layer's activations, shared buffers (fp32)"
                                  : "every layer's activations and the shared buffers (fp32)",
      allocation(static_cast<std::int64_t>(LoraTrainStep::arena_bytes(c, &in.lora, tokens, in.activation_checkpointing))));
  const CudaScratchSizes s = cuda_scratch_sizes(c, tokens, &in.lora, in.small_tiles);
  add("backward work", "bf16 GEMM operands (2)", allocation(s.x_bf16) + allocation(s.dy_bf16));
  add("backward work", "bf16 attention operands (q, k, v, dout)",
      allocation(s.q_bf16) + allocation(s.k_bf16) + allocation(s.v_bf16) + allocation(s.dout_bf16));
  add("backward work", "attention backward rows (fp32)", allocation(s.attention_delta));
  if (s.lora_g > 0) add("backward work", "LoRA backward g (fp32)", allocation(s.lora_g));
  if (s.lora_workspace > 0) add("backward work", "LoRA backward split sums (fp32)", allocation(s.lora_workspace));
  add("cross-entropy", "logits chunk and its gradient (" + std::to_string(s.ce_chunk) + " rows)",
      allocation(s.ce_workspace));
  add("workspace", "cuBLASLt workspace", allocation(k_cublaslt_workspace_bytes));
  add("workspace", "step scalars, gradient-norm partials",
      allocation(k_step_scalar_bytes) + allocation(8 * cuda::k_grad_norm_max_blocks));
  add("CUDA context", "driver and library handles (typical; not ours to size)", k_cuda_context_bytes);
  return p;
}

std::string format_memory_plan(const MemoryPlan& plan, const MemoryPlanInputs& in, std::int64_t device_bytes) {
  std::ostringstream os;
  const std::int64_t total = plan.total();
  os << "predicted peak GPU memory, CUDA backend: " << in.micro_batch_size << " x " << in.seq_len << " tokens, r="
     << in.lora.rank << ", activation checkpointing " << (in.activation_checkpointing ? "on" : "off") << "\n";
  for (const auto& [category, bytes] : plan.by_category()) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-16s %12s  %5.1f%%\n", category.c_str(), gib(bytes).c_str(),
                  100.0 * static_cast<double>(bytes) / static_cast<double>(std::max<std::int64_t>(total, 1)));
    os << line;
    const auto in_category = [&](const PlannedBuffer& b) { return b.category == category; };
    if (std::count_if(plan.buffers.begin(), plan.buffers.end(), in_category) > 1) {
      for (const PlannedBuffer& b : plan.buffers)
        if (in_category(b)) os << "      " << b.name << ": " << gib(b.bytes) << "\n";
    } else {
      os << "      " << std::find_if(plan.buffers.begin(), plan.buffers.end(), in_category)->name << "\n";
    }
  }
  os << "  total            " << gib(total) << " of " << gib(device_bytes) << ": ";
  if (total <= device_bytes) {
    os << "fits, " << gib(device_bytes - total) << " to spare\n";
  } else {
    os << "does NOT fit (" << gib(total - device_bytes) << " over);";
    if (!in.activation_checkpointing) os << " try train.activation_checkpointing: true;";
    os << " lower train.micro_batch_size (raise gradient_accumulation_steps to keep the batch) or data.seq_len\n";
  }
  return os.str();
}

std::int64_t parse_memory_size(std::string_view text) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  struct Unit {
    std::string_view name;
    double bytes;
  };
  constexpr Unit units[] = {{"", 1},           {"B", 1},           {"KiB", 1024.0},       {"MiB", 1048576.0},
                            {"GiB", 1073741824.0}, {"KB", 1e3},     {"MB", 1e6},           {"GB", 1e9},
                            {"K", 1024.0},      {"M", 1048576.0},   {"G", 1073741824.0},   {"TiB", 1099511627776.0}};
  if (ec == std::errc() && value > 0)
    for (const Unit& u : units)
      if (unit == u.name) return static_cast<std::int64_t>(std::llround(value * u.bytes));
  SLM_FAIL("'", std::string(text), "' is not a memory size; write it like 24GiB, 80GB or 16G");
}

}  // namespace slm
