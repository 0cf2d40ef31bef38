// Who acknowledges: see ack_caps.hpp.
#include "actors/core/ack_caps.hpp"

#include "base/logger.hpp"
#include "routes/route_table.hpp"

namespace cc {

const char* to_string(peer_acks v) {
  switch (v) {
    case peer_acks::unknown: return "unknown";
    case peer_acks::yes: return "yes";
    case peer_acks::no: return "no";
  }
  return "?";
}

void ack_registry::add_writer(const std::string& section) {
  std::lock_guard<std::mutex> guard{mtx_};
  sections_[section].writer = true;
}

void ack_registry::set_forwarder(const std::string& section, peer_acks v) {
  std::lock_guard<std::mutex> guard{mtx_};
  sections_[section].learned = v;
}

void ack_registry::set_forwarder_zstd(const std::string& section, peer_acks v) {
  std::lock_guard<std::mutex> guard{mtx_};
  sections_[section].zstd = v;
}

void ack_registry::set_forwarder_data(const std::string& section,
                                      std::shared_ptr<const std::atomic<bool>> up) {
  std::lock_guard<std::mutex> guard{mtx_};
  sections_[section].data_up = std::move(up);
}

bool ack_registry::data_up_of(const std::vector<std::string>& sections) const {
  std::lock_guard<std::mutex> guard{mtx_};
  bool any = false;
  for (const auto& name : sections) {
    auto i = sections_.find(name);
    if (i == sections_.end())
      continue; // a locallogger, an echo: sends nothing on
    const auto& e = i->second;
    if (e.writer || !e.data_up || !e.data_up->load())
      return false;
    any = true;
  }
  return any;
}

peer_acks ack_registry::of(const std::vector<std::string>& sections) const {
  return combine(sections, &entry::learned);
}

peer_acks ack_registry::zstd_of(const std::vector<std::string>& sections) const {
  return combine(sections, &entry::zstd);
}

peer_acks ack_registry::combine(const std::vector<std::string>& sections,
                                peer_acks entry::*field) const {
  std::lock_guard<std::mutex> guard{mtx_};
  bool any = false;
  bool unknown = false;
  for (const auto& name : sections) {
    auto i = sections_.find(name);
    if (i == sections_.end())
      continue; // a locallogger, an echo: no part in acknowledgements
    any = true;
    if (i->second.writer)
      continue;
    if (i->second.*field == peer_acks::no)
      return peer_acks::no;
    if (i->second.*field == peer_acks::unknown)
      unknown = true;
  }
  if (!any)
    return peer_acks::no;
  return unknown ? peer_acks::unknown : peer_acks::yes;
}

bool ack_registry::advertises() const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& [name, e] : sections_)
    if (e.writer || e.learned == peer_acks::yes)
      return true;
  return false;
}

void ack_registry::set_data_offer(std::shared_ptr<const std::atomic<int>> port) {
  data_port_ = std::move(port);
}

int ack_registry::data_port() const {
  return data_port_ ? data_port_->load() : 0;
}

bool ack_registry::advertises_zstd() const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& [name, e] : sections_)
    if (!e.writer && e.zstd != peer_acks::yes)
      return false;
  return true;
}

peer_view::peer_view(std::shared_ptr<const ack_registry> registry,
                     std::vector<std::string> sections, std::string who,
                     std::string msg_type)
  : registry_(std::move(registry)),
    sections_(std::move(sections)),
    who_(std::move(who)),
    msg_type_(std::move(msg_type)) {
}

peer_acks peer_view::exchange(peer_acks v) const {
  return static_cast<peer_acks>(last_.exchange(static_cast<int>(v)));
}

peer_acks ack_view::now() const {
  auto v = registry_->of(sections_);
  auto before = exchange(v);
  if (v == before)
    return v;
  if (v == peer_acks::no) {
    std::string via;
    for (const auto& s : sections_)
      via += (via.empty() ? "" : ", ") + s;
    log::warning(who_, "ack = auto: " + msg_type_ + " goes to " +
                         (via.empty() ? std::string{"no handler"} : via) +
                         ", which does not acknowledge (an original CC, or no "
                         "writer on the way): sending as with ack = no, as the "
                         "original does. Nothing is resent: what is in flight "
                         "when the link or the central fails is lost, and "
                         "after a crash of this server the last bytes may "
                         "arrive twice");
  } else if (v == peer_acks::yes && before == peer_acks::no) {
    log::info(who_, "ack = auto: " + msg_type_ +
                      " is acknowledged again; waiting for acknowledgements");
  }
  return v;
}

bool data_view::up() const {
  return registry_->data_up_of(sections_);
}

bool zstd_view::usable() const {
  auto v = registry_->zstd_of(sections_);
  auto before = exchange(v);
  if (v == peer_acks::no && before != peer_acks::no)
    log::warning(who_, "compression = zstd: " + msg_type_ + " goes to a peer "
                         "that does not announce zstd (an original CC, an "
                         "older ccserver, or a relay whose own remote does "
                         "not): sending gzip at the same level instead");
  else if (v == peer_acks::yes && before == peer_acks::no)
    log::info(who_, "compression = zstd: every peer of " + msg_type_ +
                      " takes zstd again; sending zstd");
  return v == peer_acks::yes;
}

namespace {

// A View of what the handlers of `msg_type` do, logging as the daemon.
template <class View>
std::shared_ptr<const View>
make_view(const config::section& daemon, const config::server_config& cfg,
          const std::string& msg_type,
          std::shared_ptr<const ack_registry> registry) {
  auto who = daemon.has("job_name") ? daemon.str("job_name") : daemon.name;
  return std::make_shared<View>(std::move(registry),
                                routes::route_table{cfg.routes}.lookup(msg_type),
                                std::move(who), msg_type);
}

} // namespace

std::shared_ptr<const zstd_view>
zstd_view_for(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry) {
  if (!registry || config::reader{daemon}.str("compression") != "zstd")
    return nullptr;
  return make_view<zstd_view>(daemon, cfg, msg_type, std::move(registry));
}

std::shared_ptr<const data_view>
data_view_for(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry) {
  if (!registry)
    return nullptr;
  return make_view<data_view>(daemon, cfg, msg_type, std::move(registry));
}

bool is_auto_ack(const config::reader& daemon) {
  return daemon.str("ack") == "auto";
}

bool ack_value(const config::reader& daemon) {
  // The schema checked it: auto or a boolean.
  return is_auto_ack(daemon) || config::parse_bool(daemon.str("ack")).value_or(true);
}

std::shared_ptr<const ack_view>
auto_ack_view(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry) {
  if (!registry || !is_auto_ack(config::reader{daemon}))
    return nullptr;
  return make_view<ack_view>(daemon, cfg, msg_type, std::move(registry));
}

} // namespace cc
