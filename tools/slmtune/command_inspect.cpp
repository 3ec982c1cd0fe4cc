// command_inspect.cpp — `slmtune inspect FILE`: a summary of a GGUF or safetensors file, an HF
// model directory, a prepared HDF5 data shard, or a training checkpoint (its directory or its
// training_state.h5). The format is recognized by its first bytes.
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "checkpoints/gguf.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/safetensors.h"
#include "checkpoints/run_checkpoints.h"
#include "data/shards.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"

namespace slm::cli {
namespace {

// A prepared data shard (data/shards.h): its attributes, counts and a first row's documents.
std::string describe_shard(const std::filesystem::path& path) {
  const ShardReader reader(path);
  const ShardInfo& info = reader.info();
  std::ostringstream os;
  os << "file: " << path.string() << "\nformat: slmtune data shard (HDF5), format_version " << info.format_version
     << "\nrows: " << info.rows << " x seq_len " << info.seq_len << "\nexamples: " << info.stats.examples
     << "\ntokens: " << info.stats.tokens << " (" << info.stats.trained_tokens << " trained, "
     << info.stats.padding_tokens << " padding)\ntruncated: " << info.stats.truncated << ", dropped: " << info.stats.dropped
     << "\ntokenizer hash: " << info.tokenizer_hash << "\nchat template hash: " << info.chat_template_hash
     << "\nsources:";
  for (const std::string& f : info.source_files) os << "\n  " << f;
  if (reader.num_rows() > 0) {
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(reader.seq_len()));
    std::vector<std::uint8_t> mask(tokens.size());
    std::vector<std::int32_t> docs;
    reader.read_row(0, tokens.data(), mask.data(), docs);
    os << "\nrow 0 document offsets:";
    for (std::int32_t d : docs) os << " " << d;
  }
  os << "\n";
  return os.str();
}

std::string first_bytes(const std::filesystem::path& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

}  // namespace

int run_inspect(const ParsedArgs& args) {
  const std::filesystem::path path = args.positional.at(0);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) SLM_FAIL(path.string(), ": not found; check the path");
  if (std::filesystem::is_directory(path, ec) && std::filesystem::exists(path / k_state_file_name)) {
    std::cout << describe_training_state(path / k_state_file_name);  // a checkpoint directory
    return 0;
  }
  if (std::filesystem::is_directory(path, ec)) {
    std::cout << describe_safetensors(SafetensorsCheckpoint::open(path));
    return 0;
  }
  const std::string head = first_bytes(path, 8);
  if (head.rfind("GGUF", 0) == 0) {
    std::cout << describe_gguf(GgufFile::open(path));
  } else if (head == "\x89HDF\r\n\x1a\n") {
    std::cout << (is_training_state(path) ? describe_training_state(path) : describe_shard(path));
  } else if (path.extension() == ".safetensors" || path.extension() == ".json") {
    std::cout << describe_safetensors(SafetensorsCheckpoint::open(path));
  } else {
    SLM_FAIL(path.string(), ": not a GGUF, safetensors or HDF5 file (unrecognized first bytes)");
  }
  return 0;
}

}  // namespace slm::cli
