#include "engine/shm_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace flexins::engine {
namespace {

TEST(ShmArena, AllocatesAlignedZeroedBlocksAndReusesFreedOnes) {
  ShmArena a("test", 1 << 20);
  uint64_t hdr = a.alloc(100);
  EXPECT_EQ(hdr, 0u) << "the first block is the header at offset 0";
  uint64_t x = a.alloc(10);
  EXPECT_NE(x, 0u);
  EXPECT_EQ(x % 64, 0u);
  a.at<uint8_t>(x)[0] = 42;
  a.free(x);
  uint64_t y = a.alloc(10);
  EXPECT_EQ(y, x) << "first fit reuses the freed block";
  EXPECT_EQ(a.at<uint8_t>(y)[0], 0) << "blocks come back zeroed";
}

TEST(ShmArena, FullArenaSaysSoAndMergesFreedNeighbours) {
  ShmArena a("test", 4096);
  std::vector<uint64_t> blocks;
  for (uint64_t off; (off = a.alloc(64)) != 0 || blocks.empty();) blocks.push_back(off);
  EXPECT_EQ(blocks.size(), 4096u / 64);
  EXPECT_EQ(a.alloc(64), 0u);
  for (size_t i = 1; i < blocks.size(); ++i) a.free(blocks[i]);
  EXPECT_NE(a.alloc(4096 - 64), 0u) << "freed neighbours merge into one block";
}

TEST(ShmArena, ApplicationCannotShrinkTheFile) {
  ShmArena a("test", 1 << 20);
  EXPECT_NE(ftruncate(a.fd(), 4096), 0) << "sealed: a shrink would SIGBUS the engine";
  EXPECT_NE(ftruncate(a.fd(), 1 << 30), 0);
}

}  // namespace
}  // namespace flexins::engine
