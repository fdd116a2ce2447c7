// Completion queues: created through the engine, polled straight from the
// shared ring with no system call.
#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/device_caps.h"
#include "verbs/control_client.h"
#include "verbs/liveness.h"
#include "verbs/object_tables.h"
#include "verbs/objects.h"
#include "verbs/ops.h"
#include "verbs/wc_convert.h"

namespace flexins::verbs {
namespace {

constexpr uint64_t kSupportedWcFlags =
    IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | IBV_WC_EX_WITH_QP_NUM |
    IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL |
    IBV_WC_EX_WITH_DLID_PATH_BITS;
constexpr uint32_t kSupportedCqFlags =
    IBV_CREATE_CQ_ATTR_SINGLE_THREADED | IBV_CREATE_CQ_ATTR_IGNORE_OVERRUN;

class PollLock {
 public:
  explicit PollLock(Cq& cq) : cq_(cq) {
    if (!cq_.lock_free) pthread_mutex_lock(&cq_.poll_lock);
  }
  ~PollLock() {
    if (!cq_.lock_free) pthread_mutex_unlock(&cq_.poll_lock);
  }
  PollLock(const PollLock&) = delete;
  PollLock& operator=(const PollLock&) = delete;

 private:
  Cq& cq_;
};

// ---- ibv_cq_ex polling: start_poll takes the poll lock, end_poll gives it
// back; in between `current` is the completion the read_* functions see.

void lock_poll(Cq& cq) {
  if (!cq.lock_free) pthread_mutex_lock(&cq.poll_lock);
}
void unlock_poll(Cq& cq) {
  if (!cq.lock_free) pthread_mutex_unlock(&cq.poll_lock);
}

int load_current(Cq& cq) {
  cq.current = cq.consumer.peek();
  if (cq.current == nullptr) return engine_gone(*cq.ctx) ? EIO : ENOENT;
  cq.ex.wr_id = cq.current->wr_id;
  cq.ex.status = static_cast<ibv_wc_status>(cq.current->status);
  return 0;
}

int ex_start_poll(ibv_cq_ex* ex, ibv_poll_cq_attr* attr) {
  if (attr != nullptr && attr->comp_mask != 0) return EINVAL;
  Cq& cq = *to_cq(ex);
  lock_poll(cq);
  int r = load_current(cq);
  if (r != 0) unlock_poll(cq);  // no ibv_end_poll follows a failed start
  return r;
}
int ex_next_poll(ibv_cq_ex* ex) {
  Cq& cq = *to_cq(ex);
  if (cq.current != nullptr) cq.consumer.pop();
  return load_current(cq);
}
void ex_end_poll(ibv_cq_ex* ex) {
  Cq& cq = *to_cq(ex);
  if (cq.current != nullptr) cq.consumer.pop();
  cq.current = nullptr;
  unlock_poll(cq);
}
const pipe::Cqe& cur(ibv_cq_ex* ex) { return *to_cq(ex)->current; }
ibv_wc_opcode ex_read_opcode(ibv_cq_ex* ex) { return static_cast<ibv_wc_opcode>(cur(ex).opcode); }
uint32_t ex_read_vendor_err(ibv_cq_ex* ex) { return cur(ex).vendor_err; }
uint32_t ex_read_byte_len(ibv_cq_ex* ex) { return cur(ex).byte_len; }
__be32 ex_read_imm_data(ibv_cq_ex* ex) { return cur(ex).imm_data; }
uint32_t ex_read_qp_num(ibv_cq_ex* ex) { return cur(ex).qp_num; }
uint32_t ex_read_src_qp(ibv_cq_ex* ex) { return cur(ex).src_qp; }
unsigned int ex_read_wc_flags(ibv_cq_ex* ex) { return cur(ex).wc_flags; }
uint32_t ex_read_slid(ibv_cq_ex* ex) { return cur(ex).slid; }
uint8_t ex_read_sl(ibv_cq_ex* ex) { return cur(ex).sl; }
uint8_t ex_read_dlid_path_bits(ibv_cq_ex* ex) { return cur(ex).dlid_path_bits; }

void init_cq_ex_ops(ibv_cq_ex& ex) {
  ex.start_poll = ex_start_poll;
  ex.next_poll = ex_next_poll;
  ex.end_poll = ex_end_poll;
  ex.read_opcode = ex_read_opcode;
  ex.read_vendor_err = ex_read_vendor_err;
  ex.read_byte_len = ex_read_byte_len;
  ex.read_imm_data = ex_read_imm_data;
  ex.read_qp_num = ex_read_qp_num;
  ex.read_src_qp = ex_read_src_qp;
  ex.read_wc_flags = ex_read_wc_flags;
  ex.read_slid = ex_read_slid;
  ex.read_sl = ex_read_sl;
  ex.read_dlid_path_bits = ex_read_dlid_path_bits;
}

Cq* create_cq(ibv_context* context, int cqe, void* cq_context, ibv_comp_channel* channel,
              int comp_vector, uint32_t flags, int* err_out) {
  if (context == nullptr || cqe < 1 || uint32_t(cqe) > pipe::DeviceCaps::kMaxCqe ||
      comp_vector < 0 || comp_vector >= context->num_comp_vectors ||
      (channel != nullptr && channel->context != context)) {
    *err_out = EINVAL;
    return nullptr;
  }
  Context& ctx = *to_context(context);
  auto* cq = new (std::nothrow) Cq{};
  if (cq == nullptr) {
    *err_out = ENOMEM;
    return nullptr;
  }
  CompChannel* ch = channel ? to_channel(channel) : nullptr;
  pipe::CreateCqRequest req{uint32_t(cqe), ch ? ch->handle : pipe::kNoHandle,
                            uint32_t(comp_vector), 0};
  pipe::CreateCqReply rep{};
  int err = ctx.control->call(pipe::CtlOp::kCreateCq, req, &rep);
  pipe::CqShm* shm = nullptr;
  pipe::Cqe* ring = nullptr;
  if (err == 0) {
    shm = static_cast<pipe::CqShm*>(shm_at(ctx, rep.shm_offset, sizeof(pipe::CqShm)));
    if (shm != nullptr && shm->slots == rep.slots && rep.slots != 0 &&
        (rep.slots & (rep.slots - 1)) == 0)
      ring = static_cast<pipe::Cqe*>(
          shm_at(ctx, shm->ring_offset, uint64_t(rep.slots) * sizeof(pipe::Cqe)));
    if (ring == nullptr) {
      ctx.control->call(pipe::CtlOp::kDestroyCq, pipe::HandleRequest{rep.handle, 0});
      err = EPROTO;
    }
  }
  if (err != 0) {
    delete cq;
    *err_out = err;
    return nullptr;
  }
  cq->ctx = &ctx;
  cq->channel = ch;
  cq->consumer = pipe::CqConsumer(shm, ring);
  cq->handle = rep.handle;
  cq->lock_free = flags & IBV_CREATE_CQ_ATTR_SINGLE_THREADED;
  pthread_mutex_init(&cq->poll_lock, nullptr);
  ibv_cq_ex& ex = cq->ex;
  ex.context = context;
  ex.channel = channel;
  ex.cq_context = cq_context;
  ex.handle = rep.handle;
  ex.cqe = int(rep.slots);
  pthread_mutex_init(&ex.mutex, nullptr);
  pthread_cond_init(&ex.cond, nullptr);
  init_cq_ex_ops(ex);
  if (ch != nullptr) {
    pthread_mutex_lock(&context->mutex);
    ++ch->ch.refcnt;
    pthread_mutex_unlock(&context->mutex);
  }
  ctx.objects->cqs.insert(rep.handle, cq);
  return cq;
}

}  // namespace

int poll_cq(ibv_cq* ibcq, int num_entries, ibv_wc* wc) {
  Cq& cq = *to_cq(ibcq);
  int n = 0;
  {
    PollLock hold(cq);
    for (; n < num_entries; ++n) {
      const pipe::Cqe* c = cq.consumer.peek();
      if (c == nullptr) break;
      cqe_to_wc(*c, wc[n]);
      cq.consumer.pop();
    }
  }
  // Nothing there: is anyone left to produce? (Rarely asks the kernel.)
  if (n == 0 && num_entries > 0 && engine_gone(*cq.ctx)) return -1;
  return n;
}

int req_notify_cq(ibv_cq* ibcq, int solicited_only) {
  Cq& cq = *to_cq(ibcq);
  if (cq.ctx->control->known_dead()) return EIO;
  cq.consumer.arm(solicited_only != 0);
  return 0;
}

ibv_cq_ex* create_cq_ex(ibv_context* context, ibv_cq_init_attr_ex* attr) {
  if (attr == nullptr ||
      (attr->comp_mask & ~uint32_t(IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD))) {
    errno = EINVAL;
    return nullptr;
  }
  uint32_t flags = (attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) ? attr->flags : 0;
  if (attr->wc_flags & ~kSupportedWcFlags || flags & ~kSupportedCqFlags) {
    errno = EOPNOTSUPP;
    return nullptr;
  }
  if (attr->cqe > uint32_t(INT32_MAX)) {
    errno = EINVAL;
    return nullptr;
  }
  int err = 0;
  Cq* cq = create_cq(context, int(attr->cqe), attr->cq_context, attr->channel,
                     int(attr->comp_vector), flags, &err);
  if (cq == nullptr) {
    errno = err;
    return nullptr;
  }
  return &cq->ex;
}

}  // namespace flexins::verbs

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_cq* ibv_create_cq(struct ibv_context* context, int cqe, void* cq_context,
                             struct ibv_comp_channel* channel, int comp_vector) {
  int err = 0;
  Cq* cq = create_cq(context, cqe, cq_context, channel, comp_vector, 0, &err);
  if (cq == nullptr) {
    errno = err;
    return nullptr;
  }
  return as_cq(cq);
}

