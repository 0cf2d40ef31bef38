// The process's inotify instance on the I/O loop; see inotify_hub.hpp.
#include "actors/tail/inotify_hub.hpp"

#include <fnmatch.h>
#include <limits.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/io_loop.hpp"
#include "base/loop_jobs.hpp"

namespace cc::tail {

namespace {

/// The largest event a read returns: a name of NAME_MAX bytes and its NUL.
constexpr size_t max_event_bytes = sizeof(inotify_event) + NAME_MAX + 1;

/// Events that change which files a directory holds.
constexpr uint32_t listing_events =
  IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_Q_OVERFLOW;

std::atomic<uint64_t> looks_run_here{0};

struct watcher {
  std::shared_ptr<watch_signal> sig;
  uint32_t mask;
  bool dir;
};

struct wd_entry {
  std::vector<watcher> watchers;
};

} // namespace

class inotify_hub::client : public io_client {
public:
  explicit client(int fd) : fd_(fd) {}
  ~client() override { ::close(fd_); }

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    items.push_back(zmq_pollitem_t{nullptr, fd_, ZMQ_POLLIN, 0});
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    if (count == 1 && (items[0].revents & ZMQ_POLLIN))
      drain();
  }

  caf::expected<int> add(const std::string& path, uint32_t mask, bool dir,
                         const std::shared_ptr<watch_signal>& sig) {
    std::lock_guard<std::mutex> guard{mtx_};
    // IN_MASK_ADD: the inode may be watched already for another watcher,
    // whose events must keep coming (the kernel mask becomes the union).
    int wd = ::inotify_add_watch(fd_, path.c_str(), mask | IN_MASK_ADD);
    if (wd < 0)
      return make_error(errc::io, errno_text("inotify_add_watch", path));
    auto& e = wds_[wd];
    e.watchers.push_back({sig, mask & IN_ALL_EVENTS, dir});
    return wd;
  }

  void remove(int wd, const watch_signal* sig) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = wds_.find(wd);
    if (i == wds_.end())
      return; // the kernel dropped it (IN_IGNORED)
    auto& ws = i->second.watchers;
    auto w = std::find_if(ws.begin(), ws.end(),
                          [sig](const watcher& x) { return x.sig.get() == sig; });
    if (w == ws.end())
      return;
    ws.erase(w);
    if (ws.empty()) {
      ::inotify_rm_watch(fd_, wd);
      wds_.erase(i);
    }
    // Else the kernel keeps the union of the masks asked so far: a mask can
    // only be replaced by path, and the path may name another inode by now.
    // Each watcher filters by its own mask (route), so a wider one only
    // costs an event nobody takes.
  }

  size_t watch_count() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return wds_.size();
  }

private:
  void drain();
  void route(const inotify_event& ev, std::vector<std::shared_ptr<watch_signal>>& woken);
  void wake(std::vector<std::shared_ptr<watch_signal>>& woken);

  int fd_;
  mutable std::mutex mtx_; // guards wds_
  std::unordered_map<int, wd_entry> wds_;
};

void inotify_hub::client::route(const inotify_event& ev,
                                std::vector<std::shared_ptr<watch_signal>>& woken) {
  auto tell = [&](const watcher& w) {
    if (ev.mask & listing_events)
      w.sig->dir_changed = true;
    if (w.dir && (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
      w.sig->dir_lost = true;
      w.sig->dir_changed = true;
    }
    woken.push_back(w.sig);
  };
  if (ev.mask & IN_Q_OVERFLOW) { // events were lost: everyone looks again
    for (auto& kv : wds_)
      for (auto& w : kv.second.watchers)
        tell(w);
    return;
  }
  auto i = wds_.find(ev.wd);
  if (i == wds_.end())
    return;
  if (ev.mask & IN_IGNORED) { // the kernel removed the watch
    wds_.erase(i);
    return;
  }
  for (auto& w : i->second.watchers) {
    if ((ev.mask & w.mask) == 0)
      continue;
    if (w.dir && ev.len > 0 && ::fnmatch(w.sig->names.c_str(), ev.name, FNM_PERIOD) != 0)
      continue;
    tell(w);
  }
}

void inotify_hub::client::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  std::vector<std::shared_ptr<watch_signal>> woken;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (;;) {
      auto n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0)
        break; // EAGAIN: drained (non-blocking)
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        route(*ev, woken);
      }
      // The kernel stops a read only at an event that does not fit: with
      // room left for the largest one the queue was empty, and what comes
      // after it wakes the next poll. No read to EAGAIN (one system call
      // per wake, bench/PROFILE.md "Session 22: latency").
      if (sizeof(buf) - static_cast<size_t>(n) >= max_event_bytes)
        break;
    }
  }
  // One wake per watcher until its tailer rearms; sent outside the lock.
  keep_unique(woken);
  wake(woken);
}

