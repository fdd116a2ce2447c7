// QP attributes from the negotiated connection (rdma_init_qp_attr) and the
// transitions librdmacm makes on the application's behalf.
#pragma once

#include <infiniband/verbs.h>

#include "rdmacm/cm_state.h"

namespace flexins::rdmacm {

// RC: the QP goes INIT → INIT (access flags now that the RDMA read limits
// are known) → RTR → RTS, as librdmacm does on accept and on REP.
// Returns 0 or an errno. Call without the CM lock.
int move_qp_to_rts(Id* id);

// UD: RESET → INIT → RTR → RTS right at creation (no peer to wait for).
int ready_ud_qp(Id* id, ibv_qp* qp);

// rdma_init_qp_attr's logic; caller holds the CM lock. 0 or an errno.
int init_qp_attr(Id* id, ibv_qp_attr* attr, int* mask);

// rdma_get_cm_event on an internal REP event: finish the connection and
// turn it into ESTABLISHED (or CONNECT_RESPONSE when the application owns
// the QP, or CONNECT_ERROR).
void finish_conn_response(Event* e);

// An address vector towards GID from ID's device (RoCE v2: global routing).
void fill_ah_attr(const Id* id, const uint8_t gid[16], ibv_ah_attr* ah);

}  // namespace flexins::rdmacm
