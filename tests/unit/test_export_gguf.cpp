// test_export_gguf.cpp — the GGUF writer and the llama.cpp exports:
//  - quantize() to F16 / BF16 / Q8_0 bit for bit against PyPI gguf (tests/fixtures/gguf_write,
//    tools/fixtures/gguf_write.py), and a whole file byte-identical to gguf.GGUFWriter's;
//  - every metadata value type and raw quantized tensors round-trip through GgufFile;
//  - malformed writer input (duplicate names and keys, bad shapes, out-of-range values) throws,
//    and a failing tensor source leaves neither a temporary file nor a damaged old file;
//  - write_gguf_model on every fixture model (tests/fixtures/llama) in F32, F16, BF16 and Q8_0,
//    reloaded by load_llama_model: F32 weights bit-identical after the q/k permutation and its
//    inverse, F16 / BF16 equal to their rounding, Q8_0 equal to quantize -> dequantize, the same
//    config, and the same logits;
//  - the tokenizer metadata built from tokenizer.json: the real SmolLM2 GGUF's own (from
//    llama.cpp's converter) for SmolLM2, and for SmolLM2, Llama 3 and Qwen 2 the exported GGUF's
//    tokenizer encodes the 1,101-string corpus as transformers does; an HF-directory base gives a
//    GGUF with weights and tokenizer; a base whose tokenizer does not fit the model is an error;
//  - write_gguf_lora: A and B rebuilt from the tensors (undoing the permutation of lora_b),
//    llama.cpp's scale alpha / r, the rsLoRA rescaling, DoRA refused.
// The disabled ExportGgufTool test writes tokenizer GGUFs for tools/verify_export_gguf.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdlib>  // getenv, for the verification helper
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "checkpoints/dtype.h"
#include "checkpoints/export_gguf.h"
#include "checkpoints/export_gguf_tokenizer.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/gguf_quants.h"
#include "checkpoints/gguf_write.h"
#include "checkpoints/model_loader.h"
#include "data/model_assets.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

const fs::path k_fixtures = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures";

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << p << "; run tools/make_fixtures.py gguf_write";
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> read_floats(const fs::path& p) {
  const Bytes b = read_bytes(p);
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

json load_json(const fs::path& p) { return json::parse(read_file(p, "fixture")); }

// A fresh directory under the system temp dir, removed with its contents.
struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("slm_test_export_gguf." + std::to_string(::getpid()) + "." + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

GgmlType type_named(const std::string& name) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0})
    if (ggml_type_name(t) == name) return t;
  ADD_FAILURE() << "no type " << name;
  return GgmlType::F32;
}

std::size_t bytes_for(GgmlType t, std::int64_t n) {
  return static_cast<std::size_t>(n / ggml_block_elements(t)) * ggml_block_bytes(t);
}

// --- quantization and the writer against gguf-py -----------------------------------------------

