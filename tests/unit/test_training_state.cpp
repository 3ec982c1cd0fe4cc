// test_training_state.cpp — the HDF5 training state and the run's checkpoint directories: a
// round trip restores every float and counter; a flipped byte anywhere in the payload, a
// truncated file and adapters of another shape are refused with the file named; rotation keeps
// the newest keep_last; leftovers of interrupted saves are cleaned; the newest valid checkpoint
// is found past a damaged one.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "checkpoints/run_checkpoints.h"
#include "checkpoints/training_state.h"
#include "train/core/error.h"

namespace slm {
namespace {
namespace fs = std::filesystem;

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 32;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 8;
  return c;
}

LoraSettings settings(std::int64_t rank) {
  LoraSettings s;
  s.rank = rank;
  s.alpha = 2.0 * static_cast<double>(rank);
  s.targets.fill(true);
  return s;
}

struct State {
  LoraAdapters adapters;
  std::vector<float> m, v;
  explicit State(std::int64_t rank = 4) : adapters(tiny_config(), settings(rank)) {
    m.resize(adapters.count());
    v.resize(adapters.count());
  }
  void randomize(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n;
    for (std::size_t i = 0; i < adapters.count(); ++i) {
      adapters.params()[i] = n(rng);
      m[i] = n(rng);
      v[i] = std::abs(n(rng));
    }
  }
};

TrainingProgress progress(std::int64_t step) {
  TrainingProgress p;
  p.step = step;
  p.total_steps = 100;
  p.data_epoch = 1;
  p.data_step = 7;
  p.micro_batches = 2 * step;
  p.tokens = 1234 * step;
  p.elapsed_seconds = 12.5;
  p.eval_loss_before = 3.25;
  p.data_key = "0123456789abcdef";
  p.recipe = "model:\n  path: x\n";
  p.program_version = "test";
  return p;
}

class TrainingStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(SLM_BINARY_DIR) / "test_training_state" / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  fs::path dir_;
};

TEST_F(TrainingStateTest, RoundTripRestoresEverything) {
  State a;
  a.randomize(1);
  save_training_state(dir_ / "s.h5", a.adapters, a.m.data(), a.v.data(), progress(42));
  State b;
  const TrainingProgress p = load_training_state(dir_ / "s.h5", b.adapters, b.m.data(), b.v.data());
  EXPECT_EQ(0, std::memcmp(a.adapters.params(), b.adapters.params(), a.adapters.count() * sizeof(float)));
  EXPECT_EQ(a.m, b.m);
  EXPECT_EQ(a.v, b.v);
  const TrainingProgress want = progress(42);
  EXPECT_EQ(p.step, want.step);
  EXPECT_EQ(p.total_steps, want.total_steps);
  EXPECT_EQ(p.data_epoch, want.data_epoch);
  EXPECT_EQ(p.data_step, want.data_step);
  EXPECT_EQ(p.micro_batches, want.micro_batches);
  EXPECT_EQ(p.tokens, want.tokens);
  EXPECT_DOUBLE_EQ(p.elapsed_seconds, want.elapsed_seconds);
  EXPECT_EQ(p.eval_loss_before, want.eval_loss_before);
  EXPECT_EQ(p.data_key, want.data_key);
  EXPECT_EQ(p.recipe, want.recipe);
  EXPECT_EQ(p.program_version, want.program_version);
}

