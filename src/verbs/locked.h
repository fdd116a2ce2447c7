// Scoped hold of a pthread mutex (the library's objects embed pthread
// mutexes: verbs structures are C, allocated and freed by the library).
#pragma once

#include <pthread.h>

namespace flexins::verbs {

class Locked {
 public:
  explicit Locked(pthread_mutex_t* m) : m_(m) { pthread_mutex_lock(m_); }
  ~Locked() { pthread_mutex_unlock(m_); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  pthread_mutex_t* m_;
};

}  // namespace flexins::verbs