TEST(GgufQuantize, MatchesGgufPyBitForBit) {
  const fs::path dir = k_fixtures / "gguf_write";
  const std::vector<float> x = read_floats(dir / "input.f32");
  ASSERT_EQ(x.size(), load_json(dir / "index.json").at("elements").get<std::size_t>());
  for (const char* name : {"F16", "BF16", "Q8_0"}) {
    const GgmlType t = type_named(name);
    const Bytes want = read_bytes(dir / "quant" / (std::string(name) + ".bin"));
    Bytes got(bytes_for(t, static_cast<std::int64_t>(x.size())));
    quantize(t, x.data(), got.data(), static_cast<std::int64_t>(x.size()));
    ASSERT_EQ(got.size(), want.size()) << name;
    std::size_t first = got.size();
    for (std::size_t i = 0; i < got.size() && first == got.size(); ++i)
      if (got[i] != want[i]) first = i;
    EXPECT_EQ(first, got.size()) << name << ": first differing byte " << first << " (block of "
                                  << ggml_block_bytes(t) << " bytes: " << first / ggml_block_bytes(t) << ")";
  }
  Bytes f32(x.size() * 4);
  quantize(GgmlType::F32, x.data(), f32.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_EQ(std::memcmp(f32.data(), x.data(), f32.size()), 0);
  EXPECT_THROW(quantize(GgmlType::Q8_0, x.data(), f32.data(), 33), Error);   // not whole blocks
  EXPECT_THROW(quantize(GgmlType::Q4_K, x.data(), f32.data(), 256), Error);  // not a type we write
}

GgufValue value_from_json(const json& m) {
  const std::string type = m.at("type");
  const json& v = m.at("value");
  auto scalar_type = [](const std::string& t) {
    for (std::uint32_t i = 0; i <= 12; ++i)
      if (gguf_value_type_name(static_cast<GgufValueType>(i)) == t) return static_cast<GgufValueType>(i);
    ADD_FAILURE() << "type " << t;
    return GgufValueType::UINT8;
  };
  std::function<GgufValue(GgufValueType, const json&)> make = [&](GgufValueType t, const json& x) -> GgufValue {
    if (t == GgufValueType::STRING) return gguf_value_string(x.get<std::string>());
    if (t == GgufValueType::BOOL) return gguf_value_bool(x.get<bool>());
    if (t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64) return gguf_value_float(t, x.get<double>());
    if (t == GgufValueType::UINT64) return gguf_value_int(t, static_cast<std::int64_t>(x.get<std::uint64_t>()));
    return gguf_value_int(t, x.get<std::int64_t>());
  };
  if (type != "ARRAY") return make(scalar_type(type), v);
  const GgufValueType sub = scalar_type(m.at("sub"));
  if (sub == GgufValueType::STRING) return gguf_value_string_array(v.get<std::vector<std::string>>());
  if (sub == GgufValueType::FLOAT32) return gguf_value_float_array(sub, v.get<std::vector<double>>());
  if (sub == GgufValueType::ARRAY) {
    std::vector<GgufValue> inner;
    for (const json& a : v) inner.push_back(gguf_value_int_array(GgufValueType::INT32, a.get<std::vector<std::int64_t>>()));
    return gguf_value_array_of_arrays(std::move(inner));
  }
  std::vector<std::int64_t> ints;
  for (const json& a : v) ints.push_back(a.is_boolean() ? a.get<bool>() : a.get<std::int64_t>());
  return gguf_value_int_array(sub, std::move(ints));
}

TEST(GgufWriter, ByteIdenticalToGgufPyWriter) {
  const fs::path dir = k_fixtures / "gguf_write";
  const json ref = load_json(dir / "index.json").at("reference");
  const std::vector<float> values = read_floats(dir / "reference_tensors.f32");
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  for (const json& m : ref.at("metadata"))
    if (m.at("key") != "general.alignment") w.set(m.at("key"), value_from_json(m));  // the writer appends it
  std::size_t at = 0;
  for (const json& t : ref.at("tensors")) {
    std::vector<std::int64_t> dims = t.at("dims");
    std::int64_t n = 1;
    for (std::int64_t d : dims) n *= d;
    w.add_tensor(t.at("name"), dims, type_named(t.at("type")), values.data() + at);
    at += static_cast<std::size_t>(n);
  }
  ASSERT_EQ(at, values.size());
  TempDir tmp;
  w.write(tmp.path / "out.gguf");
  const Bytes got = read_bytes(tmp.path / "out.gguf"), want = read_bytes(dir / "reference.gguf");
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "files differ";
  const GgufFile f = GgufFile::open(tmp.path / "out.gguf");  // and our reader validates it
  EXPECT_EQ(static_cast<std::uint64_t>(f.get("test.u64").ints[0]), 18000000000000000000ull);
  EXPECT_EQ(f.get_string("test.string"), "h\xC3\xA9llo, w\xC3\xB6rld \xE2\x9C\x93");
}

TEST(GgufWriter, CopiesEveryValueTypeAndRawTensors) {
  // Every key and tensor of the reader's fixture (written by gguf-py, alignment 64, quantized
  // tensors of several types) copied through the writer reads back the same.
  const GgufFile src = GgufFile::open(k_fixtures / "gguf" / "small.gguf");
  GgufWriter w;
  for (const std::string& key : src.keys()) w.set(key, src.get(key));
  for (const GgufTensor& t : src.tensors()) w.add_tensor_raw(t.name, t.dims, t.type, t.data);
  TempDir tmp;
  w.write(tmp.path / "copy.gguf");
  const GgufFile f = GgufFile::open(tmp.path / "copy.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  ASSERT_EQ(f.keys(), src.keys());
  for (const std::string& key : src.keys()) {
    EXPECT_EQ(f.get(key).type_text(), src.get(key).type_text()) << key;
    EXPECT_EQ(f.value_text(key, 1000), src.value_text(key, 1000)) << key;
  }
  ASSERT_EQ(f.tensors().size(), src.tensors().size());
  for (const GgufTensor& t : src.tensors()) {
    const GgufTensor* g = f.find_tensor(t.name);
    ASSERT_NE(g, nullptr) << t.name;
    EXPECT_EQ(g->type, t.type);
    EXPECT_EQ(g->dims, t.dims);
    EXPECT_EQ(g->offset % 64, 0u);
    ASSERT_EQ(g->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(g->data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(GgufWriter, RejectsMalformedInput) {
  const std::vector<float> data(64 * 4, 0.5f);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  EXPECT_THROW(w.set_string("general.architecture", "again"), Error);  // duplicate key
  EXPECT_THROW(w.set_string("", "x"), Error);
  EXPECT_THROW(w.set("x.u8", gguf_value_int(GgufValueType::UINT8, 300)), Error);
  EXPECT_THROW(w.set("x.i32s", gguf_value_int_array(GgufValueType::INT32, {1, 1LL << 40})), Error);
  GgufValue two = gguf_value_string("a");
  two.strings.push_back("b");
  EXPECT_THROW(w.set("x.two", two), Error);  // a scalar with two values
  GgufValue mixed = gguf_value_int_array(GgufValueType::INT32, {1});
  mixed.strings.push_back("s");
  EXPECT_THROW(w.set("x.mixed", mixed), Error);
  EXPECT_THROW(w.set("general.alignment", gguf_value_int(GgufValueType::UINT32, 48)), Error);
  EXPECT_THROW(w.set("general.alignment", gguf_value_string("32")), Error);
  w.add_tensor("a.weight", {64, 4}, GgmlType::Q8_0, data.data());
  EXPECT_THROW(w.add_tensor("a.weight", {64, 4}, GgmlType::F32, data.data()), Error);  // duplicate name
  EXPECT_THROW(w.add_tensor("b", {}, GgmlType::F32, data.data()), Error);              // no dims
  EXPECT_THROW(w.add_tensor("b", {1, 1, 1, 1, 1}, GgmlType::F32, data.data()), Error);  // 5 dims
  EXPECT_THROW(w.add_tensor("b", {64, 0}, GgmlType::F32, data.data()), Error);         // empty
  EXPECT_THROW(w.add_tensor("b", {-64, 1}, GgmlType::F32, data.data()), Error);        // negative
  EXPECT_THROW(w.add_tensor("b", {48, 2}, GgmlType::Q8_0, data.data()), Error);        // not whole blocks
  EXPECT_THROW(w.add_tensor("b", {256}, GgmlType::Q4_K, data.data()), Error);          // we do not quantize Q4_K
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), {4}, GgmlType::F32, data.data()), Error);  // name too long
  EXPECT_THROW(w.add_tensor("b", {4}, GgmlType::F32, static_cast<const float*>(nullptr)), Error);
  EXPECT_THROW(w.add_tensor_raw("b", {4}, GgmlType::F32, nullptr), Error);

  // A source that fails half-way leaves the old file and no temporary file behind.
  TempDir tmp;
  const fs::path out = tmp.path / "model.gguf";
  write_file_atomic(out, "old contents");
  w.add_tensor("c.weight", {64, 2}, GgmlType::F16, [](std::int64_t, std::int64_t, float*) { SLM_FAIL("source broke"); });
  try {
    w.write(out);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("source broke"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(out, "test"), "old contents");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 1);
}

// --- merged model export ----------------------------------------------------------------------------

std::vector<fs::path> fixture_models() {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(k_fixtures / "llama"))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// What `type` stores for these floats, read back as fp32 (the rows of a [rows, cols] tensor).
std::vector<float> stored_as(GgmlType type, const float* x, std::int64_t n) {
  Bytes q(bytes_for(type, n));
  quantize(type, x, q.data(), n);
  std::vector<float> out(static_cast<std::size_t>(n));
  dequantize(type, q.data(), out.data(), n);
  return out;
}

std::vector<float> logits_of(const LlamaWeights& w, const std::vector<std::int32_t>& ids) {
  LlamaRunner runner(w, static_cast<std::int64_t>(ids.size()), static_cast<std::int64_t>(ids.size()));
  std::vector<float> logits(ids.size() * static_cast<std::size_t>(w.config.vocab_size));
  runner.forward(ids, logits.data(), true);
  return logits;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  }
  return worst;
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(float(a.rms_norm_eps), float(b.rms_norm_eps));
  EXPECT_EQ(float(a.rope_theta), float(b.rope_theta));
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  if (a.rope_scaling == RopeScaling::Llama3) {  // GGUF carries it as rope_freqs factors
    EXPECT_EQ(b.rope_freq_factors.size(), static_cast<std::size_t>(a.head_dim / 2));
  } else {
    EXPECT_EQ(a.rope_scaling, b.rope_scaling);
    EXPECT_EQ(float(a.rope_factor), float(b.rope_factor));
  }
}

TEST(ExportGguf, FixtureModelsRoundTripInEveryType) {
  const auto dirs = fixture_models();
  ASSERT_GE(dirs.size(), 5u);
  TempDir tmp;
  for (const fs::path& dir : dirs) {
    auto original = load_llama_model(dir);
    const ModelConfig& c = original->config;
    std::vector<std::int32_t> ids;
    for (std::int32_t i = 0; i < 11; ++i) ids.push_back((i * 37 + 5) % static_cast<std::int32_t>(c.vocab_size));
    const std::vector<float> want_logits = logits_of(*original, ids);
    for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0}) {
      SCOPED_TRACE(dir.filename().string() + " " + std::string(ggml_type_name(type)));
      const fs::path out = tmp.path / (dir.filename().string() + "." + std::string(ggml_type_name(type)) + ".gguf");
      testing::internal::CaptureStderr();
      write_gguf_model(*original, dir, out, type);
      const std::string warning = testing::internal::GetCapturedStderr();
      EXPECT_NE(warning.find("no tokenizer metadata"), std::string::npos) << warning;
      const GgufFile file = GgufFile::open(out);
      EXPECT_EQ(file.get_string("general.architecture"), "llama");
      EXPECT_EQ(file.get_int("general.file_type"), type == GgmlType::F32 ? 0 : type == GgmlType::F16 ? 1 : type == GgmlType::Q8_0 ? 7 : 32);
      EXPECT_EQ(file.find_tensor("token_embd.weight")->type, type);
      EXPECT_EQ(file.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
      EXPECT_EQ(file.find_tensor("output.weight") != nullptr, !c.tie_word_embeddings);
      EXPECT_EQ(file.find_tensor("rope_freqs.weight") != nullptr, c.rope_scaling == RopeScaling::Llama3);
      EXPECT_FALSE(file.has("tokenizer.ggml.tokens"));

      auto reloaded = load_llama_model(out);
      expect_same_config(c, reloaded->config);
      std::map<std::string, std::vector<float>> got;
      reloaded->for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
        std::int64_t n = 1;
        for (std::int64_t d : shape) n *= d;
        got[name].assign(data, data + n);
      });
      original->for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
        ASSERT_TRUE(got.count(name)) << name;
        const std::int64_t n = static_cast<std::int64_t>(got[name].size());
        const std::vector<float> want = shape.size() == 1 ? std::vector<float>(data, data + n) : stored_as(type, data, n);
        std::size_t bad = 0;
        for (std::int64_t i = 0; i < n; ++i)
          bad += std::bit_cast<std::uint32_t>(got[name][i]) != std::bit_cast<std::uint32_t>(want[i]);
        EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << n << " values differ";
      });
      // Logits: the reloaded model's equal those of the original with its 2-D weights replaced
      // by what `type` stores (bit for bit; llama3 scaling goes through rope_freqs factors in the
      // GGUF, equal to float rounding).
      auto stored = load_llama_model(dir);
      stored->for_each([&](const std::string&, const std::vector<std::int64_t>& shape, float* data) {
        if (shape.size() == 1) return;
        const std::vector<float> v = stored_as(type, data, shape[0] * shape[1]);
        std::copy(v.begin(), v.end(), data);
      });
      const std::vector<float> got_logits = logits_of(*reloaded, ids);
      const double diff = max_abs_diff(got_logits, logits_of(*stored, ids));
      const double tolerance = c.rope_scaling == RopeScaling::Llama3 ? 1e-5 : 0.0;
      const double drift = max_abs_diff(got_logits, want_logits);  // the quantization's own error
      EXPECT_LE(drift, type == GgmlType::F32 ? tolerance : 0.1) << "max abs logit change from the original";
      EXPECT_LE(diff, tolerance) << "max abs logit difference";
    }
  }
}

