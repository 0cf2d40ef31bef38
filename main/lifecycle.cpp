// The running server's main loop and SIGHUP's steps: see lifecycle.hpp.
#include "main/lifecycle.hpp"

#include <csignal>
#include <cstring>

#include <caf/after.hpp>

#include "base/files.hpp"
#include "base/logger.hpp"
#include "main/notify.hpp"
#include "main/options.hpp"
#include "main/serve.hpp"

namespace cc::cli {

namespace {

using std::chrono::milliseconds;

constexpr const char* who = "main";

} // namespace

void log_diagnostics(const config::load_result& res) {
  for (const auto& d : res.diagnostics) {
    if (d.severity == config::diagnostic::error)
      log::error(who, d.str());
    else
      log::warning(who, d.str());
  }
}

// -- SIGHUP -----------------------------------------------------------------------

actor_tree::reload_outcome reload_config(actor_tree& tree, const std::string& config_path,
                                         std::string& logfile, bool middleman_loaded) {
  log::reopen();
  log::info(who, "got SIGHUP: reloading " + config_path);
  auto res = config::load(config_path);
  log_diagnostics(res);
  if (!res.ok()) {
    log::error(who, "reload: the configuration has errors; keeping the running one");
    return actor_tree::reload_outcome::kept_previous;
  }
  auto next = std::make_shared<const config::server_config>(std::move(*res.config));
  if (auto use = caf_link_use(*next); !middleman_loaded && !use.empty()) {
    log::error(who, "reload: " + use + " needs CAF's middleman, which this process "
                    "started without (no CAF link in its configuration then); "
                    "keeping the running configuration: restart to add a CAF link");
    return actor_tree::reload_outcome::kept_previous;
  }
  auto next_logfile = absolute(next->main.file("logfile"));
  if (next_logfile != logfile) {
    std::string err;
    if (log::open(next_logfile, err))
      logfile = next_logfile;
    else
      log::error(who, "reload: logfile " + err);
  }
  log::set_format(next->main.str("log-format") == "json" ? log::format::json
                                                         : log::format::text);
  const auto& running = tree.config()->main;
  for (const char* key : {"http-listen", "http-allow-remote", "control-socket"})
    if (next->main.str(key) != running.str(key))
      log::warning(who, std::string{"reload: "} + key + " changed to '" +
                          next->main.str(key) + "'; it takes effect at the next restart");
  auto outcome = tree.reload(next);
  if (outcome == actor_tree::reload_outcome::reloaded)
    log::info(who, "reloaded");
  return outcome;
}

// -- the watchdog -------------------------------------------------------------------

watchdog::watchdog(std::optional<milliseconds> every, notify_fn notify)
  : every_(every), notify_(std::move(notify)), next_(std::chrono::steady_clock::now()) {
}

milliseconds watchdog::wait() const {
  if (!every_)
    return milliseconds{std::chrono::hours{24}};
  auto left = std::chrono::duration_cast<milliseconds>(next_ -
                                                       std::chrono::steady_clock::now());
  return std::max(left, milliseconds{1});
}

void watchdog::check(actor_tree& tree) {
  if (!every_ || std::chrono::steady_clock::now() < next_)
    return;
  next_ = std::chrono::steady_clock::now() + *every_;
  if (tree.alive(std::max(*every_ / 2, milliseconds{1})))
    notify_("WATCHDOG=1");
  else
    log::warning(who, "watchdog: the router did not answer; no keep-alive "
                      "for systemd this time");
}

// -- the loop -------------------------------------------------------------------------

server_loop::server_loop(actor_tree& tree, caf::scoped_actor& self,
                         std::string config_path, std::string logfile,
                         notify_fn notify, watchdog& dog)
  : tree_(tree),
    self_(self),
    config_path_(std::move(config_path)),
    logfile_(std::move(logfile)),
    notify_(std::move(notify)),
    dog_(dog),
    status_(exit_ok) {
}

int server_loop::run() {
  for (;;) {
    int sig = next_event();
    dog_.check(tree_);
    if (!tree_.failed_actor.empty()) {
      log::error(who, "stopped unexpectedly: " + tree_.failed_actor + "; shutting down");
      status_ = exit_failure;
      return status_;
    }
    if (sig != 0 && !on_signal(sig))
      return status_;
  }
}

int server_loop::next_event() {
  auto& deferred = tree_.deferred_signals;
  if (!deferred.empty()) {
    int sig = deferred.front();
    deferred.erase(deferred.begin());
    return sig;
  }
  int sig = 0;
  self_->receive([&](int s) { sig = s; },
                 [&](caf::down_msg& dm) {
                   auto name = tree_.unexpected_down(dm);
                   if (!name.empty())
                     tree_.failed_actor = name + ": " + tree_.text(dm.reason);
                 },
                 caf::after(dog_.wait()) >> [] {});
  return sig;
}

bool server_loop::on_signal(int sig) {
  if (sig == SIGINT || sig == SIGTERM) {
    log::info(who, std::string{"got "} + strsignal(sig) + ", stopping");
    return false;
  }
  if (sig != SIGHUP)
    return true;
  notify_("RELOADING=1\n" + systemd_notifier::monotonic_now() + "\nSTATUS=reloading " +
          config_path_);
  bool running =
    reload_config(tree_, config_path_, logfile_, self_->home_system().has_middleman()) !=
    actor_tree::reload_outcome::failed;
  if (!running)
    status_ = exit_failure;
  notify_("READY=1\nSTATUS=" + std::string{running ? "up" : "reload failed"});
  return running;
}

} // namespace cc::cli
