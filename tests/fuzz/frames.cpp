// Fuzz target "frames": a ZeroMQ multipart message as it arrives on
// cc-socket, through wire::parse and on along the receiver's path.
//
// Input: frames in FuzzedDataProvider's ConsumeRandomLengthString encoding
// (a frame ends at a backslash followed by any byte but a backslash; "\\\\"
// is one literal backslash), at most 64 frames; tests/fuzz/make_seeds.py
// writes seeds in it.
//
// Properties: parse() accepts exactly the frame sets of SPEC §7's shape
// (an empty delimiter, then type, body, signature and at most a blob, with a
// valid type), and fails otherwise with malformed_frames or invalid_type;
// an accepted message gives back the same frames (frames_of) and wire size,
// and survives CAF's binary serialisation (the middleman's path) unchanged.
// The last frame handed over as a kept blob (as the socket thread keeps a
// large one) parses to the same result, and becomes the blob uncopied.
// A pub.logtail message is taken further as the tailwriter takes it: body,
// req check, blob hash, payload bytes, decompression under a 1 MiB cap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "fuzz_check.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/message.hpp"

using namespace cc::wire;
using cc::errc;
using cc_fuzz::code_of;

namespace {

constexpr size_t max_frames = 64;
constexpr size_t fragment_cap = 1 << 20;

/// SPEC §7's shape, written independently of parse(): the index of the
/// delimiter when `frames` is a well-formed message, else -1.
long expected_delimiter(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!frames[i].empty())
      continue;
    size_t rest = frames.size() - i - 1;
    if (rest < 3 || rest > 4)
      return -1;
    return valid_type(frames[i + 1]) ? static_cast<long>(i) : -1;
  }
  return -1;
}

/// valid_type() against its documented grammar: dot-separated, non-empty
/// words of [A-Za-z0-9_-].
bool grammar_type(const std::string& t) {
  if (t.empty() || t.front() == '.' || t.back() == '.')
    return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (c == '.') {
      if (t[i + 1] == '.')
        return false;
    } else if (!word) {
      return false;
    }
  }
  return true;
}

void check_serialization(const cc_message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  cc_message copy = msg;
  auto err = sink(copy);
  FUZZ_CHECK(!err, "serialising a parsed message failed");
  cc_message back;
  caf::binary_deserializer source{nullptr, buf};
  err = source(back);
  FUZZ_CHECK(!err, "deserialising a serialised message failed");
  FUZZ_CHECK(back.route == msg.route && back.type == msg.type &&
                 back.body == msg.body && back.signature == msg.signature,
             "serialisation round trip changed a frame");
  FUZZ_CHECK(back.has_blob() == msg.has_blob() &&
                 (!msg.has_blob() || *back.blob == *msg.blob),
             "serialisation round trip changed the blob");
}

/// The tailwriter's reading of a pub.logtail message (actors/write/tailwriter.cpp
/// prepare() and the worker's decode), minus the writing.
void follow_logtail(const cc_message& msg) {
  auto body = parse_logtail(msg.body);
  if (!body) {
    FUZZ_CHECK(code_of(body.error()) == errc::invalid_body,
               "parse_logtail failed with an undocumented code");
    return;
  }
  if (check_req(body->hdr, msg.type))
    return;
  if (msg.has_blob()) {
    auto err = verify_blob_hash(body->hdr.blob_hash, msg.blob->view());
    if (err) {
      auto code = code_of(err);
      FUZZ_CHECK(code == errc::decode_failed || code == errc::invalid_body,
                 "verify_blob_hash failed with an undocumented code");
      return;
    }
  }
  std::string storage;
  auto bytes = fragment_bytes(*body, msg.blob ? msg.blob->view() : std::string_view{}, storage);
  if (!bytes) {
    FUZZ_CHECK(code_of(bytes.error()) == errc::decode_failed,
               "fragment_bytes failed with an undocumented code");
    return;
  }
  auto comp = parse_compression(body->comp);
  if (!comp)
    return;
  auto plain = decompress(*bytes, *comp, fragment_cap);
  if (plain) {
    FUZZ_CHECK(plain->size() <= fragment_cap, "decompress passed its cap");
  } else {
    auto code = code_of(plain.error());
    FUZZ_CHECK(code == errc::decode_failed || code == errc::too_large,
               "decompress failed with an undocumented code");
  }
}

/// parse() with the last frame handed over as a kept blob agrees with parse()
/// of the plain frames; a kept frame in the blob's place is the blob itself.
void check_kept_last(const std::vector<std::string>& frames,
                     const caf::expected<cc_message>& plain) {
  if (frames.empty())
    return;
  std::vector<std::string> head(frames.begin(), frames.end() - 1);
  auto last = blob::copy_of(frames.back());
  const blob* kept_blob = last.get();
  auto kept = parse(std::move(head), std::move(last));
  FUZZ_CHECK(static_cast<bool>(kept) == static_cast<bool>(plain),
             "a kept last frame changed whether parse accepts");
  if (!kept) {
    FUZZ_CHECK(code_of(kept.error()) == code_of(plain.error()) &&
                   cc::describe(kept.error()) == cc::describe(plain.error()),
               "a kept last frame changed parse's error");
    return;
  }
  auto a = frames_of(*kept);
  auto b = frames_of(*plain);
  FUZZ_CHECK(a == b, "a kept last frame changed the parsed frames");
  FUZZ_CHECK(!kept->has_blob() || kept->blob.get() == kept_blob,
             "a kept last frame in the blob's place was copied");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  std::vector<std::string> frames;
  while (in.remaining_bytes() > 0 && frames.size() < max_frames)
    frames.push_back(in.ConsumeRandomLengthString());
  for (const auto& f : frames)
    if (f.size() < 200) // the grammar check is linear; keep it cheap
      FUZZ_CHECK(valid_type(f) == grammar_type(f),
                 "valid_type disagrees with the grammar on '" +
                     cc_fuzz::shown(f) + "'");
  long delim = expected_delimiter(frames);
  auto input = frames;
  auto msg = parse(std::move(input));
  check_kept_last(frames, msg);
  if (!msg) {
    auto code = code_of(msg.error());
    FUZZ_CHECK(code == errc::malformed_frames || code == errc::invalid_type,
               "parse failed with an undocumented code");
    FUZZ_CHECK(delim < 0, "parse refused a well-formed frame set");
    return 0;
  }
  FUZZ_CHECK(delim >= 0, "parse accepted a malformed frame set");
  FUZZ_CHECK(msg->route.size() == static_cast<size_t>(delim),
             "the route is not the frames before the delimiter");
  auto out = frames_of(*msg);
  FUZZ_CHECK(out.size() == frames.size(), "frames_of gave a different count");
  size_t total = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    FUZZ_CHECK(out[i] == frames[i],
               "frames_of changed frame " + std::to_string(i));
    total += frames[i].size();
  }
  FUZZ_CHECK(msg->wire_size() == total, "wire_size is not the frames' sum");
  if (!msg->route.empty()) {
    auto name = local_endpoint_name(msg->route.front());
    if (!name.empty())
      FUZZ_CHECK(local_route_frame(name) == msg->route.front(),
                 "local route frame does not round-trip");
  }
  check_serialization(*msg);
  if (msg->type == "pub.logtail" || msg->type.rfind("pub.logtail.", 0) == 0)
    follow_logtail(*msg);
  return 0;
}
