#include "engine/session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/engine.h"
#include "engine/qp_admin.h"
#include "pipe/device_caps.h"
#include "pipe/doorbell.h"
#include "pipe/unix_msg.h"
#include "transport/qp.h"
#include "transport/qp_state.h"

namespace flexins::engine {
namespace {

using pipe::DeviceCaps;

constexpr uint32_t kAccessKnown = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
                                  IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND | IBV_ACCESS_ZERO_BASED |
                                  IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB | IBV_ACCESS_RELAXED_ORDERING;

}  // namespace

Session::Session(Engine& engine, int sock) : engine_(engine), sock_(sock), id_(engine.next_session_id()) {}

Session::~Session() {
  // Reclaim everything, QPs first: they point at CQs, MRs and the shm.
  while (!qps_.empty()) destroy_qp_now(qps_.begin()->first);
  while (!srqs_.empty()) destroy_srq_now(srqs_.begin()->first);
  while (!ahs_.empty()) destroy_ah_now(ahs_.begin()->first);
  while (!mrs_.empty()) destroy_mr_now(mrs_.begin()->first);
  if (opened_) {
    for (uint32_t w = 0; w < engine_.num_workers(); ++w)
      engine_.worker(w).call([&, w] { engine_.worker(w).remove_context(id_); });
  }
  cqs_.clear();
  for (auto& [h, fd] : channels_) close(fd);
  if (async_fd_ >= 0) close(async_fd_);
  if (async_peer_fd_ >= 0) close(async_peer_fd_);
  close(sock_);
}

template <class T>
bool Session::body_as(std::span<const uint8_t> body, T& out) {
  if (body.size() != sizeof(T)) return false;
  std::memcpy(&out, body.data(), sizeof(T));
  return true;
}

bool Session::serve() {
  alignas(8) uint8_t buf[pipe::kMaxMsg];
  int fds[pipe::kMaxFdsPerMsg];
  size_t nfds = 0;
  ssize_t n = pipe::recv_msg(sock_, buf, sizeof buf, fds, &nfds, MSG_DONTWAIT);
  if (n == -EAGAIN) return true;
  if (n <= 0 || size_t(n) < sizeof(pipe::CtlRequest)) {
    for (size_t i = 0; i < nfds; ++i) close(fds[i]);
    return false;  // EOF, error, or garbage: drop the connection
  }
  pipe::CtlRequest req;
  std::memcpy(&req, buf, sizeof req);
  Reply r;
  std::span<const uint8_t> body(buf + sizeof req, size_t(n) - sizeof req);
  if (req.size != body.size()) {
    r.status = EINVAL;
  } else {
    dispatch(req.op, body, std::span<const int>(fds, nfds), r);
  }
  for (size_t i = 0; i < nfds; ++i) close(fds[i]);  // handlers dup what they keep

  std::vector<uint8_t> out(sizeof(pipe::CtlReply) + r.body.size());
  pipe::CtlReply hdr{r.status, uint32_t(r.body.size())};
  std::memcpy(out.data(), &hdr, sizeof hdr);
  if (!r.body.empty()) std::memcpy(out.data() + sizeof hdr, r.body.data(), r.body.size());
  return pipe::send_msg(sock_, out.data(), out.size(), r.fds) == 0;
}

void Session::dispatch(uint32_t op, std::span<const uint8_t> body, std::span<const int> fds, Reply& r) {
  using pipe::CtlOp;
  const auto o = CtlOp(op);
  if (o == CtlOp::kStats) {
    std::string json = engine_.stats_json();
    r.body.assign(json.begin(), json.end());
    return;
  }
  if (o == CtlOp::kQpList || o == CtlOp::kQpSet) {
    AdminReply a;
    pipe::QpListRequest list;
    pipe::QpSetRequest set;
    if (o == CtlOp::kQpList && body_as(body, list)) a = qp_list(engine_, list);
    else if (o == CtlOp::kQpSet && body_as(body, set)) a = qp_set(engine_, set);
    else a.status = EINVAL;
    r.status = a.status;
    r.body.assign(a.body.begin(), a.body.end());
    return;
  }
  if (o == CtlOp::kOpen) return open(body, r);
  if (!opened_) {
    r.status = EPERM;
    return;
  }
  switch (o) {
    case CtlOp::kAllocPd: return alloc_pd(r);
    case CtlOp::kDeallocPd: return dealloc_pd(body, r);
    case CtlOp::kRegMr: return reg_mr(body, fds, r);
    case CtlOp::kDeregMr: return dereg_mr(body, r);
    case CtlOp::kCreateCompChannel: return create_channel(fds, r);
    case CtlOp::kDestroyCompChannel: return destroy_channel(body, r);
    case CtlOp::kCreateCq: return create_cq(body, r);
    case CtlOp::kDestroyCq: return destroy_cq(body, r);
    case CtlOp::kCreateQp: return create_qp(body, r);
    case CtlOp::kModifyQp: return modify_qp(body, r);
    case CtlOp::kQueryQp: return query_qp(body, r);
    case CtlOp::kDestroyQp: return destroy_qp(body, r);
    case CtlOp::kCreateSrq: return create_srq(body, r);
    case CtlOp::kModifySrq: return modify_srq(body, r);
    case CtlOp::kQuerySrq: return query_srq(body, r);
    case CtlOp::kDestroySrq: return destroy_srq(body, r);
    case CtlOp::kCreateAh: return create_ah(body, r);
    case CtlOp::kDestroyAh: return destroy_ah(body, r);
    default: r.status = EOPNOTSUPP; return;
  }
}

// ---------------------------------------------------------------------- open

void Session::open(std::span<const uint8_t> body, Reply& r) {
  pipe::OpenRequest req;
  if (opened_ || !body_as(body, req) || req.version != pipe::kControlVersion) {
    r.status = opened_ ? EBUSY : EPROTO;
    return;
  }
  try {
    shm_ = std::make_unique<ShmArena>("flexins-ctx", pipe::kCtxShmSize);
  } catch (const std::exception&) {
    r.status = ENOMEM;
    return;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    r.status = errno;
    return;
  }
  async_fd_ = sv[0];
  async_peer_fd_ = sv[1];

  uint64_t hdr_off = shm_->alloc(sizeof(pipe::CtxShmHeader));  // offset 0
  auto* hdr = shm_->at<pipe::CtxShmHeader>(hdr_off);
  hdr->magic = pipe::kCtxShmMagic;
  hdr->version = pipe::kPipeVersion;
  hdr->num_workers = engine_.num_workers();
  hdr->shm_size = shm_->size();
  ctx_.id = id_;
  ctx_.async_fd = async_fd_;
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) {
    uint64_t off = shm_->alloc(sizeof(pipe::DoorbellFifo));
    hdr->doorbell_offset[w] = off;
    auto* fifo = shm_->at<pipe::DoorbellFifo>(off);
    pipe::doorbell_fifo_init(*fifo);
    WorkerContext wc = ctx_;
    wc.fifo = fifo;
    engine_.worker(w).call([&, w, wc] { engine_.worker(w).add_context(wc); });
  }
  opened_ = true;

