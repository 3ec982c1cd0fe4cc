// test_export_hf.cpp — the merged Hugging Face export (checkpoints/export_hf.h) and config.json
// writing (checkpoints/hf_config.h): config.json round trips through read_hf_config (both rope
// forms, GGUF-style rope factors as llama3 scaling); every fixture model exported in F32 reloads
// bit for bit with an equal config; F16 / BF16 exports hold the rounded values; a small shard
// limit gives shards with an index that reload the same; tokenizer files are copied from an HF
// base and serialized from a GGUF base (the real SmolLM2 GGUF), and both reload.
// (That transformers loads the export to the same logits: tools/verify_export_merged.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <functional>
#include <set>
#include <nlohmann/json.hpp>

#include "checkpoints/export_hf.h"
#include "checkpoints/hf_config.h"
#include "checkpoints/model_loader.h"
#include "checkpoints/safetensors.h"
#include "data/model_assets.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path k_fixtures = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures";
const fs::path k_tmp = fs::path(SLM_BINARY_DIR) / "test_export_hf_tmp";
const fs::path k_smollm2_gguf = fs::path(SLM_SOURCE_DIR) / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";

std::vector<fs::path> fixture_models() {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(k_fixtures / "llama"))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// A fresh, empty directory under the build tree.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = k_tmp / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// An HF "base model" directory holding only a tokenizer (the fixture models have none): the Qwen 2
// fixture tokenizer, its tokenizer_config.json and a generation_config.json with a setting of its own.
fs::path hf_tokenizer_base(const std::string& test) {
  const fs::path dir = fresh_dir("base_hf_" + test);  // one per test: CTest may run tests in parallel
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(k_fixtures / "tokenizers" / "qwen2" / name, dir / name);
  write_file_atomic(dir / "generation_config.json", R"({"temperature": 0.7, "eos_token_id": 3})");
  return dir;
}

json load_json(const fs::path& path) { return json::parse(read_file(path, "test file")); }

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.rope_scaling, b.rope_scaling);
  if (a.rope_scaling != RopeScaling::None) {
    EXPECT_EQ(a.rope_factor, b.rope_factor);
  }
  if (a.rope_scaling == RopeScaling::Llama3) {
    EXPECT_EQ(a.rope_low_freq_factor, b.rope_low_freq_factor);
    EXPECT_EQ(a.rope_high_freq_factor, b.rope_high_freq_factor);
    EXPECT_EQ(a.rope_original_max_position, b.rope_original_max_position);
  }
  EXPECT_EQ(a.rope_freq_factors, b.rope_freq_factors);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

// Every weight of `b` equals `expect(weight of a)` bit for bit.
template <typename Expect>
void expect_weights(const LlamaWeights& a, const LlamaWeights& b, Expect expect) {
  std::vector<const float*> mine;
  std::vector<std::int64_t> sizes;
  std::vector<std::string> names;
  a.for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    mine.push_back(data);
    sizes.push_back(n);
    names.push_back(name);
  });
  std::size_t k = 0;
  b.for_each([&](const std::string& name, const std::vector<std::int64_t>&, float* data) {
    ASSERT_LT(k, names.size());
    ASSERT_EQ(name, names[k]);
    for (std::int64_t i = 0; i < sizes[k]; ++i) {
      const float want = expect(mine[k][i]), got = data[i];
      ASSERT_EQ(std::memcmp(&want, &got, 4), 0) << name << "[" << i << "]: " << got << " != " << want;
    }
    ++k;
  });
  EXPECT_EQ(k, names.size());
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HfConfigWrite, FixturesRoundTrip) {
  for (const fs::path& dir : fixture_models()) {
    SCOPED_TRACE(dir.filename().string());
    const ModelConfig c = read_hf_config(dir);
    const fs::path out = fresh_dir("config_" + dir.filename().string()) / "config.json";
    write_hf_config(c, out, DType::F32);
    expect_same_config(c, read_hf_config(out));
    // Both forms say the same: transformers 5's rope_parameters, and 4's rope_theta + rope_scaling.
    const json j = load_json(out);
    EXPECT_EQ(j["architectures"], json::array({"LlamaForCausalLM"}));
    EXPECT_EQ(j["rope_parameters"]["rope_theta"], j["rope_theta"]);
    if (c.rope_scaling == RopeScaling::None) {
      EXPECT_TRUE(j["rope_scaling"].is_null());
    } else {
      EXPECT_EQ(j["rope_scaling"]["factor"], j["rope_parameters"]["factor"]);
    }
    EXPECT_EQ(j["dtype"], "float32");
    EXPECT_EQ(j["torch_dtype"], "float32");
    // And the transformers 4 form alone reads back the same.
    json v4 = j;
    v4.erase("rope_parameters");
    write_file_atomic(out, v4.dump());
    expect_same_config(c, read_hf_config(out));
  }
}

