// config.cpp — consistency checks of a ModelConfig, whichever file filled it.
#include "train/model/config.h"

#include "train/core/error.h"

namespace slm {

void ModelConfig::validate(const std::string& source) const {
  const char* hint = "; the model file is inconsistent: use the model's original config";
  auto positive = [&](const char* name, std::int64_t value) {
    if (value <= 0) SLM_FAIL(source, ": ", name, " = ", value, " must be positive", hint);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_layers);
  positive("num_attention_heads", num_heads);
  positive("num_key_value_heads", num_kv_heads);
  positive("head_dim", head_dim);
  positive("max_position_embeddings", max_position_embeddings);
  if (num_heads % num_kv_heads != 0)
    SLM_FAIL(source, ": num_attention_heads ", num_heads, " is not a multiple of num_key_value_heads ", num_kv_heads,
             " (grouped-query attention shares each key/value head among H / G query heads)", hint);
  if (head_dim % 2 != 0)
    SLM_FAIL(source, ": head_dim ", head_dim, " is odd; rotary embeddings rotate pairs of dimensions", hint);
  if (!(rms_norm_eps > 0.0)) SLM_FAIL(source, ": rms_norm_eps ", rms_norm_eps, " must be positive", hint);
  if (!(rope_theta > 0.0)) SLM_FAIL(source, ": rope_theta ", rope_theta, " must be positive", hint);
  if (rope_scaling != RopeScaling::None && !(rope_factor > 0.0))
    SLM_FAIL(source, ": rope scaling factor ", rope_factor, " must be positive", hint);
  if (rope_scaling == RopeScaling::Llama3) {
    if (!(rope_low_freq_factor > 0.0) || !(rope_high_freq_factor > rope_low_freq_factor))
      SLM_FAIL(source, ": llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got ",
               rope_low_freq_factor, " and ", rope_high_freq_factor, hint);
    positive("rope_scaling.original_max_position_embeddings", rope_original_max_position);
  }
  if (bos_token_id >= vocab_size)
    SLM_FAIL(source, ": bos_token_id ", bos_token_id, " is outside the vocabulary (", vocab_size, " tokens)", hint);
  for (std::int64_t id : eos_token_ids)
    if (id < 0 || id >= vocab_size)
      SLM_FAIL(source, ": eos_token_id ", id, " is outside the vocabulary (", vocab_size, " tokens)", hint);
}

}  // namespace slm