  pipe::OpenReply rep{};
  rep.num_workers = engine_.num_workers();
  rep.ipv4 = engine_.ip_be();
  rep.gid[10] = 0xff;
  rep.gid[11] = 0xff;
  std::memcpy(rep.gid + 12, &rep.ipv4, 4);
  // A locally administered EUI-64 from the address: stable and unique per engine.
  const auto* ip = reinterpret_cast<const uint8_t*>(&rep.ipv4);
  rep.node_guid = 0x02'00'00'ff'fe'00'00'00ull | uint64_t(ip[0]) << 40 | uint64_t(ip[1]) << 16 |
                  uint64_t(ip[2]) << 8 | ip[3];
  rep.active_mtu = engine_.active_mtu();
  r.set(rep);
  r.fds = {shm_->fd(), engine_.status_fd(), async_peer_fd_};
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) r.fds.push_back(engine_.worker(w).wake_fd());
}

// ------------------------------------------------------------------------ PD

void Session::alloc_pd(Reply& r) {
  if (pds_.size() >= DeviceCaps::kMaxPd) {
    r.status = ENOMEM;
    return;
  }
  uint32_t h = engine_.alloc_pd_handle();
  pds_[h] = 0;
  r.set(pipe::HandleReply{h, 0});
}

void Session::dealloc_pd(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !pds_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  if (pds_[req.handle] != 0) {  // ibv_dealloc_pd(3): EBUSY while in use
    r.status = EBUSY;
    return;
  }
  pds_.erase(req.handle);
}

