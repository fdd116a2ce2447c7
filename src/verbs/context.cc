// ibv_open_device / ibv_close_device: connect to the device's engine, map
// the notification pipe, and hand the application a verbs_context whose
// ops lead straight into the pipe.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/shm_layout.h"
#include "verbs/control_client.h"
#include "verbs/liveness.h"
#include "verbs/object_tables.h"
#include "verbs/objects.h"
#include "verbs/ops.h"

namespace flexins::verbs {
namespace {

// Open's reply fds (pipe/control_proto.h).
enum : size_t { kFdCtxShm = 0, kFdStatusShm = 1, kFdAsync = 2, kFdFirstWorker = 3 };

int connect_engine(const char* path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof sa.sun_path) {
    close(fd);
    return -ENAMETOOLONG;
  }
  std::memcpy(sa.sun_path, path, std::strlen(path) + 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    close(fd);
    // No engine behind the name: the device is gone.
    return -((err == ENOENT || err == ECONNREFUSED) ? ENODEV : err);
  }
  return fd;
}

void fill_ops(Context& c) {
  verbs_context& v = c.vctx;
  ibv_context_ops& ops = v.context.ops;
  ops.poll_cq = poll_cq;
  ops.req_notify_cq = req_notify_cq;
  ops.post_send = post_send;
  ops.post_recv = post_recv;
  ops.post_srq_recv = post_srq_recv;
  v.query_port = query_port;
  v.query_device_ex = query_device_ex;
  v.create_cq_ex = create_cq_ex;
  v.create_qp_ex = create_qp_ex;
  // Everything from query_port (the first member) to the ibv_context.
  v.sz = sizeof(verbs_context);
  v.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
}

void close_all(int* fds, size_t n) {
  for (size_t i = 0; i < n; ++i) close(fds[i]);
}

}  // namespace

void destroy_context(Context* c) {
  if (c->shm != nullptr) munmap(c->shm, c->shm_size);
  if (c->status != nullptr)
    munmap(const_cast<pipe::EngineStatusShm*>(c->status), sizeof(pipe::EngineStatusShm));
  for (uint32_t i = 0; i < c->num_workers; ++i) close(c->worker_eventfd[i]);
  if (c->vctx.context.async_fd >= 0) close(c->vctx.context.async_fd);
  delete c->control;  // closes cmd_fd: the engine reclaims what is left
  delete c->objects;
  pthread_mutex_destroy(&c->vctx.context.mutex);
  c->~Context();
  ::operator delete(c);
}

}  // namespace flexins::verbs

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_context* ibv_open_device(struct ibv_device* device) {
  if (device == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  Device* dev = to_device(device);
  int sock = connect_engine(dev->socket_path);
  if (sock < 0) {
    errno = -sock;
    return nullptr;
  }
  auto* control = new (std::nothrow) ControlClient(sock);
  if (control == nullptr) {
    close(sock);
    errno = ENOMEM;
    return nullptr;
  }
  pipe::OpenRequest req{pipe::kControlVersion, getpid()};
  pipe::OpenReply rep{};
  int fds[pipe::kMaxFdsPerMsg];
  size_t nfds = 0;
  int err = control->call(pipe::CtlOp::kOpen, req, &rep, {}, fds, &nfds);
  if (err == 0 && (rep.num_workers == 0 || rep.num_workers > pipe::kMaxWorkers ||
                   nfds != kFdFirstWorker + rep.num_workers)) {
    close_all(fds, nfds);
    err = EPROTO;
  }
  if (err != 0) {
    delete control;
    errno = err;
    return nullptr;
  }

  void* shm = mmap(nullptr, pipe::kCtxShmSize, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fds[kFdCtxShm], 0);
  void* status = mmap(nullptr, sizeof(pipe::EngineStatusShm), PROT_READ, MAP_SHARED,
                      fds[kFdStatusShm], 0);
  err = (shm == MAP_FAILED || status == MAP_FAILED) ? errno : 0;
  close(fds[kFdCtxShm]);
  close(fds[kFdStatusShm]);
  if (err == 0) {
    auto* hdr = static_cast<const pipe::CtxShmHeader*>(shm);
    auto* st = static_cast<const pipe::EngineStatusShm*>(status);
    if (hdr->magic != pipe::kCtxShmMagic || hdr->version != pipe::kPipeVersion ||
        hdr->num_workers != rep.num_workers || st->magic != pipe::kEngineShmMagic ||
        st->version != pipe::kPipeVersion)
      err = EPROTO;
    for (uint32_t w = 0; err == 0 && w < rep.num_workers; ++w)
      if (hdr->doorbell_offset[w] > pipe::kCtxShmSize - sizeof(pipe::DoorbellFifo)) err = EPROTO;
  }
  void* mem = err == 0 ? ::operator new(sizeof(Context), std::nothrow) : nullptr;
  if (err == 0 && mem == nullptr) err = ENOMEM;
  if (err != 0) {
    if (shm != MAP_FAILED) munmap(shm, pipe::kCtxShmSize);
    if (status != MAP_FAILED) munmap(status, sizeof(pipe::EngineStatusShm));
    close_all(fds + kFdAsync, nfds - kFdAsync);
    delete control;
    errno = err;
    return nullptr;
  }

  std::memset(mem, 0, sizeof(Context));
  auto* c = new (mem) Context;
  c->device = dev;
  c->control = control;
  c->objects = new ObjectTables;
  c->shm = static_cast<uint8_t*>(shm);
  c->shm_size = pipe::kCtxShmSize;
  c->status = static_cast<const pipe::EngineStatusShm*>(status);
  c->num_workers = rep.num_workers;
  for (uint32_t w = 0; w < rep.num_workers; ++w) c->worker_eventfd[w] = fds[kFdFirstWorker + w];
  c->open = rep;
  c->next_liveness_check_ns.store(monotonic_ns() + kLivenessCheckIntervalNs);
  c->fatal_reported.store(false);

  ibv_context& ctx = c->vctx.context;
  ctx.device = device;
  ctx.cmd_fd = sock;
  ctx.async_fd = fds[kFdAsync];
  ctx.num_comp_vectors = 1;
  pthread_mutex_init(&ctx.mutex, nullptr);
  fill_ops(*c);
  return &ctx;
}

int ibv_close_device(struct ibv_context* context) {
  if (context == nullptr) return EINVAL;
  destroy_context(to_context(context));
  return 0;
}

}  // extern "C"