TEST(HfConfigWrite, GgufStyleValuesRoundTripExactly) {
  ModelConfig c = read_hf_config(k_fixtures / "llama" / "mha_tied");
  c.rms_norm_eps = static_cast<double>(1e-5f);  // a GGUF's float32, widened
  c.rope_theta = 100000.0;
  c.bos_token_id = -1;
  c.eos_token_ids = {7};
  const fs::path out = fresh_dir("config_gguf_style") / "config.json";
  write_hf_config(c, out, DType::BF16);
  expect_same_config(c, read_hf_config(out));
  const json j = load_json(out);
  EXPECT_TRUE(j["bos_token_id"].is_null());
  EXPECT_EQ(j["eos_token_id"], 7);  // one id: a number, as HF writes it
  EXPECT_EQ(j["dtype"], "bfloat16");
  EXPECT_NE(error_of([&] { hf_config_json(c, DType::F64, "x/config.json"); }).find("F64"), std::string::npos);
}

TEST(HfConfigWrite, RopeFreqFactorsBecomeLlama3Scaling) {
  // A Llama 3.1+ GGUF carries its llama3 scaling as rope_freqs.weight (factors as llama.cpp's
  // converter computes them); config.json names the scaling instead, and the inverse frequencies
  // must come out the same.
  const ModelConfig l3 = read_hf_config(k_fixtures / "llama" / "gqa4_llama3_rope");
  ModelConfig gguf = l3;
  gguf.rope_scaling = RopeScaling::None;
  gguf.rope_factor = 1.0;
  const double low = l3.rope_original_max_position / l3.rope_low_freq_factor;
  const double high = l3.rope_original_max_position / l3.rope_high_freq_factor;
  for (std::int64_t i = 0; i < l3.head_dim / 2; ++i) {
    const double wavelen = 2 * M_PI * std::pow(l3.rope_theta, 2.0 * i / l3.head_dim);
    double f = 1.0;
    if (wavelen > low) {
      f = l3.rope_factor;
    } else if (wavelen >= high) {
      const double smooth = (l3.rope_original_max_position / wavelen - l3.rope_low_freq_factor) /
                            (l3.rope_high_freq_factor - l3.rope_low_freq_factor);
      f = 1.0 / ((1 - smooth) / l3.rope_factor + smooth);
    }
    gguf.rope_freq_factors.push_back(static_cast<float>(f));
  }
  const fs::path out = fresh_dir("config_rope_freqs") / "config.json";
  write_hf_config(gguf, out, DType::F32);
  const ModelConfig back = read_hf_config(out);
  expect_same_config(l3, back);
  const std::vector<float> want = rope_inv_freq(gguf), got = rope_inv_freq(back);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6 * want[i]) << i;
  // Factors that are not llama3 scaling cannot be said in config.json.
  gguf.rope_freq_factors[1] *= 1.5f;
  EXPECT_NE(error_of([&] { write_hf_config(gguf, out, DType::F32); }).find("rope_freqs.weight"), std::string::npos);
  // Factors of 1 are no scaling at all.
  gguf.rope_freq_factors.assign(gguf.rope_freq_factors.size(), 1.0f);
  write_hf_config(gguf, out, DType::F32);
  EXPECT_EQ(read_hf_config(out).rope_scaling, RopeScaling::None);
}

TEST(ExportHf, F32ReloadsBitIdenticalWithEqualConfig) {
  const fs::path base = hf_tokenizer_base("f32");
  for (const fs::path& dir : fixture_models()) {
    SCOPED_TRACE(dir.filename().string());
    const auto weights = load_llama_model(dir);
    const fs::path out = fresh_dir("f32_" + dir.filename().string());
    const auto files = write_hf_model_dir(*weights, base, out, {});
    for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                             "generation_config.json"}) {
      EXPECT_TRUE(std::find(files.begin(), files.end(), out / name) != files.end()) << name;
      EXPECT_TRUE(fs::exists(out / name)) << name;
    }
    EXPECT_EQ(files.size(), 5u);
    const auto back = load_llama_model(out);
    expect_same_config(weights->config, back->config);
    expect_weights(*weights, *back, [](float x) { return x; });
    // Untied models carry lm_head; tied ones do not (transformers ties it again).
    const SafetensorsFile st = SafetensorsFile::open(out / "model.safetensors");
    EXPECT_EQ(st.find("lm_head.weight") != nullptr, !weights->config.tie_word_embeddings);
    EXPECT_EQ(st.metadata().at("format"), "pt");
    // The tokenizer files of an HF base are copied byte for byte.
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
      EXPECT_EQ(read_file(out / name, name), read_file(base / name, name)) << name;
    // generation_config.json keeps the base's settings and stops on every end token.
    const json gen = load_json(out / "generation_config.json");
    EXPECT_EQ(gen["temperature"], 0.7);
    const Tokenizer tok = load_model_tokenizer(out);
    std::vector<std::int64_t> eos = gen["eos_token_id"].get<std::vector<std::int64_t>>();
    for (std::int64_t id : std::vector<std::int64_t>{3, 2, tok.eot()}) {  // base, config (2, 3), tokenizer
      if (id < weights->config.vocab_size) {
        EXPECT_NE(std::find(eos.begin(), eos.end(), id), eos.end()) << id;
      }
    }
  }
}

