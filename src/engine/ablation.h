// Ablation switches (`flexins daemon --ablate LIST`). Each one turns a
// FlexiNS technique back into its naive counterpart so a benchmark can
// measure what the technique buys. They exist for measurement only: each has
// one branch point on the fast path and its logic in a file of its own
// (tx_copy.h, rx_per_qp.h; doorbell-syscall is a flag in the engine status
// shm, pipe/doorbell.h).
#pragma once

#include <string>
#include <string_view>

namespace flexins::engine {

struct Ablations {
  bool tx_copy = false;           // TX copies each payload into an engine buffer (vs header-only gather)
  bool rx_per_qp = false;         // RX stages each packet in a large per-QP ring (vs the small shared pool)
  bool doorbell_syscall = false;  // the library kicks the engine on every post (vs only when it sleeps)
};

// "tx-copy,rx-per-qp,doorbell-syscall" (any subset, any order; "" is none).
// Throws std::invalid_argument naming the unknown entry and the known ones.
Ablations parse_ablations(std::string_view list);

// The active switches as a JSON array, e.g. ["tx-copy","rx-per-qp"].
std::string ablations_json(const Ablations& a);

}  // namespace flexins::engine
