// generate.h — token generation on a LlamaRunner: greedy or temperature + top-p sampling,
// stop tokens, streaming through a callback, timing.
// Does not hold: tokenization or chat templates (data/), printing (the command line).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "train/model/llama.h"

namespace slm {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;        // nucleus threshold in (0, 1]
  std::uint64_t seed = 0;
  std::int64_t max_new_tokens = 128;
};

// Picks the next token from logits [V]. Greedy takes the first maximum (as torch.argmax does).
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  std::int32_t pick(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, std::int32_t>> candidates_;  // reused between calls
};

struct GenerationResult {
  std::vector<std::int32_t> tokens;  // generated, the stop token included if one ended it
  bool stopped = false;              // ended by a stop token (not by max_new_tokens)
  double prompt_seconds = 0;         // time to process the prompt
  double generate_seconds = 0;       // time for the new tokens
};

// Runs the prompt, then generates until a stop token or max_new_tokens; on_token sees each new
// token as it is chosen. The runner's cache must have room for prompt + max_new_tokens.
GenerationResult generate(LlamaRunner& runner, std::span<const std::int32_t> prompt, const SamplingParams& params,
                          std::span<const std::int32_t> stop_tokens,
                          const std::function<void(std::int32_t)>& on_token);

}  // namespace slm
