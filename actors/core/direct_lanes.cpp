// Direct lanes past the router: see direct_lanes.hpp.
#include "actors/core/direct_lanes.hpp"

namespace cc {

namespace {

// Distinct message types remembered per generation; past it a lookup is
// made per message (a peer sending random types cannot grow the map).
constexpr size_t max_types = 256;

} // namespace

void direct_lanes::prepare(routes::route_table table) {
  std::lock_guard<std::mutex> guard{mtx_};
  table_ = std::move(table);
  peers_ = {};
  local_ = {};
  open_ = false;
}

void direct_lanes::add_door(const std::string& section, door_ptr door) {
  std::lock_guard<std::mutex> guard{mtx_};
  peers_.doors[section] = std::move(door);
  peers_.by_type.clear();
}

void direct_lanes::add_local_door(const std::string& section, door_ptr door) {
  std::lock_guard<std::mutex> guard{mtx_};
  local_.doors[section] = std::move(door);
  local_.by_type.clear();
}

void direct_lanes::open() {
  std::lock_guard<std::mutex> guard{mtx_};
  open_ = true;
}

void direct_lanes::close() {
  std::lock_guard<std::mutex> guard{mtx_};
  open_ = false;
}

direct_lanes::door_ptr direct_lanes::door_for(door_table& doors, const std::string& type) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!open_)
    return nullptr;
  if (auto i = doors.by_type.find(type); i != doors.by_type.end())
    return i->second;
  door_ptr found;
  // Exactly one handler, as the router would pick it: a message for several
  // goes through the router, which shares it among them.
  auto sections = table_.lookup(type);
  if (sections.size() == 1)
    if (auto d = doors.doors.find(sections.front()); d != doors.doors.end())
      found = d->second;
  if (doors.by_type.size() < max_types)
    doors.by_type.emplace(type, found);
  return found;
}

bool direct_lanes::take_from(door_table& doors, wire::cc_message& msg) {
  // An invalid type is the router's to count and refuse.
  if (!wire::valid_type(msg.type))
    return false;
  auto door = door_for(doors, msg.type);
  return door && door->take(msg);
}

bool direct_lanes::take(wire::cc_message& msg) {
  if (!take_from(peers_, msg))
    return false;
  ++taken_;
  return true;
}

bool direct_lanes::take_local(wire::cc_message& msg) {
  if (!take_from(local_, msg))
    return false;
  ++local_taken_;
  return true;
}

void direct_lanes::set_reply_path(reply_path path, const void* owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (path) {
    replies_to_ = std::make_shared<const reply_path>(std::move(path));
    replies_owner_ = owner;
  } else if (owner == replies_owner_) {
    replies_to_ = nullptr;
    replies_owner_ = nullptr;
  }
}

bool direct_lanes::reply(wire::cc_message& msg) {
  std::shared_ptr<const reply_path> path;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    path = replies_to_;
  }
  if (!path || !(*path)(msg))
    return false;
  ++replies_;
  return true;
}

} // namespace cc
