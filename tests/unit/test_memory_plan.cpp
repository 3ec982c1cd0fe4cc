// test_memory_plan.cpp — the CUDA memory plan: adapter sizes equal what LoraAdapters allocates,
// categories add up, checkpointing shrinks activations to one layer plus the layers' inputs,
// activations grow linearly with tokens, the report says whether it fits, memory sizes parse.
#include <gtest/gtest.h>

#include "checkpoints/hf_config.h"
#include "train/core/error.h"
#include "train/plan/memory_plan.h"

namespace slm {
namespace {

const std::filesystem::path k_llama = std::filesystem::path(SLM_SOURCE_DIR) / "tests" / "fixtures" / "llama";

LoraSettings settings(std::int64_t rank, bool dora, std::initializer_list<LinearSlot> slots) {
  LoraSettings s;
  s.rank = rank;
  s.use_dora = dora;
  for (LinearSlot slot : slots) s.targets[static_cast<std::size_t>(slot)] = true;
  return s;
}

TEST(MemoryPlan, AdapterCountEqualsWhatLoraAdaptersAllocates) {
  for (const char* model : {"mha_tied", "gqa2_untied_hd32", "mqa4_hd64"}) {
    const ModelConfig c = read_hf_config(k_llama / model);
    for (const LoraSettings& s :
         {settings(4, false, {LinearSlot::QProj, LinearSlot::VProj}),
          settings(8, true, {LinearSlot::QProj, LinearSlot::KProj, LinearSlot::VProj, LinearSlot::OProj,
                             LinearSlot::GateProj, LinearSlot::UpProj, LinearSlot::DownProj}),
          settings(3, false, {LinearSlot::DownProj})})
      EXPECT_EQ(lora_parameter_count(c, s), LoraAdapters(c, s).count()) << model << " r=" << s.rank;
  }
}

MemoryPlanInputs inputs(bool checkpointing, std::int64_t seq_len) {
  MemoryPlanInputs in;
  in.config = read_hf_config(k_llama / "gqa2_untied_hd32");
  in.lora = settings(8, false, {LinearSlot::QProj, LinearSlot::VProj});
  in.micro_batch_size = 2;
  in.seq_len = seq_len;
  in.activation_checkpointing = checkpointing;
  return in;
}

std::int64_t category(const MemoryPlan& p, const std::string& name) {
  for (const auto& [c, bytes] : p.by_category())
    if (c == name) return bytes;
  ADD_FAILURE() << "no category " << name;
  return 0;
}

TEST(MemoryPlan, CategoriesAddUpAndScale) {
  const MemoryPlan full = plan_cuda_memory(inputs(false, 64));
  std::int64_t sum = 0;
  for (const auto& [c, bytes] : full.by_category()) sum += bytes;
  EXPECT_EQ(sum, full.total());
  // fp32 adapters, gradients and two moments, each one allocation counted in 256-byte units.
  const std::int64_t adapters = static_cast<std::int64_t>(
      4 * lora_parameter_count(inputs(false, 64).config, inputs(false, 64).lora));
  EXPECT_EQ(category(full, "adapters"), (adapters + 255) / 256 * 256);
  EXPECT_EQ(category(full, "gradients"), category(full, "adapters"));
  EXPECT_EQ(category(full, "optimizer"), 2 * category(full, "adapters"));
  // Activations are linear in tokens, up to per-buffer padding (RoPE's inverse frequencies, one
  // more cu_seqlens entry).
  const MemoryPlan twice = plan_cuda_memory(inputs(false, 128));
  EXPECT_NEAR(static_cast<double>(category(twice, "activations")), 2.0 * static_cast<double>(category(full, "activations")), 1024.0);
  // Checkpointing keeps one layer's activations plus every layer's input.
  const MemoryPlan ckpt = plan_cuda_memory(inputs(true, 64));
  EXPECT_LT(category(ckpt, "activations"), category(full, "activations"));
  EXPECT_EQ(category(ckpt, "frozen weights"), category(full, "frozen weights"));
}

TEST(MemoryPlan, ReportSaysWhetherItFits) {
  const MemoryPlanInputs in = inputs(false, 64);
  const MemoryPlan p = plan_cuda_memory(in);
  EXPECT_NE(format_memory_plan(p, in, p.total()).find("fits, 0.00 GiB to spare"), std::string::npos);
  const std::string over = format_memory_plan(p, in, p.total() - 1);
  EXPECT_NE(over.find("does NOT fit"), std::string::npos) << over;
  EXPECT_NE(over.find("activation_checkpointing"), std::string::npos) << over;
}

TEST(MemoryPlan, MemorySizesParse) {
  EXPECT_EQ(parse_memory_size("24GiB"), 24ll << 30);
  EXPECT_EQ(parse_memory_size("80GB"), 80'000'000'000ll);
  EXPECT_EQ(parse_memory_size("16G"), 16ll << 30);
  EXPECT_EQ(parse_memory_size("512MiB"), 512ll << 20);
  EXPECT_EQ(parse_memory_size("1.5GiB"), 3ll << 29);
  EXPECT_EQ(parse_memory_size("4096"), 4096);
  for (const char* bad : {"", "GiB", "24 GiB", "24gb", "-1G", "0"}) EXPECT_THROW(parse_memory_size(bad), Error) << bad;
}

}  // namespace
}  // namespace slm
