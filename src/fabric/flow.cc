#include "fabric/flow.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include "fabric/packet_bytes.h"
#include "fabric/random.h"
#include "fabric/sim.h"
#include "wire/packet.h"

namespace flexins::fabric {
namespace {

constexpr uint32_t kBthBytes = 12;
constexpr uint32_t kRethBytes = 16;
constexpr uint32_t kImmBytes = 4;

std::string status_text(uint32_t status) {
  const char* name = "";
  switch (status) {
    case IBV_WC_WR_FLUSH_ERR: name = " IBV_WC_WR_FLUSH_ERR"; break;
    case IBV_WC_REM_ACCESS_ERR: name = " IBV_WC_REM_ACCESS_ERR"; break;
    case IBV_WC_RETRY_EXC_ERR: name = " IBV_WC_RETRY_EXC_ERR"; break;
    case IBV_WC_RNR_RETRY_EXC_ERR: name = " IBV_WC_RNR_RETRY_EXC_ERR"; break;
    default: break;
  }
  return "status " + std::to_string(status) + name;
}

}  // namespace

const char* flow_op_name(FlowOp op) {
  switch (op) {
    case FlowOp::kWrite: return "write";
    case FlowOp::kWriteImm: return "write_imm";
    case FlowOp::kSend: return "send";
  }
  return "?";
}

bool parse_flow_op(const std::string& s, FlowOp& out) {
  for (FlowOp op : {FlowOp::kWrite, FlowOp::kWriteImm, FlowOp::kSend}) {
    if (s == flow_op_name(op)) {
      out = op;
      return true;
    }
  }
  return false;
}

uint64_t message_wire_bytes(const FlowSpec& spec, uint32_t mtu_bytes) {
  const uint32_t n = spec.msg_bytes == 0 ? 1 : (spec.msg_bytes + mtu_bytes - 1) / mtu_bytes;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t len = i + 1 < n ? mtu_bytes : spec.msg_bytes - i * mtu_bytes;
    total += kBthBytes + len + wire::pad_for(len) + wire::kIcrcSize + kEthernetIpUdpOverheadBytes;
  }
  if (spec.op != FlowOp::kSend) total += kRethBytes;  // on the first packet
  if (spec.op == FlowOp::kWriteImm) total += kImmBytes;  // on the last
  return total;
}

