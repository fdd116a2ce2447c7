#include "io/fault_injector.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace flexins::io {

FaultSpec parse_fault_spec(const std::string& text) {
  FaultSpec spec;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("inject: expected key=value, got '" + item + "'");
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      size_t used = 0;
      if (key == "seed") {
        spec.seed = std::stoull(value, &used);
      } else {
        double p = std::stod(value, &used);
        if (p < 0 || p > 1) throw std::invalid_argument("range");
        if (key == "loss") spec.loss = p;
        else if (key == "reorder") spec.reorder = p;
        else if (key == "dup") spec.dup = p;
        else if (key == "ecn") spec.ecn = p;
        else throw std::invalid_argument("inject: unknown key '" + key + "' (loss, reorder, dup, ecn, seed)");
      }
      if (used != value.size()) throw std::invalid_argument("trailing");
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).rfind("inject:", 0) == 0) throw;
      throw std::invalid_argument("inject: bad value in '" + item + "' (probabilities are 0..1)");
    } catch (const std::out_of_range&) {
      throw std::invalid_argument("inject: value out of range in '" + item + "'");
    }
  }
  return spec;
}

FaultInjector::FaultInjector(std::unique_ptr<Backend> inner, const FaultSpec& spec)
    : inner_(std::move(inner)), spec_(spec), rng_(spec.seed) {}

uint32_t FaultInjector::tx_burst(std::span<TxDatagram> pkts) {
  out_.clear();
  for (TxDatagram& d : pkts) {
    if (chance(spec_.loss)) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (chance(spec_.reorder)) {
      // Hold a copy; it goes out after the datagrams that follow it.
      Held h;
      h.header = d;
      h.bytes.reserve(d.length);
      for (uint32_t i = 0; i < d.iov_count; ++i) {
        auto* p = static_cast<const uint8_t*>(d.iov[i].iov_base);
        h.bytes.insert(h.bytes.end(), p, p + d.iov[i].iov_len);
      }
      held_.push_back(std::move(h));
      counters_.reordered.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (chance(spec_.ecn)) {
      d.ecn_ce = true;
      counters_.ecn_marked.fetch_add(1, std::memory_order_relaxed);
    }
    out_.push_back(d);
    if (chance(spec_.dup)) {
      out_.push_back(d);
      counters_.duplicated.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!out_.empty()) inner_->tx_burst(out_);
  if (!out_.empty()) release_held();
  return uint32_t(pkts.size());
}

void FaultInjector::release_held() {
  if (held_.empty()) return;
  std::vector<Held> held;
  held.swap(held_);
  std::vector<TxDatagram> batch;
  batch.reserve(held.size());
  for (Held& h : held) {
    TxDatagram d = h.header;
    d.iov_count = 1;
    d.iov[0] = {h.bytes.data(), h.bytes.size()};
    batch.push_back(d);
  }
  inner_->tx_burst(batch);
}

void FaultInjector::tick(uint64_t now_ns) {
  (void)now_ns;
  // Held datagrams never wait longer than one engine pass with no traffic.
  release_held();
  inner_->tick(now_ns);
}

}  // namespace flexins::io
