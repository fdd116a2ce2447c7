#include "engine/engine.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/cpu_pinning.h"
#include "engine/session.h"
#include "io/udp_backend.h"
#include "pipe/control_proto.h"
#include "wire/packet.h"

namespace flexins::engine {
namespace {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

// The IB MTU that fits the interface carrying this address (RoCEv2 adds
// IP 20 + UDP 8 + BTH 12 + RETH 16 + ICRC 4 bytes of headers at most).
uint32_t mtu_for_address(uint32_t ip_be) {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return IBV_MTU_1024;
  int link_mtu = 0;
  bool loopback = (ntohl(ip_be) >> 24) == 127;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    bool match = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr == ip_be ||
                 (loopback && (i->ifa_flags & IFF_LOOPBACK));
    if (!match) continue;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq req{};
    std::snprintf(req.ifr_name, sizeof req.ifr_name, "%s", i->ifa_name);
    if (s >= 0 && ioctl(s, SIOCGIFMTU, &req) == 0) link_mtu = req.ifr_mtu;
    if (s >= 0) close(s);
    break;
  }
  freeifaddrs(ifs);
  const int overhead = 20 + 8 + 12 + 16 + 4;
  for (uint32_t m = IBV_MTU_4096; m > IBV_MTU_256; --m)
    if ((128 << m) + overhead <= link_mtu) return m;
  return IBV_MTU_256;
}

// The engine's memory from /proc/self/status, in KiB: VmRSS (resident),
// VmHWM (its peak), and VmRSS split into RssAnon (the engine's own heap and
// stacks), RssFile and RssShmem (applications' rings and registered memory
// the engine has touched: their pages, mapped in, not the engine's).
std::vector<std::pair<std::string, uint64_t>> memory_kib() {
  static constexpr std::pair<const char*, const char*> kFields[] = {
      {"VmRSS:", "vm_rss_kib"}, {"VmHWM:", "vm_hwm_kib"}, {"RssAnon:", "rss_anon_kib"},
      {"RssFile:", "rss_file_kib"}, {"RssShmem:", "rss_shmem_kib"}};
  std::vector<std::pair<std::string, uint64_t>> out;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return out;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    for (const auto& [key, name] : kFields) {
      if (std::strncmp(line, key, std::strlen(key)) != 0) continue;
      out.emplace_back(name, std::strtoull(line + std::strlen(key), nullptr, 10));
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace

std::string Engine::default_run_dir() {
  const char* d = std::getenv("FLEXINS_RUN_DIR");
  return d && *d ? d : pipe::kDefaultRunDir;
}

std::string Engine::socket_path(const std::string& run_dir, const std::string& ip) {
  return run_dir + "/engine-" + ip + ".sock";
}

Engine::Engine(const EngineConfig& cfg) : cfg_(cfg), rng_(std::random_device{}()) {
  in_addr a{};
  if (inet_pton(AF_INET, cfg.ip.c_str(), &a) != 1) fail("not an IPv4 address: " + cfg.ip);
  ip_be_ = a.s_addr;
  active_mtu_ = mtu_for_address(ip_be_);
  if (cfg_.run_dir.empty()) cfg_.run_dir = default_run_dir();
  mkdir(cfg_.run_dir.c_str(), 0777);
  sock_path_ = socket_path(cfg_.run_dir, cfg_.ip);

  // One engine per address: a live socket means one is serving already.
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (sock_path_.size() >= sizeof sa.sun_path) fail("run directory path too long: " + cfg_.run_dir);
  std::memcpy(sa.sun_path, sock_path_.c_str(), sock_path_.size() + 1);
  int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    close(probe);
    fail("an engine for " + cfg_.ip + " is already running (" + sock_path_ + ")");
  }
  close(probe);

  try {
    std::unique_ptr<io::Backend> udp = std::make_unique<io::UdpBackend>(ip_be_, wire::kRoceV2Port, 4, cfg_.udp_offload);
    if (cfg_.faults.any()) {
      auto inj = std::make_unique<io::FaultInjector>(std::move(udp), cfg_.faults);
      injector_ = inj.get();
      backend_ = std::move(inj);
    } else {
      backend_ = std::move(udp);
    }
  } catch (const std::system_error& e) {
    fail("cannot bind " + cfg_.ip + ":" + std::to_string(wire::kRoceV2Port) + " (" + e.what() +
         "): is another engine or RoCE stack using it?");
  }

  // Policies before workers: they create every new QP's from the registry.
  policies_ = cc::PolicyRegistry::with_builtins();
  for (const std::string& path : cfg_.plugins) {
    try {
      cc::register_plugin(policies_, cc::CcPlugin::load(path));
    } catch (const std::exception& e) {
      fail(std::string("--plugin: ") + e.what());
    }
  }
  try {
    (void)policies_.create(cfg_.cc);
  } catch (const std::exception& e) {
    fail(std::string("--cc: ") + e.what());
  }

  status_ = std::make_unique<ShmArena>("flexins-engine", 4096);
  auto* st = status_->at<pipe::EngineStatusShm>(0);
  st->magic = pipe::kEngineShmMagic;
  st->version = pipe::kPipeVersion;
  if (cfg_.workers == 0 || cfg_.workers > pipe::kMaxWorkers) fail("--workers must be 1.." + std::to_string(pipe::kMaxWorkers));
  if (cfg_.workers > 1) fail("--workers > 1 needs per-worker receive queues: not yet supported");
  check_cpus_available(cfg_.cpus);  // throws, naming the CPU, before any worker starts
  check_worker_priority(cfg_.priority);
  st->num_workers = cfg_.workers;
  for (uint32_t i = 0; i < cfg_.workers; ++i) {
    WorkerConfig wc;
    wc.index = i;
    wc.local_ip = ip_be_;
    wc.verify_icrc = cfg_.verify_icrc;
    wc.priority = cfg_.priority;
    wc.cpu = cfg_.cpus.empty() ? -1 : cfg_.cpus[i % cfg_.cpus.size()];
    wc.spin_ns = cfg_.spin_us * 1000;
    wc.nap_ns = cfg_.nap_us * 1000;
    wc.idle_nap_ns = cfg_.idle_nap_us * 1000;
    wc.nap_window_ns = cfg_.nap_window_ms * 1'000'000;
    wc.idle_kicks = cfg_.idle_kicks;
    wc.ablate = cfg_.ablate;
    wc.policies = &policies_;
    wc.cc_spec = cfg_.cc;
    wc.loss_recovery = cfg_.loss_recovery;
    st->worker[i].kick_every_post.store(cfg_.ablate.doorbell_syscall ? 1 : 0, std::memory_order_relaxed);
    workers_.push_back(std::make_unique<Worker>(wc, *backend_, st->worker[i]));
  }

  // The socket appears under its name only once it listens (bound under a
  // temporary name, then renamed): whoever waits for the file to exist can
  // connect at once.
  const std::string bound_path = sock_path_ + ".new";
  sockaddr_un bound{};
  bound.sun_family = AF_UNIX;
  if (bound_path.size() >= sizeof bound.sun_path) fail("run directory path too long: " + cfg_.run_dir);
  std::memcpy(bound.sun_path, bound_path.c_str(), bound_path.size() + 1);
  unlink(sock_path_.c_str());
  unlink(bound_path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 || listen(listen_fd_, 64) != 0 ||
      chmod(bound_path.c_str(), 0777) != 0 || rename(bound_path.c_str(), sock_path_.c_str()) != 0)
    fail("cannot listen on " + sock_path_ + ": " + std::strerror(errno));

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // before workers start: they inherit it
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  next_qpn_ = (uint32_t(rng_()) & 0xfff) << 8 | 0x11;  // a random start, as hardware does
  started_ns_ = monotonic_ns();
  for (auto& w : workers_) w->start();
}

Engine::~Engine() {
  sessions_.clear();  // reclaim applications' objects while workers run
  for (auto& w : workers_) w->stop();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(sock_path_.c_str());
  }
  if (signal_fd_ >= 0) close(signal_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

void Engine::stop() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
}

int Engine::run() {
  if (!cfg_.quiet)
    std::fprintf(stderr, "flexinsd: serving %s (RoCEv2 UDP %u, MTU %d, %u worker%s, cc %s, loss recovery %s%s), control %s\n",
                 cfg_.ip.c_str(), wire::kRoceV2Port, 128 << active_mtu_, num_workers(), num_workers() == 1 ? "" : "s",
                 cfg_.cc.c_str(), transport::loss_recovery_name(cfg_.loss_recovery),
                 injector_ ? ", fault injection on" : "", sock_path_.c_str());
  if (!cfg_.quiet && ablations_json(cfg_.ablate) != "[]")
    std::fprintf(stderr, "flexinsd: ablations %s on: for measurement only\n", ablations_json(cfg_.ablate).c_str());
  std::vector<pollfd> pfds;
  for (;;) {
    pfds.clear();
    pfds.push_back({signal_fd_, POLLIN, 0});
    pfds.push_back({stop_fd_, POLLIN, 0});
    pfds.push_back({listen_fd_, POLLIN, 0});
    for (auto& [fd, s] : sessions_) pfds.push_back({fd, POLLIN, 0});
    if (poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR) return 1;
    if (pfds[0].revents || pfds[1].revents) break;
    if (pfds[2].revents) accept_client();
    for (size_t i = 3; i < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      auto it = sessions_.find(pfds[i].fd);
      if (it != sessions_.end() && !it->second->serve()) sessions_.erase(it);
    }
  }
  if (!cfg_.quiet) std::fprintf(stderr, "flexinsd: %s stopping\n", cfg_.ip.c_str());
  return 0;
}

void Engine::accept_client() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    sessions_.emplace(fd, std::make_unique<Session>(*this, fd));
  }
}