TEST(ExportGguf, OddWidthsFallBackToF16ForQ8_0) {
  ModelConfig c;
  c.vocab_size = 40, c.hidden_size = 48, c.intermediate_size = 80, c.num_layers = 1;
  c.num_heads = 2, c.num_kv_heads = 1, c.head_dim = 24;
  LlamaWeights w(c);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  w.for_each([&](const std::string&, const std::vector<std::int64_t>& shape, float* data) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    for (std::int64_t i = 0; i < n; ++i) data[i] = shape.size() == 1 ? 1.0f + normal(rng) : normal(rng);
  });
  TempDir tmp;
  fs::create_directories(tmp.path / "base");
  testing::internal::CaptureStderr();
  write_gguf_model(w, tmp.path / "base", tmp.path / "odd.gguf", GgmlType::Q8_0);
  testing::internal::GetCapturedStderr();
  const GgufFile f = GgufFile::open(tmp.path / "odd.gguf");
  for (const GgufTensor& t : f.tensors()) EXPECT_EQ(t.type, t.dims.size() == 1 ? GgmlType::F32 : GgmlType::F16) << t.name;
  auto back = load_llama_model(tmp.path / "odd.gguf");
  std::vector<float> first(static_cast<std::size_t>(c.num_heads * c.head_dim * c.hidden_size));
  EXPECT_EQ(stored_as(GgmlType::F16, w.layers[0].q_proj, static_cast<std::int64_t>(first.size())),
            std::vector<float>(back->layers[0].q_proj, back->layers[0].q_proj + first.size()));

  w.layers[0].up_proj[5] = NAN;  // non-finite weights are refused, naming the tensor
  testing::internal::CaptureStderr();
  try {
    write_gguf_model(w, tmp.path / "base", tmp.path / "nan.gguf", GgmlType::F16);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << e.what();
  }
  testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(tmp.path / "nan.gguf"));
  EXPECT_THROW(write_gguf_model(w, tmp.path / "base", tmp.path / "q4.gguf", GgmlType::Q4_K), Error);
  EXPECT_THROW(write_gguf_model(w, tmp.path / "missing", tmp.path / "m.gguf", GgmlType::F16), Error);
}