// The watchers that may run here are woken last, inside a loop_jobs scope
// that then runs them (and what they message) on this thread.
// A watcher with a look_here has its look run right here instead, as a job
// of that scope would run it: no message, mailbox or resume for it.
void inotify_hub::client::wake(std::vector<std::shared_ptr<watch_signal>>& woken) {
  std::vector<const watch_signal*> here_sigs;
  for (auto& sig : woken) {
    if (sig->pending.exchange(true))
      continue;
    if (sig->run_here.load(std::memory_order_relaxed))
      here_sigs.push_back(sig.get());
    else
      caf::anon_send(sig->target, wake_atom::value);
  }
  if (here_sigs.empty())
    return;
  loop_jobs here{here_sigs.front()->target->home_system()};
  for (auto* sig : here_sigs) {
    if (sig->look_here && here.run_inline(sig->look_here))
      looks_run_here.fetch_add(1, std::memory_order_relaxed);
    else
      caf::anon_send(sig->target, wake_atom::value);
  }
  here.run();
}

// One write to a followed file raises IN_MODIFY on both the file's watch
// and its directory's, so a batch names its watcher twice. Were the second
// entry sent after the tailer already took the first wake (and rearmed), it
// would be woken again for bytes it has read: a thread wake-up and a check
// for nothing on every trickle line (bench/PROFILE.md, "Session 9: trickle
// latency").
void keep_unique(std::vector<std::shared_ptr<watch_signal>>& sigs) {
  auto by_address = [](const auto& a, const auto& b) { return a.get() < b.get(); };
  std::sort(sigs.begin(), sigs.end(), by_address);
  sigs.erase(std::unique(sigs.begin(), sigs.end()), sigs.end());
}

caf::expected<std::shared_ptr<inotify_hub>> inotify_hub::shared() {
  static std::mutex mtx;
  static std::weak_ptr<inotify_hub> current;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto hub = current.lock())
    return hub;
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io, errno_text("inotify_init1", "the process's watch"));
  std::shared_ptr<inotify_hub> hub{new inotify_hub};
  hub->client_ = std::make_shared<client>(fd);
  hub->loop_ = io_loop::shared();
  // The hub holds the loop until its own removal has run there, so the raw
  // loop pointer outlives both posted functions.
  auto* loop = hub->loop_.get();
  loop->post([loop, c = hub->client_] { loop->add(c); });
  current = hub;
  return hub;
}

inotify_hub::~inotify_hub() {
  auto* loop = loop_.get();
  auto* c = client_.get();
  if (loop->in_loop()) {
    loop->remove(c);
  } else {
    std::promise<void> done;
    loop->post([loop, c, &done] {
      loop->remove(c);
      done.set_value();
    });
    done.get_future().wait();
  }
}

caf::expected<int> inotify_hub::add(const std::string& path, uint32_t mask, bool dir,
                                    const std::shared_ptr<watch_signal>& sig) {
  return client_->add(path, mask, dir, sig);
}

void inotify_hub::remove(int wd, const watch_signal* sig) {
  client_->remove(wd, sig);
}

size_t inotify_hub::watch_count() const {
  return client_->watch_count();
}

uint64_t inotify_hub::looks_here() {
  return looks_run_here.load(std::memory_order_relaxed);
}

} // namespace cc::tail