// ------------------------------------------------------------------------ MR

void Session::reg_mr(std::span<const uint8_t> body, std::span<const int> fds, Reply& r) {
  pipe::RegMrRequest req;
  if (!body_as(body, req) || !pds_.count(req.pd) || req.num_segments == 0 ||
      req.num_segments > pipe::kMaxMrSegments || req.num_segments != fds.size() || req.length == 0 ||
      req.addr < req.page_addr || (req.access & ~kAccessKnown)) {
    r.status = EINVAL;
    return;
  }
  // ibv_reg_mr(3): remote write or atomic access needs local write.
  if ((req.access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) && !(req.access & IBV_ACCESS_LOCAL_WRITE)) {
    r.status = EINVAL;
    return;
  }
  if (mrs_.size() >= DeviceCaps::kMaxMr) {
    r.status = ENOMEM;
    return;
  }
  Mr mr;
  if (int e = mr.mapping.map(fds, std::span(req.segments, req.num_segments))) {
    r.status = e;
    return;
  }
  const uint64_t first = req.addr - req.page_addr;
  if (first > mr.mapping.length() || req.length > mr.mapping.length() - first) {
    r.status = EINVAL;
    return;
  }
  uint32_t h = next_handle_++;
  transport::MemoryRegion& m = mr.region;
  m.handle = h;
  m.lkey = engine_.alloc_key();
  m.rkey = engine_.alloc_key();
  m.pd = req.pd;
  m.access = req.access;
  m.iova = req.iova;
  m.length = req.length;
  m.base = mr.mapping.base() + first;
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) {
    Worker& wk = engine_.worker(w);
    wk.call([&wk, m] { wk.add_mr(m); });
  }
  ++pds_[req.pd];
  r.set(pipe::RegMrReply{h, m.lkey, m.rkey, 0});
  mrs_.emplace(h, std::move(mr));
}

void Session::destroy_mr_now(uint32_t handle) {
  auto it = mrs_.find(handle);
  const transport::MemoryRegion m = it->second.region;
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) {
    Worker& wk = engine_.worker(w);
    wk.call([&wk, m] { wk.remove_mr(m.lkey, m.rkey); });
  }
  engine_.free_key(m.lkey);
  engine_.free_key(m.rkey);
  --pds_[m.pd];
  mrs_.erase(it);  // unmaps: no worker can reach it any more
}

void Session::dereg_mr(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !mrs_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  destroy_mr_now(req.handle);
}

// ---------------------------------------------------------------- channels

void Session::create_channel(std::span<const int> fds, Reply& r) {
  if (fds.size() != 1) {
    r.status = EINVAL;
    return;
  }
  int fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    r.status = errno;
    return;
  }
  uint32_t h = next_handle_++;
  channels_[h] = fd;
  channel_users_[h] = 0;
  r.set(pipe::HandleReply{h, 0});
}

void Session::destroy_channel(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !channels_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  if (channel_users_[req.handle] != 0) {  // ibv_destroy_comp_channel(3)
    r.status = EBUSY;
    return;
  }
  close(channels_[req.handle]);
  channels_.erase(req.handle);
  channel_users_.erase(req.handle);
}