TEST(ExportGguf, PermuteIsTheInverseOfUnpermute) {
  const std::int64_t heads = 3, head_dim = 8, cols = 5, rows = heads * head_dim;
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  std::vector<float> p = w;
  permute_llama_qk(p.data(), rows, cols, heads);
  EXPECT_NE(p, w);
  for (std::int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(p[static_cast<std::size_t>(r * cols)], w[static_cast<std::size_t>(llama_qk_source_row(r, rows, heads) * cols)]);
  unpermute_llama_qk(p.data(), rows, cols, heads);
  EXPECT_EQ(p, w);
  EXPECT_THROW(permute_llama_qk(p.data(), 6, 5, 2), Error);  // odd head_dim
}

// --- tokenizer metadata from tokenizer.json ---------------------------------------------------------

std::int64_t vocab_size_of(const fs::path& tokenizer_json) {
  const json j = load_json(tokenizer_json);
  std::int64_t n = 0;
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) n = std::max<std::int64_t>(n, it.value().get<std::int64_t>() + 1);
  for (const json& a : j["added_tokens"]) n = std::max<std::int64_t>(n, a["id"].get<std::int64_t>() + 1);
  return n;
}

// A GGUF holding only the tokenizer metadata built from tests/fixtures/tokenizers/<name>.
fs::path tokenizer_gguf(const std::string& name, const fs::path& out_dir) {
  const fs::path dir = k_fixtures / "tokenizers" / name;
  const std::int64_t vocab = vocab_size_of(dir / "tokenizer.json");
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::int64_t>>{
           {"block_count", 1}, {"context_length", 512}, {"embedding_length", 64}, {"feed_forward_length", 128},
           {"attention.head_count", 2}, {"vocab_size", vocab}})  // enough for llama.cpp's vocab-only load
    w.set_u32("llama." + key, static_cast<std::uint32_t>(value));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  for (auto& [key, value] : gguf_tokenizer_from_hf_dir(dir, vocab)) w.set(key, value);
  const fs::path out = out_dir / (name + ".gguf");
  w.write(out);
  return out;
}

