// test_hf_config.cpp — config.json to ModelConfig: every Llama fixture (transformers 5 files with
// rope_parameters), transformers 4 style files (SmolLM2, Llama 3.2 with rope_scaling), defaults,
// and errors naming the file, the key and its line; ModelConfig::validate.
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoints/hf_config.h"
#include "train/core/error.h"

namespace slm {
namespace {

namespace fs = std::filesystem;
const fs::path k_llama = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures" / "llama";

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("slm_cfg_" + std::string(info->name()) + "_" + std::to_string(::getpid()) +
                                         "_" + std::to_string(counter_++) + ".json");
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { fs::remove(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

void expect_config_error(const std::string& text, const std::vector<std::string>& phrases) {
  ConfigFile f(text);
  try {
    read_hf_config(f.path());
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(f.path().string()), std::string::npos) << m;
    for (const std::string& p : phrases) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
  }
}

TEST(HfConfig, Fixtures) {
  struct Expected {
    const char* name;
    std::int64_t V, D, F, H, G, E;
    bool tied;
    RopeScaling rope;
  };
  const Expected models[] = {
      {"mha_tied", 128, 64, 192, 2, 2, 32, true, RopeScaling::None},
      {"gqa2_untied_hd32", 160, 64, 160, 4, 2, 32, false, RopeScaling::None},
      {"mqa4_hd64", 128, 64, 192, 4, 1, 64, false, RopeScaling::None},
      {"gqa4_llama3_rope", 144, 64, 192, 8, 2, 32, true, RopeScaling::Llama3},
      {"sharded_linear_rope", 128, 64, 192, 2, 1, 32, false, RopeScaling::Linear},
  };
  for (const Expected& m : models) {
    SCOPED_TRACE(m.name);
    const ModelConfig c = read_hf_config(k_llama / m.name);  // a directory: reads config.json in it
    EXPECT_EQ(c.architecture, "llama");
    EXPECT_EQ(c.vocab_size, m.V);
    EXPECT_EQ(c.hidden_size, m.D);
    EXPECT_EQ(c.intermediate_size, m.F);
    EXPECT_EQ(c.num_layers, 2);
    EXPECT_EQ(c.num_heads, m.H);
    EXPECT_EQ(c.num_kv_heads, m.G);
    EXPECT_EQ(c.head_dim, m.E);
    EXPECT_EQ(c.tie_word_embeddings, m.tied);
    EXPECT_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.max_position_embeddings, 512);
    EXPECT_EQ(c.rope_scaling, m.rope);
    EXPECT_EQ(c.bos_token_id, 1);
    EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{2, 3}));
  }
  const ModelConfig l3 = read_hf_config(k_llama / "gqa4_llama3_rope" / "config.json");
  EXPECT_EQ(l3.rope_theta, 500000.0);
  EXPECT_EQ(l3.rope_factor, 8.0);
  EXPECT_EQ(l3.rope_low_freq_factor, 1.0);
  EXPECT_EQ(l3.rope_high_freq_factor, 4.0);
  EXPECT_EQ(l3.rope_original_max_position, 64);
  const ModelConfig linear = read_hf_config(k_llama / "sharded_linear_rope");
  EXPECT_EQ(linear.rope_factor, 2.0);
  EXPECT_EQ(linear.rope_theta, 10000.0);
}

// SmolLM2-135M's config.json (transformers 4 style), trimmed to the keys that matter.
const std::string k_smollm2 = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 576, "intermediate_size": 1536, "max_position_embeddings": 8192,
  "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true, "vocab_size": 49152
})";

