// Protection domains and memory regions.
#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/device_caps.h"
#include "verbs/control_client.h"
#include "verbs/mr_share.h"
#include "verbs/objects.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

namespace flexins::verbs {
namespace {

constexpr unsigned kKnownAccess = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                                  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |
                                  IBV_ACCESS_MW_BIND | IBV_ACCESS_ZERO_BASED |
                                  IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB;

// Access flags as ibv_reg_mr(3) defines them. Returns 0 or an errno.
int check_access(unsigned access) {
  // Optional flags may be ignored by a device that lacks them (verbs.h).
  access &= ~unsigned(IBV_ACCESS_OPTIONAL_RANGE);
  if (access & ~kKnownAccess) return EINVAL;
  // Remote write and remote atomic need local write (ibv_reg_mr(3)).
  if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
      !(access & IBV_ACCESS_LOCAL_WRITE))
    return EINVAL;
  if (access & IBV_ACCESS_ON_DEMAND) return EOPNOTSUPP;  // no paging on demand
  return 0;
}

ibv_mr* reg_mr(ibv_pd* pd, void* addr, size_t length, uint64_t iova, unsigned access) {
  int err = 0;
  if (pd == nullptr || length == 0) err = EINVAL;
  if (err == 0) err = check_access(access);
  if (err == 0 && length > pipe::DeviceCaps::kMaxMrSize) err = EINVAL;
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  Context& ctx = *to_context(pd->context);
  auto* mr = new (std::nothrow) Mr{};
  auto* range = new (std::nothrow) SharedRange;
  if (mr == nullptr || range == nullptr) {
    delete mr;
    delete range;
    errno = ENOMEM;
    return nullptr;
  }
  const bool need_write = access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                                    IBV_ACCESS_REMOTE_ATOMIC);
  err = share_range(addr, length, need_write, range);
  if (err == 0 && range->pieces().size() > pipe::kMaxMrSegments) {
    release_range(range);
    err = ENOMEM;
  }
  if (err == 0) {
    auto* req = new (std::nothrow) pipe::RegMrRequest{};
    if (req == nullptr) {
      err = ENOMEM;
    } else {
      req->pd = to_pd(pd)->handle;
      req->access = access & ~unsigned(IBV_ACCESS_OPTIONAL_RANGE);
      req->addr = reinterpret_cast<uintptr_t>(addr);
      req->length = length;
      req->iova = iova;
      req->page_addr = range->page_addr();
      req->num_segments = uint32_t(range->pieces().size());
      int fds[pipe::kMaxMrSegments];
      for (size_t i = 0; i < range->pieces().size(); ++i) {
        const SharedPiece& p = range->pieces()[i];
        req->segments[i] = {p.fd_offset, p.length};
        fds[i] = p.fd;
      }
      pipe::RegMrReply rep{};
      err = ctx.control->call(pipe::CtlOp::kRegMr, *req, &rep,
                              std::span<const int>(fds, req->num_segments));
      delete req;
      if (err == 0) {
        mr->handle = rep.handle;
        mr->mr.lkey = rep.lkey;
        mr->mr.rkey = rep.rkey;
      }
    }
    if (err != 0) release_range(range);
  }
  if (err != 0) {
    delete range;
    delete mr;
    errno = err;
    return nullptr;
  }
  mr->range = range;
  mr->mr.context = pd->context;
  mr->mr.pd = pd;
  mr->mr.addr = addr;
  mr->mr.length = length;
  mr->mr.handle = mr->handle;
  return &mr->mr;
}

}  // namespace
}  // namespace flexins::verbs

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_pd* ibv_alloc_pd(struct ibv_context* context) {
  if (context == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  auto* pd = new (std::nothrow) Pd{};
  if (pd == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  pipe::HandleReply rep{};
  int err = to_context(context)->control->call(pipe::CtlOp::kAllocPd, pipe::HandleRequest{}, &rep);
  if (err != 0) {
    delete pd;
    errno = err;
    return nullptr;
  }
  pd->handle = rep.handle;
  pd->pd.context = context;
  pd->pd.handle = rep.handle;
  return &pd->pd;
}

int ibv_dealloc_pd(struct ibv_pd* pd) {
  if (pd == nullptr) return EINVAL;
  Pd* p = to_pd(pd);
  int err = to_context(pd->context)->control->call(pipe::CtlOp::kDeallocPd,
                                                   pipe::HandleRequest{p->handle, 0});
  // EBUSY while MRs, QPs, SRQs or AHs still use it. A dead engine holds
  // nothing any more: destroying succeeds, so the application can clean up.
  if (err == 0 || err == EIO) {
    delete p;
    return 0;
  }
  return err;
}

struct ibv_mr* ibv_reg_mr(struct ibv_pd* pd, void* addr, size_t length, int access) {
  return reg_mr(pd, addr, length, reinterpret_cast<uintptr_t>(addr), unsigned(access));
}

struct ibv_mr* ibv_reg_mr_iova(struct ibv_pd* pd, void* addr, size_t length, uint64_t iova,
                               int access) {
  return reg_mr(pd, addr, length, iova, unsigned(access));
}

struct ibv_mr* ibv_reg_mr_iova2(struct ibv_pd* pd, void* addr, size_t length, uint64_t iova,
                                unsigned int access) {
  return reg_mr(pd, addr, length, iova, access);
}

int ibv_dereg_mr(struct ibv_mr* mr) {
  if (mr == nullptr) return EINVAL;
  Mr* m = to_mr(mr);
  int err = to_context(mr->context)->control->call(pipe::CtlOp::kDeregMr,
                                                   pipe::HandleRequest{m->handle, 0});
  // A dead engine holds nothing any more: give the pages back all the same.
  if (err == 0 || err == EIO) {
    release_range(m->range);
    delete m->range;
    delete m;
    return 0;
  }
  return err;
}

int ibv_rereg_mr(struct ibv_mr* mr, int flags, struct ibv_pd* pd, void* addr, size_t length,
                 int access) {
  (void)mr;
  (void)flags;
  (void)pd;
  (void)addr;
  (void)length;
  (void)access;
  errno = EOPNOTSUPP;
  return IBV_REREG_MR_ERR_INPUT;
}

}  // extern "C"