// ------------------------------------------------------------------------ CQ

void Session::create_cq(std::span<const uint8_t> body, Reply& r) {
  pipe::CreateCqRequest req;
  if (!body_as(body, req) || req.cqe == 0 || req.cqe > DeviceCaps::kMaxCqe ||
      (req.channel != pipe::kNoHandle && !channels_.count(req.channel))) {
    r.status = EINVAL;
    return;
  }
  if (cqs_.size() >= DeviceCaps::kMaxCq) {
    r.status = ENOMEM;
    return;
  }
  const uint32_t slots = pipe::ring_slots(req.cqe + 1);
  uint64_t off = shm_->alloc(sizeof(pipe::CqShm));
  uint64_t ring = off ? shm_->alloc(size_t(slots) * sizeof(pipe::Cqe)) : 0;
  if (!ring) {
    if (off) shm_->free(off);
    r.status = ENOMEM;
    return;
  }
  auto* cs = shm_->at<pipe::CqShm>(off);
  cs->ring_offset = ring;
  cs->slots = slots;
  uint32_t h = next_handle_++;
  int channel_fd = req.channel == pipe::kNoHandle ? -1 : channels_[req.channel];
  Cq cq;
  cq.cq = std::make_unique<EngineCq>(h, cs, shm_->at<pipe::Cqe>(ring), slots, channel_fd, async_fd_);
  cq.shm_offset = off;
  cq.channel = req.channel;
  if (req.channel != pipe::kNoHandle) ++channel_users_[req.channel];
  cqs_.emplace(h, std::move(cq));
  r.set(pipe::CreateCqReply{h, slots, off});
}

void Session::destroy_cq(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !cqs_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  Cq& cq = cqs_[req.handle];
  if (cq.users != 0) {  // ibv_destroy_cq(3): EBUSY while QPs use it
    r.status = EBUSY;
    return;
  }
  if (cq.channel != pipe::kNoHandle) --channel_users_[cq.channel];
  auto* cs = shm_->at<pipe::CqShm>(cq.shm_offset);
  shm_->free(cs->ring_offset);  // ring_offset is engine-written only
  shm_->free(cq.shm_offset);
  cqs_.erase(req.handle);
}

// ------------------------------------------------------------------------ QP

