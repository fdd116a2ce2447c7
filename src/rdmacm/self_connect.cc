#include "rdmacm/self_connect.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace flexins::rdmacm {

bool connected_to_itself(int sock) {
  sockaddr_in local{}, peer{};
  socklen_t len = sizeof local;
  if (getsockname(sock, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET)
    return false;
  len = sizeof peer;
  if (getpeername(sock, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  return local.sin_addr.s_addr == peer.sin_addr.s_addr && local.sin_port == peer.sin_port;
}

}  // namespace flexins::rdmacm
