// rdma_getaddrinfo / rdma_freeaddrinfo over getaddrinfo(3), IPv4 only (the
// FlexiNS devices are RoCE v2 on IPv4 addresses).
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

sockaddr* copy_addr(const sockaddr* a, socklen_t len) {
  auto* out = static_cast<sockaddr*>(malloc(len));
  if (out != nullptr) std::memcpy(out, a, len);
  return out;
}

}  // namespace

extern "C" {

int rdma_getaddrinfo(const char* node, const char* service, const struct rdma_addrinfo* hints,
                     struct rdma_addrinfo** res) {
  if (res == nullptr || (node == nullptr && service == nullptr)) {
    errno = EINVAL;
    return -1;
  }
  int flags = hints ? hints->ai_flags : 0;
  if (hints != nullptr && hints->ai_family != 0 && hints->ai_family != AF_INET) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  addrinfo h{};
  h.ai_family = AF_INET;
  h.ai_socktype = SOCK_STREAM;
  if (flags & RAI_NUMERICHOST) h.ai_flags |= AI_NUMERICHOST;
  if (flags & RAI_PASSIVE) h.ai_flags |= AI_PASSIVE;
  addrinfo* ai = nullptr;
  int rc = getaddrinfo(node, service, &h, &ai);
  if (rc != 0 || ai == nullptr) {
    errno = rc == EAI_SYSTEM ? errno : (rc == EAI_MEMORY ? ENOMEM : EADDRNOTAVAIL);
    return -1;
  }
  auto* r = static_cast<rdma_addrinfo*>(calloc(1, sizeof(rdma_addrinfo)));
  if (r == nullptr) {
    freeaddrinfo(ai);
    errno = ENOMEM;
    return -1;
  }
  r->ai_flags = flags;
  r->ai_family = AF_INET;
  r->ai_qp_type = (hints && hints->ai_qp_type) ? hints->ai_qp_type : IBV_QPT_RC;
  r->ai_port_space = (hints && hints->ai_port_space)
                         ? hints->ai_port_space
                         : (r->ai_qp_type == IBV_QPT_UD ? RDMA_PS_UDP : RDMA_PS_TCP);
  bool ok = true;
  if (flags & RAI_PASSIVE) {
    r->ai_src_len = ai->ai_addrlen;
    r->ai_src_addr = copy_addr(ai->ai_addr, ai->ai_addrlen);
    ok = r->ai_src_addr != nullptr;
  } else {
    r->ai_dst_len = ai->ai_addrlen;
    r->ai_dst_addr = copy_addr(ai->ai_addr, ai->ai_addrlen);
    ok = r->ai_dst_addr != nullptr;
    if (ok && hints != nullptr && hints->ai_src_addr != nullptr && hints->ai_src_len > 0) {
      r->ai_src_len = hints->ai_src_len;
      r->ai_src_addr = copy_addr(hints->ai_src_addr, hints->ai_src_len);
      ok = r->ai_src_addr != nullptr;
    }
  }
  freeaddrinfo(ai);
  if (!ok) {
    rdma_freeaddrinfo(r);
    errno = ENOMEM;
    return -1;
  }
  *res = r;
  return 0;
}

void rdma_freeaddrinfo(struct rdma_addrinfo* res) {
  while (res != nullptr) {
    rdma_addrinfo* next = res->ai_next;
    free(res->ai_src_addr);
    free(res->ai_dst_addr);
    free(res->ai_src_canonname);
    free(res->ai_dst_canonname);
    free(res->ai_route);
    free(res->ai_connect);
    free(res);
    res = next;
  }
}

}  // extern "C"