TEST(ExportHf, NarrowDtypesHoldRoundedValues) {
  const fs::path base = hf_tokenizer_base("narrow");
  const auto weights = load_llama_model(k_fixtures / "llama" / "gqa2_untied_hd32");
  for (DType dtype : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const fs::path out = fresh_dir(std::string("narrow_") + std::string(dtype_name(dtype)));
    write_hf_model_dir(*weights, base, out, {.dtype = dtype});
    const SafetensorsFile st = SafetensorsFile::open(out / "model.safetensors");
    for (const SafetensorsTensor& t : st.tensors()) EXPECT_EQ(t.dtype, dtype) << t.name;
    EXPECT_EQ(load_json(out / "config.json")["dtype"], dtype == DType::BF16 ? "bfloat16" : "float16");
    const auto back = load_llama_model(out);
    expect_same_config(weights->config, back->config);
    if (dtype == DType::BF16) {
      expect_weights(*weights, *back, [](float x) { return bf16_to_fp32(fp32_to_bf16(x)); });
    } else {
      expect_weights(*weights, *back, [](float x) { return fp16_to_fp32(fp32_to_fp16(x)); });
    }
  }
  EXPECT_NE(error_of([&] { write_hf_model_dir(*weights, base, fresh_dir("i8"), {.dtype = DType::I8}); }).find("I8"),
            std::string::npos);
  EXPECT_NE(error_of([&] { write_hf_model_dir(*weights, base, k_tmp / "missing" / "dir", {}); }).find("does not exist"),
            std::string::npos);
}

TEST(ExportHf, ShardsWithIndexReloadTheSame) {
  const fs::path base = hf_tokenizer_base("sharded");
  const auto weights = load_llama_model(k_fixtures / "llama" / "gqa2_untied_hd32");
  const std::int64_t limit = 100'000;  // bytes; the model has about 520 KB of fp32 weights
  const fs::path out = fresh_dir("sharded");
  const auto files = write_hf_model_dir(*weights, base, out, {.max_shard_bytes = limit});
  EXPECT_FALSE(fs::exists(out / "model.safetensors"));
  const json index = load_json(out / "model.safetensors.index.json");
  std::set<std::string> shard_files;
  for (const auto& [name, file] : index["weight_map"].items()) shard_files.insert(file.get<std::string>());
  ASSERT_GE(shard_files.size(), 5u);
  std::int64_t total = 0;
  std::size_t k = 0;
  for (const std::string& file : shard_files) {
    char expected[64];
    std::snprintf(expected, sizeof expected, "model-%05zu-of-%05zu.safetensors", ++k, shard_files.size());
    EXPECT_EQ(file, expected);
    EXPECT_NE(std::find(files.begin(), files.end(), out / file), files.end());
    const SafetensorsFile st = SafetensorsFile::open(out / file);
    std::int64_t bytes = 0;
    for (const SafetensorsTensor& t : st.tensors()) bytes += static_cast<std::int64_t>(t.nbytes);
    EXPECT_TRUE(bytes <= limit || st.tensors().size() == 1) << file << ": " << bytes << " bytes";
    EXPECT_EQ(st.metadata().at("format"), "pt");
    total += bytes;
  }
  EXPECT_EQ(index["metadata"]["total_size"].get<std::int64_t>(), total);
  EXPECT_EQ(index["metadata"]["total_size"].get<std::int64_t>(), weights->num_parameters() * 4);
  EXPECT_EQ(index["weight_map"].size(), 2u + 9u * 2u + 1u);  // embed, norm, lm_head; 9 per layer
  const auto back = load_llama_model(out);
  expect_same_config(weights->config, back->config);
  expect_weights(*weights, *back, [](float x) { return x; });
}

