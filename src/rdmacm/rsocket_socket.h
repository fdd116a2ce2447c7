// One rsocket (SOCK_STREAM over RC) and what the rsocket_*.cc files share.
// The descriptor the application sees is the fd of the socket's own rdma_cm
// event channel, a real fd, so it never collides with ordinary descriptors
// and rpoll can tell the two kinds apart with a table lookup.
//
// Locking: every API call holds the socket's mutex for its whole length
// (blocking waits included); rstream and riostream use a socket from one
// thread. The table has its own mutex.
#pragma once

#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "rdmacm/rsocket_proto.h"
#include "rdmacm/rsocket_window.h"

namespace flexins::rdmacm::rs {

enum class SockState {
  kIdle,        // rsocket(), maybe rbind()
  kListening,
  kConnecting,  // non-blocking rconnect under way
  kConnected,
  kFailed,      // connect failed or the connection broke; `error` says why
};

// A region this side riomap'ed (the peer writes into it).
struct LocalMap {
  ibv_mr* mr = nullptr;
  uint64_t offset = 0;
  bool remote_write = false;  // PROT_WRITE: announced to the peer
};

// A region the peer riomap'ed (riowrite targets it).
struct RemoteMap {
  uint64_t offset = 0;
  uint64_t addr = 0;
  uint64_t length = 0;
  uint32_t rkey = 0;
};

// A connection request rlisten queued for raccept.
struct PendingConn {
  rdma_cm_id* id = nullptr;
  ConnData peer;
};

struct Options {
  uint32_t rbuf_bytes = 256 * 1024;  // SO_RCVBUF: the receive ring
  uint32_t sbuf_bytes = 256 * 1024;  // SO_SNDBUF: the send staging buffer
  uint32_t sq_size = 256;            // RDMA_SQSIZE
  uint32_t rq_size = 256;            // RDMA_RQSIZE
  uint32_t inline_bytes = 64;        // RDMA_INLINE
  uint32_t iomap_size = 0;           // RDMA_IOMAPSIZE: mappings the peer may announce
  bool reuseaddr = false;
  bool keepalive = false;
  bool nodelay = false;
  int keepidle = 0;
  struct linger linger {};
};

struct RSocket {
  int fd = -1;
  std::mutex mu;
  SockState state = SockState::kIdle;
  bool nonblocking = false;
  int error = 0;           // SO_ERROR, reported once
  int conn_error = 0;      // why the connection broke (ECONNRESET, ...)
  Options opt;
  rdma_event_channel* channel = nullptr;
  rdma_cm_id* id = nullptr;

  std::deque<PendingConn> pending;  // listening: requests not yet accepted

  // Connection resources (connect / accept).
  ibv_pd* pd = nullptr;
  ibv_comp_channel* comp = nullptr;
  ibv_cq* cq = nullptr;
  uint8_t* ring = nullptr;   // receive ring, opt.rbuf_bytes
  ibv_mr* ring_mr = nullptr;
  uint8_t* sbuf = nullptr;   // send staging, opt.sbuf_bytes
  ibv_mr* sbuf_mr = nullptr;
  uint8_t* slots = nullptr;  // kRecvSlotBytes per posted receive
  ibv_mr* slots_mr = nullptr;
  uint32_t sq_size = 0, rq_size = 0, inline_bytes = 0;  // as created

  ConnData peer;  // the peer's ring and credits (REQ / REP)
  SendWindow tx;
  RecvRing rx;
  ByteRing staging;
  uint32_t sq_free = 0;
  std::deque<uint32_t> inflight;  // staging bytes of each posted send, in order
  std::deque<CtrlMsg> ctrl_queue; // control messages waiting for a credit
  bool fin_sent = false, fin_rcvd = false;
  bool shut_rd = false, shut_wr = false;
  bool peer_gone = false;  // the CM connection ended (DISCONNECTED)
  std::vector<LocalMap> local_maps;
  std::vector<RemoteMap> remote_maps;
};

// ---- the descriptor table (rsocket_table.cc)
RSocket* find_socket(int fd);  // nullptr: not an rsocket
void add_socket(RSocket* s);
void remove_socket(RSocket* s);

// ---- connections (rsocket_conn.cc)
// Handle the CM events waiting on S's channel without blocking.
void poll_cm(RSocket* s);
// Free S's connection resources and ids (rclose).
void destroy_socket(RSocket* s);

// ---- data path (rsocket_io.cc); callers hold s->mu.
// Reap completions and send what the credits now allow. Never blocks.
// Returns how many completions it handled.
int progress(RSocket* s);
// The connection can carry no more data: reset, or the peer is gone.
bool broken(const RSocket* s);
// Sleep until S's completion channel or CM channel has news, or
// TIMEOUT_MS (-1: no limit) passes. Returns after handling the news.
void wait_events(RSocket* s, int timeout_ms);
// Arm S's CQ for a completion event (before sleeping on its fds).
void arm_cq(RSocket* s);
// Consume the completion event S's channel holds, if any.
void take_cq_event(RSocket* s);
// Queue or send a control message.
void send_ctrl(RSocket* s, const CtrlMsg& m);
// Could rsend move at least one byte now?
bool can_send(const RSocket* s);
// revents for EVENTS on S as poll(2) would report them for a TCP socket.
short readiness(RSocket* s, short events);
// Post receive slot SLOT (its wr_id) to S's QP; 0 or an errno.
int post_recv_slot(RSocket* s, uint32_t slot);
// Post an RDMA WRITE (riowrite) of N bytes, inline (INL) or staged.
int post_write(RSocket* s, const void* src, size_t n, bool inl, uint64_t raddr, uint32_t rkey);
// Bytes of a WANT-byte request riowrite may post now in one piece (0: wait).
size_t staging_room(const RSocket* s, size_t want);
// Whether a WANT-byte request goes inline (RDMA_INLINE).
bool goes_inline(const RSocket* s, size_t want);

int set_errno(int err);  // errno = err, returns -1

}  // namespace flexins::rdmacm::rs
