// `flexins daemon --cpus LIST`: the list format, and refusing CPUs the
// process may not use.
#include "engine/cpu_pinning.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace flexins::engine {
namespace {

TEST(CpuPinning, ParsesNumbersAndRangesInOrder) {
  EXPECT_EQ(parse_cpu_list("3"), (std::vector<int>{3}));
  EXPECT_EQ(parse_cpu_list("2,0"), (std::vector<int>{2, 0}));
  EXPECT_EQ(parse_cpu_list("4-6,1"), (std::vector<int>{4, 5, 6, 1}));
  EXPECT_EQ(parse_cpu_list("7-7"), (std::vector<int>{7}));
}

TEST(CpuPinning, RefusesMalformedListsNamingTheEntry) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"", "''"},          {"1,", "''"},          {"a", "'a'"},          {"-1", "'-1'"},
      {"1-", "'1-'"},      {"3-1", "backwards"},  {"1,1", "twice"},      {"0-2,2", "twice"},
      {"99999", "'99999'"}, {" 1", "' 1'"},        {"1x", "'1x'"},
  };
  for (const auto& [list, says] : bad) {
    try {
      parse_cpu_list(list);
      ADD_FAILURE() << "accepted '" << list << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << list << ": " << e.what();
    }
  }
}

TEST(CpuPinning, FormatsSetsAsTheKernelDoes) {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(format_cpu_set(set), "");
  for (int cpu : {0, 1, 3, 5, 6, 7}) CPU_SET(cpu, &set);
  EXPECT_EQ(format_cpu_set(set), "0-1,3,5-7");
}

TEST(CpuPinning, AcceptsOnlyCpusThisProcessMayUse) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  std::vector<int> usable;
  int unusable = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) usable.push_back(cpu);
    else if (unusable < 0) unusable = cpu;
  }
  EXPECT_NO_THROW(check_cpus_available(usable));
  ASSERT_GE(unusable, 0);
  try {
    check_cpus_available({usable[0], unusable});
    ADD_FAILURE() << "accepted CPU " << unusable;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("CPU " + std::to_string(unusable) + " is not available"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(format_cpu_set(allowed)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flexins::engine
