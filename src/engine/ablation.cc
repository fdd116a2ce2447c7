#include "engine/ablation.h"

#include <stdexcept>

namespace flexins::engine {
namespace {

constexpr const char* kKnown = "tx-copy, rx-per-qp, doorbell-syscall";

}  // namespace

Ablations parse_ablations(std::string_view list) {
  Ablations a;
  if (list.empty()) return a;
  for (bool more = true; more;) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) list.remove_prefix(comma + 1);
    if (name == "tx-copy") {
      a.tx_copy = true;
    } else if (name == "rx-per-qp") {
      a.rx_per_qp = true;
    } else if (name == "doorbell-syscall") {
      a.doorbell_syscall = true;
    } else {
      throw std::invalid_argument("unknown ablation '" + std::string(name) + "' (known: " + kKnown + ")");
    }
  }
  return a;
}

std::string ablations_json(const Ablations& a) {
  std::string out = "[";
  auto add = [&out](bool on, const char* name) {
    if (!on) return;
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += '"';
  };
  add(a.tx_copy, "tx-copy");
  add(a.rx_per_qp, "rx-per-qp");
  add(a.doorbell_syscall, "doorbell-syscall");
  return out + "]";
}

}  // namespace flexins::engine
