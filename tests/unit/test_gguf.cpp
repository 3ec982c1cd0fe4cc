// test_gguf.cpp — the GGUF reader, dequantization and llama.cpp name mapping against fixtures
// written by PyPI gguf (tools/fixtures/gguf.py): dequantization bit for bit for every type,
// every metadata value type, the tensor table, malformed files (built here by mutating the valid
// fixture in memory) that must throw slm::Error naming the file, the q/k unpermutation against
// transformers' own, and the real SmolLM2 GGUF when tools/fetch_models.sh has fetched it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "checkpoints/gguf.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/gguf_quants.h"
#include "train/core/error.h"

namespace slm {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

fs::path fixture_dir() { return fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures" / "gguf"; }

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << p << "; run tools/make_fixtures.py gguf";
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> read_floats(const fs::path& p) {
  Bytes b = read_bytes(p);
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

const nlohmann::json& index_json() {
  static const nlohmann::json j = [] {
    std::ifstream in(fixture_dir() / "index.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

GgmlType type_named(const std::string& name) {
  for (std::uint32_t n = 0; n < 64; ++n)
    if (auto t = ggml_type_from_number(n); t && ggml_type_name(*t) == name) return *t;
  ADD_FAILURE() << "no type " << name;
  return GgmlType::F32;
}

// Compares float bit patterns; reports the first few differences.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
    if (std::bit_cast<std::uint32_t>(got[i]) != std::bit_cast<std::uint32_t>(want[i])) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
      ++reported;
    }
  }
}

TEST(GgufQuants, EveryTypeMatchesGgufPyBitForBit) {
  const auto& quants = index_json().at("quants");
  ASSERT_EQ(quants.size(), 13u);
  for (const auto& [name, q] : quants.items()) {
    GgmlType type = type_named(name);
    Bytes raw = read_bytes(fixture_dir() / "quants" / (name + ".bin"));
    std::vector<float> want = read_floats(fixture_dir() / "quants" / (name + ".f32"));
    std::int64_t n = q.at("elements");
    ASSERT_EQ(raw.size(),
              static_cast<std::size_t>(n / ggml_block_elements(type)) * ggml_block_bytes(type))
        << name;
    std::vector<float> got(static_cast<std::size_t>(n), -12345.f);
    dequantize(type, raw.data(), got.data(), n);
    expect_same_bits(got, want, name);
  }
}

TEST(GgufQuants, GeometryAndErrors) {
  EXPECT_EQ(ggml_type_name(GgmlType::Q4_K), "Q4_K");
  EXPECT_EQ(ggml_block_elements(GgmlType::Q6_K), 256);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q6_K), 210u);
  EXPECT_EQ(ggml_block_elements(GgmlType::BF16), 1);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q4_1), 20u);
  EXPECT_EQ(ggml_type_number_name(16), "IQ2_XXS");
  float out[64];
  Bytes zeros(1024, 0);
  EXPECT_THROW(dequantize(GgmlType::Q4_0, zeros.data(), out, 33), Error);
  EXPECT_THROW(dequantize(GgmlType::Q8_K, zeros.data(), out, 256), Error);
  EXPECT_NO_THROW(dequantize(GgmlType::Q4_0, zeros.data(), out, 64));
}

// --- metadata and tensor table of the valid fixture -------------------------------------------

