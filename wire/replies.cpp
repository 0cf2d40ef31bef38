#include "wire/replies.hpp"

namespace cc::wire {

cc_message infofile_reply(const std::vector<std::string>& route,
                          const infofile_body& request, std::string status,
                          std::string reason, const std::string& hostname) {
  infofile_ack_body ack;
  ack.hdr.req = "infofile.ack";
  ack.hdr.time = now_seconds();
  ack.hdr.hostname = hostname;
  ack.filename = request.filename;
  ack.mtime_ns = infofile_mtime_ns(request);
  ack.status = std::move(status);
  ack.reason = std::move(reason);
  cc_message out;
  out.route = route;
  out.type = "infofile.ack";
  out.body = make_body(ack);
  return out;
}

} // namespace cc::wire
