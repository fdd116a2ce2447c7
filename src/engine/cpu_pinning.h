// Worker CPU pinning (`flexins daemon --cpus LIST`). The engine stands where
// a SmartNIC's cores stand: on a host it should own cores, not share them
// with the applications it serves or with the engine of the other end. Left
// to the scheduler, two engines that talk over loopback get woken onto one
// CPU (wake-affine) and take turns on it.
#pragma once

#include <sched.h>

#include <string>
#include <string_view>
#include <vector>

namespace flexins::engine {

// "3", "0,2", "4-7", "0,4-5" (the kernel's cpulist format): the CPUs in the
// order given. Throws std::invalid_argument naming the bad entry (not a
// number, a backward range, a repeat, beyond CPU_SETSIZE).
std::vector<int> parse_cpu_list(std::string_view list);

// The same format back, from a set: "0-1,3".
std::string format_cpu_set(const cpu_set_t& set);

// Throws std::invalid_argument unless every CPU of CPUS is one this process
// may run on (sched_getaffinity: cgroups, taskset, offline CPUs), naming the
// first that is not and the ones that are.
void check_cpus_available(const std::vector<int>& cpus);

}  // namespace flexins::engine
