#include "engine/cpu_pinning.h"

#include <charconv>
#include <stdexcept>

namespace flexins::engine {
namespace {

int parse_cpu(std::string_view s, std::string_view entry) {
  int cpu = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), cpu);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || cpu < 0 || cpu >= CPU_SETSIZE)
    throw std::invalid_argument("--cpus: '" + std::string(entry) + "' is not a CPU number or range (0.." +
                                std::to_string(CPU_SETSIZE - 1) + ")");
  return cpu;
}

}  // namespace

std::vector<int> parse_cpu_list(std::string_view list) {
  std::vector<int> cpus;
  cpu_set_t seen;
  CPU_ZERO(&seen);
  for (bool more = true; more;) {
    const size_t comma = list.find(',');
    const std::string_view entry = list.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) list.remove_prefix(comma + 1);
    const size_t dash = entry.find('-');
    const int first = parse_cpu(entry.substr(0, dash), entry);
    const int last = dash == std::string_view::npos ? first : parse_cpu(entry.substr(dash + 1), entry);
    if (last < first) throw std::invalid_argument("--cpus: range '" + std::string(entry) + "' runs backwards");
    for (int cpu = first; cpu <= last; ++cpu) {
      if (CPU_ISSET(cpu, &seen)) throw std::invalid_argument("--cpus: CPU " + std::to_string(cpu) + " is listed twice");
      CPU_SET(cpu, &seen);
      cpus.push_back(cpu);
    }
  }
  return cpus;
}

std::string format_cpu_set(const cpu_set_t& set) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
    if (last > cpu) out += '-' + std::to_string(last);
    cpu = last;
  }
  return out;
}

void check_cpus_available(const std::vector<int>& cpus) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) throw std::invalid_argument("--cpus: cannot read this process's CPU affinity");
  for (int cpu : cpus)
    if (!CPU_ISSET(cpu, &allowed))
      throw std::invalid_argument("--cpus: CPU " + std::to_string(cpu) + " is not available to this process (available: " +
                                  format_cpu_set(allowed) + ")");
}

}  // namespace flexins::engine
