// Names the calling thread for top -H, perf and /proc/PID/task/*/comm
// ("cc-tailer", "cc-zmq-socket"...): CAF calls all its detached actors'
// threads "caf.actor", which tells an operator nothing. Linux keeps 15
// characters; longer names are cut.
#pragma once

#include <pthread.h>

#include <string>

namespace cc {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

} // namespace cc
