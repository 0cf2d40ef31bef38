// inotify thread for the tailer; see file_watch.hpp.
#include "actors/tail/file_watch.hpp"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/thread_name.hpp"

namespace cc::tail {

namespace {

constexpr uint32_t dir_mask = IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                              IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ATTRIB;
constexpr uint32_t file_mask = IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF |
                               IN_MOVE_SELF | IN_ATTRIB;
/// Events that change which files the directory holds.
constexpr uint32_t listing_events =
  IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_Q_OVERFLOW;

} // namespace

caf::expected<std::unique_ptr<file_watch>>
file_watch::start(caf::actor target, const std::string& dir) {
  int ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0)
    return make_error(errc::io, errno_text("inotify_init1 for", dir));
  int wd = ::inotify_add_watch(ifd, dir.c_str(), dir_mask | IN_ONLYDIR);
  if (wd < 0) {
    auto err = make_error(errc::io, errno_text("inotify_add_watch", dir));
    ::close(ifd);
    return err;
  }
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) {
    auto err = make_error(errc::io, errno_text("eventfd for", dir));
    ::close(ifd);
    return err;
  }
  std::unique_ptr<file_watch> w{new file_watch(ifd, efd, wd)};
  w->thread_ = std::thread{[p = w.get(), target]() {
    name_this_thread("cc-inotify");
    p->run(target);
  }};
  return w;
}

file_watch::file_watch(int inotify_fd, int event_fd, int dir_wd)
  : inotify_fd_(inotify_fd),
    event_fd_(event_fd),
    dir_wd_(dir_wd),
    pending_(std::make_shared<std::atomic<bool>>(false)),
    dir_changed_(std::make_shared<std::atomic<bool>>(false)),
    dir_lost_(std::make_shared<std::atomic<bool>>(false)) {
}

file_watch::~file_watch() {
  uint64_t one = 1;
  if (::write(event_fd_, &one, sizeof(one)) < 0) {
    // Cannot happen for a valid eventfd below its maximum; nothing to do.
  }
  if (thread_.joinable())
    thread_.join();
  ::close(event_fd_);
  ::close(inotify_fd_);
}

void file_watch::watch_file(const std::string& path) {
  std::lock_guard<std::mutex> guard{file_mtx_};
  if (file_wd_ >= 0 && file_wd_ != dir_wd_)
    ::inotify_rm_watch(inotify_fd_, file_wd_);
  file_wd_ = -1;
  if (!path.empty())
    file_wd_ = ::inotify_add_watch(inotify_fd_, path.c_str(), file_mask);
}

void file_watch::run(caf::actor target) {
  alignas(inotify_event) char buf[64 * 1024];
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
  for (;;) {
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      return; // the tailer keeps polling on its own
    }
    if (fds[1].revents != 0)
      return;
    if ((fds[0].revents & POLLIN) == 0)
      continue;
    bool any = false;
    for (;;) {
      auto n = ::read(inotify_fd_, buf, sizeof(buf));
      if (n <= 0)
        break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_IGNORED)
          continue;
        any = true;
        if (ev->mask & listing_events)
          dir_changed_->store(true);
        if (ev->wd == dir_wd_ && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
          dir_lost_->store(true);
          dir_changed_->store(true);
        }
      }
    }
    if (any && !pending_->exchange(true))
      caf::anon_send(target, wake_atom::value);
  }
}

} // namespace cc::tail
