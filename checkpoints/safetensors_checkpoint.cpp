// safetensors_checkpoint.cpp — a checkpoint of one or more safetensors files (HF model
// directories, sharded saves with model.safetensors.index.json) and its `inspect` summary.
//
// Does not hold: the validation of one file (safetensors.cpp) or writing (safetensors_write.cpp).
#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>

#include "checkpoints/json_util.h"
#include "checkpoints/safetensors.h"
#include "train/core/error.h"
#include "train/core/files.h"
#include "train/core/text.h"

namespace slm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* k_single_name = "model.safetensors";
constexpr const char* k_index_name = "model.safetensors.index.json";
constexpr std::string_view k_index_hint = "download the checkpoint again, or save it again with save_pretrained";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The .safetensors files in `dir`, for the message when no model file is there.
std::string list_safetensors(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (ends_with(e.path().filename().string(), ".safetensors")) found.push_back(e.path().filename().string());
  std::sort(found.begin(), found.end());
  if (found.empty()) return "it holds no .safetensors file";
  std::string text = "it holds ";
  for (std::size_t i = 0; i < found.size(); ++i) text += (i ? ", " : "") + found[i];
  if (std::find(found.begin(), found.end(), "adapter_model.safetensors") != found.end())
    text += " (adapter_model.safetensors is a PEFT adapter, not a base model)";
  return text;
}

// The index's weight_map as {shard file name -> tensor names}, with every value checked.
std::map<std::string, std::vector<std::string>> read_weight_map(const fs::path& index_json) {
  const std::string where = index_json.string();
  const std::string text = read_file(index_json, "safetensors index");
  const json index = parse_json_strict(text, where, "the safetensors index", 0, false, k_index_hint);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    SLM_FAIL(where, ": a safetensors index must be an object with a \"weight_map\" object (tensor name -> shard "
             "file); ", k_index_hint);
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      SLM_FAIL(where, ": weight_map[\"", name, "\"] must be a shard file name (string), got ", json_type_name(shard),
               "; ", k_index_hint);
    const fs::path shard_path(shard.get<std::string>());
    bool escapes = shard_path.empty() || shard_path.is_absolute();
    for (const auto& part : shard_path) escapes = escapes || part == "..";
    if (escapes)
      SLM_FAIL(where, ": weight_map[\"", name, "\"] = \"", shard.get<std::string>(),
               "\" is not a file name inside the checkpoint directory; shards must sit beside the index");
    shards[shard.get<std::string>()].push_back(name);
  }
  if (shards.empty()) SLM_FAIL(where, ": weight_map is empty; the index lists no tensors; ", k_index_hint);
  return shards;
}

}  // namespace

void SafetensorsCheckpoint::add_file(SafetensorsFile file) {
  const std::size_t index = files_.size();
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    const std::string& name = file.tensors()[i].name;
    auto [it, inserted] = by_name_.emplace(name, Location{index, i});
    if (!inserted)
      SLM_FAIL(path_.string(), ": tensor '", name, "' is in two shards: ", files_[it->second.file].path().string(),
               " and ", file.path().string(), "; a tensor must live in exactly one; ", k_index_hint);
  }
  files_.push_back(std::move(file));
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& file_or_dir) {
  std::error_code ec;
  if (fs::is_directory(file_or_dir, ec)) {
    if (fs::exists(file_or_dir / k_single_name, ec)) return open(file_or_dir / k_single_name);
    if (fs::exists(file_or_dir / k_index_name, ec)) return open_index(file_or_dir / k_index_name);
    SLM_FAIL(file_or_dir.string(), ": no ", k_single_name, " and no ", k_index_name, " in this directory; ",
             list_safetensors(file_or_dir), "; point at a Hugging Face model directory or a .safetensors file");
  }
  if (ends_with(file_or_dir.filename().string(), ".index.json")) return open_index(file_or_dir);
  SafetensorsCheckpoint c;
  c.path_ = file_or_dir;
  c.add_file(SafetensorsFile::open(file_or_dir));
  return c;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_index(const fs::path& index_json) {
  const auto shards = read_weight_map(index_json);
  const fs::path dir = index_json.parent_path();
  std::string missing;
  std::error_code ec;
  for (const auto& [shard, names] : shards)
    if (!fs::exists(dir / shard, ec))
      missing += error_message(missing.empty() ? "" : ", ", shard, " (", names.size(), " tensors, e.g. '", names[0], "')");
  if (!missing.empty())
    SLM_FAIL(index_json.string(), ": shards listed in the weight_map are missing from ", dir.string(), ": ", missing,
             "; download every model-*.safetensors file of the checkpoint");
  SafetensorsCheckpoint c;
  c.path_ = index_json;
  for (const auto& [shard, names] : shards) {
    SafetensorsFile file = SafetensorsFile::open(dir / shard);
    const std::set<std::string> listed(names.begin(), names.end());
    for (const std::string& name : names)
      if (!file.find(name))
        SLM_FAIL(index_json.string(), ": weight_map puts tensor '", name, "' in ", shard, ", but ",
                 file.path().string(), " does not hold it; the index and the shards do not match: ", k_index_hint);
    for (const SafetensorsTensor& t : file.tensors()) {
      if (listed.count(t.name)) continue;
      for (const auto& [other, other_names] : shards)
        if (std::find(other_names.begin(), other_names.end(), t.name) != other_names.end())
          SLM_FAIL(index_json.string(), ": tensor '", t.name, "' is in two shards: ", file.path().string(), " and ",
                   (dir / other).string(), " (where the weight_map puts it); a tensor must live in exactly one; ",
                   k_index_hint);
      SLM_FAIL(file.path().string(), ": tensor '", t.name, "' (data offset ", t.begin, ") is not listed for this "
                 "shard in ", index_json.string(), "; the index and the shards do not match: ", k_index_hint);
    }
    c.add_file(std::move(file));
  }
  return c;
}

const SafetensorsTensor* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &files_[it->second.file].tensors()[it->second.tensor];
}

