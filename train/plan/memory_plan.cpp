// memory_plan.cpp — device buffers of the CUDA training step and their report.
#include "train/plan/memory_plan.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "train/core/error.h"

namespace slm {
namespace {

constexpr std::int64_t k_bf16 = 2, k_f32 = 4;

std::string gib(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(1ll << 30));
  return text;
}

// Bytes one layer keeps per token for its backward (everything, as without checkpointing).
std::int64_t saved_per_token(const ModelConfig& c, const LoraSettings& lora) {
  const std::int64_t d = c.hidden_size, f = c.intermediate_size, q = c.num_heads * c.head_dim,
                     kv = c.num_kv_heads * c.head_dim;
  std::int64_t adapted = 0;
  for (bool t : lora.targets) adapted += t ? 1 : 0;
  return k_f32 * d                      // the layer's input (residual stream)
         + k_bf16 * d + k_f32            // attention norm output, 1/rms
         + k_bf16 * (q + 2 * kv)         // q, k, v after RoPE
         + k_bf16 * q + k_f32 * c.num_heads  // attention output, log-sum-exp per head
         + k_f32 * d                     // residual after attention
         + k_bf16 * d + k_f32            // MLP norm output, 1/rms
         + k_bf16 * 3 * f                // gate, up, activation
         + k_f32 * lora.rank * adapted;  // x A^T of every adapted linear layer
}

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

MemoryPlan plan_cuda_memory(const MemoryPlanInputs& in) {
  const ModelConfig& c = in.config;
  const std::int64_t tokens = in.micro_batch_size * in.seq_len, d = c.hidden_size, l = c.num_layers;
  const auto adapter_floats = static_cast<std::int64_t>(lora_parameter_count(c, in.lora));
  MemoryPlan p;
  auto add = [&](const char* category, std::string name, std::int64_t bytes) {
    p.buffers.push_back({category, std::move(name), bytes});
  };
  add("frozen weights", "linear and embedding weights (" + in.frozen_weight_format + ")", in.frozen_weight_bytes);
  add("frozen weights", "norm weights (fp32)", k_f32 * d * (2 * l + 1));
  add("adapters", "LoRA A, B (and DoRA magnitudes), fp32", k_f32 * adapter_floats);
  add("gradients", "LoRA gradients, fp32", k_f32 * adapter_floats);
  add("optimizer", "AdamW first and second moments, fp32", 2 * k_f32 * adapter_floats);
  const std::int64_t per_layer = saved_per_token(c, in.lora) * tokens;
  if (in.activation_checkpointing) {
    add("activations", "every layer's input (checkpointing)", l * k_f32 * d * tokens);
    add("activations", "one layer recomputed for its backward", per_layer);
  } else {
    add("activations", "saved for the backward, all layers", l * per_layer);
  }
  add("activations", "final norm output, inputs, targets, positions", (k_bf16 * d + k_f32 + 3 * k_f32) * tokens);
  const std::int64_t widest = std::max(2 * c.intermediate_size, (c.num_heads + 2 * c.num_kv_heads) * c.head_dim);
  add("backward work", "residual-stream gradients (2 x fp32)", 2 * k_f32 * d * tokens);
  add("backward work", "widest intermediate gradient (fp32)", k_f32 * widest * tokens);
  add("cross-entropy", "logits chunk (fp32, " + std::to_string(std::min(tokens, k_ce_chunk_rows)) + " rows)",
      k_f32 * std::min(tokens, k_ce_chunk_rows) * c.vocab_size);
  add("workspace", "cuBLASLt workspace", k_cublaslt_workspace_bytes);
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
