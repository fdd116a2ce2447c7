// rsockets (rsocket.h) are not implemented: rsocket() fails with ENOSYS, so
// no descriptor of ours ever exists and every other r* call on one fails
// with EBADF. rpoll / rselect on ordinary descriptors behave as poll /
// select, as librdmacm's do (rping and ucmatose call rpoll on fds).
#include <fcntl.h>
#include <poll.h>
#include <rdma/rsocket.h>
#include <sys/select.h>

#include <cerrno>

namespace {

int ebadf() {
  errno = EBADF;
  return -1;
}

}  // namespace

extern "C" {

int rsocket(int, int, int) {
  errno = ENOSYS;
  return -1;
}
int rbind(int, const struct sockaddr*, socklen_t) { return ebadf(); }
int rlisten(int, int) { return ebadf(); }
int raccept(int, struct sockaddr*, socklen_t*) { return ebadf(); }
int rconnect(int, const struct sockaddr*, socklen_t) { return ebadf(); }
int rshutdown(int, int) { return ebadf(); }
int rclose(int) { return ebadf(); }
ssize_t rrecv(int, void*, size_t, int) { return ebadf(); }
ssize_t rrecvfrom(int, void*, size_t, int, struct sockaddr*, socklen_t*) { return ebadf(); }
ssize_t rrecvmsg(int, struct msghdr*, int) { return ebadf(); }
ssize_t rsend(int, const void*, size_t, int) { return ebadf(); }
ssize_t rsendto(int, const void*, size_t, int, const struct sockaddr*, socklen_t) { return ebadf(); }
ssize_t rsendmsg(int, const struct msghdr*, int) { return ebadf(); }
ssize_t rread(int, void*, size_t) { return ebadf(); }
ssize_t rreadv(int, const struct iovec*, int) { return ebadf(); }
ssize_t rwrite(int, const void*, size_t) { return ebadf(); }
ssize_t rwritev(int, const struct iovec*, int) { return ebadf(); }
int rgetpeername(int, struct sockaddr*, socklen_t*) { return ebadf(); }
int rgetsockname(int, struct sockaddr*, socklen_t*) { return ebadf(); }
int rsetsockopt(int, int, int, const void*, socklen_t) { return ebadf(); }
int rgetsockopt(int, int, int, void*, socklen_t*) { return ebadf(); }
int rfcntl(int, int, ...) { return ebadf(); }
off_t riomap(int, void*, size_t, int, int, off_t) { return ebadf(); }
int riounmap(int, void*, size_t) { return ebadf(); }
size_t riowrite(int, const void*, size_t, off_t, int) {
  errno = EBADF;
  return 0;
}

int rpoll(struct pollfd* fds, nfds_t nfds, int timeout) { return poll(fds, nfds, timeout); }

int rselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, struct timeval* timeout) {
  return select(nfds, readfds, writefds, exceptfds, timeout);
}

}  // extern "C"
