// The control path between the libibverbs replacement and the engine: one
// SOCK_SEQPACKET Unix socket connection per ibv_context. Slow path only —
// opening a device and creating, modifying and destroying objects.
//
// Every request is one message: CtlRequest header + the op's body; file
// descriptors ride along as SCM_RIGHTS. Every request gets exactly one reply:
// CtlReply header (status = 0 or a positive errno, as the verbs man pages
// name it) + the op's reply body, and reply fds as SCM_RIGHTS. Requests on one
// connection are strictly sequential.
//
// The connection *is* the application's lifetime as far as the engine cares:
// when it closes (exit, crash, SIGKILL) the engine destroys every object the
// context created.
//
// Asynchronous events (ibv_get_async_event) travel engine → library on a
// second socket handed over by Open (AsyncEvent records). Completion-channel
// events travel on a socket per channel (CompEvent records).
//
// Both sides are built from this tree, so the verbs structures in bodies are
// the ones from <infiniband/verbs.h>.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

namespace flexins::pipe {

inline constexpr uint32_t kControlVersion = 1;
inline constexpr uint32_t kMaxMsg = 8192;          // largest message either way
inline constexpr uint32_t kMaxMrSegments = 64;     // memfd pieces per MR
inline constexpr uint32_t kMaxFdsPerMsg = kMaxMrSegments;

// Where engines listen: $FLEXINS_RUN_DIR (default /tmp/flexins) /
// engine-<ADDR>.sock, e.g. /tmp/flexins/engine-127.0.0.1.sock.
inline constexpr const char* kDefaultRunDir = "/tmp/flexins";

enum class CtlOp : uint32_t {
  kOpen = 1,  // first request on a connection (fds back: see OpenReply)
  kAllocPd,
  kDeallocPd,
  kRegMr,  // fds: one memfd per segment
  kDeregMr,
  kCreateCompChannel,  // fd: the engine's end of the channel socket
  kDestroyCompChannel,
  kCreateCq,
  kDestroyCq,
  kCreateQp,
  kModifyQp,
  kQueryQp,
  kDestroyQp,
  kCreateSrq,
  kModifySrq,
  kQuerySrq,
  kDestroySrq,
  kCreateAh,
  kDestroyAh,
  kStats,   // allowed without kOpen: `flexins stat`
  kQpList,  // allowed without kOpen: `flexins qp list` / `qp show`
  kQpSet,   // allowed without kOpen: `flexins qp set`
};

struct CtlRequest {
  uint32_t op;    // CtlOp
  uint32_t size;  // of the body that follows
};

struct CtlReply {
  int32_t status;  // 0, or a positive errno
  uint32_t size;   // of the body that follows
};

// ---- kOpen
struct OpenRequest {
  uint32_t version;  // kControlVersion
  int32_t pid;
};
// Reply fds, in order: [0] context shm memfd (kCtxShmSize, read-write),
// [1] engine status memfd (EngineStatusShm, map read-only),
// [2] async event socket (library end), [3..3+num_workers) worker eventfds.
struct OpenReply {
  uint32_t num_workers;
  uint32_t ipv4;  // network byte order: the device address
  uint8_t gid[16];  // ::ffff:ADDR, RoCE v2
  uint64_t node_guid;
  uint32_t active_mtu;  // enum ibv_mtu
  uint32_t reserved;
};

// ---- kAllocPd / kDeallocPd
struct HandleRequest {  // also DeallocPd, DeregMr, DestroyCq/Qp/Srq/Ah, ...
  uint32_t handle;
  uint32_t reserved;
};
struct HandleReply {
  uint32_t handle;
  uint32_t reserved;
};

// ---- kRegMr
// The library makes the page range [page_addr, page_addr + page_len) shared
// (see src/verbs/mr_share.*) and sends its backing memfds, one per segment,
// in address order. Each memfd must be created with MFD_ALLOW_SEALING and
// carry F_SEAL_SHRINK, and be large enough for its segment: the engine
// refuses (EINVAL) any other, since a file shrunk under its mapping would
// fault the engine (SIGBUS). The engine maps them back to back: engine address of
// application address A is base + (A - page_addr).
struct MrSegment {
  uint64_t fd_offset;  // where the segment starts inside its memfd
  uint64_t length;     // bytes; segments are page multiples
};
struct RegMrRequest {
  uint32_t pd;
  uint32_t access;  // enum ibv_access_flags
  uint64_t addr;    // application address of the first byte
  uint64_t length;
  uint64_t iova;    // address remote peers use (== addr for ibv_reg_mr)
  uint64_t page_addr;
  uint32_t num_segments;
  uint32_t reserved;
  MrSegment segments[kMaxMrSegments];
};
struct RegMrReply {
  uint32_t handle;
  uint32_t lkey;
  uint32_t rkey;
  uint32_t reserved;
};

// ---- kCreateCompChannel: fd = engine end of a SOCK_SEQPACKET socketpair
// (reply: HandleReply). The engine writes one CompEvent per armed CQ firing.
struct CompEvent {
  uint32_t cq;  // CQ handle
  uint32_t reserved;
};

// ---- kCreateCq
struct CreateCqRequest {
  uint32_t cqe;           // at least this many entries
  uint32_t channel;       // handle from kCreateCompChannel, or kNoHandle
  uint32_t comp_vector;
  uint32_t reserved;
};
inline constexpr uint32_t kNoHandle = 0xffffffffu;
struct CreateCqReply {
  uint32_t handle;
  uint32_t slots;       // actual ring size (power of two)
  uint64_t shm_offset;  // CqShm
};

// ---- kCreateQp
struct CreateQpRequest {
  uint32_t pd;
  uint32_t qp_type;  // enum ibv_qp_type
  uint32_t send_cq;
  uint32_t recv_cq;
  uint32_t srq;  // or kNoHandle
  uint32_t sq_sig_all;
  struct ibv_qp_cap cap;
};
struct CreateQpReply {
  uint32_t qpn;  // also the QP's handle
  uint32_t reserved;
  struct ibv_qp_cap cap;  // actual capabilities
  uint64_t shm_offset;    // QpShm
};

// ---- kModifyQp (reply: empty body)
struct ModifyQpRequest {
  uint32_t qpn;
  uint32_t attr_mask;  // enum ibv_qp_attr_mask
  struct ibv_qp_attr attr;
};

// ---- kQueryQp
struct QueryQpRequest {
  uint32_t qpn;
  uint32_t attr_mask;
};
struct QueryQpReply {
  struct ibv_qp_attr attr;
  struct ibv_qp_init_attr init_attr;  // pointers inside are left zero
};

// ---- kCreateSrq
struct CreateSrqRequest {
  uint32_t pd;
  uint32_t max_wr;
  uint32_t max_sge;
  uint32_t srq_limit;
};
struct CreateSrqReply {
  uint32_t handle;
  uint32_t max_wr;
  uint32_t max_sge;
  uint32_t reserved;
  uint64_t shm_offset;  // SrqShm
};
struct ModifySrqRequest {
  uint32_t handle;
  uint32_t attr_mask;  // enum ibv_srq_attr_mask
  struct ibv_srq_attr attr;
};
struct QuerySrqReply {
  struct ibv_srq_attr attr;
};

// ---- kCreateAh
struct CreateAhRequest {
  uint32_t pd;
  uint32_t reserved;
  struct ibv_ah_attr attr;
};

// ---- kStats: reply body is JSON text (not NUL-terminated), the engine's
// counters, exactly what `flexins stat --json` prints.

// ---- kQpList: the engine's QPs with qpn > after_qpn, by QPN, at most
// max_qps of them (a page: the reply must fit kMaxMsg). Reply body: JSON
// text {"qps": [...], "more": true|false}; see engine/qp_admin.h.
struct QpListRequest {
  uint32_t after_qpn;  // 0 for the first page
  uint32_t max_qps;
  uint32_t only_qpn;  // kNoHandle, or list just this QP (with its policy's parameters)
  uint32_t reserved;
};

// ---- kQpSet: change live QPs' transport policies. settings is NUL-
// terminated "key=value,key=value": cc=NAME picks a new congestion-control
// policy (from its initial state), lr=go_back_n|selective_repeat the loss
// recovery (transport/selective_repeat.h), any other key sets a parameter
// of the QP's policy (the new one, if cc= is given). All or nothing: a bad setting
// changes no QP. Reply: status 0 and JSON {"changed": N}, or EINVAL / ENOENT
// and a message (text) saying what is wrong.
inline constexpr uint32_t kAllQps = 0xffffffffu;
struct QpSetRequest {
  uint32_t qpn;  // or kAllQps
  uint32_t reserved;
  char settings[1024];
};

// ---- async events (engine → library, own socket)
enum class AsyncObject : uint32_t { kDevice = 0, kPort, kQp, kCq, kSrq };
struct AsyncEvent {
  uint32_t event_type;  // enum ibv_event_type
  uint32_t object;      // AsyncObject
  uint32_t handle;      // QPN / CQ / SRQ handle, or port number
  uint32_t reserved;
};

}  // namespace flexins::pipe
