#include "engine/qp_admin.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace flexins::engine {
namespace {

using nlohmann::json;

const char* qp_type_name(ibv_qp_type t) {
  switch (t) {
    case IBV_QPT_RC: return "RC";
    case IBV_QPT_UC: return "UC";
    case IBV_QPT_UD: return "UD";
    default: return "?";
  }
}

const char* qp_state_name(ibv_qp_state s) {
  static constexpr const char* kNames[] = {"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"};
  return size_t(s) < std::size(kNames) ? kNames[s] : "?";
}

json qp_json(const transport::QpInfo& i, bool with_params) {
  json j;
  j["qpn"] = i.qpn;
  j["type"] = qp_type_name(i.type);
  j["state"] = qp_state_name(i.state);
  if (i.dest_ip != 0) {
    char ip[INET_ADDRSTRLEN];
    in_addr a{i.dest_ip};
    j["peer"] = inet_ntop(AF_INET, &a, ip, sizeof ip);
    j["peer_qpn"] = i.dest_qpn;
  } else {
    j["peer"] = nullptr;
  }
  j["mtu"] = i.mtu_bytes;
  j["cc"] = i.cc.empty() ? json(nullptr) : json(i.cc);
  j["lr"] = i.lr.empty() ? json(nullptr) : json(i.lr);
  j["cc_rate_bps"] = i.cc_rate_bps == cc::kUnpaced ? json(nullptr) : json(i.cc_rate_bps);
  j["cc_window_bytes"] = i.cc_window_bytes == cc::kUnlimitedWindow ? json(nullptr) : json(i.cc_window_bytes);
  j["inflight_packets"] = i.inflight_packets;
  j["last_rtt_ns"] = i.last_rtt_ns;
  const transport::QpStats& s = i.stats;
  j["stats"] = {{"tx_packets", s.tx_packets},
                {"tx_bytes", s.tx_bytes},
                {"rx_packets", s.rx_packets},
                {"retransmitted_packets", s.retransmitted_packets},
                {"retransmit_timeouts", s.retransmit_timeouts},
                {"naks_received_psn_sequence", s.naks_received_psn_sequence},
                {"selective_retransmits", s.selective_retransmits},
                {"sacks_sent", s.sacks_sent},
                {"sacks_received", s.sacks_received},
                {"rx_ecn_ce", s.rx_ecn_ce},
                {"cnps_sent", s.cnps_sent},
                {"cnps_received", s.cnps_received}};
  if (with_params) {
    json params = json::array();
    for (const cc::ParamInfo& p : i.cc_params) params.push_back({{"name", p.name}, {"value", p.value}, {"help", p.help}});
    j["cc_params"] = std::move(params);
  }
  return j;
}

// What `flexins qp set` asks for: "cc=NAME,lr=MODE,k=v,..." -> the policy
// NAME (empty if no cc=), the loss-recovery mode (if lr=), and "k=v,..."
// (the rest, in order: the policy's parameters).
struct Settings {
  std::string cc;
  std::optional<transport::LossRecoveryMode> lr;
  std::string params;
};

Settings parse_settings(std::string_view settings) {
  Settings out;
  while (!settings.empty()) {
    size_t comma = settings.find(',');
    std::string_view item = settings.substr(0, comma);
    settings = comma == std::string_view::npos ? std::string_view{} : settings.substr(comma + 1);
    if (item.empty()) continue;
    if (item.starts_with("cc=")) {
      if (!out.cc.empty()) throw std::invalid_argument("cc= given twice");
      out.cc = item.substr(3);
      if (out.cc.empty()) throw std::invalid_argument("cc= needs a policy name");
      continue;
    }
    if (item.starts_with("lr=")) {
      if (out.lr) throw std::invalid_argument("lr= given twice");
      out.lr = transport::parse_loss_recovery(item.substr(3));
      if (!out.lr)
        throw std::invalid_argument("lr= must be go_back_n or selective_repeat, not '" + std::string(item.substr(3)) + "'");
      continue;
    }
    if (!out.params.empty()) out.params += ',';
    out.params += item;
  }
  return out;
}

struct Target {
  Worker* worker;
  uint32_t qpn;
  std::string policy;  // current policy name, "" for none
};

}  // namespace

