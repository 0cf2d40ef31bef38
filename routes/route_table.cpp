#include "routes/route_table.hpp"

#include <algorithm>

namespace cc::routes {

bool prefix_matches(std::string_view prefix, std::string_view type) {
  if (prefix == "*")
    return true;
  if (type.size() < prefix.size() || type.compare(0, prefix.size(), prefix) != 0)
    return false;
  // Whole segments only: "log" covers "log.info", not "logx".
  return type.size() == prefix.size() || type[prefix.size()] == '.';
}

route_table::route_table(const std::vector<config::route>& routes) {
  for (const auto& r : routes)
    add(r.prefix, r.handlers);
}

void route_table::add(std::string prefix,
                      const std::vector<std::string>& handlers) {
  auto i = std::find_if(entries_.begin(), entries_.end(),
                        [&](const entry& e) { return e.prefix == prefix; });
  if (i == entries_.end())
    i = entries_.insert(entries_.end(), entry{std::move(prefix), {}});
  for (const auto& h : handlers)
    if (std::find(i->handlers.begin(), i->handlers.end(), h) == i->handlers.end())
      i->handlers.push_back(h);
}

std::vector<std::string> route_table::lookup(std::string_view type) const {
  std::vector<std::string> result;
  for (const auto& e : entries_) {
    if (!prefix_matches(e.prefix, type))
      continue;
    for (const auto& h : e.handlers)
      if (std::find(result.begin(), result.end(), h) == result.end())
        result.push_back(h);
  }
  return result;
}

std::vector<std::string> route_table::handlers() const {
  std::vector<std::string> result;
  for (const auto& e : entries_)
    for (const auto& h : e.handlers)
      if (std::find(result.begin(), result.end(), h) == result.end())
        result.push_back(h);
  return result;
}

} // namespace cc::routes
