// test_lora_peft.cpp — LoRA training against PEFT on transformers (fixtures written by
// tools/fixtures/peft_training.py into tests/fixtures/lora/<case>/):
//   - logits with adapters, and step-0 gradients of every lora_A and lora_B of all seven modules;
//   - 20 AdamW steps with warmup + cosine, accumulation 2 and clipping: per-step loss, learning
//     rate and gradient norm, and the final adapters; for plain LoRA, rsLoRA, and LoRA+ on a
//     subset of modules;
//   - B = 0 gives exactly the base model's logits.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include "checkpoints/model_loader.h"
#include "checkpoints/peft_adapter.h"
#include "checkpoints/safetensors.h"
#include "tests/model/fixture_tensors.h"
#include "train/core/files.h"
#include "train/lora/merge.h"
#include "train/model/llama_train.h"
#include "train/optim/optimizer.h"

namespace slm {
namespace {
using test::floats_of;
using test::ids_of;

const std::filesystem::path k_fixtures = std::filesystem::path(SLM_SOURCE_DIR) / "tests" / "fixtures";


struct Case {
  nlohmann::json json;
  std::filesystem::path dir;
  std::unique_ptr<LlamaWeights> model;
  LoraSettings lora;

  explicit Case(const std::string& name) : dir(k_fixtures / "lora" / name) {
    json = nlohmann::json::parse(read_file(dir / "case.json", "case.json"));
    model = load_llama_model(k_fixtures / "llama" / json["model"].get<std::string>());
    lora.rank = json["lora"]["r"];
    lora.alpha = json["lora"]["alpha"];
    lora.use_rslora = json["lora"]["use_rslora"];
    lora.dropout = json["lora"]["dropout"];
    lora.use_dora = json["lora"]["use_dora"];
    for (const auto& t : json["lora"]["target_modules_resolved"]) {
      const std::string name = t;
      for (std::size_t s = 0; s < k_num_slots; ++s) {
        std::string module(slot_module_name(static_cast<LinearSlot>(s)));
        if (module.substr(module.find('.') + 1) == name) lora.targets[s] = true;
      }
    }
  }

