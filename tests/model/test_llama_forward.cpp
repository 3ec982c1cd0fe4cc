// test_llama_forward.cpp — golden parity of the Llama forward pass with transformers:
// every tiny fixture model (tests/fixtures/llama/*, made by tools/fixtures/llama_models.py)
// to 1e-4 max abs in fp32; feeding tokens one at a time through the KV cache equals feeding
// them at once; and the real SmolLM2-135M-Instruct Q4_1 GGUF against transformers' load of
// the same file (tests/fixtures/smollm2), including its greedy continuation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "checkpoints/model_loader.h"
#include "checkpoints/safetensors.h"
#include "tests/model/fixture_tensors.h"
#include "train/core/error.h"
#include "train/model/generate.h"

namespace slm {
namespace {
using test::floats_of;
using test::ids_of;

const std::filesystem::path k_fixtures = std::filesystem::path(SLM_SOURCE_DIR) / "tests" / "fixtures";
const std::filesystem::path k_smollm2 =
    std::filesystem::path(SLM_SOURCE_DIR) / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";



std::vector<std::filesystem::path> fixture_models() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(k_fixtures / "llama"))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(LlamaForward, FixtureLogitsMatchTransformers) {
  const auto dirs = fixture_models();
  ASSERT_GE(dirs.size(), 4u);
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    auto weights = load_llama_model(dir);
    SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
    for (int b = 0; ref.find("input_ids_" + std::to_string(b)); ++b) {
      const auto ids = ids_of(*ref.find("input_ids_" + std::to_string(b)));
      const auto expected = floats_of(*ref.find("logits_" + std::to_string(b)));
      const std::int64_t v = weights->config.vocab_size;
      LlamaRunner runner(*weights, static_cast<std::int64_t>(ids.size()), 4);  // chunks of 4 exercise the cache
      std::vector<float> logits(ids.size() * v);
      runner.forward(ids, logits.data(), true);
      double worst = 0;
      for (std::size_t i = 0; i < logits.size(); ++i) {
        ASSERT_TRUE(std::isfinite(logits[i]));
        worst = std::max(worst, std::abs(double(logits[i]) - expected[i]));
      }
      EXPECT_LE(worst, 1e-4) << "sequence " << b;
    }
  }
}

TEST(LlamaForward, GgufRopeFreqFactorsEqualLlama3Scaling) {
  // A Llama 3.1+ GGUF stores its RoPE scaling as per-frequency factors (rope_freqs.weight, written
  // by llama.cpp's convert_hf_to_gguf). Factors computed that way from the fixture's llama3
  // rope_scaling, applied instead of it, must give transformers' logits again.
  const auto dir = k_fixtures / "llama" / "gqa4_llama3_rope";
  auto weights = load_llama_model(dir);
  ModelConfig& c = weights->config;
  ASSERT_EQ(c.rope_scaling, RopeScaling::Llama3);
  const double low_wavelen = c.rope_original_max_position / c.rope_low_freq_factor;
  const double high_wavelen = c.rope_original_max_position / c.rope_high_freq_factor;
  for (std::int64_t i = 0; i < c.head_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(c.rope_theta, 2.0 * i / c.head_dim), wavelen = 2 * M_PI / freq;
    double factor = 1.0;
    if (wavelen > low_wavelen) {
      factor = c.rope_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (c.rope_original_max_position / wavelen - c.rope_low_freq_factor) /
                            (c.rope_high_freq_factor - c.rope_low_freq_factor);
      factor = 1.0 / ((1 - smooth) / c.rope_factor + smooth);
    }
    c.rope_freq_factors.push_back(static_cast<float>(factor));
  }
  c.rope_scaling = RopeScaling::None;
  SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto ids = ids_of(*ref.find("input_ids_0"));
  const auto expected = floats_of(*ref.find("logits_0"));
  LlamaRunner runner(*weights, static_cast<std::int64_t>(ids.size()), 16);
  std::vector<float> logits(expected.size());
  runner.forward(ids, logits.data(), true);
  for (std::size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], expected[i], 1e-4) << i;
}

TEST(LlamaForward, OneTokenAtATimeEqualsAllAtOnce) {
  auto weights = load_llama_model(k_fixtures / "llama" / "gqa2_untied_hd32");
  const std::int64_t v = weights->config.vocab_size;
  const std::vector<std::int32_t> ids = {5, 17, 99, 3, 42, 7, 64, 1, 120};
  LlamaRunner all(*weights, 16, 16), step(*weights, 16, 1);
  std::vector<float> a(ids.size() * v), s(ids.size() * v);
  all.forward(ids, a.data(), true);
  for (std::size_t i = 0; i < ids.size(); ++i) step.forward(std::span(&ids[i], 1), s.data() + i * v, true);
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], s[i], 1e-5) << i;
  EXPECT_THROW(all.forward(std::vector<std::int32_t>(8, 1), a.data(), true), Error);  // 9 + 8 > 16
}

TEST(LlamaForward, RealSmolLM2MatchesTransformers) {
  ASSERT_TRUE(std::filesystem::exists(k_smollm2)) << k_smollm2 << " is missing; run tools/fetch_models.sh";
  auto weights = load_llama_model(k_smollm2);
  EXPECT_EQ(weights->config.num_layers, 30);
  SafetensorsFile ref = SafetensorsFile::open(k_fixtures / "smollm2" / "reference.safetensors");
  const std::int64_t v = weights->config.vocab_size;
  for (const char* prompt : {"plain", "chat", "code"}) {
    SCOPED_TRACE(prompt);
    const auto ids = ids_of(*ref.find(std::string("input_ids_") + prompt));
    const auto positions = ids_of(*ref.find(std::string("positions_") + prompt));
    const auto expected = floats_of(*ref.find(std::string("logits_") + prompt));
    LlamaRunner runner(*weights, static_cast<std::int64_t>(ids.size()), 64);
    std::vector<float> logits(ids.size() * v);
    runner.forward(ids, logits.data(), true);
    double worst_rel = 0;
    for (std::size_t p = 0; p < positions.size(); ++p)
      for (std::int64_t j = 0; j < v; ++j) {
        const double got = logits[positions[p] * v + j], want = expected[p * v + j];
        ASSERT_TRUE(std::isfinite(got));
        worst_rel = std::max(worst_rel, std::abs(got - want) / std::max(1.0, std::abs(want)));
      }
    EXPECT_LE(worst_rel, 1e-3);
    std::printf("[ smollm2 %-5s ] worst relative logit error %.2e\n", prompt, worst_rel);
  }
  // Greedy continuation of the chat prompt equals transformers' generate().
  const auto chat = ids_of(*ref.find("input_ids_chat"));
  const auto expected_tokens = ids_of(*ref.find("generated_chat"));
  LlamaRunner runner(*weights, 128, 64);
  SamplingParams greedy;
  greedy.max_new_tokens = static_cast<std::int64_t>(expected_tokens.size());
  auto result = generate(runner, chat, greedy, {}, [](std::int32_t) {});
  EXPECT_EQ(result.tokens, expected_tokens);
}

}  // namespace
}  // namespace slm
