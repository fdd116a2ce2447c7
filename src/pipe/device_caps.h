// Limits of a FlexiNS device: what ibv_query_device reports and what the
// engine enforces. One table, read by both sides.
#pragma once

#include <cstdint>

namespace flexins::pipe {

struct DeviceCaps {
  static constexpr uint32_t kVendorId = 0x1f1f;  // unknown to perftest: plain verbs
  static constexpr uint32_t kVendorPartId = 0x0001;
  static constexpr uint32_t kHwVer = 1;
  static constexpr uint64_t kMaxMrSize = 1ull << 40;
  static constexpr uint64_t kPageSizeCap = 4096;
  static constexpr uint32_t kMaxQp = 1u << 16;
  static constexpr uint32_t kMaxQpWr = 16384;
  static constexpr uint32_t kMaxSge = 16;
  static constexpr uint32_t kMaxInlineData = 1024;
  static constexpr uint32_t kMaxCq = 1u << 16;
  static constexpr uint32_t kMaxCqe = 1u << 20;
  static constexpr uint32_t kMaxMr = 1u << 20;
  static constexpr uint32_t kMaxPd = 1u << 16;
  static constexpr uint32_t kMaxQpRdAtom = 16;
  static constexpr uint32_t kMaxQpInitRdAtom = 16;
  static constexpr uint32_t kMaxResRdAtom = kMaxQp * kMaxQpRdAtom;
  static constexpr uint32_t kMaxSrq = 1u << 16;
  static constexpr uint32_t kMaxSrqWr = 16384;
  static constexpr uint32_t kMaxSrqSge = 16;
  static constexpr uint32_t kMaxAh = 1u << 16;
  static constexpr uint16_t kMaxPkeys = 1;
  static constexpr uint16_t kDefaultPkey = 0xffff;
  static constexpr uint32_t kGidTableLen = 1;
  static constexpr uint32_t kMaxMsgSize = 1u << 31;  // 2 GiB, as the IB spec caps
  static constexpr uint32_t kPhysPortCnt = 1;
};

}  // namespace flexins::pipe
