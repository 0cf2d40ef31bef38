// The check every writer makes of a received message's blob before it takes
// the message (the original receiver's rule, then the hash when it is set).
//
// Owns: nothing (one function).
#pragma once

#include <string>

#include <caf/error.hpp>

#include "base/error.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc::tw {

/// A blob without a `blob_hash` key in the body is refused (the original
/// receiver drops it); a blob_hash that is set must match the blob.
inline caf::error check_received_blob(const wire::cc_message& msg,
                                      const wire::header& hdr) {
  if (!msg.has_blob())
    return caf::none;
  if (msg.body.find("\"blob_hash\"") == std::string::npos)
    return make_error(errc::invalid_body,
                      msg.type + " from " + hdr.hostname + ": a blob without a blob_hash key");
  return wire::verify_blob_hash(hdr.blob_hash, msg.blob->view());
}

} // namespace cc::tw