TEST(ExportHf, GgufBaseGetsASerializedTokenizer) {
  ASSERT_TRUE(fs::exists(k_smollm2_gguf)) << k_smollm2_gguf << " is missing; run tools/fetch_models.sh";
  // Fixture weights, the real GGUF's tokenizer and chat template.
  const auto weights = load_llama_model(k_fixtures / "llama" / "mha_tied");
  const fs::path out = fresh_dir("gguf_base");
  write_hf_model_dir(*weights, k_smollm2_gguf, out, {});
  const Tokenizer original = load_model_tokenizer(k_smollm2_gguf);
  const Tokenizer exported = load_model_tokenizer(out);
  EXPECT_EQ(exported.hash(), original.hash());
  EXPECT_EQ(exported.bos(), original.bos());
  EXPECT_EQ(exported.eos(), original.eos());
  EXPECT_EQ(exported.eot(), original.eot());
  EXPECT_EQ(exported.pad(), original.pad());
  for (const char* text : {"Hello, world!", "1234567 apples", "<|im_start|>user\nHi<|im_end|>\n"})
    EXPECT_EQ(exported.encode(text, true), original.encode(text, true)) << text;
  const auto template_in = load_model_chat_template(k_smollm2_gguf), template_out = load_model_chat_template(out);
  ASSERT_TRUE(template_in && template_out);
  EXPECT_EQ(template_out->text, template_in->text);
  const json config = load_json(out / "tokenizer_config.json");
  EXPECT_EQ(config["tokenizer_class"], "PreTrainedTokenizerFast");
  EXPECT_EQ(config["eos_token"], "<|im_end|>");
  EXPECT_EQ(config["add_bos_token"], false);
  EXPECT_EQ(config["model_max_length"], weights->config.max_position_embeddings);
  const json gen = load_json(out / "generation_config.json");
  std::vector<std::int64_t> eos = gen["eos_token_id"].get<std::vector<std::int64_t>>();
  EXPECT_NE(std::find(eos.begin(), eos.end(), original.eot()), eos.end());
}

TEST(ExportHf, HfBaseWithoutTokenizerConfigGetsOne) {
  const fs::path base = fresh_dir("base_tokenizer_only");
  fs::copy_file(k_fixtures / "tokenizers" / "llama3" / "tokenizer.json", base / "tokenizer.json");
  const auto weights = load_llama_model(k_fixtures / "llama" / "mha_tied");
  const fs::path out = fresh_dir("tokenizer_only");
  write_hf_model_dir(*weights, base, out, {});
  EXPECT_EQ(read_file(out / "tokenizer.json", "t"), read_file(base / "tokenizer.json", "t"));
  const json config = load_json(out / "tokenizer_config.json");
  EXPECT_EQ(config["bos_token"], "<|begin_of_text|>");  // the post-processor's BOS
  EXPECT_EQ(config["add_bos_token"], true);
  const Tokenizer tok = load_model_tokenizer(out);
  EXPECT_EQ(tok.bos(), *tok.token_id("<|begin_of_text|>"));
  EXPECT_EQ(tok.encode("x", true).front(), tok.bos());
}

TEST(ExportHf, TokenizerAndTemplateOverridesGoWithTheModel) {
  // A recipe's model.tokenizer / model.chat_template replace the base model's: the export carries
  // what training used. The fixture model has no tokenizer of its own.
  const fs::path qwen2 = k_fixtures / "tokenizers" / "qwen2";
  const auto weights = load_llama_model(k_fixtures / "llama" / "mha_tied");
  const fs::path out = fresh_dir("overrides");
  write_hf_model_dir(*weights, k_fixtures / "llama" / "mha_tied", out,
                     {.tokenizer_json = qwen2 / "tokenizer.json", .chat_template = "chatml"});
  EXPECT_EQ(read_file(out / "tokenizer.json", "t"), read_file(qwen2 / "tokenizer.json", "t"));
  const json config = load_json(out / "tokenizer_config.json"), source = load_json(qwen2 / "tokenizer_config.json");
  EXPECT_EQ(config["eos_token"], source["eos_token"]);
  const auto chatml = load_model_chat_template(k_fixtures, "chatml");
  ASSERT_TRUE(chatml);
  EXPECT_EQ(config["chat_template"], chatml->text);
  EXPECT_EQ(load_model_chat_template(out)->text, chatml->text);
  EXPECT_EQ(load_model_tokenizer(out).hash(), Tokenizer::from_tokenizer_json(qwen2 / "tokenizer.json").hash());
  // Without overrides and without a tokenizer the base model cannot be exported: say so.
  const std::string e = error_of([&] { write_hf_model_dir(*weights, k_fixtures / "llama" / "mha_tied", fresh_dir("none"), {}); });
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
}

}  // namespace
}  // namespace slm
