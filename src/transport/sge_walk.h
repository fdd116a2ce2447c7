// Mapping a byte range of a message onto the scatter/gather list that holds
// it, checking each SGE the range touches (IBA 10.6.3, C10-?: L_Key valid,
// same PD, access rights, bounds). Used to gather TX payload, to place READ
// responses and to place received SENDs.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

#include "pipe/shm_layout.h"
#include "transport/env.h"

namespace flexins::transport {

// Calls fn(uint8_t* ptr, uint32_t len) for each piece of [offset, offset+len)
// in SGE order. Returns IBV_WC_SUCCESS, IBV_WC_LOC_LEN_ERR if the range runs
// past the SGEs, or IBV_WC_LOC_PROT_ERR if a key, PD, access right
// (`need_access`, e.g. IBV_ACCESS_LOCAL_WRITE) or bounds check fails.
// Stops at the first failure; pieces before it may have been visited.
template <typename Fn>
ibv_wc_status walk_sges(Env& env, uint32_t pd, const pipe::Sge* sges, uint32_t num_sge,
                        uint32_t need_access, uint64_t offset, uint32_t len, Fn&& fn) {
  uint64_t skip = offset;
  uint32_t left = len;
  for (uint32_t i = 0; i < num_sge && left > 0; ++i) {
    const pipe::Sge& s = sges[i];
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    uint32_t take = uint32_t(s.length - skip) < left ? uint32_t(s.length - skip) : left;
    const MemoryRegion* mr = env.mr_by_lkey(s.lkey);
    if (mr == nullptr || mr->pd != pd || (mr->access & need_access) != need_access)
      return IBV_WC_LOC_PROT_ERR;
    uint8_t* p = mr->translate(s.addr + skip, take);
    if (p == nullptr) return IBV_WC_LOC_PROT_ERR;
    fn(p, take);
    skip = 0;
    left -= take;
  }
  return left == 0 ? IBV_WC_SUCCESS : IBV_WC_LOC_LEN_ERR;
}

}  // namespace flexins::transport
