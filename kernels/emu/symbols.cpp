// symbols.cpp — the name of a kernel from its function address, for the harness's messages.
//
// Kernels are usually internal functions (anonymous namespaces, templates), which the dynamic
// symbol table does not list; so this reads the full ELF symbol table (.symtab) of the object
// that holds the address (dladdr gives its file and load base) and demangles the name.
// Does not hold: anything else; a stripped program gets the address in hex.
#include <cxxabi.h>  // abi::__cxa_demangle
#include <dlfcn.h>   // dladdr
#include <elf.h>     // Elf64_Ehdr, Elf64_Shdr, Elf64_Sym

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "kernels/emu/harness.h"

namespace slm::emu {
namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string result = status == 0 && out ? out : name;
  std::free(out);
  return result;
}

// The FUNC symbols of an ELF file's full symbol table: value -> mangled name (read once per file).
using SymbolTable = std::map<std::uintptr_t, std::string>;

SymbolTable read_symtab(const char* path) {
  SymbolTable table;
  std::ifstream file(path, std::ios::binary);
  if (!file) return table;
  std::vector<char> elf((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (elf.size() < sizeof(Elf64_Ehdr) || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0) return table;
  Elf64_Ehdr header;
  std::memcpy(&header, elf.data(), sizeof(header));
  auto section = [&](std::size_t i) {
    Elf64_Shdr s{};
    const std::size_t at = header.e_shoff + i * header.e_shentsize;
    if (at + sizeof(s) <= elf.size()) std::memcpy(&s, elf.data() + at, sizeof(s));
    return s;
  };
  for (std::size_t i = 0; i < header.e_shnum; ++i) {
    const Elf64_Shdr symtab = section(i);
    if (symtab.sh_type != SHT_SYMTAB) continue;
    const Elf64_Shdr strtab = section(symtab.sh_link);
    for (std::size_t at = symtab.sh_offset; at + sizeof(Elf64_Sym) <= symtab.sh_offset + symtab.sh_size &&
                                           at + sizeof(Elf64_Sym) <= elf.size();
         at += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      std::memcpy(&sym, elf.data() + at, sizeof(sym));
      const std::size_t name_at = strtab.sh_offset + sym.st_name;
      if (ELF64_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_value && name_at < elf.size())
        table.emplace(sym.st_value, std::string(elf.data() + name_at));
    }
  }
  return table;
}

// The symbol whose value is `offset` (position-independent) or `absolute` in `path`.
std::string symtab_lookup(const char* path, std::uintptr_t offset, std::uintptr_t absolute) {
  static std::map<std::string, SymbolTable> tables;  // guarded by kernel_name's mutex
  auto it = tables.find(path);
  if (it == tables.end()) it = tables.emplace(path, read_symtab(path)).first;
  for (const std::uintptr_t value : {offset, absolute})
    if (auto found = it->second.find(value); found != it->second.end()) return demangle(found->second.c_str());
  return {};
}

}  // namespace

std::string kernel_name(const void* kernel) {
  static std::mutex mutex;
  static std::map<const void*, std::string> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(kernel); it != cache.end()) return it->second;
  std::string name;
  Dl_info info{};
  if (kernel && dladdr(kernel, &info) != 0) {
    if (info.dli_sname && info.dli_saddr == kernel) name = demangle(info.dli_sname);
    if (name.empty() && info.dli_fname) {
      const auto offset = reinterpret_cast<std::uintptr_t>(kernel) - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
      const auto absolute = reinterpret_cast<std::uintptr_t>(kernel);
      name = symtab_lookup(info.dli_fname, offset, absolute);
      if (name.empty()) name = symtab_lookup("/proc/self/exe", offset, absolute);
    }
  }
  if (name.empty()) {
    std::ostringstream os;
    os << "<kernel at " << kernel << ">";
    name = os.str();
  }
  cache.emplace(kernel, name);
  return name;
}

}  // namespace slm::emu