void Session::create_qp(std::span<const uint8_t> body, Reply& r) {
  pipe::CreateQpRequest req;
  if (!body_as(body, req) || !pds_.count(req.pd) || !cqs_.count(req.send_cq) || !cqs_.count(req.recv_cq) ||
      (req.srq != pipe::kNoHandle && !srqs_.count(req.srq))) {
    r.status = EINVAL;
    return;
  }
  if (req.qp_type != IBV_QPT_RC && req.qp_type != IBV_QPT_UC && req.qp_type != IBV_QPT_UD) {
    r.status = EOPNOTSUPP;  // XRC, raw packet, driver QPs: not offered
    return;
  }
  const bool has_srq = req.srq != pipe::kNoHandle;
  ibv_qp_cap cap = req.cap;
  if (has_srq) cap.max_recv_wr = cap.max_recv_sge = 0;  // ibv_create_qp(3): ignored with an SRQ
  if (cap.max_send_wr > DeviceCaps::kMaxQpWr || cap.max_recv_wr > DeviceCaps::kMaxQpWr ||
      cap.max_send_sge > DeviceCaps::kMaxSge || cap.max_recv_sge > DeviceCaps::kMaxSge ||
      cap.max_inline_data > DeviceCaps::kMaxInlineData) {
    r.status = EINVAL;  // ibv_create_qp(3): caps beyond the device's
    return;
  }
  if (qps_.size() >= pipe::kDoorbellCapacity) {
    r.status = ENOMEM;
    return;
  }
  cap.max_send_wr = pipe::ring_slots(std::max(cap.max_send_wr, 1u));
  cap.max_send_sge = std::max(cap.max_send_sge, 1u);
  if (!has_srq) {
    cap.max_recv_wr = pipe::ring_slots(std::max(cap.max_recv_wr, 1u));
    cap.max_recv_sge = std::max(cap.max_recv_sge, 1u);
  }
  const uint32_t sq_slot = pipe::send_slot_size(cap.max_send_sge, cap.max_inline_data);
  const uint32_t rq_slot = pipe::recv_slot_size(cap.max_recv_sge);

  Qp q;
  q.shm_offset = shm_->alloc(sizeof(pipe::QpShm));
  q.sq_offset = q.shm_offset ? shm_->alloc(size_t(cap.max_send_wr) * sq_slot) : 0;
  q.rq_offset = q.sq_offset && !has_srq ? shm_->alloc(size_t(cap.max_recv_wr) * rq_slot) : 0;
  if (!q.sq_offset || (!has_srq && !q.rq_offset)) {
    for (uint64_t off : {q.shm_offset, q.sq_offset})
      if (off) shm_->free(off);
    r.status = ENOMEM;
    return;
  }
  q.pd = req.pd;
  q.send_cq = req.send_cq;
  q.recv_cq = req.recv_cq;
  q.srq = req.srq;

  const uint32_t qpn = engine_.alloc_qpn();
  Worker& wk = engine_.worker_for_qpn(qpn);
  auto* qs = shm_->at<pipe::QpShm>(q.shm_offset);
  qs->sq.ring_offset = q.sq_offset;
  qs->sq.slots = cap.max_send_wr;
  qs->sq.slot_size = sq_slot;
  if (!has_srq) {
    qs->rq.ring_offset = q.rq_offset;
    qs->rq.slots = cap.max_recv_wr;
    qs->rq.slot_size = rq_slot;
  }
  qs->state.store(IBV_QPS_RESET, std::memory_order_release);
  qs->worker = qpn % engine_.num_workers();

  transport::QpSetup setup;
  setup.qpn = qpn;
  setup.type = ibv_qp_type(req.qp_type);
  setup.pd = req.pd;
  setup.sq_sig_all = req.sq_sig_all != 0;
  setup.cap = cap;
  setup.shm = qs;
  setup.sq = pipe::WqConsumer(&qs->sq, shm_->at<uint8_t>(q.sq_offset), cap.max_send_wr, sq_slot);
  if (has_srq) {
    setup.srq = srqs_[req.srq].srq.get();
  } else {
    setup.rq = pipe::WqConsumer(&qs->rq, shm_->at<uint8_t>(q.rq_offset), cap.max_recv_wr, rq_slot);
  }
  setup.send_cq = cqs_[req.send_cq].cq.get();
  setup.recv_cq = cqs_[req.recv_cq].cq.get();
  setup.local_ip = engine_.ip_be();
  setup.src_port = engine_.src_port_for(qpn);
  setup.port_mtu_bytes = 128u << engine_.active_mtu();
  WorkerContext wc = ctx_;
  wk.call([&wk, &setup, qs, wc] { wk.add_qp(std::make_unique<transport::Qp>(wk, setup), qs, wc); });

  ++pds_[req.pd];
  ++cqs_[req.send_cq].users;
  ++cqs_[req.recv_cq].users;
  if (has_srq) ++srqs_[req.srq].users;
  qps_.emplace(qpn, q);
  pipe::CreateQpReply rep{};
  rep.qpn = qpn;
  rep.cap = cap;
  rep.shm_offset = q.shm_offset;
  r.set(rep);
}

void Session::modify_qp(std::span<const uint8_t> body, Reply& r) {
  pipe::ModifyQpRequest req;
  if (!body_as(body, req) || !qps_.count(req.qpn)) {
    r.status = EINVAL;
    return;
  }
  Worker& wk = engine_.worker_for_qpn(req.qpn);
  r.status = wk.call([&] { return wk.find_qp(req.qpn)->modify(req.attr, int(req.attr_mask)); });
}

