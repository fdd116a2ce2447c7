// The rest of the public export table: fork support, sysfs helpers, and
// verbs FlexiNS does not offer (yet), which fail the way the man pages say.
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "verbs/device_list.h"
#include "verbs/mr_share.h"

namespace {
std::atomic<bool> g_fork_init{false};
constexpr char kBoardId[] = "FlexiNS software RoCE";

int range_madvise(void* base, size_t size, int advice) {
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t a = reinterpret_cast<uintptr_t>(base) & ~(page - 1);
  uintptr_t b = (reinterpret_cast<uintptr_t>(base) + size + page - 1) & ~(page - 1);
  return madvise(reinterpret_cast<void*>(a), b - a, advice) == 0 ? 0 : errno;
}
}  // namespace

extern "C" {

int ibv_fork_init(void) {
  g_fork_init.store(true);
  flexins::verbs::set_dontfork_shared(true);
  return 0;
}

enum ibv_fork_status ibv_is_fork_initialized(void) {
  return g_fork_init.load() ? IBV_FORK_ENABLED : IBV_FORK_DISABLED;
}

int ibv_dontfork_range(void* base, size_t size) {
  return g_fork_init.load() ? range_madvise(base, size, MADV_DONTFORK) : 0;
}

int ibv_dofork_range(void* base, size_t size) {
  return g_fork_init.load() ? range_madvise(base, size, MADV_DOFORK) : 0;
}

const char* ibv_get_sysfs_path(void) { return "/sys"; }

// Reads DIR/FILE into buf (NUL-terminated, trailing newline dropped).
// Returns the byte count or -1. A FlexiNS device has no sysfs directory; its
// board_id is answered here so ibv_devinfo can show what the device is.
int ibv_read_sysfs_file(const char* dir, const char* file, char* buf, size_t size) {
  if (dir == nullptr || file == nullptr || buf == nullptr || size == 0) {
    errno = EINVAL;
    return -1;
  }
  if (strcmp(file, "board_id") == 0 && flexins::verbs::run_dir() == dir)
    return snprintf(buf, size, "%s", kBoardId);
  std::string path = std::string(dir) + "/" + file;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size);
  int err = errno;
  close(fd);
  if (n < 0) {
    errno = err;
    return -1;
  }
  size_t len = size_t(n);
  if (len == size) --len;
  if (len > 0 && buf[len - 1] == '\n') --len;
  buf[len] = '\0';
  return int(len);
}

int ibv_read_ibdev_sysfs_file(char* buf, size_t size, const char* fnfmt, ...) {
  (void)buf;
  (void)size;
  (void)fnfmt;
  errno = ENOENT;
  return -1;
}

// Multicast: UD multicast groups are not offered.
int ibv_attach_mcast(struct ibv_qp*, const union ibv_gid*, uint16_t) { return EOPNOTSUPP; }
int ibv_detach_mcast(struct ibv_qp*, const union ibv_gid*, uint16_t) { return EOPNOTSUPP; }

// Sharing objects between processes through a command fd: not offered.
struct ibv_context* ibv_import_device(int) {
  errno = EOPNOTSUPP;
  return nullptr;
}
struct ibv_pd* ibv_import_pd(struct ibv_context*, uint32_t) {
  errno = EOPNOTSUPP;
  return nullptr;
}
void ibv_unimport_pd(struct ibv_pd*) {}
struct ibv_mr* ibv_import_mr(struct ibv_pd*, uint32_t) {
  errno = EOPNOTSUPP;
  return nullptr;
}
void ibv_unimport_mr(struct ibv_mr*) {}
struct ibv_dm* ibv_import_dm(struct ibv_context*, uint32_t) {
  errno = EOPNOTSUPP;
  return nullptr;
}
void ibv_unimport_dm(struct ibv_dm*) {}

struct ibv_mr* ibv_reg_dmabuf_mr(struct ibv_pd*, uint64_t, size_t, uint64_t, int, int) {
  errno = EOPNOTSUPP;
  return nullptr;
}

// Enhanced connection establishment: no options to negotiate.
int ibv_set_ece(struct ibv_qp*, struct ibv_ece*) { return EOPNOTSUPP; }
int ibv_query_ece(struct ibv_qp*, struct ibv_ece*) { return EOPNOTSUPP; }

// 0: no guarantee that data lands in order (the engine may place segments
// of a message out of order under loss recovery).
int ibv_query_qp_data_in_order(struct ibv_qp*, enum ibv_wr_opcode, uint32_t) { return 0; }

int ibv_resolve_eth_l2_from_gid(struct ibv_context*, struct ibv_ah_attr*, uint8_t*, uint16_t*) {
  return EOPNOTSUPP;  // the engine resolves paths itself
}

// Kernel-ABI conversions: FlexiNS has no kernel ABI to convert from.
void ibv_copy_ah_attr_from_kern(void*, const void*) {}
void ibv_copy_qp_attr_from_kern(void*, const void*) {}
void ibv_copy_path_rec_from_kern(void*, const void*) {}
void ibv_copy_path_rec_to_kern(void*, const void*) {}

}  // extern "C"
