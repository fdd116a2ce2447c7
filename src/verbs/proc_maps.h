// The process's own mappings, from /proc/self/maps: memory registration
// needs to know what backs a page range before it remaps it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flexins::verbs {

struct Vma {
  uintptr_t start = 0;
  uintptr_t end = 0;
  int prot = 0;         // PROT_* bits
  bool shared = false;  // 's' in the flags column (MAP_SHARED)
  uint64_t inode = 0;
  std::string path;     // "", "[heap]", "[stack]", "/memfd:... (deleted)", a file
};

// One line of /proc/<pid>/maps. False if it does not parse.
bool parse_maps_line(const std::string& line, Vma* out);

// All mappings of this process, in address order. Empty on error.
std::vector<Vma> read_self_maps();

}  // namespace flexins::verbs
