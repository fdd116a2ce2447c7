// For tests of blocking calls that a signal must interrupt (EINTR), as the
// real libibverbs / librdmacm calls are: programs such as qperf end a wait
// with SIGALRM.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <thread>

namespace flexins::testing {

// Sends SIGUSR1 to the constructing thread after DELAY, through a handler
// installed without SA_RESTART, so a blocking call there fails with EINTR.
// The destructor waits for the sender and restores the old handler.
class InterruptAfter {
 public:
  explicit InterruptAfter(std::chrono::milliseconds delay) {
    struct sigaction quiet{};
    quiet.sa_handler = [](int) {};
    sigaction(SIGUSR1, &quiet, &old_);
    sender_ = std::thread([target = pthread_self(), delay] {
      std::this_thread::sleep_for(delay);
      pthread_kill(target, SIGUSR1);
    });
  }
  ~InterruptAfter() {
    sender_.join();
    sigaction(SIGUSR1, &old_, nullptr);
  }
  InterruptAfter(const InterruptAfter&) = delete;
  InterruptAfter& operator=(const InterruptAfter&) = delete;

 private:
  struct sigaction old_{};
  std::thread sender_;
};

}  // namespace flexins::testing
