// training_state.cpp — writing, reading and verifying the HDF5 training state (schema in the
// header).
#include "checkpoints/training_state.h"

#include <unistd.h>  // getpid: unique temporary names

#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

#include "checkpoints/hdf5_io.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr const char* k_hint =
    "the checkpoint is damaged or incomplete; resume from an earlier checkpoint (--resume DIR) or start over "
    "(--no-resume)";

// FNV-1a/64 over bytes, continued across calls.
class Checksum {
 public:
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) hash_ = (hash_ ^ p[i]) * 0x100000001b3ULL;
  }
  void add(const std::string& s) {
    const std::uint64_t n = s.size();
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  void add(std::int64_t v) { add(&v, sizeof v); }
  std::string hex() const {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash_));
    return text;
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

std::string loss_text(const std::optional<double>& loss) {
  if (!loss) return "";
  std::ostringstream os;
  os.precision(17);
  os << *loss;
  return os.str();
}

struct Scalars {
  std::int64_t format_version = k_training_state_version;
  std::int64_t elapsed_ns = 0;
  std::string eval_loss_before, layout;
};

std::string checksum_of(const TrainingProgress& p, const Scalars& s, const float* a, const float* m, const float* v,
                        std::size_t count) {
  Checksum c;
  for (std::int64_t x : {s.format_version, p.step, p.total_steps, p.data_epoch, p.data_step, p.micro_batches,
                         p.tokens, s.elapsed_ns})
    c.add(x);
  for (const std::string* t : {&s.eval_loss_before, &s.layout, &p.data_key, &p.recipe, &p.program_version}) c.add(*t);
  for (const float* x : {a, m, v}) c.add(x, count * sizeof(float));
  return c.hex();
}

const std::pair<const char*, std::int64_t TrainingProgress::*> k_int_fields[] = {
    {"step", &TrainingProgress::step},           {"total_steps", &TrainingProgress::total_steps},
    {"data_epoch", &TrainingProgress::data_epoch}, {"data_step", &TrainingProgress::data_step},
    {"micro_batches", &TrainingProgress::micro_batches}, {"tokens", &TrainingProgress::tokens}};
const std::pair<const char*, std::string TrainingProgress::*> k_text_fields[] = {
    {"data_key", &TrainingProgress::data_key},
    {"recipe", &TrainingProgress::recipe},
    {"program_version", &TrainingProgress::program_version}};

struct Loaded {
  TrainingProgress progress;
  std::string layout;
  std::vector<float> a, m, v;
};

// Reads and verifies everything; the arrays go to `loaded`.
Loaded read_verified(const fs::path& file) {
  const H5File h = H5File::open_read(file, k_hint, "training state");
  Scalars s;
  s.format_version = h.read_int_attr("format_version");
  if (s.format_version != k_training_state_version)
    SLM_FAIL(file.string(), ": training state format_version ", s.format_version, ", this slmtune reads version ",
             k_training_state_version, "; resume it with the slmtune that wrote it, or start over (--no-resume)");
  Loaded out;
  TrainingProgress& p = out.progress;
  for (const auto& [name, field] : k_int_fields) p.*field = h.read_int_attr(name);
  for (const auto& [name, field] : k_text_fields) p.*field = h.read_string_attr(name).at(0);
  s.elapsed_ns = h.read_int_attr("elapsed_ns");
  s.eval_loss_before = h.read_string_attr("eval_loss_before").at(0);
  s.layout = h.read_string_attr("adapter_layout").at(0);
  const std::string stored = h.read_string_attr("checksum").at(0);
  out.a = h.read_1d<float>("adapters", H5T_NATIVE_FLOAT);
  out.m = h.read_1d<float>("adam_m", H5T_NATIVE_FLOAT);
  out.v = h.read_1d<float>("adam_v", H5T_NATIVE_FLOAT);
  if (out.m.size() != out.a.size() || out.v.size() != out.a.size())
    SLM_FAIL(file.string(), ": adapters, adam_m and adam_v differ in length; ", k_hint);
  const std::string actual = checksum_of(p, s, out.a.data(), out.m.data(), out.v.data(), out.a.size());
  if (actual != stored)
    SLM_FAIL(file.string(), ": checksum mismatch (stored ", stored, ", contents hash to ", actual, "); ", k_hint);
  p.elapsed_seconds = static_cast<double>(s.elapsed_ns) * 1e-9;
  if (!s.eval_loss_before.empty()) p.eval_loss_before = std::stod(s.eval_loss_before);
  out.layout = s.layout;
  return out;
}

