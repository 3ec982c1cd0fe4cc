// test_safetensors.cpp — the safetensors reader and writer: the tiny Llama fixtures (single file
// and shards), write -> read round trips, and malformed files built byte by byte (every header
// problem, every truncation length, corrupted header bytes), each of which must be an slm::Error
// naming the file, never a crash. Fixture values below were printed with the Python safetensors
// package from the committed fixtures (tools/fixtures/llama_models.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "checkpoints/safetensors.h"
#include "train/core/error.h"

namespace slm {
namespace {

namespace fs = std::filesystem;

const fs::path k_fixtures = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures";

// A fresh directory under the system temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("slm_st_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text and data bytes (no padding added).
std::string st_bytes(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Opening `path` throws slm::Error whose message names the file and holds every phrase.
void expect_open_error(const fs::path& path, const std::vector<std::string>& phrases) {
  try {
    SafetensorsCheckpoint::open(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    for (const std::string& p : phrases) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  }
}

// --- fixtures ---------------------------------------------------------------------------------

struct FixtureModel {
  const char* name;
  std::int64_t V, D, H, G, E, F;
  bool tied;
  float embed_3_5;  // model.embed_tokens.weight[3, 5]
  float norm_last;  // model.norm.weight[-1]
};
const FixtureModel k_models[] = {
    {"mha_tied", 128, 64, 2, 2, 32, 192, true, 0.06604637950658798f, 1.2374597787857056f},
    {"gqa2_untied_hd32", 160, 64, 4, 2, 32, 160, false, 0.00839459802955389f, 1.2086981534957886f},
    {"mqa4_hd64", 128, 64, 4, 1, 64, 192, false, 0.11177974939346313f, 0.9060742855072021f},
    {"gqa4_llama3_rope", 144, 64, 8, 2, 32, 192, true, 0.13266240060329437f, 1.1831824779510498f},
};

void expect_shape(const SafetensorsCheckpoint& c, const std::string& name, std::vector<std::int64_t> shape) {
  const SafetensorsTensor& t = c.get(name);
  EXPECT_EQ(t.dtype, DType::F32) << name;
  EXPECT_EQ(t.shape, shape) << name;
  EXPECT_EQ(t.nbytes, static_cast<std::size_t>(t.num_elements()) * 4) << name;
}

void expect_llama_tensors(const SafetensorsCheckpoint& c, const FixtureModel& m) {
  EXPECT_EQ(c.names().size(), 2u * 9u + 2u + (m.tied ? 0u : 1u));
  expect_shape(c, "model.embed_tokens.weight", {m.V, m.D});
  expect_shape(c, "model.norm.weight", {m.D});
  EXPECT_EQ(c.find("lm_head.weight") == nullptr, m.tied);
  if (!m.tied) expect_shape(c, "lm_head.weight", {m.V, m.D});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    expect_shape(c, p + "input_layernorm.weight", {m.D});
    expect_shape(c, p + "post_attention_layernorm.weight", {m.D});
    expect_shape(c, p + "self_attn.q_proj.weight", {m.H * m.E, m.D});
    expect_shape(c, p + "self_attn.k_proj.weight", {m.G * m.E, m.D});
    expect_shape(c, p + "self_attn.v_proj.weight", {m.G * m.E, m.D});
    expect_shape(c, p + "self_attn.o_proj.weight", {m.D, m.H * m.E});
    expect_shape(c, p + "mlp.gate_proj.weight", {m.F, m.D});
    expect_shape(c, p + "mlp.up_proj.weight", {m.F, m.D});
    expect_shape(c, p + "mlp.down_proj.weight", {m.D, m.F});
  }
}

TEST(Safetensors, FixtureModels) {
  for (const FixtureModel& m : k_models) {
    SCOPED_TRACE(m.name);
    const auto c = SafetensorsCheckpoint::open(k_fixtures / "llama" / m.name);
    ASSERT_EQ(c.files().size(), 1u);
    EXPECT_EQ(c.files()[0].metadata().at("format"), "pt");
    EXPECT_EQ(c.files()[0].header_size() % 8, 0u);
    expect_llama_tensors(c, m);
    std::vector<float> embed(static_cast<std::size_t>(m.V * m.D));
    read_tensor_fp32(c.get("model.embed_tokens.weight"), embed.data());
    EXPECT_EQ(embed[3 * m.D + 5], m.embed_3_5);
    std::vector<float> norm(static_cast<std::size_t>(m.D));
    read_tensor_fp32(c.get("model.norm.weight"), norm.data());
    EXPECT_EQ(norm.back(), m.norm_last);
    // Tensors are listed in offset order and tile the data section.
    std::uint64_t end = 0;
    for (const SafetensorsTensor& t : c.files()[0].tensors()) {
      EXPECT_EQ(t.begin, end) << t.name;
      end = t.begin + t.nbytes;
    }
  }
}

TEST(Safetensors, ReferenceIdsAndLogits) {
  const auto f = SafetensorsFile::open(k_fixtures / "llama" / "mha_tied" / "reference.safetensors");
  const SafetensorsTensor* ids = f.find("input_ids_0");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype, DType::I64);
  EXPECT_EQ(ids->shape, (std::vector<std::int64_t>{1, 11}));
  std::vector<std::int64_t> values(11);
  std::memcpy(values.data(), ids->data, ids->nbytes);
  EXPECT_EQ(values, (std::vector<std::int64_t>{6, 45, 47, 112, 115, 72, 14, 116, 100, 39, 92}));
  const SafetensorsTensor* logits = f.find("logits_0");
  ASSERT_NE(logits, nullptr);
  EXPECT_EQ(logits->shape, (std::vector<std::int64_t>{1, 11, 128}));
  std::vector<float> l(static_cast<std::size_t>(logits->num_elements()));
  read_tensor_fp32(*logits, l.data());
  EXPECT_EQ(l[10 * 128 + 127], -1.083027720451355f);
  EXPECT_EQ(f.find("logits_1")->shape, (std::vector<std::int64_t>{1, 7, 128}));
  EXPECT_THROW(read_tensor_fp32(*ids, l.data()), Error);  // I64 is not a weight
}

TEST(Safetensors, SmolLM2Reference) {
  const auto f = SafetensorsFile::open(k_fixtures / "smollm2" / "reference.safetensors");
  for (const char* prompt : {"plain", "chat", "code"}) {
    const SafetensorsTensor* ids = f.find(std::string("input_ids_") + prompt);
    const SafetensorsTensor* logits = f.find(std::string("logits_") + prompt);
    ASSERT_TRUE(ids && logits) << prompt;
    EXPECT_EQ(logits->shape, (std::vector<std::int64_t>{1, 4, 49152}));
  }
  EXPECT_EQ(f.find("generated_chat")->shape, (std::vector<std::int64_t>{1, 16}));
  EXPECT_NE(f.metadata().at("fixture").find("\"gguf\": \"SmolLM2-135M-Instruct.Q4_1.gguf\""), std::string::npos);
}

TEST(Safetensors, ShardedCheckpoint) {
  const FixtureModel m{"sharded_linear_rope", 128, 64, 2, 1, 32, 192, false, 0, 0};
  const fs::path dir = k_fixtures / "llama" / m.name;
  const auto c = SafetensorsCheckpoint::open(dir);
  EXPECT_EQ(c.files().size(), 4u);
  expect_llama_tensors(c, m);
  EXPECT_EQ(c.file_of("lm_head.weight")->path().filename(), "model-00004-of-00004.safetensors");
  const auto via_index = SafetensorsCheckpoint::open(dir / "model.safetensors.index.json");
  EXPECT_EQ(via_index.names(), c.names());
  const std::string text = describe_safetensors(c);
  EXPECT_NE(text.find("model-00003-of-00004.safetensors"), std::string::npos);
  EXPECT_NE(text.find("total  115008"), std::string::npos) << text;
}

TEST(Safetensors, GetSuggestsCloseNames) {
  const auto c = SafetensorsCheckpoint::open(k_fixtures / "llama" / "mha_tied");
  try {
    c.get("model.layers.0.self_attn.q_proj.weigth");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mha_tied"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'model.layers.0.self_attn.q_proj.weight'"), std::string::npos) << m;
  }
  try {
    c.get("model.layers.7.block_sparse_moe.gate.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("it holds for example 'model.layers."), std::string::npos) << e.what();
  }
}

// --- writing ----------------------------------------------------------------------------------

TEST(Safetensors, WriteReadRoundTrip) {
  TempDir dir;
  std::vector<float> f32 = {1.5f, -2.25f, 3.0e-8f, INFINITY, -0.0f, 6.0f};
  std::vector<std::uint16_t> f16, bf16;
  for (float v : f32) {
    f16.push_back(fp32_to_fp16(v));
    bf16.push_back(fp32_to_bf16(v));
  }
  std::vector<std::int64_t> ids = {7, -1, 1ll << 40};
  float scalar = 42.0f;
  const std::vector<TensorToWrite> tensors = {
      {"b.f32", DType::F32, {2, 3}, f32.data()},  {"a.ids", DType::I64, {3}, ids.data()},
      {"scalar", DType::F32, {}, &scalar},        {"c.f16", DType::F16, {3, 2}, f16.data()},
      {"empty", DType::F32, {0, 4}, nullptr},     {"d.bf16", DType::BF16, {6}, bf16.data()},
  };
  const fs::path path = dir / "sub" / "out.safetensors";
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "héllo \"quoted\""}});
  EXPECT_FALSE(fs::exists(path.string() + ".tmp." + std::to_string(::getpid())));
  const auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.header_size() % 8, 0u);
  EXPECT_EQ(f.metadata().at("note"), "héllo \"quoted\"");
  ASSERT_EQ(f.tensors().size(), tensors.size());
  std::uint64_t offset = 0;
  for (const TensorToWrite& w : tensors) {
    const SafetensorsTensor* t = f.find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, w.dtype);
    EXPECT_EQ(t->shape, w.shape);
    EXPECT_EQ(t->begin, offset) << "tensors are laid out in the given order";
    if (t->nbytes) {
      EXPECT_EQ(std::memcmp(t->data, w.data, t->nbytes), 0) << w.name;
    }
    offset += t->nbytes;
  }
  EXPECT_EQ(f.find("scalar")->num_elements(), 1);
  EXPECT_EQ(f.find("empty")->num_elements(), 0);
  for (const char* name : {"b.f32", "c.f16", "d.bf16"}) {
    std::vector<float> back(6);
    read_tensor_fp32(*f.find(name), back.data());
    for (std::size_t i = 0; i < 6; ++i) {
      const float expected = name[0] == 'b' ? f32[i] : name[0] == 'c' ? fp16_to_fp32(f16[i]) : bf16_to_fp32(bf16[i]);
      EXPECT_EQ(std::memcmp(&back[i], &expected, 4), 0) << name << " " << i;
    }
  }
  // Rewriting replaces the file atomically.
  write_safetensors(path, std::vector<TensorToWrite>{{"x", DType::U8, {1}, "z"}});
  EXPECT_EQ(SafetensorsFile::open(path).tensors().size(), 1u);
}

