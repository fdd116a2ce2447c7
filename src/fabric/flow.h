// An "ib_write_bw"-like application pair on two simulated hosts: one RC QP
// each side; the sender keeps `depth` messages of `msg_bytes` outstanding
// (RDMA WRITE, WRITE WITH IMM, or SEND), reposting on each completion,
// from start_ns until stop_ns; then it lets the outstanding ones finish.
//
// Every byte is checked. Message k carries a pattern derived from (flow, k)
// and lands in receiver slot k % depth. The sender posts message k + depth
// only after k completed, and a completion means the responder has placed
// all of k, so when the sender sees k's completion, slot k % depth holds
// exactly k: the flow compares it there and then (a simulator may look at
// both hosts' memory). WRITE WITH IMM and SEND also check each receive
// completion (length, immediate = k).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fabric/host_queues.h"
#include "fabric/sim_host.h"

namespace flexins::fabric {

class Sim;

enum class FlowOp : uint8_t { kWrite, kWriteImm, kSend };
const char* flow_op_name(FlowOp op);
bool parse_flow_op(const std::string& s, FlowOp& out);

struct FlowSpec {
  uint32_t sender = 0;    // host index
  uint32_t receiver = 1;  // host index
  FlowOp op = FlowOp::kWrite;
  uint32_t msg_bytes = 65536;
  uint32_t depth = 16;  // messages outstanding (perftest's --tx-depth)
  uint64_t start_ns = 0;
  uint64_t stop_ns = UINT64_MAX;  // no new messages from here on
  RcPath path;
};

// Bytes the data direction puts on the wire for one message (headers, pad,
// ICRC, Ethernet framing), for the best goodput a link rate allows.
uint64_t message_wire_bytes(const FlowSpec& spec, uint32_t mtu_bytes);

class BwFlow {
 public:
  BwFlow(Sim& sim, uint32_t id, const FlowSpec& spec);
  BwFlow(const BwFlow&) = delete;
  BwFlow& operator=(const BwFlow&) = delete;

  uint32_t id() const { return id_; }
  const FlowSpec& spec() const { return spec_; }
  // No message outstanding and none to post any more (or the QP failed).
  bool finished() const;

  // Called on each successful send completion (at the sender): time, bytes.
  std::function<void(uint64_t now_ns, uint32_t bytes)> on_complete;

  uint64_t posted = 0;
  uint64_t completed = 0;       // messages, in order
  uint64_t completed_bytes = 0;
  uint64_t verified_bytes = 0;  // compared equal in the receiver's memory
  uint64_t corrupt_messages = 0;
  uint64_t recv_completions = 0;  // WRITE WITH IMM / SEND
  uint64_t recv_mismatches = 0;   // wrong length or immediate, out of order
  uint64_t error_completions = 0; // either side, any status but success
  std::string first_error;        // e.g. "send: status 12 IBV_WC_RETRY_EXC_ERR on message 42"

 private:
  void post_more();
  void sender_pass();
  void receiver_pass();
  void fill(uint64_t k, uint8_t* out) const;
  bool check(uint64_t k, const uint8_t* got) const;
  void fail(const std::string& what);

  Sim& sim_;
  uint32_t id_;
  FlowSpec spec_;
  SimHost& tx_host_;
  SimHost& rx_host_;
  HostBuffer src_;
  HostBuffer dst_;
  HeapCq* tx_cq_ = nullptr;
  HeapCq* rx_cq_ = nullptr;
  HostQp* tx_qp_ = nullptr;
  HostQp* rx_qp_ = nullptr;
  bool started_ = false;
  bool failed_ = false;
  uint64_t next_recv_ = 0;  // the message the next receive completion is for
  mutable std::vector<uint8_t> scratch_;
};

}  // namespace flexins::fabric
