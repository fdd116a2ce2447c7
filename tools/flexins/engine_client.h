// The command line's side of an engine's control socket: one request, one
// reply, for the requests allowed without opening a device (stat, qp ...).
#pragma once

#include <optional>
#include <span>
#include <string>

#include "pipe/control_proto.h"

namespace flexins::cli {

// A connection to the engine serving `ip` (in $FLEXINS_RUN_DIR), or -1.
int connect_engine(const std::string& ip);

struct EngineReply {
  int status = 0;    // 0, or a positive errno
  std::string body;  // JSON, or an error message
};

// Send one request and wait for its reply; nothing if no engine serves
// `ip` or it did not answer (a message naming `who` is printed).
std::optional<EngineReply> engine_request(const char* who, const std::string& ip, pipe::CtlOp op,
                                          std::span<const uint8_t> body = {});

template <class T>
std::optional<EngineReply> engine_request(const char* who, const std::string& ip, pipe::CtlOp op, const T& body) {
  return engine_request(who, ip, op, std::span(reinterpret_cast<const uint8_t*>(&body), sizeof body));
}

}  // namespace flexins::cli
