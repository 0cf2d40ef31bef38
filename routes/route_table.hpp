// The route table from [routes]: message-type prefix (or "*") to an ordered
// list of handler section names. Matching is by whole dot-separated segments:
// "log" matches "log" and "log.info" but not "logx". A handler named by several
// routes is one instance, so lookup() returns each handler at most once, in the
// order of first appearance (routes in file order, handlers in list order).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace cc::routes {

class route_table {
public:
  route_table() = default;
  explicit route_table(const std::vector<config::route>& routes);

  /// Adds `handlers` under `prefix`; a repeated prefix extends its list.
  void add(std::string prefix, const std::vector<std::string>& handlers);

  /// Every handler whose route key equals `type` or one of its prefixes, or
  /// is "*"; each at most once.
  std::vector<std::string> lookup(std::string_view type) const;

  /// Every distinct handler named anywhere, in order of first appearance.
  std::vector<std::string> handlers() const;

  size_t size() const { return entries_.size(); }

private:
  struct entry {
    std::string prefix;
    std::vector<std::string> handlers;
  };
  std::vector<entry> entries_;
};

/// Whether route key `prefix` covers `type` ("*" covers everything).
bool prefix_matches(std::string_view prefix, std::string_view type);

} // namespace cc::routes
