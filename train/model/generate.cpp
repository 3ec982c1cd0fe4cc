// generate.cpp — sampling and the generation loop.
#include "train/model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "train/core/error.h"

namespace slm {

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  SLM_CHECK(params.temperature >= 0.0f, "temperature must be >= 0 (0 = greedy), got ", params.temperature);
  SLM_CHECK(params.top_p > 0.0f && params.top_p <= 1.0f, "top-p must be in (0, 1], got ", params.top_p);
}

std::int32_t Sampler::pick(std::span<const float> logits) {
  const auto best = std::max_element(logits.begin(), logits.end());  // first maximum
  if (params_.temperature == 0.0f) return static_cast<std::int32_t>(best - logits.begin());
  // Softmax at the temperature, then the smallest set whose mass reaches top_p.
  candidates_.clear();
  double total = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float p = std::exp((logits[i] - *best) / params_.temperature);
    candidates_.emplace_back(p, static_cast<std::int32_t>(i));
    total += p;
  }
  std::sort(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  double kept = 0;
  std::size_t n = 0;
  while (n < candidates_.size() && (n == 0 || kept < params_.top_p * total)) kept += candidates_[n++].first;
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  for (std::size_t i = 0; i < n; ++i) {
    r -= candidates_[i].first;
    if (r <= 0) return candidates_[i].second;
  }
  return candidates_[n - 1].second;
}

GenerationResult generate(LlamaRunner& runner, std::span<const std::int32_t> prompt, const SamplingParams& params,
                          std::span<const std::int32_t> stop_tokens,
                          const std::function<void(std::int32_t)>& on_token) {
  using Clock = std::chrono::steady_clock;
  SLM_CHECK(!prompt.empty(), "the prompt is empty after tokenization; give some text");
  const std::int64_t vocab = runner.vocab_size();
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  Sampler sampler(params);
  GenerationResult result;
  auto start = Clock::now();
  runner.forward(prompt, logits.data(), false);
  auto prompt_done = Clock::now();
  for (std::int64_t i = 0; i < params.max_new_tokens; ++i) {
    const std::int32_t token = sampler.pick(logits);
    result.tokens.push_back(token);
    on_token(token);
    if (std::find(stop_tokens.begin(), stop_tokens.end(), token) != stop_tokens.end()) {
      result.stopped = true;
      break;
    }
    if (i + 1 < params.max_new_tokens) runner.forward(std::span(&token, 1), logits.data(), false);
  }
  auto end = Clock::now();
  result.prompt_seconds = std::chrono::duration<double>(prompt_done - start).count();
  result.generate_seconds = std::chrono::duration<double>(end - prompt_done).count();
  return result;
}

}  // namespace slm