TEST_F(TrainingStateTest, EveryDamagedByteIsRefused) {
  State a;
  a.randomize(2);
  const fs::path good = dir_ / "good.h5";
  save_training_state(good, a.adapters, a.m.data(), a.v.data(), progress(3));
  const std::size_t size = fs::file_size(good);
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  // Flip one byte at many positions across the file (header, metadata, the three arrays).
  int refused = 0, tried = 0;
  for (std::size_t at = 0; at < size; at += std::max<std::size_t>(1, size / 97)) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
    const fs::path file = dir_ / "damaged.h5";
    std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
    State b;
    const std::vector<float> before(b.adapters.params(), b.adapters.params() + b.adapters.count());
    ++tried;
    try {
      load_training_state(file, b.adapters, b.m.data(), b.v.data());
      // A flipped byte in unused space of the HDF5 file may change nothing we read: then every
      // value must be intact.
      ASSERT_EQ(0, std::memcmp(a.adapters.params(), b.adapters.params(), a.adapters.count() * sizeof(float))) << at;
      ASSERT_EQ(a.m, b.m) << at;
    } catch (const Error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find("damaged.h5"), std::string::npos) << e.what();
      EXPECT_EQ(0, std::memcmp(before.data(), b.adapters.params(), before.size() * sizeof(float)))
          << "a refused load changed the adapters";
    }
  }
  EXPECT_GT(refused, tried / 2) << "most damage must be detected";
  // Truncations are refused.
  for (std::size_t keep : {std::size_t{0}, size / 3, size - 1}) {
    std::ofstream(dir_ / "cut.h5", std::ios::binary | std::ios::trunc) << bytes.substr(0, keep);
    State b;
    EXPECT_THROW(load_training_state(dir_ / "cut.h5", b.adapters, b.m.data(), b.v.data()), Error) << keep;
  }
}

TEST_F(TrainingStateTest, PayloadDamageIsCaughtByTheChecksum) {
  State a;
  a.randomize(3);
  save_training_state(dir_ / "s.h5", a.adapters, a.m.data(), a.v.data(), progress(3));
  std::fstream f(dir_ / "s.h5", std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  // Find one adapter float's bytes in the file and change its last bit.
  const float probe = a.adapters.params()[5];
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&probe), sizeof probe));
  ASSERT_NE(at, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at));
  const char changed = static_cast<char>(bytes[at] ^ 1);
  f.write(&changed, 1);
  f.close();
  State b;
  try {
    load_training_state(dir_ / "s.h5", b.adapters, b.m.data(), b.v.data());
    FAIL() << "a changed adapter weight was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST_F(TrainingStateTest, OtherAdapterShapesAreRefused) {
  State a(4);
  a.randomize(4);
  save_training_state(dir_ / "s.h5", a.adapters, a.m.data(), a.v.data(), progress(1));
  State b(8);
  try {
    load_training_state(dir_ / "s.h5", b.adapters, b.m.data(), b.v.data());
    FAIL() << "rank 4 loaded into rank 8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint r=4, recipe r=8"), std::string::npos) << e.what();
  }
}

TEST_F(TrainingStateTest, RotationKeepsTheNewestAndCleansLeftovers) {
  State a;
  a.randomize(5);
  fs::create_directories(dir_ / "checkpoint-2.tmp-99999");  // a save killed midway
  fs::create_directories(dir_ / "checkpoint-1.old-99999");  // a rotation killed midway
  for (std::int64_t step : {1, 2, 3, 4})
    save_checkpoint(dir_, a.adapters, a.m.data(), a.v.data(), progress(step), "base", 2);
  std::vector<std::int64_t> steps;
  for (const CheckpointDir& c : list_checkpoints(dir_)) steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<std::int64_t>{3, 4}));
  for (const fs::directory_entry& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint-1.old-99999"));
  EXPECT_TRUE(fs::exists(dir_ / "checkpoint-4" / "adapter" / "adapter_config.json"));
  // The same step saved again replaces it.
  save_checkpoint(dir_, a.adapters, a.m.data(), a.v.data(), progress(4), "base", 2);
  EXPECT_EQ(verify_training_state(dir_ / "checkpoint-4" / k_state_file_name).step, 4);
}

TEST_F(TrainingStateTest, NewestValidSkipsADamagedCheckpoint) {
  State a;
  a.randomize(6);
  for (std::int64_t step : {5, 10})
    save_checkpoint(dir_, a.adapters, a.m.data(), a.v.data(), progress(step), "base", 0);
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  EXPECT_EQ(newest_valid_checkpoint(dir_, warn)->step, 10);
  EXPECT_TRUE(warnings.empty());
  fs::resize_file(dir_ / "checkpoint-10" / k_state_file_name, 100);
  const auto newest = newest_valid_checkpoint(dir_, warn);
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->step, 5);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("checkpoint-10"), std::string::npos) << warnings[0];
  fs::remove_all(dir_ / "checkpoint-5" / k_state_file_name);
  EXPECT_FALSE(newest_valid_checkpoint(dir_, warn));
}

}  // namespace
}  // namespace slm
