// The engine's own copy of each send WQE. The host's slot is copied out at
// fetch time (shared memory is hostile: it may change under us), so the
// requester, retransmissions and the completer read only this copy. The
// slot itself is retired (given back to the host) once the WQE completes.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <vector>

#include "pipe/device_caps.h"
#include "pipe/shm_layout.h"
#include "wire/packet.h"

namespace flexins::transport {

struct SendWr {
  // --- copied from the host's SendWqe
  uint64_t wr_id = 0;
  ibv_wr_opcode opcode = IBV_WR_SEND;
  uint32_t send_flags = 0;
  uint32_t imm_data = 0;  // network byte order
  uint64_t remote_addr = 0;
  uint32_t rkey = 0;
  uint64_t compare_add = 0;
  uint64_t swap = 0;
  uint32_t num_sge = 0;
  pipe::Sge sge[pipe::DeviceCaps::kMaxSge];
  bool is_inline = false;
  std::vector<uint8_t> inline_data;  // capacity reused across WQEs in this ring slot
  uint32_t length = 0;               // message bytes
  // UD: where the datagram goes, resolved from the WQE's AH at fetch time
  // (the AH may be destroyed while the WQE waits).
  uint32_t ud_dest_ip = 0;  // network byte order
  uint32_t ud_dest_qpn = 0;
  uint32_t ud_qkey = 0;

  // --- set at fetch: a WQE that failed validation completes with this status
  // when it reaches the head of the queue (IBA 10.8.3: in order).
  ibv_wc_status bad_status = IBV_WC_SUCCESS;

  // --- transmission state
  bool started = false;    // PSNs assigned
  uint32_t first_psn = 0;
  uint32_t npkts = 0;      // PSNs the WQE uses (READ: its response packets)
  uint32_t resp_pkts = 0;  // READ response packets received and placed
  // An RDMA WRITE sent as selective-repeat WRITE Only packets (decided when
  // it starts; transport/selective_repeat.h).
  bool sr = false;

  bool is_read() const { return opcode == IBV_WR_RDMA_READ; }
  bool is_atomic() const {
    return opcode == IBV_WR_ATOMIC_CMP_AND_SWP || opcode == IBV_WR_ATOMIC_FETCH_AND_ADD;
  }
  // Expects a response carrying data (READ response / atomic ACK).
  bool needs_response() const { return is_read() || is_atomic(); }
  // The PSNs it will use at path MTU `mtu` (npkts once it starts).
  uint32_t packets_at(uint32_t mtu) const { return is_atomic() || length == 0 ? 1 : (length + mtu - 1) / mtu; }
  uint32_t last_psn() const { return wire::psn_add(first_psn, npkts - 1); }
  bool contains_psn(uint32_t psn) const {
    int32_t d = wire::psn_diff(psn, first_psn);
    return d >= 0 && uint32_t(d) < npkts;
  }
};

// The ring of SendWr copies, indexed like the SQ (free-running uint32 index,
// slot = index & mask). Three cursors, each ≤ the next:
//   head     oldest WQE not yet completed (== the SQ's retire point)
//   started  first WQE without PSNs (the requester starts WQEs in order)
//   fetched  first WQE not yet copied from the host
// Copy a WQE's gather list or inline data out of its shared slot into `w`
// (w.send_flags already set), checked against the slot and the QP's caps.
// IBV_WC_SUCCESS, or the status the WQE completes with.
ibv_wc_status copy_send_payload(const pipe::SendWqe& wqe, const uint8_t* slot, uint32_t slot_size,
                                const ibv_qp_cap& cap, SendWr& w);

struct SendQueue {
  std::vector<SendWr> ring;
  uint32_t mask = 0;
  uint32_t head = 0;
  uint32_t started = 0;
  uint32_t fetched = 0;

  void init(uint32_t slots, uint32_t first_index) {
    ring.resize(slots ? slots : 1);
    mask = uint32_t(ring.size()) - 1;
    head = started = fetched = first_index;
  }
  SendWr& at(uint32_t index) { return ring[index & mask]; }
  const SendWr& at(uint32_t index) const { return ring[index & mask]; }
  bool empty() const { return head == fetched; }
  // Some WQE has PSNs assigned and awaits its ACK / response.
  bool awaiting_response() const { return head != started; }
};

}  // namespace flexins::transport