// The first difference of two adapter_layout() texts, short enough for a message (a layout of a
// large model lists hundreds of modules).
std::string layout_difference(const std::string& saved, const std::string& now) {
  auto split = [](const std::string& text) {
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t end = text.find_first_of(" ;", at);
      if (end == std::string::npos) end = text.size();
      if (end > at) parts.push_back(text.substr(at, end - at));
      at = end + 1;
    }
    return parts;
  };
  const std::vector<std::string> a = split(saved), b = split(now);
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const std::string left = i < a.size() ? a[i] : "(nothing)", right = i < b.size() ? b[i] : "(nothing)";
  return "checkpoint " + left + ", recipe " + right;
}

}  // namespace

std::string adapter_layout(const LoraAdapters& adapters) {
  const LoraSettings& s = adapters.settings();
  std::ostringstream os;
  os.precision(17);
  os << "r=" << s.rank << " alpha=" << s.alpha << " rslora=" << s.use_rslora << " dora=" << s.use_dora
     << " modules=";
  for (const LoraModule& m : adapters.modules())
    os << m.layer << "." << slot_module_name(m.slot) << "[" << m.in << "," << m.out << "];";
  return os.str();
}

void save_training_state(const fs::path& file, const LoraAdapters& adapters, const float* m, const float* v,
                         const TrainingProgress& progress) {
  const std::size_t count = adapters.count();
  Scalars s;
  s.elapsed_ns = std::llround(progress.elapsed_seconds * 1e9);
  s.eval_loss_before = loss_text(progress.eval_loss_before);
  s.layout = adapter_layout(adapters);
  const fs::path tmp = file.string() + ".tmp-" + std::to_string(::getpid());
  {
    H5File h = H5File::create(tmp, k_hint);
    const std::vector<hsize_t> dims = {count};
    h.write_dataset("adapters", H5T_NATIVE_FLOAT, adapters.params(), dims);
    h.write_dataset("adam_m", H5T_NATIVE_FLOAT, m, dims);
    h.write_dataset("adam_v", H5T_NATIVE_FLOAT, v, dims);
    h.write_int_attr("format_version", s.format_version);
    for (const auto& [name, field] : k_int_fields) h.write_int_attr(name, progress.*field);
    for (const auto& [name, field] : k_text_fields) h.write_string_attr(name, {progress.*field}, true);
    h.write_int_attr("elapsed_ns", s.elapsed_ns);
    h.write_string_attr("eval_loss_before", {s.eval_loss_before}, true);
    h.write_string_attr("adapter_layout", {s.layout}, true);
    h.write_string_attr("checksum", {checksum_of(progress, s, adapters.params(), m, v, count)}, true);
    h.flush();
  }
  commit_file(tmp, file);
}

TrainingProgress load_training_state(const fs::path& file, LoraAdapters& adapters, float* m, float* v) {
  Loaded loaded = read_verified(file);
  const std::string expected = adapter_layout(adapters);
  if (loaded.layout != expected)
    SLM_FAIL(file.string(), ": the checkpoint's adapters differ from the recipe's (", layout_difference(loaded.layout, expected),
             "); resume with the model and recipe it was trained with, or start over with --no-resume");
  const std::size_t bytes = adapters.count() * sizeof(float);
  std::memcpy(adapters.params(), loaded.a.data(), bytes);
  std::memcpy(m, loaded.m.data(), bytes);
  std::memcpy(v, loaded.v.data(), bytes);
  return loaded.progress;
}

TrainingProgress verify_training_state(const fs::path& file) { return read_verified(file).progress; }

bool is_training_state(const fs::path& file) {
  try {
    return H5File::open_read(file, k_hint, "training state").has_attr("adapter_layout");
  } catch (const Error&) {
    return false;
  }
}

std::string describe_training_state(const fs::path& file) {
  const Loaded s = read_verified(file);
  const TrainingProgress& p = s.progress;
  std::ostringstream os;
  os << "file: " << file.string() << "\nformat: slmtune training state (HDF5), format_version "
     << k_training_state_version << ", checksum verified\n"
     << "step: " << p.step << " of " << p.total_steps << "\ndata cursor: epoch " << p.data_epoch << ", step "
     << p.data_step << " (data key " << p.data_key << ")\nmicro-batches run: " << p.micro_batches
     << "\ntokens processed: " << p.tokens << "\ntraining time: " << p.elapsed_seconds << " s\n"
     << "adapter parameters: " << s.a.size() << " (+ AdamW moments)\nadapters: " << s.layout
     << "\nwritten by: slmtune " << p.program_version << "\nrecipe:\n" << p.recipe;
  return os.str();
}

}  // namespace slm
