#include "verbs/proc_maps.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

namespace flexins::verbs {

bool parse_maps_line(const std::string& line, Vma* out) {
  // start-end perms offset dev inode [path]
  uintmax_t start, end, offset, inode;
  char perms[5];
  char dev[16];
  int path_at = -1;
  if (sscanf(line.c_str(), "%jx-%jx %4s %jx %15s %ju %n", &start, &end, perms, &offset, dev,
             &inode, &path_at) < 6)
    return false;
  Vma v;
  v.start = uintptr_t(start);
  v.end = uintptr_t(end);
  v.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
           (perms[2] == 'x' ? PROT_EXEC : 0);
  v.shared = perms[3] == 's';
  v.inode = inode;
  if (path_at > 0 && size_t(path_at) < line.size()) v.path = line.substr(size_t(path_at));
  while (!v.path.empty() && (v.path.back() == '\n' || v.path.back() == ' ')) v.path.pop_back();
  *out = std::move(v);
  return true;
}

std::vector<Vma> read_self_maps() {
  std::vector<Vma> out;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fd);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    Vma v;
    if (parse_maps_line(text.substr(pos, nl - pos), &v)) out.push_back(std::move(v));
    pos = nl + 1;
  }
  return out;
}

}  // namespace flexins::verbs
