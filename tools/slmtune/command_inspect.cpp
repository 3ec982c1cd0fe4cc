// command_inspect.cpp — `slmtune inspect FILE`: a summary of a GGUF or safetensors file (or an
// HF model directory). The format is recognized by its first bytes, not its name.
#include <fstream>
#include <iostream>

#include "checkpoints/gguf.h"
#include "checkpoints/gguf_names.h"
#include "checkpoints/safetensors.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"

namespace slm::cli {
namespace {

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
  if (std::filesystem::is_directory(path, ec)) {
    std::cout << describe_safetensors(SafetensorsCheckpoint::open(path));
    return 0;
  }
  const std::string head = first_bytes(path, 8);
  if (head.rfind("GGUF", 0) == 0) {
    std::cout << describe_gguf(GgufFile::open(path));
  } else if (head == "\x89HDF\r\n\x1a\n") {
    SLM_FAIL(path.string(), ": an HDF5 file; inspecting data shards and training state comes with them (issues 5 and 6)");
  } else if (path.extension() == ".safetensors" || path.extension() == ".json") {
    std::cout << describe_safetensors(SafetensorsCheckpoint::open(path));
  } else {
    SLM_FAIL(path.string(), ": not a GGUF, safetensors or HDF5 file (unrecognized first bytes)");
  }
  return 0;
}

}  // namespace slm::cli
