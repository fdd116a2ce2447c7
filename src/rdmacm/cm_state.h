// The objects behind the rdma_cm handles and the process-wide CM state.
// Each object starts with the structure the application sees, so a handle
// converts back with a cast. One mutex (cm_mutex()) guards all of it; the
// library never calls into libibverbs while holding it.
#pragma once

#include <infiniband/sa.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "rdmacm/cm_msg.h"
#include "rdmacm/conn_fsm.h"

namespace flexins::rdmacm {

struct Id;

// An event channel. pub.fd is one end of a socketpair; every queued event
// writes one byte to the other end, and rdma_get_cm_event reads one byte per
// event, so the fd is readable exactly while events wait, and blocking
// follows the O_NONBLOCK flag the application sets on pub.fd.
struct Channel {
  rdma_event_channel pub;  // first
  int write_fd = -1;
  std::deque<struct Event*> queue;
  // Threads blocked reading pub.fd. A program may destroy a channel while
  // one of its threads still waits on it (rping does, on its way out); with
  // the kernel's rdma_cm that thread just keeps waiting, so we must neither
  // wake it (EOF) nor free what it will touch.
  std::atomic<int> readers{0};
};

struct Event {
  rdma_cm_event pub;  // first
  Id* owner = nullptr;  // the id whose rdma_destroy_id waits for this ack
  // Internal: a REP to finish in rdma_get_cm_event (QP → RTR → RTS, RTU).
  bool conn_response = false;
  uint8_t private_data[kMaxPrivateDataBytes] = {};
};

struct Id {
  rdma_cm_id pub;  // first
  bool sync = false;              // created with a NULL channel
  Channel* own_channel = nullptr; // the private channel of a sync id
  bool destroying = false;

  // Addresses: pub.route.addr.src_sin / dst_sin (IPv4 only).
  bool bound = false;
  bool listening = false;
  // The TCP socket already listens although the application has not called
  // rdma_listen: an explicit rdma_bind_addr listens at once, so a peer told
  // the port (qperf sends it before calling rdma_listen) is queued in the
  // backlog instead of refused. rdma_listen starts serving the backlog; a
  // connect first swaps the socket for an ordinary one.
  bool listens_early = false;
  int backlog = 0;
  int sock = -1;                  // TCP: listening socket, or the CM connection
  std::vector<uint8_t> rx;        // bytes received, not yet a whole message
  int64_t deadline_ns = 0;        // 0: no timer running
  // A refused CM connect is tried again, on a fresh socket, until then: a
  // listener may be a moment late (qperf 0.4.11 announces its port before
  // it calls rdma_listen).
  int64_t refused_retry_until_ns = 0;
  ConnState state = ConnState::kIdle;

  // Our side of the connection.
  uint32_t psn = 0;
  uint8_t responder_resources = 0;  // our RTR max_dest_rd_atomic
  uint8_t initiator_depth = 0;      // our RTS max_rd_atomic
  uint8_t retry_count = 7;
  uint8_t rnr_retry_count = 7;
  uint8_t ack_timeout = 0;          // 0: default
  uint8_t tos = 0;
  bool reuseaddr = false;
  uint32_t qkey = RDMA_UDP_QKEY;
  CmMessage outgoing;             // the REQ / SIDR_REQ to send once TCP connects
  // The peer's side (REQ on the passive side, REP on the active side).
  CmMessage remote;
  bool have_remote = false;
  ibv_sa_path_rec path{};

  // Events retrieved by rdma_get_cm_event and not yet acked.
  int events_outstanding = 0;

  // rdma_create_ep / rdma_get_request helpers.
  ibv_qp_init_attr* ep_qp_attr = nullptr;  // passive ep: attributes for rdma_get_request
  ibv_pd* ep_pd = nullptr;
  bool own_cqs = false;  // rdma_create_qp made the CQs and channels
};

inline Id* to_id(rdma_cm_id* id) { return reinterpret_cast<Id*>(id); }
inline Channel* to_channel(rdma_event_channel* c) { return reinterpret_cast<Channel*>(c); }
inline Event* to_event(rdma_cm_event* e) { return reinterpret_cast<Event*>(e); }

std::mutex& cm_mutex();
// Signalled whenever an event is acked (rdma_destroy_id waits on it).
std::condition_variable& cm_acked();

int64_t now_ns();
// How long the CM waits for each step; $FLEXINS_CM_TIMEOUT_MS overrides all.
int64_t timeout_ns(ConnState s);

// ---- channels and events (channel.cc); callers hold cm_mutex().
Channel* new_channel();
void free_channel(Channel* c);
Event* new_event(Id* id, rdma_cm_event_type type, int status);
void queue_event(Channel* c, Event* e);
// Drop the events of ID still waiting in its channel (never retrieved).
// Returns the children of dropped CONNECT_REQUEST events.
std::vector<Id*> drop_queued_events(Id* id);

// ---- connection driving (conn.cc); callers hold cm_mutex().
// Apply INPUT to ID's state machine: report, send, close, arm the timer.
// OUT, if given, is the message to send (its type must be the step's);
// otherwise a default one is built. IN is the message received, if any.
// Returns the step (legal == false: nothing was done).
ConnStep drive(Id* id, ConnInput input, const CmMessage* out = nullptr,
               const CmMessage* in = nullptr);
// Fill the QP-describing fields of a REQ / REP / SIDR message from ID.
void describe_local(Id* id, CmMessage* m);
bool is_ud(const Id* id);
void close_socket(Id* id);

// ---- the service thread (service.cc); callers hold cm_mutex().
// Start watching ID's socket (listening, connecting or connected).
void service_watch(Id* id, bool connecting);
void service_connected(Id* id);      // its TCP connect finished: now read it
// Start (or, after a refusal, restart) the CM connect of ID. A refusal
// inside the retry window is retried after a short pause on a new socket.
// Returns 0 (connected), EINPROGRESS (watched until it completes), or the
// errno that ends the attempt (ECONNREFUSED once the window has closed).
int cm_connect(Id* id, bool after_refusal);
void service_forget(int fd);         // before close(fd)
void service_wake();                 // a timer changed
void service_drop_pending_of(Id* listener);  // accepted sockets whose REQ is still awaited

// ---- the API helpers (cma.cc).
// Sync ids (NULL channel): wait for the event the call produced, as
// librdmacm does; 0, or -1 with errno.
int complete_sync(Id* id);
uint32_t random_psn();
void fill_path(Id* id);
void fill_conn_param(Event* e, const CmMessage& m, size_t padded_len);
// Private data (and for UD the peer's address, QPN, Q_Key) of M into E.
void fill_event_params(Event* e, const Id* id, const CmMessage& m);

}  // namespace flexins::rdmacm