TEST(ExportGgufTokenizer, SmolLM2EqualsLlamaCppsConversion) {
  // spec.json holds the tokenizer.ggml.* values of the real SmolLM2-135M-Instruct GGUF, written by
  // llama.cpp's convert_hf_to_gguf from this tokenizer.json.
  TempDir tmp;
  const GgufFile f = GgufFile::open(tokenizer_gguf("smollm2", tmp.path));
  const json spec = load_json(k_fixtures / "tokenizers" / "smollm2" / "spec.json");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), spec["pre"].get<std::string>());
  EXPECT_TRUE(f.get_string_array("tokenizer.ggml.tokens") == spec["tokens"].get<std::vector<std::string>>());
  EXPECT_TRUE(f.get_string_array("tokenizer.ggml.merges") == spec["merges"].get<std::vector<std::string>>());
  std::vector<std::int64_t> types;
  for (const json& run : spec["token_type_runs"]) types.insert(types.end(), run[1].get<std::size_t>(), run[0].get<std::int64_t>());
  EXPECT_TRUE(f.get_int_array("tokenizer.ggml.token_type") == types);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), spec["bos"].get<std::int64_t>());
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), spec["eos"].get<std::int64_t>());
  EXPECT_EQ(f.get_int("tokenizer.ggml.padding_token_id"), spec["pad"].get<std::int64_t>());
  EXPECT_EQ(f.get_int("tokenizer.ggml.unknown_token_id"), 0);  // as in the real GGUF
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), spec["add_bos"].get<bool>());
}

