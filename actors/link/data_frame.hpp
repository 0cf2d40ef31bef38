// The data connection's framing (docs/wire.md §6.8): a plain TCP stream
// from a local forwarder to a central gateway that carries pub.logtail
// messages beside the ZeroMQ link, so their payload is not copied through
// libzmq's buffers and its I/O thread on either end.
//
//   stream  = hello message*                 (local -> central)
//   hello   = "CCDATA1\n" u16 id_len id       (the DEALER's routing id: the
//             central's replies to that peer come back on this connection)
//   replies = message*                       (central -> local)
//   message = u32 head_len head blob
//   head    = u16 nframes (u32 len, bytes){nframes} u8 has_blob u32 blob_len
//
// Integers are big-endian. The frames are the message's ZeroMQ frames
// without the blob (route frames, "", type, body, signature); the blob
// follows the head raw, so a sender can write it straight from where it
// lies: from memory, or from a file with sendfile. Pure functions, the
// write loops and a decoder: tested on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "actors/link/receive_pool.hpp"
#include "wire/message.hpp"

namespace cc::data_frame {

constexpr std::string_view magic = "CCDATA1\n";
/// A head (route, type, JSON body) never needs more; a larger one is junk.
constexpr uint32_t max_head = 1u << 20;
constexpr uint16_t max_frames = 256;
/// The blob's limit when the gateway has no max-message-size.
constexpr uint64_t default_max_blob = 64ull << 20;

/// The hello a sender writes first.
std::string encode_hello(std::string_view routing_id);

/// Length prefix and head of `msg`; its blob (if any) goes after it as is.
std::string encode_head(const wire::cc_message& msg);
/// The same into `out` (its room reused: a connection's replies one after
/// another allocate nothing for their heads).
void encode_head(const wire::cc_message& msg, std::string& out);

/// Writes what it can of `head` and then `blob` (may be null; its bytes in
/// memory), from stream offset `done` (advanced), on nonblocking socket `fd`
/// (no SIGPIPE). False on an error (errno); true also when the socket is full.
bool write_some(int fd, std::string_view head, const wire::blob* blob, size_t& done,
                int64_t& written);

/// What write_range_some did.
enum class range_write {
  progress,   // all written, or the socket is full (`done` says how far)
  failed,     // the socket failed (errno)
  range_gone, // the file no longer holds the range (`gone` says why): the
              // message cannot be completed as its head announced
};

/// write_some for a blob that is a file range (wire/file_range.hpp): the
/// head, then the range by sendfile(2), from the page cache to the socket
/// without passing through user memory. Before the range's first byte the
/// file's guard is checked (a new generation under the name); a file that
/// ends before the range does is found by sendfile itself.
range_write write_range_some(int fd, std::string_view head, const wire::file_range& range,
                             size_t& done, int64_t& written, caf::error& gone);

/// One message as read: its frames and blob, for wire::parse.
struct decoded {
  std::vector<std::string> frames;
  wire::blob_ptr blob;
  uint64_t bytes = 0;  // on the stream, head and blob
};

/// Reads a stream in whatever pieces it arrives: want() says where the next
/// bytes go (at most how many), commit() takes them. Between messages it
/// asks for up to read_ahead bytes, so a message's length and head come in
/// one read (and small messages, such as questions and acks, several to a
/// read); the blob bytes such a read brings are copied to the blob's buffer
/// (at most read_ahead), the rest of the blob is read straight into it (a
/// pooled one on the central, receive_pool.hpp) without another copy. A
/// framing error ends the stream: the caller closes it.
class decoder {
public:
  /// What want() offers between messages.
  static constexpr size_t read_ahead = 4096;

  /// `hello`: the stream opens with one (central side); the local reads
  /// the central's replies, which have none. `pool`: where blobs of its
  /// sizes are read into (null: each in a buffer of its own).
  explicit decoder(uint64_t max_blob = default_max_blob, bool hello = true,
                   receive_pool_ptr pool = nullptr);

  struct space {
    char* data;
    size_t size;
  };
  space want();
  /// `n` bytes were read into want()'s space. An error names what is wrong.
  caf::error commit(size_t n);

  /// The hello's routing id, once it came.
  const std::optional<std::string>& routing_id() const {
    return id_;
  }
  /// The next message completed by the commits so far (one commit may
  /// complete several): call until it gives none.
  std::optional<decoded> take();
  /// Whether the stream is between messages (an end here is clean).
  bool at_boundary() const;

private:
  enum class phase { hello, id, length, head, blob };
  /// want() and commit() of the current part alone (never past it).
  space want_part();
  caf::error commit_part(size_t n);
  /// Bytes read ahead, through the parts they belong to.
  caf::error consume(const char* bytes, size_t n);
  caf::error finish_part();
  caf::error parse_head();
  void start(phase p, size_t n);

  uint64_t max_blob_;
  phase phase_ = phase::hello;
  std::string part_;        // the bytes of the part being read (not the blob)
  size_t need_ = 0;         // bytes the current part still needs
  receive_pool_ptr pool_;
  wire::byte_buffer blob_;  // the blob being read, when not pooled
  receive_pool::lease pooled_;  // ... when pooled
  size_t pooled_size_ = 0;      // its bytes read so far
  std::optional<std::string> id_;
  std::vector<decoded> ready_; // completed, from ready_at_ on (kept: no allocation per message)
  size_t ready_at_ = 0;
  decoded building_;
  std::string ahead_;          // what want() offered between messages
  bool ahead_offered_ = false; // the last want() was ahead_
};

} // namespace cc::data_frame