TEST(Safetensors, WriteRejectsBadInput) {
  TempDir dir;
  const float v = 1;
  const fs::path path = dir / "bad.safetensors";
  auto expect_write_error = [&](std::vector<TensorToWrite> t, const std::string& phrase) {
    try {
      write_safetensors(path, t);
      ADD_FAILURE() << phrase;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(path));
  };
  expect_write_error({{"a", DType::F32, {1}, &v}, {"a", DType::F32, {1}, &v}}, "given twice");
  expect_write_error({{"", DType::F32, {1}, &v}}, "non-empty");
  expect_write_error({{"__metadata__", DType::F32, {1}, &v}}, "__metadata__");
  expect_write_error({{"a", DType::F32, {-1}, &v}}, "negative");
  expect_write_error({{"a", DType::F32, {1}, nullptr}}, "no data");
  expect_write_error({{"a", DType::F32, {1ll << 40, 1ll << 40}, &v}}, "overflows");
}

TEST(Safetensors, UnalignedHalfTensorsReadCorrectly) {
  TempDir dir;
  // Header of odd length (no padding): the F16 data starts at an odd address in the map.
  std::string header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}})";
  if (header.size() % 2 == 0) header += " ";
  const std::uint16_t h[3] = {fp32_to_fp16(1.0f), fp32_to_fp16(-2.5f), fp32_to_fp16(0.125f)};
  write_bytes(dir / "u.safetensors", st_bytes(header, std::string(reinterpret_cast<const char*>(h), 6)));
  const auto f = SafetensorsFile::open(dir / "u.safetensors");
  float out[3];
  read_tensor_fp32(f.tensors()[0], out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.5f);
  EXPECT_EQ(out[2], 0.125f);
}