TEST(ExportGgufTokenizer, ExportedTokenizersEncodeAsTransformers) {
  TempDir tmp;
  const std::vector<std::string> strings = load_json(k_fixtures / "tokenizers" / "corpus.json")["strings"];
  for (const std::string name : {"smollm2", "llama3", "qwen2"}) {
    SCOPED_TRACE(name);
    const Tokenizer tok = load_model_tokenizer(tokenizer_gguf(name, tmp.path));
    const json expected = load_json(k_fixtures / "tokenizers" / name / "expected.json");
    // spec_ids: where transformers' own GGUF path differs from tokenizer.json (Qwen 2's NFC).
    int mismatches = 0;
    for (std::size_t i = 0; i < strings.size(); ++i) {
      const std::string key = std::to_string(i);
      const json& want = expected["spec_ids"].contains(key) ? expected["spec_ids"][key] : expected["ids"][i];
      if (tok.encode(strings[i]) != want.get<std::vector<std::int32_t>>() && ++mismatches <= 3)
        ADD_FAILURE() << "corpus[" << i << "] encodes differently";
    }
    EXPECT_EQ(mismatches, 0);
    const json& special = expected["special"];  // add_bos_token: what the post-processor adds
    for (std::size_t k = 0; k < special["index"].size(); ++k) {
      const std::size_t i = special["index"][k];
      if (expected["spec_ids"].contains(std::to_string(i))) continue;
      EXPECT_EQ(tok.encode(strings[i], true), special["ids"][k].get<std::vector<std::int32_t>>()) << "corpus[" << i << "]";
    }
  }
}

TEST(ExportGgufTokenizer, HfDirectoryBaseGivesAWholeModel) {
  // A model whose HF directory holds the Llama 3 fixture tokenizer: the GGUF carries weights and
  // tokenizer, and slmtune reads both back.
  ModelConfig c;
  c.vocab_size = vocab_size_of(k_fixtures / "tokenizers" / "llama3" / "tokenizer.json");
  c.hidden_size = 32, c.intermediate_size = 64, c.num_layers = 1, c.num_heads = 2, c.num_kv_heads = 1, c.head_dim = 16;
  LlamaWeights w(c);
  w.for_each([](const std::string&, const std::vector<std::int64_t>& shape, float* data) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    for (std::int64_t i = 0; i < n; ++i) data[i] = 0.01f * static_cast<float>((i * 7) % 13) - 0.05f;
  });
  TempDir tmp;
  const fs::path base = tmp.path / "hf";
  fs::create_directories(base);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(k_fixtures / "tokenizers" / "llama3" / f, base / f);
  write_gguf_model(w, base, tmp.path / "m.gguf", GgmlType::F16);
  const GgufFile f = GgufFile::open(tmp.path / "m.gguf");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
  const Tokenizer tok = load_model_tokenizer(tmp.path / "m.gguf");
  EXPECT_EQ(tok.encode("Hello world", true), Tokenizer::from_tokenizer_json(base / "tokenizer.json").encode("Hello world", true));
  EXPECT_EQ(load_llama_model(tmp.path / "m.gguf")->config.bos_token_id, tok.bos());

  // The base's tokenizer must fit the model: more ids than embedding rows is an error, from an
  // HF directory and from a GGUF base alike.
  auto small = load_llama_model(k_fixtures / "llama" / "mha_tied");
  try {
    write_gguf_model(*small, base, tmp.path / "x.gguf", GgmlType::F16);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the model's vocabulary"), std::string::npos) << e.what();
  }
  try {
    write_gguf_model(*small, tmp.path / "m.gguf", tmp.path / "x.gguf", GgmlType::F16);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("embedding rows"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.path / "x.gguf"));
}