uint16_t Engine::src_port_for(uint32_t qpn) const {
  auto ports = backend_->src_ports();
  return ports[qpn % ports.size()];
}

uint32_t Engine::alloc_qpn() {
  // 24-bit QPNs; 0 and 1 are the special QPs of IBA 3.5.3 (never used here).
  for (;;) {
    uint32_t q = next_qpn_++ & wire::kQpnMask;
    if (q > 1 && qpns_.insert(q).second) return q;
  }
}

void Engine::free_qpn(uint32_t qpn) { qpns_.erase(qpn); }

uint32_t Engine::alloc_key() {
  for (;;) {
    uint32_t k = uint32_t(rng_());
    if (k != 0 && keys_.insert(k).second) return k;
  }
}

void Engine::free_key(uint32_t key) { keys_.erase(key); }

std::string Engine::stats_json() const {
  std::string out = "{";
  auto field = [&out](const char* name, uint64_t v) {
    if (out.size() > 1) out += ", ";
    out += '"';
    out += name;
    out += "\": ";
    out += std::to_string(v);
  };
  out += "\"ip\": \"" + cfg_.ip + "\"";
  field("uptime_ms", (monotonic_ns() - started_ns_) / 1'000'000);
  field("workers", workers_.size());
  size_t contexts = 0, pds = 0, mrs = 0, cqs = 0, qps = 0, srqs = 0, ahs = 0;
  for (auto& [fd, s] : sessions_) {
    contexts += s->opened();  // `flexins stat` itself is a connection too
    pds += s->pd_count();
    mrs += s->mr_count();
    cqs += s->cq_count();
    qps += s->qp_count();
    srqs += s->srq_count();
    ahs += s->ah_count();
  }
  field("contexts", contexts);
  field("pds", pds);
  field("mrs", mrs);
  field("cqs", cqs);
  field("srqs", srqs);
  field("ahs", ahs);
  field("qps", qps);
  uint64_t qps_peak = 0;
  for (auto& w : workers_) qps_peak += w->qps_peak();
  field("qps_peak", qps_peak);  // the most QPs held at once (summed over workers)
  out += ", \"ablations\": " + ablations_json(cfg_.ablate);
  uint64_t rx_buf = 0, rx_buf_peak = 0;
  for (auto& w : workers_) {
    rx_buf += w->rx_buffer_bytes();
    rx_buf_peak += w->rx_buffer_bytes_peak();
  }
  field("rx_buffer_bytes", rx_buf);
  field("rx_buffer_bytes_peak", rx_buf_peak);
  for (const auto& [name, kib] : memory_kib()) field(name.c_str(), kib);
#define FLEXINS_SUM(name)                                                   \
  {                                                                         \
    uint64_t v = 0;                                                         \
    for (auto& w : workers_) v += w->stats().name.get();                    \
    field(#name, v);                                                        \
  }
  FLEXINS_COUNTERS(FLEXINS_SUM)
#undef FLEXINS_SUM
  if (injector_) {
    field("inject_dropped", injector_->counters().dropped.load());
    field("inject_duplicated", injector_->counters().duplicated.load());
    field("inject_reordered", injector_->counters().reordered.load());
    field("inject_ecn_marked", injector_->counters().ecn_marked.load());
  }
  out += "}";
  return out;
}

}  // namespace flexins::engine