void Session::query_qp(std::span<const uint8_t> body, Reply& r) {
  pipe::QueryQpRequest req;
  if (!body_as(body, req) || !qps_.count(req.qpn)) {
    r.status = EINVAL;
    return;
  }
  Worker& wk = engine_.worker_for_qpn(req.qpn);
  pipe::QueryQpReply rep{};
  wk.call([&] { wk.find_qp(req.qpn)->query(rep.attr, rep.init_attr); });
  rep.init_attr.qp_context = nullptr;
  rep.init_attr.send_cq = nullptr;
  rep.init_attr.recv_cq = nullptr;
  rep.init_attr.srq = nullptr;
  r.set(rep);
}

void Session::destroy_qp_now(uint32_t qpn) {
  auto it = qps_.find(qpn);
  Worker& wk = engine_.worker_for_qpn(qpn);
  wk.call([&wk, qpn] { wk.remove_qp(qpn); });
  engine_.free_qpn(qpn);
  const Qp& q = it->second;
  --pds_[q.pd];
  --cqs_[q.send_cq].users;
  --cqs_[q.recv_cq].users;
  if (q.srq != pipe::kNoHandle) --srqs_[q.srq].users;
  for (uint64_t off : {q.rq_offset, q.sq_offset, q.shm_offset})
    if (off) shm_->free(off);  // offset 0 (the header) is never a QP's
  qps_.erase(it);
}

void Session::destroy_qp(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !qps_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  destroy_qp_now(req.handle);
}

// ----------------------------------------------------------------------- SRQ

void Session::create_srq(std::span<const uint8_t> body, Reply& r) {
  pipe::CreateSrqRequest req;
  // ibv_create_srq(3): max_wr and max_sge within the device's limits;
  // srq_limit is ignored at creation.
  if (!body_as(body, req) || !pds_.count(req.pd) || req.max_wr == 0 || req.max_wr > DeviceCaps::kMaxSrqWr ||
      req.max_sge > DeviceCaps::kMaxSrqSge) {
    r.status = EINVAL;
    return;
  }
  if (srqs_.size() >= DeviceCaps::kMaxSrq) {
    r.status = ENOMEM;
    return;
  }
  const uint32_t slots = pipe::ring_slots(req.max_wr);
  const uint32_t max_sge = std::max(req.max_sge, 1u);
  const uint32_t slot_size = pipe::recv_slot_size(max_sge);
  Srq s;
  s.shm_offset = shm_->alloc(sizeof(pipe::SrqShm));
  s.ring_offset = s.shm_offset ? shm_->alloc(size_t(slots) * slot_size) : 0;
  if (!s.ring_offset) {
    if (s.shm_offset) shm_->free(s.shm_offset);
    r.status = ENOMEM;
    return;
  }
  auto* ss = shm_->at<pipe::SrqShm>(s.shm_offset);
  ss->rq.ring_offset = s.ring_offset;
  ss->rq.slots = slots;
  ss->rq.slot_size = slot_size;
  const uint32_t h = next_handle_++;
  const int async_fd = async_fd_;
  // Runs on the worker that took the WQE: one event per arming.
  auto limit_reached = [async_fd, h] {
    pipe::AsyncEvent ev{IBV_EVENT_SRQ_LIMIT_REACHED, uint32_t(pipe::AsyncObject::kSrq), h, 0};
    send(async_fd, &ev, sizeof ev, MSG_DONTWAIT | MSG_NOSIGNAL);
  };
  s.srq = std::make_unique<transport::RingSrq>(ss, shm_->at<uint8_t>(s.ring_offset), slots, slot_size, req.pd,
                                               max_sge, limit_reached);
  s.pd = req.pd;
  s.max_wr = slots;
  s.max_sge = max_sge;
  ++pds_[req.pd];
  srqs_.emplace(h, std::move(s));
  r.set(pipe::CreateSrqReply{h, slots, max_sge, 0, srqs_[h].shm_offset});
}