TEST(ExportGgufTokenizer, UnnamedPreTokenizersAreRefused) {
  const fs::path dir = k_fixtures / "tokenizers" / "edge";  // Split on "||", Digits, add_prefix_space
  try {
    gguf_tokenizer_from_hf_dir(dir, vocab_size_of(dir / "tokenizer.json"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pre_tokenizer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("convert_hf_to_gguf"), std::string::npos) << e.what();
  }
}

// --- LoRA export ------------------------------------------------------------------------------------

LoraSettings all_linear(std::int64_t rank, double alpha) {
  LoraSettings s;
  s.rank = rank;
  s.alpha = alpha;
  s.targets.fill(true);
  return s;
}

void randomize(LoraAdapters& adapters, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  const std::int64_t r = adapters.settings().rank;
  for (const LoraModule& m : adapters.modules()) {
    for (std::int64_t i = 0; i < r * m.in; ++i) m.a[i] = normal(rng);
    for (std::int64_t i = 0; i < m.out * r; ++i) m.b[i] = normal(rng);
  }
}

TEST(ExportGgufLora, TensorsRebuildTheAdapters) {
  auto model = load_llama_model(k_fixtures / "llama" / "gqa2_untied_hd32");
  const ModelConfig& c = model->config;
  LoraAdapters adapters(c, all_linear(4, 8));
  randomize(adapters, 11);
  TempDir tmp;
  for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
    SCOPED_TRACE(std::string(ggml_type_name(type)));
    const fs::path out = tmp.path / "lora.gguf";
    write_gguf_lora(adapters, c, out, type, "gqa2 fixture");
    const GgufFile f = GgufFile::open(out);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_string("general.type"), "adapter");
    EXPECT_EQ(f.get_string("adapter.type"), "lora");
    EXPECT_EQ(f.get("adapter.lora.alpha").type, GgufValueType::FLOAT32);  // llama.cpp reads it as f32 only
    EXPECT_EQ(f.get_float("adapter.lora.alpha"), 8.0);
    ASSERT_EQ(f.tensors().size(), 2 * adapters.modules().size());
    for (const LoraModule& m : adapters.modules()) {
      const std::string base = gguf_tensor_name("model.layers." + std::to_string(m.layer) + "." +
                                                std::string(slot_module_name(m.slot)) + ".weight");
      const GgufTensor* a = f.find_tensor(base + ".lora_a");
      const GgufTensor* b = f.find_tensor(base + ".lora_b");
      ASSERT_TRUE(a && b) << base;
      EXPECT_EQ(a->dims, (std::vector<std::int64_t>{m.in, 4}));  // llama.cpp: a->ne[0] == W's ne[0]
      EXPECT_EQ(b->dims, (std::vector<std::int64_t>{4, m.out}));  // r = b->ne[0], b->ne[1] == W's ne[1]
      EXPECT_EQ(a->type, type);
      std::vector<float> ga(static_cast<std::size_t>(a->num_elements())), gb(static_cast<std::size_t>(b->num_elements()));
      dequantize_tensor(*a, ga.data());
      dequantize_tensor(*b, gb.data());
      if (m.slot == LinearSlot::QProj) unpermute_llama_qk(gb.data(), m.out, 4, c.num_heads);
      if (m.slot == LinearSlot::KProj) unpermute_llama_qk(gb.data(), m.out, 4, c.num_kv_heads);
      EXPECT_EQ(ga, stored_as(type, m.a, 4 * m.in)) << base;
      EXPECT_EQ(gb, stored_as(type, m.b, m.out * 4)) << base;
    }
  }
}

