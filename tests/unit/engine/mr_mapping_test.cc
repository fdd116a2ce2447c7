#include "engine/mr_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

namespace flexins::engine {
namespace {

int sealed_memfd(size_t size, unsigned seals = F_SEAL_SHRINK) {
  int fd = memfd_create("mr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, off_t(size)), 0);
  if (seals) {
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, seals), 0);
  }
  return fd;
}

TEST(MrMapping, SegmentsAreMappedBackToBackAndShareMemory) {
  int a = sealed_memfd(8192), b = sealed_memfd(4096);
  uint8_t* pa = static_cast<uint8_t*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0));
  uint8_t* pb = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0));
  pa[4096] = 'a';
  pb[0] = 'b';
  MrMapping m;
  int fds[] = {a, b};
  pipe::MrSegment segs[] = {{4096, 4096}, {0, 4096}};
  ASSERT_EQ(m.map(fds, segs), 0);
  EXPECT_EQ(m.length(), 8192u);
  EXPECT_EQ(m.base()[0], 'a');
  EXPECT_EQ(m.base()[4096], 'b');
  m.base()[4097] = 'x';  // engine writes, application sees
  EXPECT_EQ(pb[1], 'x');
  munmap(pa, 8192);
  munmap(pb, 4096);
  close(a);
  close(b);
}

TEST(MrMapping, RefusesUnsealedOrShortFilesAndUnalignedSegments) {
  int unsealed = sealed_memfd(4096, 0), short_fd = sealed_memfd(4096);
  MrMapping m;
  int f1[] = {unsealed};
  pipe::MrSegment one[] = {{0, 4096}};
  EXPECT_EQ(m.map(f1, one), EINVAL) << "a shrinkable file could SIGBUS the engine";
  int f2[] = {short_fd};
  pipe::MrSegment beyond[] = {{4096, 4096}};
  EXPECT_EQ(m.map(f2, beyond), EINVAL);
  pipe::MrSegment unaligned[] = {{0, 100}};
  EXPECT_EQ(m.map(f2, unaligned), EINVAL);
  close(unsealed);
  close(short_fd);
}

}  // namespace
}  // namespace flexins::engine
