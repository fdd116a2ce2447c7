// Completion channels and asynchronous events. Both are real sockets the
// engine writes records to, so applications may poll() their fds.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "verbs/control_client.h"
#include "verbs/object_tables.h"
#include "verbs/objects.h"

namespace flexins::verbs {
namespace {

// One fixed-size record; 0 on EOF, -1 with errno on error (EAGAIN for a
// non-blocking fd with nothing to read). A signal ends the wait with EINTR,
// as libibverbs' read() does: programs such as qperf end a timed test with
// SIGALRM and expect ibv_get_cq_event to return then.
template <class T>
ssize_t recv_record(int fd, T* rec) {
  for (;;) {
    ssize_t n = recv(fd, rec, sizeof *rec, 0);
    if (n < 0 || n == 0) return n;
    if (size_t(n) == sizeof *rec) return n;
    // A short record is garbage: skip it.
  }
}

enum class EventTarget { kNone, kQp, kCq, kSrq };

EventTarget target_of(ibv_event_type t) {
  switch (t) {
    case IBV_EVENT_CQ_ERR:
      return EventTarget::kCq;
    case IBV_EVENT_QP_FATAL:
    case IBV_EVENT_QP_REQ_ERR:
    case IBV_EVENT_QP_ACCESS_ERR:
    case IBV_EVENT_COMM_EST:
    case IBV_EVENT_SQ_DRAINED:
    case IBV_EVENT_PATH_MIG:
    case IBV_EVENT_PATH_MIG_ERR:
    case IBV_EVENT_QP_LAST_WQE_REACHED:
      return EventTarget::kQp;
    case IBV_EVENT_SRQ_ERR:
    case IBV_EVENT_SRQ_LIMIT_REACHED:
      return EventTarget::kSrq;
    default:
      return EventTarget::kNone;
  }
}

}  // namespace
}  // namespace flexins::verbs

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_comp_channel* ibv_create_comp_channel(struct ibv_context* context) {
  if (context == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return nullptr;
  auto* ch = new (std::nothrow) CompChannel{};
  if (ch == nullptr) {
    close(sv[0]);
    close(sv[1]);
    errno = ENOMEM;
    return nullptr;
  }
  pipe::HandleReply rep{};
  int engine_end = sv[1];
  int err = to_context(context)->control->call(pipe::CtlOp::kCreateCompChannel,
                                               pipe::HandleRequest{}, &rep,
                                               std::span<const int>(&engine_end, 1));
  close(sv[1]);  // the engine has its own copy now
  if (err != 0) {
    close(sv[0]);
    delete ch;
    errno = err;
    return nullptr;
  }
  ch->handle = rep.handle;
  ch->ch.context = context;
  ch->ch.fd = sv[0];
  ch->ch.refcnt = 0;
  return &ch->ch;
}

int ibv_destroy_comp_channel(struct ibv_comp_channel* channel) {
  if (channel == nullptr) return EINVAL;
  ibv_context* context = channel->context;
  pthread_mutex_lock(&context->mutex);
  bool busy = channel->refcnt != 0;
  pthread_mutex_unlock(&context->mutex);
  if (busy) return EBUSY;  // CQs still report to it
  CompChannel* ch = to_channel(channel);
  int err = to_context(context)->control->call(pipe::CtlOp::kDestroyCompChannel,
                                               pipe::HandleRequest{ch->handle, 0});
  if (err != 0 && err != EIO) return err;
  close(channel->fd);
  delete ch;
  return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel* channel, struct ibv_cq** cq, void** cq_context) {
  if (channel == nullptr || cq == nullptr || cq_context == nullptr) {
    errno = EINVAL;
    return -1;
  }
  Context& ctx = *to_context(channel->context);
  for (;;) {
    pipe::CompEvent ev;
    ssize_t n = recv_record(channel->fd, &ev);
    if (n == 0) errno = EIO;  // the engine is gone: no event will ever come
    if (n <= 0) return -1;
    Cq* c = ctx.objects->cqs.find(ev.cq);
    if (c == nullptr) continue;  // for a CQ destroyed since: drop it
    ibv_cq* ibcq = as_cq(c);
    pthread_mutex_lock(&ibcq->mutex);
    ++c->comp_events_delivered;
    pthread_mutex_unlock(&ibcq->mutex);
    *cq = ibcq;
    *cq_context = ibcq->cq_context;
    return 0;
  }
}

int ibv_get_async_event(struct ibv_context* context, struct ibv_async_event* event) {
  if (context == nullptr || event == nullptr) {
    errno = EINVAL;
    return -1;
  }
  Context& ctx = *to_context(context);
  for (;;) {
    pipe::AsyncEvent ev;
    ssize_t n = recv_record(context->async_fd, &ev);
    if (n == 0) {
      // The engine went away: the device is dead. Say so once.
      if (ctx.fatal_reported.exchange(true)) {
        errno = EIO;
        return -1;
      }
      std::memset(event, 0, sizeof *event);
      event->event_type = IBV_EVENT_DEVICE_FATAL;
      return 0;
    }
    if (n < 0) return -1;
    std::memset(event, 0, sizeof *event);
    event->event_type = static_cast<ibv_event_type>(ev.event_type);
    switch (static_cast<pipe::AsyncObject>(ev.object)) {
      case pipe::AsyncObject::kQp: {
        Qp* q = ctx.objects->qps.find(ev.handle);
        if (q == nullptr || target_of(event->event_type) != EventTarget::kQp) continue;
        ibv_qp* ibqp = &q->ex.qp_base;
        pthread_mutex_lock(&ibqp->mutex);
        ++q->async_events_delivered;
        pthread_mutex_unlock(&ibqp->mutex);
        event->element.qp = ibqp;
        return 0;
      }
      case pipe::AsyncObject::kCq: {
        Cq* c = ctx.objects->cqs.find(ev.handle);
        if (c == nullptr || target_of(event->event_type) != EventTarget::kCq) continue;
        ibv_cq* ibcq = as_cq(c);
        pthread_mutex_lock(&ibcq->mutex);
        ++c->async_events_delivered;
        pthread_mutex_unlock(&ibcq->mutex);
        event->element.cq = ibcq;
        return 0;
      }
      case pipe::AsyncObject::kSrq: {
        Srq* s = ctx.objects->srqs.find(ev.handle);
        if (s == nullptr || target_of(event->event_type) != EventTarget::kSrq) continue;
        pthread_mutex_lock(&s->srq.mutex);
        ++s->async_events_delivered;
        pthread_mutex_unlock(&s->srq.mutex);
        event->element.srq = &s->srq;
        return 0;
      }
      case pipe::AsyncObject::kPort:
        event->element.port_num = int(ev.handle);
        return 0;
      case pipe::AsyncObject::kDevice:
        if (event->event_type == IBV_EVENT_DEVICE_FATAL) ctx.fatal_reported.store(true);
        return 0;
    }
    // Unknown object kind from a newer engine: skip.
  }
}

void ibv_ack_async_event(struct ibv_async_event* event) {
  if (event == nullptr) return;
  pthread_mutex_t* mu = nullptr;
  pthread_cond_t* cond = nullptr;
  uint32_t* completed = nullptr;
  switch (target_of(event->event_type)) {
    case EventTarget::kQp:
      mu = &event->element.qp->mutex;
      cond = &event->element.qp->cond;
      completed = &event->element.qp->events_completed;
      break;
    case EventTarget::kCq:
      mu = &event->element.cq->mutex;
      cond = &event->element.cq->cond;
      completed = &event->element.cq->async_events_completed;
      break;
    case EventTarget::kSrq:
      mu = &event->element.srq->mutex;
      cond = &event->element.srq->cond;
      completed = &event->element.srq->events_completed;
      break;
    case EventTarget::kNone:
      return;
  }
  pthread_mutex_lock(mu);
  ++*completed;
  pthread_cond_signal(cond);
  pthread_mutex_unlock(mu);
}

}  // extern "C"