TEST(ExportGgufLora, PermutedLoraEqualsPermutedDelta) {
  // What llama.cpp computes on the GGUF side, W_gguf + (alpha / r) B_gguf A, is the permutation of
  // slmtune's W + s B A: checked for q_proj with the permutation done on the product.
  auto model = load_llama_model(k_fixtures / "llama" / "mqa4_hd64");
  const ModelConfig& c = model->config;
  for (bool rslora : {false, true}) {
    LoraSettings s = all_linear(8, 16);
    s.use_rslora = rslora;
    LoraAdapters adapters(c, s);
    randomize(adapters, 5);
    TempDir tmp;
    write_gguf_lora(adapters, c, tmp.path / "l.gguf", GgmlType::F32, "mqa4");
    const GgufFile f = GgufFile::open(tmp.path / "l.gguf");
    const double alpha = f.get_float("adapter.lora.alpha");
    EXPECT_FLOAT_EQ(static_cast<float>(alpha), rslora ? 16.0f * std::sqrt(8.0f) : 16.0f);
    EXPECT_FLOAT_EQ(static_cast<float>(alpha / 8), s.scale()) << "llama.cpp's alpha / r is slmtune's scale";
    for (LinearSlot slot : {LinearSlot::QProj, LinearSlot::KProj}) {
      const LoraModule& m = *adapters.find(0, slot);
      const std::int64_t heads = slot == LinearSlot::QProj ? c.num_heads : c.num_kv_heads;
      std::vector<float> delta(static_cast<std::size_t>(m.out * m.in), 0.0f);  // s B A, HF rows
      for (std::int64_t o = 0; o < m.out; ++o)
        for (std::int64_t k = 0; k < 8; ++k)
          for (std::int64_t i = 0; i < m.in; ++i) delta[o * m.in + i] += s.scale() * m.b[o * 8 + k] * m.a[k * m.in + i];
      permute_llama_qk(delta.data(), m.out, m.in, heads);
      const std::string base = std::string("blk.0.") + (slot == LinearSlot::QProj ? "attn_q" : "attn_k") + ".weight";
      const GgufTensor* a = f.find_tensor(base + ".lora_a");
      const GgufTensor* b = f.find_tensor(base + ".lora_b");
      const auto* ga = reinterpret_cast<const float*>(a->data);
      const auto* gb = reinterpret_cast<const float*>(b->data);
      double worst = 0;
      for (std::int64_t o = 0; o < m.out; ++o)
        for (std::int64_t i = 0; i < m.in; ++i) {
          float v = 0;
          for (std::int64_t k = 0; k < 8; ++k) v += static_cast<float>(alpha / 8) * gb[o * 8 + k] * ga[k * m.in + i];
          worst = std::max(worst, std::abs(double(v) - delta[o * m.in + i]));
        }
      EXPECT_LE(worst, 1e-5);
    }
  }
}

TEST(ExportGgufLora, RefusesDoraAndOtherTypes) {
  auto model = load_llama_model(k_fixtures / "llama" / "mha_tied");
  LoraSettings s = all_linear(4, 8);
  s.use_dora = true;
  LoraAdapters dora(model->config, s);
  TempDir tmp;
  try {
    write_gguf_lora(dora, model->config, tmp.path / "d.gguf", GgmlType::F16, "x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DoRA"), std::string::npos) << e.what();
  }
  LoraAdapters plain(model->config, all_linear(4, 8));
  EXPECT_THROW(write_gguf_lora(plain, model->config, tmp.path / "q.gguf", GgmlType::Q8_0, "x"), Error);
  EXPECT_FALSE(fs::exists(tmp.path / "d.gguf"));
}

// Not a test: GGUF files holding only the tokenizer metadata built from the fixture tokenizers'
// tokenizer.json (smollm2, llama3, qwen2), for tools/verify_export_gguf.py to load in llama.cpp
// (run with --gtest_also_run_disabled_tests). Writes <SLM_VERIFY_OUT>/tokenizer.<name>.gguf.
TEST(ExportGgufTool, DISABLED_WriteTokenizerGgufs) {
  const char* out = std::getenv("SLM_VERIFY_OUT");
  ASSERT_TRUE(out) << "set SLM_VERIFY_OUT to a directory";
  for (const char* name : {"smollm2", "llama3", "qwen2"}) {
    const fs::path gguf = tokenizer_gguf(name, out);
    fs::rename(gguf, fs::path(out) / ("tokenizer." + std::string(name) + ".gguf"));
  }
}

}  // namespace
}  // namespace slm
