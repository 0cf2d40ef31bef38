// The signal thread: see signals.hpp.
#include "main/signals.hpp"

#include <csignal>

#include <pthread.h>

#include <caf/send.hpp>

#include "base/thread_name.hpp"

namespace cc::cli {

namespace {

sigset_t handled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1); // wakes the thread to end it
  return set;
}

} // namespace

signal_thread::signal_thread(caf::actor target) {
  thread_ = std::thread{[this, target] {
    name_this_thread("cc-signals");
    sigset_t set = handled();
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0)
        continue;
      if (done_)
        return;
      if (sig != SIGUSR1)
        caf::anon_send(target, sig);
    }
  }};
}

signal_thread::~signal_thread() {
  done_ = true;
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void signal_thread::block() {
  sigset_t set = handled();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

} // namespace cc::cli
