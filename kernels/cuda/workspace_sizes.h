// workspace_sizes.h — how large the device workspaces of three kernels are, computable without
// CUDA: lora_backward's split of the token dimension (lora.h), the bf16 cross-entropy's
// workspace layout (cross_entropy.h) and the gradient norm's partials (grad_norm.h). The kernels' launchers and the memory planner
// (train/plan/memory_plan.h) both use these, so the plan is what the backend allocates.
// Host code only; no CUDA headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace slm::cuda {

// --- lora_backward ----------------------------------------------------------------------------
// Splits of M for the weight gradients: enough blocks to fill a large GPU (k_lora_target_blocks),
// at least k_lora_min_split_rows rows each. Returns the rows per split (a multiple of bk = 32).
inline constexpr std::int64_t k_lora_target_blocks = 264;  // 2 per SM of an H100 (132 SMs)
inline constexpr std::int64_t k_lora_min_split_rows = 64;
inline std::int64_t lora_split_rows(std::int64_t m, std::int64_t n, std::int64_t k) {
  const std::int64_t tiles = (n + 63) / 64 + (k + 63) / 64;
  const std::int64_t want = (k_lora_target_blocks + tiles - 1) / tiles;
  const std::int64_t most = (m + k_lora_min_split_rows - 1) / k_lora_min_split_rows;
  const std::int64_t splits = want < most ? want : most;
  if (splits <= 1) return m < 1 ? 32 : (m + 31) / 32 * 32;
  const std::int64_t rows = (m + splits - 1) / splits;
  return (rows + 31) / 32 * 32;
}
inline std::int64_t lora_split_count(std::int64_t m, std::int64_t n, std::int64_t k) {
  const std::int64_t rows = lora_split_rows(m, n, k);
  return m < 1 ? 1 : (m + rows - 1) / rows;
}
// Floats of workspace lora_backward can use to split M (0: it would not split these shapes).
inline std::int64_t lora_backward_workspace_floats(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t r) {
  const std::int64_t splits = lora_split_count(m, n, k);
  return splits > 1 ? splits * (n + k) * r : 0;
}

// --- cross_entropy_forward_backward_bf16 ---------------------------------------------------------
inline constexpr int k_ce_max_splits = 16;       // S at most
inline constexpr int k_ce_target_blocks = 264;   // the dx product aims at about two blocks per SM (H100: 132)
inline constexpr int k_ce_min_split_steps = 32;  // a slice spans at least this many BK steps

inline std::size_t workspace_align(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// The bf16 variant's chunk, split of V and workspace regions (byte offsets).
struct CrossEntropyBf16Layout {
  int c = 0, splits = 1;
  std::int64_t k_split = 0, ldx = 0, ldp = 0;
  std::size_t row_loss = 0, logits = 0, pieces = 0, xb = 0, outs = 0, index = 0, target = 0, count = 0, bytes = 0;
};
// For T tokens, hidden D, vocabulary V, `chunk` rows and the GEMM tile (64 large, 32 small).
inline CrossEntropyBf16Layout cross_entropy_bf16_layout(std::int64_t t, std::int64_t d, std::int64_t v,
                                                        std::int64_t chunk, bool large_tile) {
  const int bm = large_tile ? 64 : 32, bn = bm;
  CrossEntropyBf16Layout plan;
  plan.c = static_cast<int>(std::max<std::int64_t>(1, std::min(chunk, t)));
  plan.ldx = (d + 7) / 8 * 8;
  plan.ldp = (v + 7) / 8 * 8;
  const std::int64_t tiles = 3 * ((plan.c + bm - 1) / bm) * ((d + bn - 1) / bn);
  const std::int64_t want = (k_ce_target_blocks + tiles - 1) / tiles;
  const std::int64_t by_k = (v + 32 * k_ce_min_split_steps - 1) / (32 * k_ce_min_split_steps);
  const std::int64_t splits = std::max<std::int64_t>(1, std::min<std::int64_t>({k_ce_max_splits, want, by_k}));
  plan.k_split = ((v + splits - 1) / splits + 31) / 32 * 32;  // slices start 16-byte aligned
  plan.splits = static_cast<int>((v + plan.k_split - 1) / plan.k_split);
  const std::size_t tt = static_cast<std::size_t>(t), c = static_cast<std::size_t>(plan.c);
  std::size_t at = 0;
  plan.row_loss = at, at += workspace_align(tt * sizeof(double));
  plan.logits = at, at += workspace_align(c * static_cast<std::size_t>(v) * sizeof(float));
  plan.pieces = at, at += workspace_align(3 * c * static_cast<std::size_t>(plan.ldp) * 2);  // bf16
  plan.xb = at, at += workspace_align(c * static_cast<std::size_t>(plan.ldx) * 2);          // bf16
  plan.outs = at, at += workspace_align(3 * static_cast<std::size_t>(plan.splits) * c * static_cast<std::size_t>(d) * sizeof(float));
  plan.index = at, at += workspace_align(tt * sizeof(std::int32_t));
  plan.target = at, at += workspace_align(tt * sizeof(std::int32_t));
  plan.count = at, at += workspace_align(sizeof(std::int32_t));
  plan.bytes = at;
  return plan;
}

// --- grad_norm_squared -------------------------------------------------------------------------
inline constexpr int k_grad_norm_max_blocks = 1024;  // blocks at most: one double of workspace each

}  // namespace slm::cuda
