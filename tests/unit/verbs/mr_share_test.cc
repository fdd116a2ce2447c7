// mr_share on its own: pages become shared in place and come back private,
// with contents, pointers and protection intact.
#include "verbs/mr_share.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "verbs/page_move.h"
#include "verbs/proc_maps.h"

namespace flexins::verbs {
namespace {

const size_t kPage = size_t(sysconf(_SC_PAGESIZE));

// The mapping that holds `addr`, as /proc/self/maps says now.
Vma mapping_of(const void* addr) {
  auto a = reinterpret_cast<uintptr_t>(addr);
  for (const Vma& v : read_self_maps())
    if (v.start <= a && a < v.end) return v;
  return {};
}
bool is_our_memfd(const void* addr) {
  Vma v = mapping_of(addr);
  return v.shared && v.path.find("memfd:flexins-mr") != std::string::npos;
}

class Anon {
 public:
  explicit Anon(size_t pages, int prot = PROT_READ | PROT_WRITE) : len_(pages * kPage) {
    p_ = static_cast<uint8_t*>(mmap(nullptr, len_, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~Anon() { munmap(p_, len_); }
  Anon(const Anon&) = delete;
  Anon& operator=(const Anon&) = delete;
  uint8_t* p() const { return p_; }
  size_t len() const { return len_; }

 private:
  size_t len_;
  uint8_t* p_;
};

void fill(uint8_t* p, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(rng());
}
std::vector<uint8_t> copy_of(const uint8_t* p, size_t n) { return {p, p + n}; }

TEST(MrShare, SharingKeepsContentsAndPointers) {
  Anon mem(4);
  fill(mem.p(), mem.len(), 1);
  auto before = copy_of(mem.p(), mem.len());
  uint8_t* ptr = mem.p() + 100;  // an application pointer into the buffer

  SharedRange r;
  ASSERT_EQ(share_range(mem.p() + 10, 3 * kPage, true, &r), 0);
  EXPECT_EQ(r.page_addr(), reinterpret_cast<uintptr_t>(mem.p()));
  EXPECT_EQ(r.page_len(), 4 * kPage);  // offset 10 spills into a 4th page
  ASSERT_EQ(r.pieces().size(), 1u);
  EXPECT_TRUE(is_our_memfd(mem.p()));
  EXPECT_EQ(copy_of(mem.p(), mem.len()), before);

  *ptr = 0x5a;  // the old pointer still works, and writes land in the memfd
  const SharedPiece& piece = r.pieces()[0];
  auto* other = static_cast<uint8_t*>(
      mmap(nullptr, piece.length, PROT_READ | PROT_WRITE, MAP_SHARED, piece.fd, off_t(piece.fd_offset)));
  ASSERT_NE(other, MAP_FAILED);
  EXPECT_EQ(other[100], 0x5a);
  other[200] = 0xa5;  // and the engine's writes are seen by the application
  EXPECT_EQ(mem.p()[200], 0xa5);
  munmap(other, piece.length);

  before = copy_of(mem.p(), mem.len());
  release_range(&r);
  EXPECT_EQ(shared_segment_count(), 0u);
  EXPECT_FALSE(is_our_memfd(mem.p()));
  Vma v = mapping_of(mem.p());
  EXPECT_FALSE(v.shared);
  EXPECT_EQ(v.prot, PROT_READ | PROT_WRITE);
  EXPECT_EQ(copy_of(mem.p(), mem.len()), before);
}

TEST(MrShare, TwoRegistrationsInOnePageShareOneSegment) {
  Anon mem(1);
  fill(mem.p(), mem.len(), 2);
  SharedRange a, b;
  ASSERT_EQ(share_range(mem.p(), 64, true, &a), 0);
  ASSERT_EQ(share_range(mem.p() + 128, 64, true, &b), 0);
  EXPECT_EQ(shared_segment_count(), 1u);
  EXPECT_EQ(a.pieces()[0].fd, b.pieces()[0].fd);
  release_range(&a);
  EXPECT_TRUE(is_our_memfd(mem.p())) << "b still uses the page";
  mem.p()[5] = 7;
  release_range(&b);
  EXPECT_FALSE(is_our_memfd(mem.p()));
  EXPECT_EQ(mem.p()[5], 7);
  EXPECT_EQ(shared_segment_count(), 0u);
}

TEST(MrShare, SameBufferTwice) {
  Anon mem(2);
  SharedRange a, b;
  ASSERT_EQ(share_range(mem.p(), mem.len(), true, &a), 0);
  ASSERT_EQ(share_range(mem.p(), mem.len(), true, &b), 0);
  EXPECT_EQ(shared_segment_count(), 1u);
  release_range(&b);
  release_range(&a);
  EXPECT_EQ(shared_segment_count(), 0u);
}

TEST(MrShare, OverlappingRangesReuseAndExtend) {
  Anon mem(4);
  fill(mem.p(), mem.len(), 3);
  auto before = copy_of(mem.p(), mem.len());
  SharedRange a, b;
  ASSERT_EQ(share_range(mem.p(), 2 * kPage, true, &a), 0);
  ASSERT_EQ(share_range(mem.p() + kPage, 3 * kPage, true, &b), 0);
  // b = second half of a's segment + a new segment for pages 2..3.
  ASSERT_EQ(b.pieces().size(), 2u);
  EXPECT_EQ(b.pieces()[0].fd, a.pieces()[0].fd);
  EXPECT_EQ(b.pieces()[0].fd_offset, kPage);
  EXPECT_EQ(b.pieces()[0].length, kPage);
  EXPECT_EQ(b.pieces()[1].fd_offset, 0u);
  EXPECT_EQ(b.pieces()[1].length, 2 * kPage);
  EXPECT_EQ(shared_segment_count(), 2u);
  EXPECT_EQ(copy_of(mem.p(), mem.len()), before);
  release_range(&a);
  EXPECT_EQ(shared_segment_count(), 2u) << "b still holds a segment of a";
  release_range(&b);
  EXPECT_EQ(shared_segment_count(), 0u);
  EXPECT_EQ(copy_of(mem.p(), mem.len()), before);
  EXPECT_FALSE(is_our_memfd(mem.p() + 3 * kPage));
}

TEST(MrShare, HeapAndStackMemory) {
  std::vector<uint8_t> heap(3 * kPage + 123);
  fill(heap.data(), heap.size(), 4);
  auto before = heap;
  SharedRange r;
  ASSERT_EQ(share_range(heap.data(), heap.size(), true, &r), 0);
  EXPECT_EQ(heap, before);
  release_range(&r);
  EXPECT_EQ(heap, before);

  alignas(64) uint8_t stack_buf[512];
  fill(stack_buf, sizeof stack_buf, 5);
  std::vector<uint8_t> stack_before(stack_buf, stack_buf + sizeof stack_buf);
  ASSERT_EQ(share_range(stack_buf, sizeof stack_buf, true, &r), 0);
  stack_buf[0] ^= 1;  // the stack keeps working while shared
  stack_buf[0] ^= 1;
  release_range(&r);
  EXPECT_EQ(std::vector<uint8_t>(stack_buf, stack_buf + sizeof stack_buf), stack_before);
}

TEST(MrShare, ProtectionIsKept) {
  Anon mem(2, PROT_READ | PROT_WRITE);
  fill(mem.p(), mem.len(), 6);
  ASSERT_EQ(mprotect(mem.p(), mem.len(), PROT_READ), 0);
  SharedRange r;
  EXPECT_EQ(share_range(mem.p(), mem.len(), true, &r), EFAULT) << "read-only, write asked";
  ASSERT_EQ(share_range(mem.p(), mem.len(), false, &r), 0);
  EXPECT_EQ(mapping_of(mem.p()).prot, PROT_READ);
  SharedRange w;
  EXPECT_EQ(share_range(mem.p(), 8, true, &w), EFAULT) << "existing read-only segment";
  release_range(&r);
  EXPECT_EQ(mapping_of(mem.p()).prot, PROT_READ);
  EXPECT_FALSE(mapping_of(mem.p()).shared);
}

TEST(MrShare, RefusesWhatItCannotMove) {
  SharedRange r;
  EXPECT_EQ(share_range(nullptr, 0, true, &r), EINVAL);
  // Shared anonymous memory: someone else may map it too.
  void* shm = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shm, MAP_FAILED);
  EXPECT_EQ(share_range(shm, kPage, true, &r), EOPNOTSUPP);
  munmap(shm, kPage);
  // A shared file mapping.
  char path[] = "/tmp/flexins-mr-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, off_t(kPage)), 0);
  void* fm = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(fm, MAP_FAILED);
  EXPECT_EQ(share_range(fm, kPage, true, &r), EOPNOTSUPP);
  munmap(fm, kPage);
  close(fd);
  unlink(path);
  // Unmapped: a hole punched in the middle of a range.
  Anon mem(3);
  munmap(mem.p() + kPage, kPage);
  EXPECT_EQ(share_range(mem.p(), 3 * kPage, true, &r), EFAULT);
  EXPECT_EQ(shared_segment_count(), 0u) << "the first page was given back";
  EXPECT_FALSE(is_our_memfd(mem.p()));
}

TEST(MrShare, PrivateFileMappingBecomesPrivateAnonymous) {
  char path[] = "/tmp/flexins-mr-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(kPage);
  fill(data.data(), data.size(), 7);
  ASSERT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
  auto* p = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  SharedRange r;
  ASSERT_EQ(share_range(p, kPage, true, &r), 0);
  EXPECT_EQ(copy_of(p, kPage), data);
  p[0] ^= 0xff;  // private: the file must not change
  release_range(&r);
  EXPECT_EQ(p[0], uint8_t(data[0] ^ 0xff));
  uint8_t first = 0;
  ASSERT_EQ(pread(fd, &first, 1, 0), 1);
  EXPECT_EQ(first, data[0]);
  munmap(p, kPage);
  close(fd);
  unlink(path);
}

TEST(MrShare, UnmappedWhileSharedIsLeftAlone) {
  Anon mem(2);
  SharedRange r;
  ASSERT_EQ(share_range(mem.p(), mem.len(), true, &r), 0);
  // The application unmaps half of it and something else lands there.
  munmap(mem.p() + kPage, kPage);
  void* other = mmap(mem.p() + kPage, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(other, mem.p() + kPage);
  release_range(&r);
  EXPECT_FALSE(is_our_memfd(mem.p()));
  EXPECT_EQ(mapping_of(mem.p() + kPage).prot, PROT_READ) << "the newcomer was not replaced";
}

// Another thread keeps writing a word in the same page as a buffer that is
// registered and released over and over, as a library's own thread writes
// its heap objects next to an application's malloc'ed buffer. No write may
// be lost: the move onto the memfd and back must not copy the page while
// the writer can still change the old one (it happened: the RDMA-CM
// service thread lost an entry of its connection table this way).
TEST(MrShare, NeighbourWritesDuringSharingAreKept) {
  Anon mem(3);
  auto* counter = reinterpret_cast<std::atomic<uint64_t>*>(mem.p() + kPage + 64);
  uint8_t* buffer = mem.p() + kPage + 1024;  // the same page, not overlapping the counter
  std::atomic<bool> stop{false};
  uint64_t increments = 0;
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      counter->store(counter->load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      ++increments;
    }
  });
  for (int i = 0; i < 300; ++i) {
    SharedRange r;
    ASSERT_EQ(share_range(buffer, 512, true, &r), 0);
    EXPECT_TRUE(is_our_memfd(buffer));
    release_range(&r);
  }
  stop = true;
  writer.join();
  if (unguarded_moves() > 0 && counter->load() != increments)
    GTEST_SKIP() << "no userfaultfd here: such writes can be lost (page_move.h, README)";
  EXPECT_EQ(counter->load(), increments) << "writes of another thread were lost";
}

TEST(ProcMaps, ParsesLines) {
  Vma v;
  ASSERT_TRUE(parse_maps_line(
      "7f0000000000-7f0000002000 rw-s 00000000 00:01 1234   /memfd:flexins-mr (deleted)", &v));
  EXPECT_EQ(v.start, 0x7f0000000000u);
  EXPECT_EQ(v.end, 0x7f0000002000u);
  EXPECT_EQ(v.prot, PROT_READ | PROT_WRITE);
  EXPECT_TRUE(v.shared);
  EXPECT_EQ(v.inode, 1234u);
  EXPECT_EQ(v.path, "/memfd:flexins-mr (deleted)");
  ASSERT_TRUE(parse_maps_line("00400000-00401000 r-xp 00000000 08:01 42 ", &v));
  EXPECT_EQ(v.prot, PROT_READ | PROT_EXEC);
  EXPECT_FALSE(v.shared);
  EXPECT_EQ(v.path, "");
  EXPECT_FALSE(parse_maps_line("garbage", &v));
}

}  // namespace
}  // namespace flexins::verbs
