// Event channels and events: rdma_create_event_channel, rdma_get_cm_event,
// rdma_ack_cm_event.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "rdmacm/cm_state.h"
#include "rdmacm/qp_setup.h"

namespace flexins::rdmacm {

std::mutex& cm_mutex() {
  static auto* mu = new std::mutex;  // never destroyed: the service thread outlives main
  return *mu;
}

std::condition_variable& cm_acked() {
  static auto* cv = new std::condition_variable;
  return *cv;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t timeout_ns(ConnState s) {
  constexpr int64_t kMs = 1'000'000;
  if (const char* env = getenv("FLEXINS_CM_TIMEOUT_MS"); env != nullptr && *env != '\0') {
    long v = strtol(env, nullptr, 10);
    if (v > 0) return v * kMs;
  }
  switch (s) {
    case ConnState::kConnecting: return 10'000 * kMs;   // TCP handshake to the listener
    case ConnState::kReqSent: return 30'000 * kMs;      // the passive application accepts
    case ConnState::kRepSent: return 10'000 * kMs;      // the active QP reaches RTS
    case ConnState::kDreqSent: return 3'000 * kMs;
    case ConnState::kSidrReqSent: return 30'000 * kMs;
    default: return 0;
  }
}

Channel* new_channel() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return nullptr;
  auto* c = new (std::nothrow) Channel;
  if (c == nullptr) {
    close(sv[0]);
    close(sv[1]);
    errno = ENOMEM;
    return nullptr;
  }
  c->pub.fd = sv[0];
  c->write_fd = sv[1];
  return c;
}

void free_channel(Channel* c) {
  for (Event* e : c->queue) delete e;
  c->queue.clear();
  close(c->pub.fd);
  if (c->readers.load() != 0) return;  // left to the blocked reader: see Channel
  close(c->write_fd);
  delete c;
}

Event* new_event(Id* id, rdma_cm_event_type type, int status) {
  auto* e = new Event;
  std::memset(&e->pub, 0, sizeof e->pub);
  e->pub.id = &id->pub;
  e->pub.event = type;
  e->pub.status = status;
  e->owner = id;
  return e;
}

void queue_event(Channel* c, Event* e) {
  c->queue.push_back(e);
  const char one = 1;
  // MSG_DONTWAIT: never block under the CM lock (a socketpair holds far more
  // pending bytes than any program leaves events unread).
  while (send(c->write_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

std::vector<Id*> drop_queued_events(Id* id) {
  std::vector<Id*> children;
  Channel* c = to_channel(id->pub.channel);
  if (c == nullptr) return children;
  for (auto it = c->queue.begin(); it != c->queue.end();) {
    Event* e = *it;
    if (e->owner != id) {
      ++it;
      continue;
    }
    if (e->pub.event == RDMA_CM_EVENT_CONNECT_REQUEST && e->pub.id != &id->pub)
      children.push_back(to_id(e->pub.id));
    it = c->queue.erase(it);
    delete e;
    // Take back its byte. If a reader already holds it, that reader finds
    // the queue one short and reads again (see rdma_get_cm_event).
    char b;
    (void)!recv(c->pub.fd, &b, 1, MSG_DONTWAIT);
  }
  return children;
}

}  // namespace flexins::rdmacm

using namespace flexins::rdmacm;

extern "C" {

struct rdma_event_channel* rdma_create_event_channel(void) {
  Channel* c = new_channel();
  return c ? &c->pub : nullptr;
}

void rdma_destroy_event_channel(struct rdma_event_channel* channel) {
  if (channel == nullptr) return;
  std::lock_guard g(cm_mutex());
  free_channel(to_channel(channel));
}

int rdma_get_cm_event(struct rdma_event_channel* channel, struct rdma_cm_event** event) {
  if (channel == nullptr || event == nullptr) {
    errno = EINVAL;
    return -1;
  }
  Channel* c = to_channel(channel);
  for (;;) {
    char b;
    c->readers++;
    ssize_t n = read(c->pub.fd, &b, 1);  // blocks unless the application set O_NONBLOCK
    c->readers--;
    if (n < 0) return -1;  // EINTR too, as librdmacm's read() does
    if (n == 0) {
      errno = ENODEV;
      return -1;
    }
    Event* e = nullptr;
    {
      std::lock_guard g(cm_mutex());
      if (c->queue.empty()) continue;  // its event was dropped meanwhile
      e = c->queue.front();
      c->queue.pop_front();
      e->owner->events_outstanding++;
    }
    if (e->conn_response) finish_conn_response(e);
    *event = &e->pub;
    return 0;
  }
}

int rdma_ack_cm_event(struct rdma_cm_event* event) {
  if (event == nullptr) {
    errno = EINVAL;
    return -1;
  }
  Event* e = to_event(event);
  {
    std::lock_guard g(cm_mutex());
    e->owner->events_outstanding--;
  }
  cm_acked().notify_all();
  delete e;
  return 0;
}

}  // extern "C"