AdminReply qp_list(Engine& engine, const pipe::QpListRequest& req) {
  const bool one = req.only_qpn != pipe::kNoHandle;
  const size_t max = one ? 1 : std::max<size_t>(req.max_qps, 1);
  const uint32_t after = one ? (req.only_qpn == 0 ? 0 : req.only_qpn - 1) : req.after_qpn;
  // Each worker's first `max` past `after`; then the first `max` of all.
  std::vector<transport::QpInfo> infos;
  for (uint32_t w = 0; w < engine.num_workers(); ++w) {
    Worker& wk = engine.worker(w);
    auto page = wk.call([&wk, after, max] { return wk.qp_infos(after, max + 1); });
    infos.insert(infos.end(), page.begin(), page.end());
  }
  std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) { return a.qpn < b.qpn; });
  if (one && (infos.empty() || infos.front().qpn != req.only_qpn)) return {ENOENT, "no QP " + std::to_string(req.only_qpn)};
  // As many as fit one control message (with room for the wrapping).
  json qps = json::array();
  size_t bytes = 0, taken = 0;
  for (; taken < infos.size() && taken < max; ++taken) {
    json q = qp_json(infos[taken], one);
    const size_t size = q.dump().size() + 1;
    if (taken > 0 && bytes + size > pipe::kMaxMsg - 64) break;
    bytes += size;
    qps.push_back(std::move(q));
  }
  const bool more = taken < infos.size();
  return {0, json{{"qps", std::move(qps)}, {"more", more}}.dump()};
}

AdminReply qp_set(Engine& engine, const pipe::QpSetRequest& req) {
  const std::string_view settings(req.settings, strnlen(req.settings, sizeof req.settings));
  if (settings.size() == sizeof req.settings) return {EINVAL, "settings too long"};
  Settings set;
  try {
    set = parse_settings(settings);
  } catch (const std::invalid_argument& e) {
    return {EINVAL, e.what()};
  }
  const std::string& name = set.cc;
  const std::string& rest = set.params;
  const bool cc_change = !name.empty() || !rest.empty();
  if (!cc_change && !set.lr) return {EINVAL, "nothing to set (give cc=NAME, lr=MODE and/or key=value)"};

  // The QPs to change, with their current policies.
  std::vector<Target> targets;
  for (uint32_t w = 0; w < engine.num_workers(); ++w) {
    Worker& wk = engine.worker(w);
    for (const transport::QpInfo& i : wk.call([&wk] { return wk.qp_infos(0, SIZE_MAX); })) {
      if (req.qpn != pipe::kAllQps && i.qpn != req.qpn) continue;
      if (i.type != IBV_QPT_RC) {
        if (req.qpn != pipe::kAllQps) return {EINVAL, "QP " + std::to_string(i.qpn) + " is " + qp_type_name(i.type) + ": congestion control and loss recovery are for RC QPs"};
        continue;
      }
      targets.push_back({&wk, i.qpn, i.cc});
    }
  }
  if (targets.empty()) return {ENOENT, req.qpn == pipe::kAllQps ? "no RC QP" : "no QP " + std::to_string(req.qpn)};

  // Check everything first, on fresh policies, so that a bad setting
  // changes nothing.
  const cc::PolicyRegistry& registry = engine.policies();
  std::set<std::string> policies;
  for (const Target& t : targets) {
    if (!cc_change) break;
    if (!name.empty()) policies.insert(name);
    else if (t.policy.empty()) return {EINVAL, "QP " + std::to_string(t.qpn) + " has no congestion-control policy: give cc=NAME"};
    else policies.insert(t.policy);
  }
  try {
    for (const std::string& p : policies) (void)registry.create(rest.empty() ? p : p + "," + rest);
  } catch (const std::exception& e) {
    return {EINVAL, e.what()};
  }

  size_t changed = 0;
  for (const Target& t : targets) {
    std::unique_ptr<cc::CongestionControl> fresh;
    if (!name.empty()) fresh = registry.create(rest.empty() ? name : name + "," + rest);
    Worker& wk = *t.worker;
    const bool ok = wk.call([&wk, &t, &fresh, &rest, &set, cc_change] {
      transport::Qp* qp = wk.find_qp(t.qpn);
      if (qp == nullptr) return false;  // destroyed meanwhile
      if (set.lr && !qp->set_loss_recovery(*set.lr)) return false;
      if (!cc_change) return true;
      if (fresh) return qp->set_congestion_control(std::move(fresh));
      return !qp->set_congestion_params(rest).has_value();
    });
    changed += ok ? 1 : 0;
  }
  return {0, json{{"changed", changed}}.dump()};
}

}  // namespace flexins::engine