BwFlow::BwFlow(Sim& sim, uint32_t id, const FlowSpec& spec)
    : sim_(sim), id_(id), spec_(spec), tx_host_(sim.host(spec.sender)), rx_host_(sim.host(spec.receiver)) {
  if (spec_.depth == 0 || spec_.msg_bytes == 0) throw std::invalid_argument("flow: depth and size must be > 0");
  const size_t bytes = size_t(spec_.depth) * spec_.msg_bytes;
  src_ = tx_host_.reg(bytes, IBV_ACCESS_LOCAL_WRITE);
  dst_ = rx_host_.reg(bytes, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
  const uint32_t cq_slots = 2 * spec_.depth + 16;
  tx_cq_ = &tx_host_.make_cq(cq_slots);
  rx_cq_ = &rx_host_.make_cq(cq_slots);
  tx_qp_ = &tx_host_.make_rc_qp(*tx_cq_, *tx_cq_, RingSizes{spec_.depth, 1, 0});
  rx_qp_ = &rx_host_.make_rc_qp(*rx_cq_, *rx_cq_, RingSizes{1, spec_.depth, 0});

  // PSNs just below the 24-bit wrap, so long runs cross it.
  const uint32_t tx_psn = (0xffff00u - id * 0x1000u) & wire::kPsnMask;
  const uint32_t rx_psn = 0x000100u + id;
  const RcPath& p = spec_.path;
  int err = rc_to_init(*tx_qp_->qp, p);
  if (err == 0) err = rc_to_init(*rx_qp_->qp, p);
  if (err == 0) err = rc_to_rtr(*tx_qp_->qp, p, rx_host_.ip(), rx_qp_->qpn, rx_psn);
  if (err == 0) err = rc_to_rtr(*rx_qp_->qp, p, tx_host_.ip(), tx_qp_->qpn, tx_psn);
  if (err == 0) err = rc_to_rts(*tx_qp_->qp, p, tx_psn);
  if (err == 0) err = rc_to_rts(*rx_qp_->qp, p, rx_psn);
  if (err != 0) throw std::runtime_error("flow: connecting the QPs failed: " + std::string(strerror(err)));

  if (spec_.op != FlowOp::kWrite) {
    for (uint32_t slot = 0; slot < spec_.depth; ++slot) {
      const pipe::Sge sge = dst_.sge(uint64_t(slot) * spec_.msg_bytes, spec_.msg_bytes);
      rx_qp_->rings->post_recv(slot, &sge, spec_.op == FlowOp::kSend ? 1 : 0);
    }
    rx_host_.ring_doorbell(rx_qp_->qpn);
  }
  scratch_.resize(spec_.msg_bytes);
  tx_host_.add_app([this] { sender_pass(); });
  rx_host_.add_app([this] { receiver_pass(); });
  sim_.at(spec_.start_ns, [this] {
    started_ = true;
    post_more();
  });
}

bool BwFlow::finished() const {
  return failed_ || (started_ && sim_.now() >= spec_.stop_ns && posted == completed);
}

void BwFlow::fail(const std::string& what) {
  if (!failed_) first_error = what;
  failed_ = true;
}

void BwFlow::fill(uint64_t k, uint8_t* out) const {
  const uint64_t seed = splitmix64((uint64_t(id_) << 40) ^ k);
  const uint32_t n = spec_.msg_bytes;
  for (uint32_t off = 0; off < n; off += 8) {
    const uint64_t v = splitmix64(seed + off);
    std::memcpy(out + off, &v, n - off < 8 ? n - off : 8);
  }
}

bool BwFlow::check(uint64_t k, const uint8_t* got) const {
  fill(k, scratch_.data());
  return std::memcmp(scratch_.data(), got, spec_.msg_bytes) == 0;
}

void BwFlow::post_more() {
  if (failed_ || sim_.now() >= spec_.stop_ns) return;
  bool any = false;
  while (posted - completed < spec_.depth) {
    const uint64_t k = posted;
    const uint64_t off = (k % spec_.depth) * spec_.msg_bytes;
    fill(k, src_.data + off);
    pipe::SendWqe w{};
    w.wr_id = k;
    w.send_flags = IBV_SEND_SIGNALED;
    w.opcode = uint8_t(spec_.op == FlowOp::kSend       ? IBV_WR_SEND
                       : spec_.op == FlowOp::kWriteImm ? IBV_WR_RDMA_WRITE_WITH_IMM
                                                       : IBV_WR_RDMA_WRITE);
    w.remote_addr = dst_.addr + off;
    w.rkey = dst_.rkey;
    w.imm_data = htonl(uint32_t(k));
    const pipe::Sge sge = src_.sge(off, spec_.msg_bytes);
    if (!tx_qp_->rings->post_send(w, &sge, 1)) break;
    ++posted;
    any = true;
  }
  if (any) tx_host_.ring_doorbell(tx_qp_->qpn);
}

void BwFlow::sender_pass() {
  pipe::Cqe c;
  while (tx_cq_->poll(c)) {
    if (c.status != IBV_WC_SUCCESS) {
      ++error_completions;
      fail("send: " + status_text(c.status) + " on message " + std::to_string(c.wr_id));
      continue;
    }
    const uint64_t k = c.wr_id;
    if (k != completed) {
      ++corrupt_messages;
      fail("send: completion for message " + std::to_string(k) + ", expected " + std::to_string(completed));
    }
    const uint64_t off = (k % spec_.depth) * spec_.msg_bytes;
    if (check(k, dst_.data + off)) {
      verified_bytes += spec_.msg_bytes;
    } else {
      ++corrupt_messages;
      fail("receiver memory does not hold message " + std::to_string(k));
    }
    ++completed;
    completed_bytes += spec_.msg_bytes;
    if (on_complete) on_complete(sim_.now(), spec_.msg_bytes);
  }
  if (started_) post_more();
}

void BwFlow::receiver_pass() {
  pipe::Cqe c;
  bool reposted = false;
  while (rx_cq_->poll(c)) {
    if (c.status != IBV_WC_SUCCESS) {
      ++error_completions;
      fail("receive: " + status_text(c.status));
      continue;
    }
    ++recv_completions;
    const bool imm = spec_.op == FlowOp::kWriteImm;
    const bool ok = imm ? c.opcode == IBV_WC_RECV_RDMA_WITH_IMM && ntohl(c.imm_data) == uint32_t(next_recv_)
                        : c.opcode == IBV_WC_RECV && c.byte_len == spec_.msg_bytes;
    if (!ok) {
      ++recv_mismatches;
      fail("receive completion " + std::to_string(next_recv_) + " does not match");
    }
    ++next_recv_;
    const uint64_t slot = c.wr_id;
    const pipe::Sge sge = dst_.sge(slot * spec_.msg_bytes, spec_.msg_bytes);
    rx_qp_->rings->post_recv(slot, &sge, spec_.op == FlowOp::kSend ? 1 : 0);
    reposted = true;
  }
  if (reposted) rx_host_.ring_doorbell(rx_qp_->qpn);
}

}  // namespace flexins::fabric