TEST(GgufFile, ReadsEveryMetadataValueType) {
  GgufFile f = GgufFile::open(fixture_dir() / "small.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  ASSERT_GE(f.keys().size(), 3u);
  EXPECT_EQ(f.keys()[0], "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("test.u8"), 200);
  EXPECT_EQ(f.get("test.u8").type, GgufValueType::UINT8);
  EXPECT_EQ(f.get_int("test.i8"), -100);
  EXPECT_EQ(f.get_int("test.u16"), 60000);
  EXPECT_EQ(f.get_int("test.i16"), -30000);
  EXPECT_EQ(f.get_int("test.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("test.i32"), -2000000000LL);
  EXPECT_EQ(f.get_float("test.f32"), -2.5);
  EXPECT_TRUE(f.get_bool("test.bool"));
  EXPECT_FALSE(f.get_bool("test.false"));
  EXPECT_EQ(f.get_int("test.bool"), 1);
  EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo, w\xc3\xb6rld");
  EXPECT_EQ(f.get_string("test.empty_string"), "");
  EXPECT_EQ(f.get_int("test.i64"), -9000000000000000000LL);
  EXPECT_EQ(f.get_float("test.f64"), 0.1);
  EXPECT_EQ(f.get_float("test.u32"), 4000000000.0);
  EXPECT_EQ(f.get_float("test.u64"), 18000000000000000000.0);
  EXPECT_EQ(f.get("test.u64").type, GgufValueType::UINT64);
  EXPECT_EQ(f.value_text("test.u64"), "18000000000000000000");
  EXPECT_THROW(f.get_int("test.u64"), Error);  // does not fit int64
  EXPECT_EQ(f.value_text("test.f32"), "-2.5");
  EXPECT_EQ(f.value_text("test.string"), "\"h\xc3\xa9llo, w\xc3\xb6rld\"");
}

TEST(GgufFile, ReadsArrays) {
  GgufFile f = GgufFile::open(fixture_dir() / "small.gguf");
  EXPECT_EQ(f.get_string_array("test.arr_str"),
            (std::vector<std::string>{"a", "", "<|im_start|>", "\xc4\xa0the", "\xe2\x9c\x93"}));
  EXPECT_EQ(f.get_int_array("test.arr_i32"), (std::vector<std::int64_t>{1, -2, 3, -2147483648LL}));
  EXPECT_EQ(f.get_int_array("test.arr_u8"), (std::vector<std::int64_t>{0, 1, 255}));
  EXPECT_EQ(f.get_float_array("test.arr_f32"), (std::vector<double>{0.5, -1.25, 3.0}));
  EXPECT_EQ(f.get_float_array("test.arr_f64"), (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(f.get_int_array("test.arr_bool"), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(f.get_float_array("test.arr_i32"), (std::vector<double>{1, -2, 3, -2147483648.0}));
  EXPECT_THROW(f.get_int_array("test.arr_u64"), Error);  // 1.8e19 does not fit
  EXPECT_EQ(f.get_float_array("test.arr_u64")[1], 18000000000000000000.0);
  const GgufValue& nested = f.get("test.arr_nested");
  EXPECT_EQ(nested.type_text(), "ARRAY[ARRAY[INT32]]");
  ASSERT_EQ(nested.arrays.size(), 2u);
  EXPECT_EQ(nested.arrays[0].ints, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(nested.arrays[1].ints, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(f.value_text("test.arr_nested"), "[[1, 2], [3]]");
  EXPECT_EQ(f.get("test.arr_long").size(), 100u);
  EXPECT_EQ(f.value_text("test.arr_long", 3), "[0, 1, 2, ... (100 total)]");
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").size(), 4u);
}

// Runs `fn`, expecting slm::Error whose message holds every phrase.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& phrases) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << phrases.front();
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : phrases)
      EXPECT_NE(msg.find(p), std::string::npos) << msg << "\nlacks: " << p;
  }
}

TEST(GgufFile, TypeMismatchesNameFileKeyAndType) {
  GgufFile f = GgufFile::open(fixture_dir() / "small.gguf");
  expect_error([&] { f.get_string("test.u32"); }, {"small.gguf", "test.u32", "UINT32", "STRING"});
  expect_error([&] { f.get_int("test.string"); }, {"small.gguf", "test.string", "STRING"});
  expect_error([&] { f.get_bool("test.u8"); }, {"small.gguf", "test.u8", "UINT8"});
  expect_error([&] { f.get_float("test.arr_f32"); }, {"test.arr_f32", "ARRAY[FLOAT32]"});
  expect_error([&] { f.get_string_array("test.arr_i32"); }, {"test.arr_i32", "ARRAY[INT32]"});
  expect_error([&] { f.get_int_array("test.arr_f32"); }, {"test.arr_f32", "ARRAY[FLOAT32]"});
  expect_error([&] { f.get("no.such.key"); }, {"small.gguf", "no.such.key", "missing"});
  EXPECT_FALSE(f.has("no.such.key"));
  EXPECT_TRUE(f.has("test.f64"));
}

TEST(GgufFile, TensorTableAndData) {
  GgufFile f = GgufFile::open(fixture_dir() / "small.gguf");
  const auto& small = index_json().at("small");
  EXPECT_EQ(f.data_offset(), small.at("data_offset").get<std::size_t>());
  ASSERT_EQ(f.tensors().size(), small.at("tensors").size());
  std::size_t i = 0;
  for (const auto& want : small.at("tensors")) {
    const GgufTensor& t = f.tensors()[i++];
    std::string name = want.at("name");
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(ggml_type_name(t.type), want.at("type").get<std::string>());
    EXPECT_EQ(t.dims, want.at("dims").get<std::vector<std::int64_t>>()) << name;
    EXPECT_EQ(t.offset, want.at("offset").get<std::uint64_t>()) << name;
    EXPECT_EQ(t.nbytes, want.at("nbytes").get<std::size_t>()) << name;
    EXPECT_EQ(f.find_tensor(name), &t);
    std::vector<float> got(static_cast<std::size_t>(t.num_elements()));
    dequantize_tensor(t, got.data());
    expect_same_bits(got, read_floats(fixture_dir() / "small" / (name + ".f32")), name);
  }
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

// --- malformed files ---------------------------------------------------------------------------

class GgufMalformed : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = read_bytes(fixture_dir() / "small.gguf");
    // One file per test and process: CTest runs tests in parallel processes, and a file that
    // another process truncates under our memory map raises SIGBUS.
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::path(::testing::TempDir()) /
            ("slm_malformed_" + std::string(test->name()) + "_" + std::to_string(::getpid()) + ".gguf");
  }
  void TearDown() override { fs::remove(path_); }

  // Writes `bytes` and expects open() to throw an Error naming the file and every phrase.
  void write(const Bytes& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  void expect_rejected(const Bytes& bytes, std::vector<std::string> phrases) {
    write(bytes);
    phrases.insert(phrases.begin(), path_.string());
    phrases.push_back("byte ");
    expect_error([&] { GgufFile::open(path_); }, phrases);
  }
  // Offset just past the length-prefixed string `s` in the valid file.
  std::size_t after_string(const std::string& s) const {
    Bytes needle(8, 0);
    for (int i = 0; i < 8; ++i) needle[i] = static_cast<std::uint8_t>(s.size() >> (8 * i));
    needle.insert(needle.end(), s.begin(), s.end());
    auto it = std::search(good_.begin(), good_.end(), needle.begin(), needle.end());
    EXPECT_NE(it, good_.end()) << s;
    return static_cast<std::size_t>(it - good_.begin()) + needle.size();
  }
  template <typename T>
  Bytes with(std::size_t at, T value) const {
    Bytes b = good_;
    std::memcpy(b.data() + at, &value, sizeof(T));
    return b;
  }
  // Offset of the type field and of the data-offset field of a tensor's info.
  std::size_t tensor_type_at(const std::string& name) const {
    std::size_t at = after_string(name);
    std::uint32_t n_dims;
    std::memcpy(&n_dims, good_.data() + at, 4);
    return at + 4 + 8 * n_dims;
  }
  std::size_t tensor_offset_at(const std::string& name) const { return tensor_type_at(name) + 4; }

  Bytes good_;
  fs::path path_;
};

TEST_F(GgufMalformed, EveryTruncationIsRejected) {
  const auto& small = index_json().at("small");
  std::size_t data_end = 0;  // the file may end in padding after the last tensor's data
  for (const auto& t : small.at("tensors"))
    data_end = std::max<std::size_t>(
        data_end, t.at("offset").get<std::size_t>() + t.at("nbytes").get<std::size_t>());
  data_end += small.at("data_offset").get<std::size_t>();
  ASSERT_LE(data_end, good_.size());
  std::size_t header_end = small.at("data_offset");
  for (std::size_t len = 0; len < data_end; len += (len < header_end ? 1 : 13)) {
    SCOPED_TRACE("prefix of " + std::to_string(len) + " bytes");
    expect_rejected(Bytes(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(len)), {});
  }
}

TEST_F(GgufMalformed, HeaderErrors) {
  Bytes b = good_;
  b[0] = 'X';
  expect_rejected(b, {"bad magic", "not a GGUF file"});
  expect_rejected(with<std::uint32_t>(0, 0x47475546), {"big-endian"});
  expect_rejected(with<std::uint32_t>(4, 1), {"version 1", "not supported"});
  expect_rejected(with<std::uint32_t>(4, 99), {"unsupported GGUF version 99"});
  write(with<std::uint32_t>(4, 2));
  EXPECT_EQ(GgufFile::open(path_).version(), 2u);  // v2 has v3's layout
  expect_rejected(with<std::uint64_t>(8, std::uint64_t(1) << 60),
                  {"tensor count", "bytes are left"});
  expect_rejected(with<std::uint64_t>(16, std::uint64_t(1) << 60), {"key/value count"});
}

TEST_F(GgufMalformed, OversizedLengthsAreRejectedBeforeAllocating) {
  expect_rejected(with<std::uint64_t>(24, ~std::uint64_t(0) - 3),
                  {"string length", "past the end"});
  std::size_t arr = after_string("test.arr_str");  // u32 ARRAY, u32 elem type, u64 count
  expect_rejected(with<std::uint64_t>(arr + 8, std::uint64_t(1) << 40),
                  {"test.arr_str", "array length"});
  expect_rejected(with<std::uint64_t>(arr + 8, ~std::uint64_t(0)), {"array length"});
  std::size_t str = after_string("test.string");  // u32 STRING, u64 length
  expect_rejected(with<std::uint64_t>(str + 4, 5000), {"string length 5000"});
  std::size_t tok = after_string("tokenizer.ggml.tokens");
  expect_rejected(with<std::uint64_t>(tok + 8, 1000000), {"tokenizer.ggml.tokens", "array length"});
}

TEST_F(GgufMalformed, BadValueTypes) {
  expect_rejected(with<std::uint32_t>(after_string("test.u8"), 13),
                  {"test.u8", "unknown value type 13"});
  std::size_t arr = after_string("test.arr_i32");
  expect_rejected(with<std::uint32_t>(arr + 4, 77),
                  {"test.arr_i32", "unknown array element type 77"});
  expect_rejected(with<std::uint8_t>(after_string("test.bool") + 4, 7),
                  {"test.bool", "neither 0 nor 1"});
  std::size_t key = after_string("test.i8") - 2;  // "test.i8" -> "test.u8": a duplicate key
  expect_rejected(with<std::uint8_t>(key, 'u'), {"test.u8", "appears twice"});
  std::size_t align = after_string("general.alignment");
  expect_rejected(with<std::uint32_t>(align + 4, 48), {"general.alignment", "power of two"});
  expect_rejected(with<std::uint32_t>(align + 4, 0), {"general.alignment", "power of two"});
}

TEST_F(GgufMalformed, BadTensorInfos) {
  expect_rejected(with<std::uint32_t>(tensor_type_at("blk.0.attn_q.weight"), 16),
                  {"blk.0.attn_q.weight", "IQ2_XXS", "does not read"});
  expect_rejected(with<std::uint32_t>(tensor_type_at("blk.0.attn_q.weight"), 1000),
                  {"type 1000", "unknown"});
  std::size_t dims = after_string("blk.0.ffn_up.weight");
  expect_rejected(with<std::uint32_t>(dims, 5), {"blk.0.ffn_up.weight", "5 dimensions"});
  expect_rejected(with<std::uint32_t>(dims, 0), {"0 dimensions"});
  expect_rejected(with<std::uint64_t>(dims + 4, 0), {"ne[0] = 0", "empty"});
  expect_rejected(with<std::uint64_t>(dims + 4, std::uint64_t(1) << 63), {"ne[0]"});
  expect_rejected(with<std::uint64_t>(dims + 12, std::uint64_t(1) << 62),
                  {"ne[1]"});  // 5 * 2^62 overflows
  expect_rejected(with<std::uint64_t>(dims + 4, std::uint64_t(1) << 40),
                  {"more than the whole file"});
  std::size_t q4k = after_string("blk.0.attn_q.weight");
  expect_rejected(with<std::uint64_t>(q4k + 4, 100), {"not a multiple of the block size 256"});
}

TEST_F(GgufMalformed, BadTensorOffsets) {
  std::size_t off = tensor_offset_at("blk.0.ffn_down.weight");
  std::uint64_t orig;
  std::memcpy(&orig, good_.data() + off, 8);
  expect_rejected(with<std::uint64_t>(off, orig + 32),
                  {"blk.0.ffn_down.weight", "not a multiple of the alignment 64"});
  expect_rejected(with<std::uint64_t>(off, orig + (1 << 20)),
                  {"blk.0.ffn_down.weight", "past the end"});
  expect_rejected(with<std::uint64_t>(off, ~std::uint64_t(0) - 63), {"past the end"});
  expect_rejected(with<std::uint64_t>(off, 0), {"overlaps", "token_embd.weight"});
  std::size_t name = after_string("blk.0.attn_k.weight") - 8;  // attn_k -> attn_q: a duplicate
  expect_rejected(with<std::uint8_t>(name, 'q'), {"blk.0.attn_q.weight", "appears twice"});
}

// --- names, permutation, description ----------------------------------------------------------

TEST(GgufNames, MapsBothWays) {
  const std::pair<const char*, const char*> cases[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"},
      {"blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"},
      {"blk.12.attn_v.weight", "model.layers.12.self_attn.v_proj.weight"},
      {"blk.1.attn_output.weight", "model.layers.1.self_attn.o_proj.weight"},
      {"blk.29.attn_norm.weight", "model.layers.29.input_layernorm.weight"},
      {"blk.2.ffn_norm.weight", "model.layers.2.post_attention_layernorm.weight"},
      {"blk.2.ffn_gate.weight", "model.layers.2.mlp.gate_proj.weight"},
      {"blk.2.ffn_up.weight", "model.layers.2.mlp.up_proj.weight"},
      {"blk.2.ffn_down.weight", "model.layers.2.mlp.down_proj.weight"},
      {"blk.4.attn_q_norm.weight", "model.layers.4.self_attn.q_norm.weight"},
  };
  for (const auto& [g, h] : cases) {
    EXPECT_EQ(hf_tensor_name(g), h);
    EXPECT_EQ(gguf_tensor_name(h), g);
  }
  for (const char* bad : {"blk.x.attn_q.weight", "blk.3.attn_qq.weight", "blk.03.attn_q.weight",
                          "blk..attn_q.weight", "blk.3.attn_q", "rope_freqs.weight", ""})
    expect_error([&] { hf_tensor_name(bad); }, {"GGUF tensor", "no Hugging Face name"});
  expect_error([&] { gguf_tensor_name("model.layers.1.mlp.experts.weight"); }, {"no GGUF name"});
}

TEST(GgufNames, UnpermuteMatchesTransformers) {
  for (const char* which : {"q", "k"}) {
    const auto& p = index_json().at("permute").at(which);
    std::int64_t rows = p.at("n_rows"), cols = p.at("n_cols"), heads = p.at("n_heads");
    std::vector<float> both =
        read_floats(fixture_dir() / (std::string("permute_") + which + ".f32"));
    ASSERT_EQ(both.size(), static_cast<std::size_t>(2 * rows * cols));
    std::vector<float> w(both.begin(), both.begin() + rows * cols);
    std::vector<float> want(both.begin() + rows * cols, both.end());
    unpermute_llama_qk(w.data(), rows, cols, heads);
    expect_same_bits(w, want, which);
  }
  std::vector<float> w(12);
  EXPECT_THROW(unpermute_llama_qk(w.data(), 6, 2, 2), Error);  // head_dim 3 is odd
}

TEST(GgufDescribe, SmallFixture) {
  std::string text = describe_gguf(GgufFile::open(fixture_dir() / "small.gguf"));
  for (const char* s : {"GGUF v3", "architecture: llama", "model=gpt2", "pre=smollm",
                        "vocab_size=4", "chat template: \"{% for", "blk.0.attn_q.weight", "Q4_K",
                        "[256, 2]", "tensors per type:", "Q8_0=1", "(100 total)"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
}

// --- the real default model -------------------------------------------------------------------

TEST(GgufRealModel, SmolLM2Q4_1) {
  fs::path path =
      fs::path(SLM_SOURCE_DIR) / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(fs::exists(path)) << path << " is missing; run tools/fetch_models.sh (tools/test.sh does)";
  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 9);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  const GgufTensor* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::Q4_1);
  EXPECT_EQ(q->dims, (std::vector<std::int64_t>{576, 576}));
  std::vector<float> w(static_cast<std::size_t>(q->num_elements()));
  dequantize_tensor(*q, w.data());
  double sum_sq = 0;
  for (float x : w) {
    ASSERT_TRUE(std::isfinite(x));
    sum_sq += double(x) * x;
  }
  EXPECT_GT(sum_sq, 0.0);
  unpermute_llama_qk(w.data(), 576, 576, 9);
  for (const GgufTensor& t : f.tensors())
    EXPECT_EQ(gguf_tensor_name(hf_tensor_name(t.name)), t.name);
  EXPECT_NE(describe_gguf(f).find("Q4_1=210"), std::string::npos);
}

}  // namespace
}  // namespace slm
