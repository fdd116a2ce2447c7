#include "qp_cmd.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "engine_client.h"

namespace flexins::cli {
namespace {

using nlohmann::json;

std::string rate_text(const json& v) {
  if (v.is_null()) return "unpaced";
  char b[32];
  std::snprintf(b, sizeof b, "%.3gGb/s", v.get<double>() / 1e9);
  return b;
}

std::string window_text(const json& v) {
  if (v.is_null()) return "-";
  const double bytes = v.get<double>();
  char b[32];
  if (bytes >= 1 << 20) std::snprintf(b, sizeof b, "%.4gMiB", bytes / (1 << 20));
  else std::snprintf(b, sizeof b, "%.4gKiB", bytes / 1024);
  return b;
}

// The loss recovery, short: "gbn" (go-back-N), "sr" (selective repeat), "-".
const char* lr_text(const json& v) {
  if (!v.is_string()) return "-";
  return v.get<std::string>() == "selective_repeat" ? "sr" : "gbn";
}

std::string peer_text(const json& q) {
  if (q["peer"].is_null()) return "-";
  return q["peer"].get<std::string>() + "/" + std::to_string(q["peer_qpn"].get<uint32_t>());
}

}  // namespace

int cmd_qp_list(const std::string& ip, bool as_json) {
  json all = json::array();
  pipe::QpListRequest req{};
  req.only_qpn = pipe::kNoHandle;
  req.max_qps = 1024;
  for (;;) {  // page by page: a reply is one control message
    auto r = engine_request("flexins qp list", ip, pipe::CtlOp::kQpList, req);
    if (!r) return 1;
    json page = json::parse(r->body, nullptr, false);
    if (r->status != 0 || page.is_discarded()) {
      std::fprintf(stderr, "flexins qp list: %s\n", r->status ? std::strerror(r->status) : "bad reply");
      return 1;
    }
    for (auto& q : page["qps"]) all.push_back(std::move(q));
    if (!page["more"].get<bool>() || all.empty()) break;
    req.after_qpn = all.back()["qpn"].get<uint32_t>();
  }
  if (as_json) {
    std::printf("%s\n", json{{"qps", all}}.dump().c_str());
    return 0;
  }
  std::printf("%-8s %-4s %-5s %-22s %-7s %-3s %-11s %-9s %8s %8s %12s %8s %7s %7s %7s\n", "QPN", "TYPE", "STATE",
              "PEER", "CC", "LR", "RATE", "WINDOW", "INFLIGHT", "RTT_US", "TX_PKTS", "RETX", "RTO", "CNP_TX", "CNP_RX");
  for (const json& q : all) {
    const json& s = q["stats"];
    std::printf("%-8u %-4s %-5s %-22s %-7s %-3s %-11s %-9s %8u %8.1f %12lu %8lu %7lu %7lu %7lu\n",
                q["qpn"].get<uint32_t>(), q["type"].get<std::string>().c_str(), q["state"].get<std::string>().c_str(),
                peer_text(q).c_str(), q["cc"].is_null() ? "-" : q["cc"].get<std::string>().c_str(),
                lr_text(q["lr"]), rate_text(q["cc_rate_bps"]).c_str(),
                window_text(q["cc_window_bytes"]).c_str(), q["inflight_packets"].get<uint32_t>(),
                q["last_rtt_ns"].get<double>() / 1000, s["tx_packets"].get<unsigned long>(),
                s["retransmitted_packets"].get<unsigned long>(), s["retransmit_timeouts"].get<unsigned long>(),
                s["cnps_sent"].get<unsigned long>(), s["cnps_received"].get<unsigned long>());
  }
  return 0;
}

int cmd_qp_show(const std::string& ip, uint32_t qpn, bool as_json) {
  pipe::QpListRequest req{};
  req.only_qpn = qpn;
  auto r = engine_request("flexins qp show", ip, pipe::CtlOp::kQpList, req);
  if (!r) return 1;
  json page = json::parse(r->body, nullptr, false);
  if (r->status != 0 || page.is_discarded() || page["qps"].empty()) {
    std::fprintf(stderr, "flexins qp show: %s\n", r->status ? r->body.c_str() : "bad reply");
    return 1;
  }
  const json& q = page["qps"][0];
  if (as_json) {
    std::printf("%s\n", q.dump().c_str());
    return 0;
  }
  std::printf("qpn %u %s %s peer %s mtu %u\n", q["qpn"].get<uint32_t>(), q["type"].get<std::string>().c_str(),
              q["state"].get<std::string>().c_str(), peer_text(q).c_str(), q["mtu"].get<uint32_t>());
  std::printf("loss recovery %s\n", q["lr"].is_null() ? "(none)" : q["lr"].get<std::string>().c_str());
  std::printf("cc %s: rate %s, window %s, inflight %u packets, last RTT %.1f us\n",
              q["cc"].is_null() ? "(none)" : q["cc"].get<std::string>().c_str(), rate_text(q["cc_rate_bps"]).c_str(),
              window_text(q["cc_window_bytes"]).c_str(), q["inflight_packets"].get<uint32_t>(),
              q["last_rtt_ns"].get<double>() / 1000);
  for (const json& p : q["cc_params"])
    std::printf("  %-24s %-14g %s\n", p["name"].get<std::string>().c_str(), p["value"].get<double>(),
                p["help"].get<std::string>().c_str());
  for (const auto& [name, v] : q["stats"].items()) std::printf("%-28s %lu\n", name.c_str(), v.get<unsigned long>());
  return 0;
}

int cmd_qp_set(const std::string& ip, const std::string& target, const std::vector<std::string>& settings) {
  pipe::QpSetRequest req{};
  if (target == "all") {
    req.qpn = pipe::kAllQps;
  } else {
    char* end = nullptr;
    unsigned long v = std::strtoul(target.c_str(), &end, 0);
    if (target.empty() || *end != '\0' || v > 0xffffff) {
      std::fprintf(stderr, "flexins qp set: '%s' is not a QPN (or 'all')\n", target.c_str());
      return 2;
    }
    req.qpn = uint32_t(v);
  }
  std::string joined;
  for (const std::string& s : settings) joined += (joined.empty() ? "" : ",") + s;
  if (joined.size() >= sizeof req.settings) {
    std::fprintf(stderr, "flexins qp set: settings too long\n");
    return 2;
  }
  std::memcpy(req.settings, joined.c_str(), joined.size() + 1);
  auto r = engine_request("flexins qp set", ip, pipe::CtlOp::kQpSet, req);
  if (!r) return 1;
  if (r->status != 0) {
    std::fprintf(stderr, "flexins qp set: %s\n", r->body.empty() ? std::strerror(r->status) : r->body.c_str());
    return 1;
  }
  json j = json::parse(r->body, nullptr, false);
  std::printf("changed %lu QP%s\n", j.is_discarded() ? 0ul : j["changed"].get<unsigned long>(),
              !j.is_discarded() && j["changed"].get<unsigned long>() == 1 ? "" : "s");
  return 0;
}

}  // namespace flexins::cli
