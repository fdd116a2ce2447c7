#include "engine_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/engine.h"
#include "pipe/unix_msg.h"

namespace flexins::cli {

int connect_engine(const std::string& ip) {
  std::string path = engine::Engine::socket_path(engine::Engine::default_run_dir(), ip);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return -1;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

std::optional<EngineReply> engine_request(const char* who, const std::string& ip, pipe::CtlOp op,
                                          std::span<const uint8_t> body) {
  int fd = connect_engine(ip);
  if (fd < 0) {
    std::fprintf(stderr, "%s: no engine is serving %s\n", who, ip.c_str());
    return std::nullopt;
  }
  std::vector<uint8_t> msg(sizeof(pipe::CtlRequest) + body.size());
  pipe::CtlRequest req{uint32_t(op), uint32_t(body.size())};
  std::memcpy(msg.data(), &req, sizeof req);
  if (!body.empty()) std::memcpy(msg.data() + sizeof req, body.data(), body.size());
  std::vector<char> buf(pipe::kMaxMsg + 1);
  size_t nfds = 0;
  ssize_t n = -1;
  if (pipe::send_msg(fd, msg.data(), msg.size()) == 0) n = pipe::recv_msg(fd, buf.data(), pipe::kMaxMsg, {}, &nfds);
  close(fd);
  if (n < ssize_t(sizeof(pipe::CtlReply))) {
    std::fprintf(stderr, "%s: the engine for %s did not answer\n", who, ip.c_str());
    return std::nullopt;
  }
  pipe::CtlReply hdr;
  std::memcpy(&hdr, buf.data(), sizeof hdr);
  return EngineReply{hdr.status, std::string(buf.data() + sizeof hdr, size_t(n) - sizeof hdr)};
}

}  // namespace flexins::cli
