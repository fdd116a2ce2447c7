// Run-time control of live QPs (DESIGN (d)): `flexins qp list | show | set`.
// Engine-wide requests, served on the control thread; each QP is read or
// changed on its own worker, between passes (Worker::call), so a change
// takes effect before that worker sends its next packet.
#pragma once

#include <string>

#include "pipe/control_proto.h"

namespace flexins::engine {

class Engine;

struct AdminReply {
  int status = 0;    // 0, or a positive errno
  std::string body;  // JSON on success, a message on error
};

// kQpList: a page of QPs as JSON (control_proto.h).
AdminReply qp_list(Engine& engine, const pipe::QpListRequest& req);
// kQpSet: apply settings to one QP or all (control_proto.h).
AdminReply qp_set(Engine& engine, const pipe::QpSetRequest& req);

}  // namespace flexins::engine
