// Answers built from the request they answer: the parts of an ack that copy
// the request's route, file name and version. Shared by the writers that
// answer and by the links that refuse on a writer's behalf (host_binding).
#pragma once

#include <string>
#include <vector>

#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc::wire {

/// An infofile.ack for `request` (sent along `route`): the file name and the
/// version (mtime in ns) it answers, with `status` (info_status) and `reason`.
cc_message infofile_reply(const std::vector<std::string>& route,
                          const infofile_body& request, std::string status,
                          std::string reason, const std::string& hostname);

} // namespace cc::wire
