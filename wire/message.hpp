// A CC message (SPEC §7): one ZeroMQ multipart message
//   [route frame]* , "" , msgtype , json body , signature , blob?
// route[0] is the outermost frame: the last hop pushed it, a reply pops it.
// The blob is shared, never copied between actors: handing a message to several
// handlers or queues costs a reference count (wire/blob.hpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "wire/blob.hpp"
#include "wire/peer.hpp"

namespace cc::wire {

struct cc_message {
  std::vector<std::string> route;
  std::string type;
  std::string body;       // JSON text
  std::string signature;  // empty when unsigned
  blob_ptr blob;          // nullptr: no blob frame
  /// In-process only (never on the wire, never serialized): accounting for
  /// the message's bytes against a budget, done by the destructor when the
  /// last copy lets go. The gateway attaches one (the router takes it out and
  /// drops it once every handler answered); the tailwriter attaches one for
  /// its worker's queue (dropped when the worker handled the fragment).
  std::shared_ptr<void> receipt;
  /// In-process only (never on the wire, never serialized): the sender as
  /// the gateway authenticated it (its CURVE key and binding); null for
  /// in-process senders, plain sockets and caf:// links (wire/peer.hpp).
  peer_ptr peer;

  bool has_blob() const { return blob != nullptr; }
  /// Bytes on the wire, for counters.
  size_t wire_size() const;
};

/// A receipt (cc_message::receipt) that calls `release()` once, when its
/// last copy is dropped.
template <class F>
std::shared_ptr<void> make_receipt(F release) {
  return std::shared_ptr<void>(nullptr, [release](void*) mutable { release(); });
}

/// Whether `type` is dot-separated words of [A-Za-z0-9_-] (no empty word).
bool valid_type(std::string_view type);

/// Splits frames into a message. The delimiter is the first empty frame; at
/// least type, body and signature must follow it, and at most a blob.
/// Frames are moved in, so the blob's bytes are not copied. `last`, when
/// set, is the final frame, after `frames`, as a receiver kept it (a large
/// frame left in ZeroMQ's message): it becomes the blob as it is, or, if it
/// turns out not to be in the blob's place, a string like the other frames.
caf::expected<cc_message> parse(std::vector<std::string> frames,
                                blob_ptr last = nullptr);

/// The frames of `msg` in wire order, as views into `msg` (no copies);
/// without the blob's when `with_blob` is false (a file range's bytes are
/// not in memory: wire/blob.hpp).
std::vector<std::string_view> frames_of(const cc_message& msg, bool with_blob = true);

/// frames_of's frames handed to `fn` one by one, without the vector.
template <class F>
void each_frame(const cc_message& msg, bool with_blob, F&& fn) {
  for (const auto& r : msg.route)
    fn(std::string_view{r});
  fn(std::string_view{});
  fn(std::string_view{msg.type});
  fn(std::string_view{msg.body});
  fn(std::string_view{msg.signature});
  if (msg.blob && with_blob)
    fn(msg.blob->view());
}

/// Brings a file-range blob's bytes into memory (wire::load), for a
/// consumer that needs them; errc::io when they are gone.
caf::error load_blob(cc_message& msg);

/// The route frame of an in-process endpoint (an actor such as a tailer)
/// named `name`. It starts with a byte ZeroMQ never uses for peer identities
/// (ZeroMQ's own start with 0x00), so the router can tell the two apart.
std::string local_route_frame(std::string_view name);

/// If `frame` names an in-process endpoint, its name; else empty.
std::string_view local_endpoint_name(std::string_view frame);

// -- serialization across CAF's middleman -------------------------------------

/// Blob holder for inspect(): saves the bytes, loads them into a fresh blob.
struct blob_field {
  blob_ptr& ref;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, blob_field& x) {
  bool present = x.ref != nullptr;
  std::string bytes;
  if constexpr (Inspector::reads_state) {
    // A file range is read here; one whose bytes are gone goes empty (the
    // receiver's writer writes nothing of it, the sender sends it again).
    if (auto loaded = present ? load(x.ref) : caf::expected<blob_ptr>{nullptr};
        loaded && *loaded)
      bytes = (*loaded)->view();
    return f(present, bytes);
  } else {
    auto finish = caf::meta::load_callback([&]() -> caf::error {
      x.ref = present ? blob::from_string(std::move(bytes)) : nullptr;
      return caf::none;
    });
    return f(present, bytes, finish);
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cc_message& x) {
  blob_field blob{x.blob};
  return f(caf::meta::type_name("cc_message"), x.route, x.type, x.body,
           x.signature, blob);
}

} // namespace cc::wire