int ibv_resize_cq(struct ibv_cq* cq, int cqe) {
  (void)cq;
  (void)cqe;
  return EOPNOTSUPP;
}

int ibv_destroy_cq(struct ibv_cq* ibcq) {
  if (ibcq == nullptr) return EINVAL;
  Cq* cq = to_cq(ibcq);
  Context& ctx = *cq->ctx;
  int err = ctx.control->call(pipe::CtlOp::kDestroyCq, pipe::HandleRequest{cq->handle, 0});
  if (err != 0 && err != EIO) return err;  // EBUSY: a QP or SRQ still uses it
  ctx.objects->cqs.erase(cq->handle);
  if (cq->channel != nullptr) {
    pthread_mutex_lock(&ctx.vctx.context.mutex);
    --cq->channel->ch.refcnt;
    pthread_mutex_unlock(&ctx.vctx.context.mutex);
  }
  // ibv_destroy_cq(3): wait until every event handed out has been acked.
  pthread_mutex_lock(&ibcq->mutex);
  while (ibcq->comp_events_completed != cq->comp_events_delivered ||
         ibcq->async_events_completed != cq->async_events_delivered)
    pthread_cond_wait(&ibcq->cond, &ibcq->mutex);
  pthread_mutex_unlock(&ibcq->mutex);
  pthread_mutex_destroy(&cq->poll_lock);
  pthread_mutex_destroy(&ibcq->mutex);
  pthread_cond_destroy(&ibcq->cond);
  delete cq;
  return 0;
}

void ibv_ack_cq_events(struct ibv_cq* cq, unsigned int nevents) {
  if (cq == nullptr) return;
  pthread_mutex_lock(&cq->mutex);
  cq->comp_events_completed += nevents;
  pthread_cond_signal(&cq->cond);
  pthread_mutex_unlock(&cq->mutex);
}

}  // extern "C"
