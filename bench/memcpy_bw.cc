// memcpy_bw: the single-core memory-copy bandwidth of this machine, the
// ceiling of any transfer that copies its payload once (as FlexiNS's receive
// path does). Copies between two buffers much larger than the last-level
// cache, so the figure is DRAM's, not the cache's.
//
//   memcpy_bw [--mib N] [--passes N]
//
// Prints one JSON object: {"memcpy_gbps": median, "best_gbps": ..., ...};
// GB = 1e9 bytes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Options {
  size_t mib = 1024;  // 1 GiB: 4x the largest LLC we run on (260 MiB)
  int passes = 7;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--mib" || a == "--passes") && i + 1 < argc) {
      long v = std::strtol(argv[++i], nullptr, 10);
      if (v <= 0) return false;
      if (a == "--mib") o.mib = static_cast<size_t>(v);
      else o.passes = static_cast<int>(v);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr, "usage: memcpy_bw [--mib N] [--passes N]\n");
    return 2;
  }
  const size_t bytes = o.mib << 20;
  std::unique_ptr<char[]> src(new char[bytes]);
  std::unique_ptr<char[]> dst(new char[bytes]);
  // Touch every page first: page faults are not copy bandwidth.
  std::memset(src.get(), 0x5a, bytes);
  std::memset(dst.get(), 0, bytes);

  std::vector<double> gbps;
  for (int p = 0; p < o.passes; ++p) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst.get(), src.get(), bytes);
    auto t1 = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(t1 - t0).count();
    gbps.push_back(static_cast<double>(bytes) / s / 1e9);
    src[static_cast<size_t>(p) % bytes] ^= 1;  // keep each pass a real copy
  }
  // dst is read back so the compiler cannot drop the copies.
  unsigned check = static_cast<unsigned char>(dst[bytes / 2]);
  std::sort(gbps.begin(), gbps.end());
  std::printf("{\"memcpy_gbps\": %.3f, \"best_gbps\": %.3f, \"buffer_mib\": %zu, \"passes\": %d, \"check\": %u}\n",
              gbps[gbps.size() / 2], gbps.back(), o.mib, o.passes, check);
  return 0;
}
