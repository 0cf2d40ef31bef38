// CurveZMQ key material: reading and checking key files and allow-lists, and
// writing a new key pair (ccserver --keygen). No actor and no socket here;
// the gateway (server side), the ZMQ transport (client side), --check and
// --keygen all read keys through these functions, so they refuse the same
// things with the same words.
//
// Formats (all Z85 text, libzmq's encoding of a 32-byte key: 40 characters):
//   secret key file  one Z85 line; `#` comment lines and blank lines allowed.
//                    Must not be readable by group or others (mode 0600).
//   public key file  the same shape; or, where a key is expected as a value
//                    (remote-cc-public-key), the 40 characters themselves.
//   allow-list       one client public key per line, optionally followed by
//                    its binding and a `# comment` (a host name, say):
//                      KEY [host=NAME[,NAME...]] [relay=NAME[,NAME...]|relay=*] [# comment]
//                    host= names the hosts the key's fragments may claim,
//                    relay= the other hosts' fragments it may carry (a relay
//                    server's key), relay=* any host. A line with neither is
//                    unbound: any host, as before bindings existed. `#` lines
//                    and blank lines ignored; a bound key takes one line.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "wire/peer.hpp"

namespace cc::curve {

/// Whether this libzmq can do CURVE (built with libsodium or tweetnacl).
bool available();

/// A 32-byte key in binary, as libzmq's socket options take it.
using key = std::string;

/// Decodes 40 Z85 characters; errc::config_invalid naming `what` otherwise.
caf::expected<key> decode(const std::string& z85, const std::string& what);

/// The 40-character Z85 text of a 32-byte key.
std::string encode(const key& k);

/// The public key of secret key `secret` (zmq_curve_public).
caf::expected<key> public_of(const key& secret);

/// Reads a secret key file: refuses a file readable by group or others, a
/// missing or unreadable file, anything but one Z85 key. Errors name `what`
/// (e.g. "[ccserver] curve-secret-key") and the path.
caf::expected<key> read_secret_file(const std::string& path,
                                    const std::string& what);

/// A public key given as 40 Z85 characters or as the path of a file holding
/// them (a value of exactly 40 Z85 characters is taken as the key itself).
caf::expected<key> read_public(const std::string& text_or_path,
                               const std::string& what);

/// The client keys of an allow-list, by Z85 text, each with its identity:
/// the line's binding (host=, relay=) and comment.
using allow_list = std::map<std::string, wire::peer_ptr>;

/// Reads an allow-list file. An unreadable file, a malformed line (a bad key,
/// a word other than host= or relay=, an empty or odd host name) or a bound
/// key on two lines is an error naming the path and line number.
caf::expected<allow_list> read_allow_list(const std::string& path,
                                          const std::string& what);

/// How many keys of `keys` are bound to host names (host=, relay=).
size_t bound_count(const allow_list& keys);

/// Writes `base`.key (secret, created 0600 with O_EXCL: an existing file is
/// never overwritten) and `base`.pub (0644, also O_EXCL) from a fresh key
/// pair (zmq_curve_keypair). Returns the public key's Z85 text.
caf::expected<std::string> write_key_pair(const std::string& base);

/// Whether `endpoint` is a tcp:// endpoint on an address other than the
/// loopback (127.0.0.0/8, ::1, localhost): reachable from other hosts.
bool reachable_from_outside(const std::string& endpoint);

} // namespace cc::curve