// --- malformed files --------------------------------------------------------------------------

struct BadHeader {
  const char* label;
  std::string header;
  std::string data;
  std::vector<std::string> phrases;
};

std::string entry(const std::string& name, const std::string& body) { return "\"" + name + "\":{" + body + "}"; }

TEST(Safetensors, MalformedHeadersAreErrors) {
  const std::string d8(8, 'x');
  const std::vector<BadHeader> cases = {
      {"not json", "{\"a\": nope}", "", {"not valid JSON", "byte 7 of the header", "file offset 15"}},
      {"empty object key", "{\"a\":", "", {"not valid JSON"}},
      {"not an object", "[1, 2, 3]", "", {"must be a JSON object", "array"}},
      {"entry not an object", "{\"a\": 3}", "", {"tensor 'a'", "must be an object"}},
      {"missing dtype", "{" + entry("w", "\"shape\":[2],\"data_offsets\":[0,8]") + "}", d8, {"'w'", "no \"dtype\""}},
      {"missing shape", "{" + entry("w", "\"dtype\":\"F32\",\"data_offsets\":[0,8]") + "}", d8, {"no \"shape\""}},
      {"missing offsets", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[2]") + "}", d8, {"no \"data_offsets\""}},
      {"unknown dtype", "{" + entry("w", "\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]") + "}", d8,
       {"unknown dtype \"F33\""}},
      {"unsupported dtype", "{" + entry("w", "\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]") + "}", d8,
       {"F8_E4M3", "does not read"}},
      {"dtype not string", "{" + entry("w", "\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]") + "}", d8,
       {"\"dtype\" must be a string"}},
      {"negative dim", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]") + "}", d8,
       {"shape[0] = -2", "negative"}},
      {"float dim", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]") + "}", d8,
       {"shape[0] must be an integer"}},
      {"shape not array", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]") + "}", d8,
       {"\"shape\" must be an array"}},
      {"huge dim", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,8]") + "}",
       d8, {"too large"}},
      {"shape overflow", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]") + "}",
       d8, {"overflows 64 bits"}},
      {"one offset", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]") + "}", d8,
       {"two non-negative integers"}},
      {"negative offset", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]") + "}", d8,
       {"two non-negative integers"}},
      {"decreasing offsets", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]") + "}", d8,
       {"decrease"}},
      {"end beyond data", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]") + "}", d8,
       {"end beyond the data section (8 bytes)"}},
      {"size mismatch", "{" + entry("w", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]") + "}", d8,
       {"holds 8 bytes but F32 [3] needs 12"}},
      {"overlap",
       "{" + entry("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") + "," +
           entry("b", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") + "}",
       d8, {"overlaps tensor 'a'"}},
      {"hole", "{" + entry("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") + "}", d8,
       {"data bytes [0, 4)", "belong to no tensor", "entirely indexed"}},
      {"trailing bytes", "{" + entry("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") + "}", d8,
       {"data bytes [4, 8)", "after the last tensor"}},
      {"data without tensors", "{}", d8, {"data bytes [0, 8)"}},
      {"duplicate name",
       "{" + entry("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") + "," +
           entry("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") + "}",
       d8, {"\"a\" twice"}},
      {"metadata not strings", R"({"__metadata__":{"step":3}})", "", {"\"__metadata__\" key \"step\"", "string"}},
      {"metadata not object", R"({"__metadata__":"pt"})", "", {"\"__metadata__\" must be an object"}},
      {"invalid utf-8", "{\"\xff\xfe\":1}", "", {"not valid JSON"}},
      {"nul padding", std::string("{}") + std::string(6, '\0'), "", {"NUL byte at byte 2 of the header", "file offset 10"}},
  };
  TempDir dir;
  for (const BadHeader& c : cases) {
    SCOPED_TRACE(c.label);
    const fs::path path = dir / "bad.safetensors";
    write_bytes(path, st_bytes(c.header, c.data));
    expect_open_error(path, c.phrases);
  }
}