  // Micro-batch i: every row of input_ids_i is its own segment.
  TokenBatch batch(const SafetensorsFile& data, int i) const {
    const SafetensorsTensor& ids = *data.find("input_ids_" + std::to_string(i));
    const SafetensorsTensor& labels = *data.find("labels_" + std::to_string(i));
    const auto flat_ids = ids_of(ids), flat_labels = ids_of(labels);
    const auto rows = ids.shape[0], t = ids.shape[1];
    TokenBatch b;
    for (std::int64_t r = 0; r < rows; ++r)
      b.add_segment(std::span(flat_ids).subspan(r * t, t), std::span(flat_labels).subspan(r * t, t));
    return b;
  }
};

// max |got - want| <= rel * max |want| over a tensor.
void expect_tensor_close(const float* got, const SafetensorsTensor& want, double rel, const std::string& what) {
  std::vector<float> w(static_cast<std::size_t>(want.num_elements()));
  read_tensor_fp32(want, w.data());
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what;
    worst = std::max(worst, std::abs(double(got[i]) - w[i]));
    scale = std::max(scale, std::abs(double(w[i])));
  }
  EXPECT_LE(worst, rel * scale) << what << ": worst abs diff " << worst << " vs scale " << scale;
}

TEST(LoraPeft, LogitsAndStepZeroGradientsOfAllSevenModules) {
  Case c("grads_all_linear");
  LoraAdapters adapters(c.model->config, c.lora);
  ASSERT_EQ(adapters.modules().size(), static_cast<std::size_t>(7 * c.model->config.num_layers));
  load_peft_weights(adapters, c.dir / "init.safetensors");
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  const TokenBatch b0 = c.batch(data, 0), b1 = c.batch(data, 1);
  LoraTrainStep step(*c.model, &adapters, 64);

  SafetensorsFile logits_ref = SafetensorsFile::open(c.dir / "logits.safetensors");
  std::vector<float> logits(static_cast<std::size_t>(b0.size() * c.model->config.vocab_size));
  step.logits(b0, logits.data());
  expect_tensor_close(logits.data(), *logits_ref.find("logits_lora"), 1e-5, "logits with adapters");

  const double n_window = static_cast<double>(b0.target_count() + b1.target_count());
  adapters.zero_grads();
  step.forward_backward(b0, static_cast<float>(1.0 / n_window));
  step.forward_backward(b1, static_cast<float>(1.0 / n_window));
  SafetensorsFile grads = SafetensorsFile::open(c.dir / "grads.safetensors");
  for (const LoraModule& m : adapters.modules()) {
    expect_tensor_close(m.da, *grads.find(m.peft_prefix() + ".lora_A.weight"), 1e-4, m.peft_prefix() + " dA");
    expect_tensor_close(m.db, *grads.find(m.peft_prefix() + ".lora_B.weight"), 1e-4, m.peft_prefix() + " dB");
  }
}

TEST(LoraPeft, ZeroBGivesTheBaseModelExactly) {
  Case c("grads_all_linear");
  LoraAdapters adapters(c.model->config, c.lora);
  adapters.initialize(LoraInit::Kaiming, 7);  // B = 0
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  const TokenBatch b0 = c.batch(data, 0);
  LoraTrainStep with_adapters(*c.model, &adapters, 64), base_model(*c.model, nullptr, 64);
  std::vector<float> with(static_cast<std::size_t>(b0.size() * c.model->config.vocab_size)), base(with.size());
  with_adapters.logits(b0, with.data());
  base_model.logits(b0, base.data());
  for (std::size_t i = 0; i < with.size(); ++i) ASSERT_EQ(with[i], base[i]) << i;
  // A non-zero B changes them.
  adapters.modules()[0].b[0] = 0.5f;
  with_adapters.logits(b0, with.data());
  EXPECT_NE(with, base);
}

void run_training_case(const std::string& name) {
  Case c(name);
  LoraAdapters adapters(c.model->config, c.lora);
  load_peft_weights(adapters, c.dir / "init.safetensors");
  const auto& opt = c.json["optimizer"];
  OptimizerSettings s;
  s.learning_rate = opt["lr"];
  s.beta1 = opt["betas"][0];
  s.beta2 = opt["betas"][1];
  s.epsilon = opt["eps"];
  s.weight_decay = opt["weight_decay"];
  s.loraplus_lr_ratio = opt["loraplus_lr_ratio"].is_number() ? opt["loraplus_lr_ratio"].get<double>() : 1.0;
  s.max_grad_norm = c.json["clip_grad_norm"].is_number() ? c.json["clip_grad_norm"].get<double>()
                                                          : c.json["clip_grad_norm"]["max_norm"].get<double>();
  s.schedule = LrSchedule::Cosine;
  s.warmup_steps = c.json["schedule"]["num_warmup_steps"];
  s.total_steps = c.json["schedule"]["num_training_steps"];
  AdamWOptimizer optimizer(adapters, s);
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  const auto trace = nlohmann::json::parse(read_file(c.dir / "trace.json", "trace.json"))["steps"];
  const int accum = c.json["grad_accum"];
  LoraTrainStep step(*c.model, &adapters, 64);
  std::optional<SafetensorsFile> masks;
  if (std::filesystem::exists(c.dir / "masks.safetensors")) {
    masks.emplace(SafetensorsFile::open(c.dir / "masks.safetensors"));
    // PEFT's recorded masks: mask_{step}_{micro}_{layer}, for the case's only target (q_proj).
    step.set_mask_provider([&](std::int64_t micro_batch, std::int64_t layer, LinearSlot, float* mask, std::int64_t n,
                               std::int64_t k) {
      const std::string key = "mask_" + std::to_string(micro_batch / accum) + "_" + std::to_string(micro_batch % accum) +
                              "_" + std::to_string(layer);
      const SafetensorsTensor* t = masks->find(key);
      ASSERT_TRUE(t != nullptr && t->num_elements() == n * k) << key;
      read_tensor_fp32(*t, mask);
    });
  }
  for (std::size_t k = 0; k < trace.size(); ++k) {
    std::vector<TokenBatch> window;
    std::int64_t n_window = 0;
    for (int i = 0; i < accum; ++i) {
      window.push_back(c.batch(data, static_cast<int>(k) * accum + i));
      n_window += window.back().target_count();
    }
    ASSERT_EQ(n_window, trace[k]["n_target_tokens"].get<std::int64_t>());
    double loss_sum = 0;
    for (const TokenBatch& b : window) loss_sum += step.forward_backward(b, static_cast<float>(1.0 / n_window));
    const double loss = loss_sum / static_cast<double>(n_window), want = trace[k]["loss"];
    EXPECT_NEAR(loss, want, 1e-4 * std::abs(want)) << name << " step " << k;
    StepReport report = optimizer.step();
    EXPECT_NEAR(report.learning_rate, trace[k]["lr"].get<double>(), 1e-12) << name << " step " << k;
    const double norm = trace[k]["grad_norm"];
    EXPECT_NEAR(report.grad_norm, norm, 1e-4 * norm) << name << " step " << k;
  }
  SafetensorsFile final_ref = SafetensorsFile::open(c.dir / "final.safetensors");
  for (const LoraModule& m : adapters.modules()) {
    expect_tensor_close(m.a, *final_ref.find(m.peft_prefix() + ".lora_A.weight"), 1e-4, m.peft_prefix() + " final A");
    expect_tensor_close(m.b, *final_ref.find(m.peft_prefix() + ".lora_B.weight"), 1e-4, m.peft_prefix() + " final B");
    if (m.magnitude)
      expect_tensor_close(m.magnitude, *final_ref.find(m.peft_prefix() + ".lora_magnitude_vector"), 1e-4,
                          m.peft_prefix() + " final magnitude");
  }
}

TEST(LoraPeft, TwentyStepsPlainLora) { run_training_case("train_default"); }
TEST(LoraPeft, TwentyStepsRsLora) { run_training_case("train_rslora"); }
TEST(LoraPeft, TwentyStepsLoraPlusOnASubsetOfModules) { run_training_case("train_subset_loraplus"); }
// Logits of micro-batch 0 with the adapters applied unmerged (training path) and after merging
// them into the weights (through the inference path that `generate --adapter` uses).
std::pair<std::vector<float>, std::vector<float>> unmerged_and_merged_logits(Case& c, const std::string& adapter_file) {
  LoraAdapters adapters(c.model->config, c.lora);
  load_peft_weights(adapters, c.dir / adapter_file);
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  const TokenBatch b0 = c.batch(data, 0);
  const std::int64_t v = c.model->config.vocab_size;
  std::vector<float> unmerged(static_cast<std::size_t>(b0.size() * v)), merged(unmerged.size());
  LoraTrainStep(*c.model, &adapters, 64).logits(b0, unmerged.data());
  merge_lora(*c.model, adapters);
  for (std::size_t s = 0; s + 1 < b0.cu_seqlens.size(); ++s) {
    LlamaRunner runner(*c.model, 64, 64);
    const auto begin = b0.cu_seqlens[s], end = b0.cu_seqlens[s + 1];
    runner.forward(std::span(b0.tokens).subspan(begin, end - begin), merged.data() + begin * v, true);
  }
  return {unmerged, merged};
}

TEST(LoraPeft, MergedEqualsUnmerged) {
  Case c("grads_all_linear");  // its B matrices are random, so the merge changes every weight
  const auto [unmerged, merged] = unmerged_and_merged_logits(c, "init.safetensors");
  SafetensorsFile ref = SafetensorsFile::open(c.dir / "logits.safetensors");
  expect_tensor_close(merged.data(), *ref.find("logits_lora"), 1e-5, "merged model vs PEFT");
  for (std::size_t i = 0; i < merged.size(); ++i) ASSERT_NEAR(merged[i], unmerged[i], 1e-5) << i;
}

TEST(LoraPeft, MergedDoraEqualsUnmerged) {
  Case c("train_dora");
  const auto [unmerged, merged] = unmerged_and_merged_logits(c, "final.safetensors");  // trained: B != 0
  for (std::size_t i = 0; i < merged.size(); ++i) ASSERT_NEAR(merged[i], unmerged[i], 1e-5) << i;
}

TEST(LoraPeft, CheckpointingOnAndOffGiveIdenticalLossesAndGradients) {
  Case c("grads_all_linear");
  c.lora.dropout = 0.1;  // the recomputed forward must draw the same masks
  LoraAdapters adapters(c.model->config, c.lora);
  load_peft_weights(adapters, c.dir / "init.safetensors");
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  auto run = [&](bool checkpointing) {
    LoraTrainStep step(*c.model, &adapters, 64, checkpointing);
    step.set_dropout_seed(5);
    adapters.zero_grads();
    double loss = step.forward_backward(c.batch(data, 0), 0.01f) + step.forward_backward(c.batch(data, 1), 0.01f);
    return std::pair(loss, std::vector<float>(adapters.grads(), adapters.grads() + adapters.count()));
  };
  const auto [loss_off, grads_off] = run(false);
  const auto [loss_on, grads_on] = run(true);
  EXPECT_EQ(loss_on, loss_off);
  EXPECT_EQ(grads_on, grads_off);
  EXPECT_LT(LoraTrainStep(*c.model, &adapters, 64, true).activation_bytes(),
            LoraTrainStep(*c.model, &adapters, 64, false).activation_bytes());
}

TEST(LoraPeft, DropoutWithPeftsMasks) { run_training_case("train_dropout"); }
TEST(LoraPeft, TwentyStepsDora) { run_training_case("train_dora"); }

TEST(LoraPeft, DoraMagnitudesStartAsPeftsRowNorms) {
  Case c("train_dora");
  LoraAdapters adapters(c.model->config, c.lora);
  adapters.initialize(LoraInit::Kaiming, 1);  // B = 0
  initialize_dora_magnitudes(*c.model, adapters);
  SafetensorsFile init = SafetensorsFile::open(c.dir / "init.safetensors");
  for (const LoraModule& m : adapters.modules())
    expect_tensor_close(m.magnitude, *init.find(m.peft_prefix() + ".lora_magnitude_vector"), 1e-6, m.peft_prefix());
}

TEST(LoraPeft, DropoutMasksAreSeededAndDeterministic) {
  Case c("train_default");
  c.lora.dropout = 0.25;
  LoraAdapters adapters(c.model->config, c.lora);
  adapters.initialize(LoraInit::Kaiming, 3);
  SafetensorsFile data = SafetensorsFile::open(c.dir / "data.safetensors");
  // Same seed, same micro-batch sequence: identical gradients; another seed: different ones.
  auto grads_with_seed = [&](std::uint64_t seed) {
    LoraTrainStep step(*c.model, &adapters, 64);
    step.set_dropout_seed(seed);
    adapters.zero_grads();
    step.forward_backward(c.batch(data, 0), 1.0f);
    return std::vector<float>(adapters.grads(), adapters.grads() + adapters.count());
  };
  EXPECT_EQ(grads_with_seed(1), grads_with_seed(1));
  EXPECT_NE(grads_with_seed(1), grads_with_seed(2));
}

}  // namespace
}  // namespace slm
