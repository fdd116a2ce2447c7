// Shared receive queues: created through the engine; the library produces
// receive WQEs into the shared ring (post.cc).
#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/device_caps.h"
#include "verbs/control_client.h"
#include "verbs/object_tables.h"
#include "verbs/objects.h"

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_srq* ibv_create_srq(struct ibv_pd* pd, struct ibv_srq_init_attr* init) {
  if (pd == nullptr || init == nullptr || init->attr.max_wr == 0 ||
      init->attr.max_wr > pipe::DeviceCaps::kMaxSrqWr ||
      init->attr.max_sge > pipe::DeviceCaps::kMaxSrqSge) {
    errno = EINVAL;
    return nullptr;
  }
  Context& ctx = *to_context(pd->context);
  auto* srq = new (std::nothrow) Srq{};
  if (srq == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  pipe::CreateSrqRequest req{to_pd(pd)->handle, init->attr.max_wr, init->attr.max_sge,
                             init->attr.srq_limit};
  pipe::CreateSrqReply rep{};
  int err = ctx.control->call(pipe::CtlOp::kCreateSrq, req, &rep);
  pipe::SrqShm* shm = nullptr;
  uint8_t* ring = nullptr;
  if (err == 0) {
    shm = static_cast<pipe::SrqShm*>(shm_at(ctx, rep.shm_offset, sizeof(pipe::SrqShm)));
    const uint32_t slots = shm ? shm->rq.slots : 0;
    if (shm != nullptr && slots != 0 && (slots & (slots - 1)) == 0 &&
        shm->rq.slot_size >= pipe::recv_slot_size(rep.max_sge))
      ring = static_cast<uint8_t*>(
          shm_at(ctx, shm->rq.ring_offset, uint64_t(slots) * shm->rq.slot_size));
    if (ring == nullptr) {
      ctx.control->call(pipe::CtlOp::kDestroySrq, pipe::HandleRequest{rep.handle, 0});
      err = EPROTO;
    }
  }
  if (err != 0) {
    delete srq;
    errno = err;
    return nullptr;
  }
  srq->ctx = &ctx;
  srq->shm = shm;
  pthread_mutex_init(&srq->lock, nullptr);
  srq->rq = pipe::WqProducer(&shm->rq, ring);
  srq->handle = rep.handle;
  srq->max_wr = rep.max_wr;
  srq->max_sge = rep.max_sge;
  init->attr.max_wr = rep.max_wr;  // ibv_create_srq(3): the actual values
  init->attr.max_sge = rep.max_sge;
  ibv_srq& s = srq->srq;
  s.context = pd->context;
  s.srq_context = init->srq_context;
  s.pd = pd;
  s.handle = rep.handle;
  pthread_mutex_init(&s.mutex, nullptr);
  pthread_cond_init(&s.cond, nullptr);
  ctx.objects->srqs.insert(rep.handle, srq);
  return &s;
}

int ibv_modify_srq(struct ibv_srq* srq, struct ibv_srq_attr* attr, int attr_mask) {
  if (srq == nullptr || attr == nullptr) return EINVAL;
  pipe::ModifySrqRequest req{to_srq(srq)->handle, uint32_t(attr_mask), *attr};
  return to_srq(srq)->ctx->control->call(pipe::CtlOp::kModifySrq, req);
}

int ibv_query_srq(struct ibv_srq* srq, struct ibv_srq_attr* attr) {
  if (srq == nullptr || attr == nullptr) return EINVAL;
  pipe::QuerySrqReply rep{};
  int err = to_srq(srq)->ctx->control->call(pipe::CtlOp::kQuerySrq,
                                            pipe::HandleRequest{to_srq(srq)->handle, 0}, &rep);
  if (err == 0) *attr = rep.attr;
  return err;
}

int ibv_destroy_srq(struct ibv_srq* ibsrq) {
  if (ibsrq == nullptr) return EINVAL;
  Srq* srq = to_srq(ibsrq);
  Context& ctx = *srq->ctx;
  int err = ctx.control->call(pipe::CtlOp::kDestroySrq, pipe::HandleRequest{srq->handle, 0});
  if (err != 0 && err != EIO) return err;  // EBUSY: QPs still use it
  ctx.objects->srqs.erase(srq->handle);
  pthread_mutex_lock(&ibsrq->mutex);
  while (ibsrq->events_completed != srq->async_events_delivered)
    pthread_cond_wait(&ibsrq->cond, &ibsrq->mutex);
  pthread_mutex_unlock(&ibsrq->mutex);
  pthread_mutex_destroy(&srq->lock);
  pthread_mutex_destroy(&ibsrq->mutex);
  pthread_cond_destroy(&ibsrq->cond);
  delete srq;
  return 0;
}

}  // extern "C"