TEST(Safetensors, BadLengthPrefixes) {
  TempDir dir;
  const fs::path path = dir / "x.safetensors";
  write_bytes(path, "");
  expect_open_error(path, {"file is 0 bytes", "shorter than the 8-byte header length"});
  write_bytes(path, "abc");
  expect_open_error(path, {"file is 3 bytes"});
  std::string huge(8, '\xff');
  write_bytes(path, huge + "{}");
  expect_open_error(path, {"larger than the 100 MB limit"});
  write_bytes(path, std::string("GGUF\x03\0\0\0", 8) + std::string(64, '\0'));
  expect_open_error(path, {"GGUF file"});
  std::string past = st_bytes("{}");
  past[0] = 40;
  write_bytes(path, past);
  expect_open_error(path, {"runs past the end of the file (10 bytes", "truncated"});
  write_bytes(path, std::string(8, '\0'));
  expect_open_error(path, {"header length is 0"});
  expect_open_error(dir / "missing.safetensors", {"cannot open"});
}

// Every prefix of a valid file (cut anywhere) and every single-byte corruption of its header is
// an slm::Error naming the file or a valid file, never a crash (run under ASan too).
TEST(Safetensors, TruncatedAndCorruptedFilesNeverCrash) {
  TempDir dir;
  const float a[4] = {1, 2, 3, 4};
  const std::uint16_t b[3] = {1, 2, 3};
  const fs::path good = dir / "good.safetensors";
  write_safetensors(good, std::vector<TensorToWrite>{{"a", DType::F32, {2, 2}, a}, {"b", DType::BF16, {3}, b}},
                    {{"format", "pt"}});
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path path = dir / "cut.safetensors";
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    write_bytes(path, bytes.substr(0, length));
    SCOPED_TRACE(length);
    expect_open_error(path, {});
  }
  std::mt19937 rng(7);
  const std::size_t header_end = 8 + SafetensorsFile::open(good).header_size();
  int rejected = 0;
  for (std::size_t at = 0; at < header_end; ++at) {
    for (int trial = 0; trial < 3; ++trial) {
      std::string corrupt = bytes;
      corrupt[at] = static_cast<char>(rng() & 0xff);
      write_bytes(path, corrupt);
      try {
        const auto f = SafetensorsFile::open(path);
        std::vector<float> sink(64);
        for (const SafetensorsTensor& t : f.tensors()) {
          ASSERT_LE(t.begin + t.nbytes, bytes.size());
          if (t.num_elements() <= 64 && (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16))
            read_tensor_fp32(t, sink.data());
        }
      } catch (const Error& e) {
        ++rejected;
        ASSERT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

// --- checkpoints ------------------------------------------------------------------------------

TEST(Safetensors, CheckpointDirectoryErrors) {
  TempDir dir;
  const float v[2] = {1, 2};
  write_safetensors(dir / "adapter_model.safetensors", std::vector<TensorToWrite>{{"x", DType::F32, {2}, v}});
  expect_open_error(dir.path(), {"no model.safetensors", "adapter_model.safetensors", "PEFT adapter"});
  expect_open_error(dir / "nothing.safetensors", {"cannot open"});
}

TEST(Safetensors, ShardIndexErrors) {
  TempDir dir;
  const float v[2] = {1, 2};
  write_safetensors(dir / "s1.safetensors", std::vector<TensorToWrite>{{"a", DType::F32, {2}, v}, {"b", DType::F32, {2}, v}});
  write_safetensors(dir / "s2.safetensors", std::vector<TensorToWrite>{{"c", DType::F32, {2}, v}});
  write_safetensors(dir / "s3.safetensors", std::vector<TensorToWrite>{{"a", DType::F32, {2}, v}});
  const fs::path index = dir / "model.safetensors.index.json";
  auto with_map = [&](const std::string& map) { write_bytes(index, R"({"metadata":{},"weight_map":)" + map + "}"); };

  with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})");
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path()).names(), (std::vector<std::string>{"a", "b", "c"}));

  with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s9.safetensors"})");
  expect_open_error(index, {"missing", "s9.safetensors (1 tensors, e.g. 'c')"});
  with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","d":"s2.safetensors"})");
  expect_open_error(index, {"tensor 'd'", "s2.safetensors", "does not hold it"});
  with_map(R"({"a":"s1.safetensors","c":"s2.safetensors"})");
  expect_open_error(index, {"tensor 'b'", "not listed"});
  with_map(R"({"a":"s3.safetensors","b":"s1.safetensors","c":"s2.safetensors"})");
  expect_open_error(index, {"tensor 'a' is in two shards", "s1.safetensors", "s3.safetensors"});
  with_map(R"({"a":"../s1.safetensors"})");
  expect_open_error(index, {"not a file name inside the checkpoint directory"});
  with_map(R"({"a":3})");
  expect_open_error(index, {"weight_map[\"a\"]", "string"});
  with_map("{}");
  expect_open_error(index, {"weight_map is empty"});
  write_bytes(index, "{\"weight_map\": {\n \"a\": }}");
  expect_open_error(index, {":2:", "not valid JSON"});
  write_bytes(index, R"({"metadata":{}})");
  expect_open_error(index, {"\"weight_map\""});
}

TEST(Safetensors, TensorInTwoShards) {
  TempDir dir;
  const float v[2] = {1, 2};
  // The weight_map names one shard per tensor; a second copy sits in a shard listed for 'b'.
  write_safetensors(dir / "s1.safetensors", std::vector<TensorToWrite>{{"a", DType::F32, {2}, v}});
  write_safetensors(dir / "s2.safetensors", std::vector<TensorToWrite>{{"a", DType::F32, {2}, v}, {"b", DType::F32, {2}, v}});
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  expect_open_error(dir / "model.safetensors.index.json", {"tensor 'a' is in two shards", "s1.safetensors", "s2.safetensors"});
}

}  // namespace
}  // namespace slm
