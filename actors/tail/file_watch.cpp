// One tailer's watches on the process's inotify hub; see file_watch.hpp.
#include "actors/tail/file_watch.hpp"

#include <sys/inotify.h>

namespace cc::tail {

namespace {

constexpr uint32_t dir_mask = IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                              IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ATTRIB;
constexpr uint32_t file_mask = IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF |
                               IN_MOVE_SELF | IN_ATTRIB;

} // namespace

caf::expected<std::unique_ptr<file_watch>>
file_watch::start(caf::actor target, const std::string& dir, const std::string& names,
                  bool run_here, std::function<bool()> look_here) {
  auto hub = inotify_hub::shared();
  if (!hub)
    return hub.error();
  auto sig = std::make_shared<watch_signal>();
  sig->target = std::move(target);
  sig->names = names;
  if (run_here)
    sig->look_here = std::move(look_here);
  auto wd = (*hub)->add(dir, dir_mask | IN_ONLYDIR, true, sig);
  if (!wd)
    return wd.error();
  std::unique_ptr<file_watch> w{new file_watch(std::move(*hub), std::move(sig))};
  w->dir_wd_ = *wd;
  w->may_run_here_ = run_here;
  return w;
}

file_watch::file_watch(std::shared_ptr<inotify_hub> hub, std::shared_ptr<watch_signal> sig)
  : hub_(std::move(hub)), sig_(std::move(sig)) {
}

file_watch::~file_watch() {
  watch_file("");
  hub_->remove(dir_wd_, sig_.get());
}

void file_watch::watch_file(const std::string& path) {
  std::lock_guard<std::mutex> guard{file_mtx_};
  if (file_wd_ >= 0)
    hub_->remove(file_wd_, sig_.get());
  file_wd_ = -1;
  if (path.empty())
    return;
  if (auto wd = hub_->add(path, file_mask, false, sig_))
    file_wd_ = *wd;
}

} // namespace cc::tail
