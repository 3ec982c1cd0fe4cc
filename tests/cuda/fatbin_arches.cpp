// fatbin_arches.cpp — lists the GPU architectures whose machine code (SASS) an object file
// carries, for the build test (the toolkit here ships no cuobjdump).
//
// Reads the host ELF object, finds its .nv_fatbin section, and walks the fatbin container:
// a 16-byte header (magic 0xBA55ED50, version, header size, payload size), then entries, each
// with a header (kind: 1 = PTX, 2 = ELF cubin; header size; payload size; SM version at byte 28).
// For cubins the SM version is cross-checked against the embedded ELF's e_flags (bits 8..15).
// Prints one line per entry: "sass sm_80", "ptx sm_90", ...; exits 1 on a malformed file.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

template <class T>
T read_at(const std::vector<char>& bytes, std::size_t offset) {
  if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("read past the end at " + std::to_string(offset));
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Offset and size of the named section of a 64-bit little-endian ELF file.
bool find_section(const std::vector<char>& elf, const std::string& name, std::size_t& offset, std::size_t& size) {
  if (elf.size() < 64 || std::memcmp(elf.data(), "\x7f" "ELF", 4) != 0 || elf[4] != 2)
    throw std::runtime_error("not a 64-bit ELF file");
  const auto shoff = read_at<std::uint64_t>(elf, 0x28);
  const auto shentsize = read_at<std::uint16_t>(elf, 0x3A);
  const auto shnum = read_at<std::uint16_t>(elf, 0x3C);
  const auto shstrndx = read_at<std::uint16_t>(elf, 0x3E);
  const auto names_offset = read_at<std::uint64_t>(elf, shoff + shstrndx * shentsize + 0x18);
  for (std::uint16_t i = 0; i < shnum; ++i) {
    const std::size_t header = shoff + std::size_t{i} * shentsize;
    const auto name_index = read_at<std::uint32_t>(elf, header);
    const char* section_name = elf.data() + names_offset + name_index;
    if (names_offset + name_index < elf.size() && name == section_name) {
      offset = read_at<std::uint64_t>(elf, header + 0x18);
      size = read_at<std::uint64_t>(elf, header + 0x20);
      return offset + size <= elf.size();
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fatbin_arches OBJECT.o\n";
    return 2;
  }
  try {
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> object((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t offset = 0, size = 0;
    if (!find_section(object, ".nv_fatbin", offset, size)) {
      std::cout << "no device code\n";
      return 0;
    }
    std::vector<char> fatbin(object.begin() + offset, object.begin() + offset + size);
    if (read_at<std::uint32_t>(fatbin, 0) != 0xBA55ED50u) throw std::runtime_error("bad fatbin magic");
    const std::size_t header_size = read_at<std::uint16_t>(fatbin, 6);
    const std::size_t payload_size = read_at<std::uint64_t>(fatbin, 8);
    for (std::size_t at = header_size; at < header_size + payload_size;) {
      const auto kind = read_at<std::uint16_t>(fatbin, at);
      const auto entry_header = read_at<std::uint32_t>(fatbin, at + 4);
      const auto entry_payload = read_at<std::uint64_t>(fatbin, at + 8);
      const auto sm = read_at<std::uint32_t>(fatbin, at + 28);
      if (kind == 2) {
        const std::size_t elf = at + entry_header;
        if (read_at<std::uint32_t>(fatbin, elf) != 0x464C457Fu) throw std::runtime_error("cubin is not ELF");
        const auto e_flags = read_at<std::uint32_t>(fatbin, elf + 0x30);
        if (((e_flags >> 8) & 0xff) != sm)
          throw std::runtime_error("cubin e_flags disagree with the fatbin entry's sm_" + std::to_string(sm));
        std::cout << "sass sm_" << sm << "\n";
      } else if (kind == 1) {
        std::cout << "ptx sm_" << sm << "\n";
      } else {
        std::cout << "kind" << kind << " sm_" << sm << "\n";
      }
      if (entry_header == 0) throw std::runtime_error("zero-sized fatbin entry");
      at += entry_header + entry_payload;
    }
  } catch (const std::exception& e) {
    std::cerr << argv[1] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