void Session::modify_srq(std::span<const uint8_t> body, Reply& r) {
  pipe::ModifySrqRequest req;
  if (!body_as(body, req) || !srqs_.count(req.handle) ||
      (req.attr_mask & ~uint32_t(IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT))) {
    r.status = EINVAL;
    return;
  }
  Srq& s = srqs_[req.handle];
  // Resizing is not offered, as with rdma-core's hardware providers
  // (ibv_modify_srq(3): "not all devices support resizing").
  if (req.attr_mask & IBV_SRQ_MAX_WR) {
    r.status = EINVAL;
    return;
  }
  if (req.attr_mask & IBV_SRQ_LIMIT) {
    if (req.attr.srq_limit > s.max_wr) {  // the limit counts WQEs the SRQ can hold
      r.status = EINVAL;
      return;
    }
    s.srq->arm_limit(req.attr.srq_limit);
  }
}

void Session::query_srq(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !srqs_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  const Srq& s = srqs_[req.handle];
  pipe::QuerySrqReply rep{};
  rep.attr.max_wr = s.max_wr;
  rep.attr.max_sge = s.max_sge;
  rep.attr.srq_limit = s.srq->limit();  // 0 once the limit fired (disarmed)
  r.set(rep);
}

void Session::destroy_srq_now(uint32_t handle) {
  auto it = srqs_.find(handle);
  --pds_[it->second.pd];
  const uint64_t shm_off = it->second.shm_offset, ring_off = it->second.ring_offset;
  srqs_.erase(it);  // no QP uses it: no worker can reach it
  shm_->free(ring_off);
  shm_->free(shm_off);
}

void Session::destroy_srq(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !srqs_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  if (srqs_[req.handle].users != 0) {  // ibv_destroy_srq(3): EBUSY while QPs use it
    r.status = EBUSY;
    return;
  }
  destroy_srq_now(req.handle);
}

// ------------------------------------------------------------------------ AH

void Session::create_ah(std::span<const uint8_t> body, Reply& r) {
  pipe::CreateAhRequest req;
  if (!body_as(body, req) || !pds_.count(req.pd)) {
    r.status = EINVAL;
    return;
  }
  const ibv_ah_attr& a = req.attr;
  transport::AddressHandle ah;
  // A GRH to an IPv4-mapped GID from our one GID (RoCEv2), or, where a RoCE
  // provider would refuse it, a DLID without a GRH (FlexiNS's LID routing,
  // pipe/lid.h); on our one port.
  if (!transport::path_destination(a, engine_.ip_be(), ah.dest_ip) || a.port_num != 1) {
    r.status = EINVAL;
    return;
  }
  if (ahs_.size() >= DeviceCaps::kMaxAh) {
    r.status = ENOMEM;
    return;
  }
  ah.pd = req.pd;
  ah.hop_limit = a.grh.hop_limit;
  ah.traffic_class = a.grh.traffic_class;
  const uint32_t h = next_handle_++;
  const uint32_t ctx = id_;
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) {
    Worker& wk = engine_.worker(w);
    wk.call([&wk, ctx, h, ah] { wk.add_ah(ctx, h, ah); });
  }
  ++pds_[req.pd];
  ahs_.emplace(h, ah);
  r.set(pipe::HandleReply{h, 0});
}

void Session::destroy_ah_now(uint32_t handle) {
  auto it = ahs_.find(handle);
  const uint32_t ctx = id_;
  for (uint32_t w = 0; w < engine_.num_workers(); ++w) {
    Worker& wk = engine_.worker(w);
    wk.call([&wk, ctx, handle] { wk.remove_ah(ctx, handle); });
  }
  --pds_[it->second.pd];
  ahs_.erase(it);
}

void Session::destroy_ah(std::span<const uint8_t> body, Reply& r) {
  pipe::HandleRequest req;
  if (!body_as(body, req) || !ahs_.count(req.handle)) {
    r.status = EINVAL;
    return;
  }
  destroy_ah_now(req.handle);
}

}  // namespace flexins::engine