const SafetensorsFile* SafetensorsCheckpoint::file_of(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &files_[it->second.file];
}

const SafetensorsTensor& SafetensorsCheckpoint::get(std::string_view name) const {
  if (const SafetensorsTensor* t = find(name)) return *t;
  const std::vector<std::string> all = names();
  std::string hint = closest_match(name, all);
  if (!hint.empty()) {
    hint = "; did you mean '" + hint + "'?";
  } else {
    // No near miss: show names sharing the longest prefix with the one asked for.
    std::size_t best = 0;
    for (const std::string& n : all) {
      std::size_t k = 0;
      while (k < n.size() && k < name.size() && n[k] == name[k]) ++k;
      best = std::max(best, k);
    }
    std::vector<std::string> near;
    for (const std::string& n : all)
      if (n.compare(0, best, name.substr(0, best)) == 0 && near.size() < 4) near.push_back("'" + n + "'");
    hint = "; it holds for example ";
    for (std::size_t i = 0; i < near.size(); ++i) hint += (i ? ", " : "") + near[i];
    if (near.empty()) hint = "; it holds no tensors";
  }
  SLM_FAIL(path_.string(), ": no tensor '", name, "' in this checkpoint (", all.size(), " tensors)", hint,
           "; check that the checkpoint is the model the recipe expects (`slmtune inspect` lists its tensors)");
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, location] : by_name_) out.push_back(name);
  return out;
}

std::string describe_safetensors(const SafetensorsCheckpoint& c) {
  std::ostringstream os;
  os << "safetensors checkpoint " << c.path().string() << "\n";
  os << "files (" << c.files().size() << "):\n";
  for (const SafetensorsFile& f : c.files()) {
    std::uint64_t bytes = 0;
    for (const SafetensorsTensor& t : f.tensors()) bytes += t.nbytes;
    os << "  " << f.path().string() << ": " << f.tensors().size() << " tensors, " << bytes << " data bytes\n";
    for (const auto& [key, value] : f.metadata()) os << "    metadata " << key << " = " << value << "\n";
  }
  const std::vector<std::string> names = c.names();
  std::size_t width = 4;
  for (const std::string& n : names) width = std::max(width, n.size());
  os << "tensors (" << names.size() << "):\n";
  os << "  " << std::left << std::setw(static_cast<int>(width)) << "name" << "  dtype  shape\n";
  std::map<std::string, std::int64_t> per_dtype;
  std::int64_t total = 0;
  for (const std::string& n : names) {
    const SafetensorsTensor& t = *c.find(n);
    std::string shape = "[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    shape += "]";
    os << "  " << std::setw(static_cast<int>(width)) << n << "  " << std::setw(5) << dtype_name(t.dtype) << "  "
       << shape << "\n";
    per_dtype[std::string(dtype_name(t.dtype))] += t.num_elements();
    total += t.num_elements();
  }
  os << "parameters:\n";
  for (const auto& [dtype, count] : per_dtype) os << "  " << std::setw(5) << dtype << "  " << count << "\n";
  os << "  total  " << total << "\n";
  return os.str();
}

}  // namespace slm