TEST(HfConfig, SmolLM2TransformersV4) {
  ConfigFile f(k_smollm2);
  const ModelConfig c = read_hf_config(f.path());
  EXPECT_EQ(c.head_dim, 64);  // 576 / 9
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.rope_theta, 100000.0);  // an integer in the file is a fine number
  EXPECT_EQ(c.rope_scaling, RopeScaling::None);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{2}));
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(HfConfig, Llama32RopeScalingV4) {
  ConfigFile f(R"({"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})");
  const ModelConfig c = read_hf_config(f.path());
  EXPECT_EQ(c.rope_scaling, RopeScaling::Llama3);
  EXPECT_EQ(c.rope_factor, 32.0);
  EXPECT_EQ(c.rope_original_max_position, 8192);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.bos_token_id, 128000);
  ConfigFile linear(R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"type": "linear", "factor": 4}})");
  const ModelConfig l = read_hf_config(linear.path());
  EXPECT_EQ(l.rope_scaling, RopeScaling::Linear);
  EXPECT_EQ(l.rope_factor, 4.0);
}

TEST(HfConfig, Defaults) {
  ConfigFile f(R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": null, "head_dim": null,
    "bos_token_id": null})");
  const ModelConfig c = read_hf_config(f.path());
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_EQ(c.rope_scaling, RopeScaling::None);
}

const std::string k_base = R"("vocab_size": 32, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1)";

TEST(HfConfig, Errors) {
  expect_config_error(R"({"model_type": "qwen2", )" + k_base + R"(, "num_attention_heads": 2})",
                      {"model_type \"qwen2\" is not supported", "supported: llama"});
  expect_config_error("{" + k_base + R"(, "num_attention_heads": 2})", {"no \"model_type\"", "llama"});
  expect_config_error(R"({"model_type": "llama",
  "vocab_size": 32, "hidden_size": "64", "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2})",
                      {":2:", "key 'hidden_size' must be an integer, got string \"64\""});
  expect_config_error(R"({"model_type": "llama", "vocab_size": 32.5, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 2})", {"'vocab_size' must be an integer"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + "}", {"missing key 'num_attention_heads'"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "rms_norm_eps": "1e-5"})",
                      {"'rms_norm_eps' must be a number"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "tie_word_embeddings": 1})",
                      {"'tie_word_embeddings' must be true or false"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "eos_token_id": "2"})",
                      {"'eos_token_id' must be an integer or a list of integers"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "eos_token_id": [2, "x"]})",
                      {"'eos_token_id'"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2,
    "rope_scaling": {"rope_type": "yarn", "factor": 4}})", {":2:", "rope type \"yarn\"", "default, llama3, linear"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2,
    "rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}})",
                      {"missing key 'rope_parameters.original_max_position_embeddings'"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2,
    "rope_parameters": {"rope_type": "linear", "factor": "2"}})", {"'rope_parameters.factor' must be a number"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "rope_scaling": 3})",
                      {"'rope_scaling' must be an object"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "attention_bias": true})",
                      {"attention_bias = true is not supported"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "hidden_act": "gelu"})",
                      {"hidden_act \"gelu\""});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 3})",
                      {"not a multiple of num_attention_heads 3", "head_dim"});
  expect_config_error("{\"model_type\": \"llama\",\n \"vocab_size\": 32,,}", {":2:", "not valid JSON"});
  expect_config_error(R"({"model_type": "llama", "model_type": "llama"})", {"\"model_type\" twice"});
  expect_config_error("[1]", {"must be a JSON object"});
}

TEST(HfConfig, Validate) {
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 4, "num_key_value_heads": 3})",
                      {"num_attention_heads 4 is not a multiple of num_key_value_heads 3"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "head_dim": 7})",
                      {"head_dim 7 is odd"});
  expect_config_error(R"({"model_type": "llama", "vocab_size": 0, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 2})", {"vocab_size = 0 must be positive"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2, "eos_token_id": 99})",
                      {"eos_token_id 99 is outside the vocabulary"});
  expect_config_error(R"({"model_type": "llama", )" + k_base + R"(, "num_attention_heads": 2,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64}})", {"low_freq_factor < high_freq_factor"});
  ModelConfig c;
  try {
    c.validate("some.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("some.gguf: vocab_size = 0"), std::string::npos) << e.what();
  }
}

TEST(HfConfig, MissingFile) {
  try {
    read_hf_config("/nonexistent/dir/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slm
