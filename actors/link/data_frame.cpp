// The data connection's framing: see data_frame.hpp.
#include "actors/link/data_frame.hpp"

#include <algorithm>
#include <cerrno>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/error.hpp"

namespace cc::data_frame {

namespace {

constexpr size_t hello_size = magic.size() + 2;

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get_u(std::string_view in, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

caf::error bad(const std::string& why) {
  return make_error(errc::malformed_frames, "data connection: " + why);
}

} // namespace

std::string encode_hello(std::string_view routing_id) {
  std::string out{magic};
  put_u16(out, static_cast<uint16_t>(routing_id.size()));
  out.append(routing_id);
  return out;
}

std::string encode_head(const wire::cc_message& msg) {
  std::string out;
  encode_head(msg, out);
  return out;
}

void encode_head(const wire::cc_message& msg, std::string& out) {
  size_t size = 4 + 2 + 5;
  size_t count = 0;
  wire::each_frame(msg, false, [&](std::string_view f) {
    size += 4 + f.size();
    ++count;
  });
  out.clear();
  out.reserve(size);
  put_u32(out, static_cast<uint32_t>(size - 4));
  put_u16(out, static_cast<uint16_t>(count));
  wire::each_frame(msg, false, [&out](std::string_view f) {
    put_u32(out, static_cast<uint32_t>(f.size()));
    out.append(f);
  });
  out.push_back(msg.has_blob() ? 1 : 0);
  put_u32(out, msg.has_blob() ? static_cast<uint32_t>(msg.blob->size()) : 0);
}

decoder::decoder(uint64_t max_blob, bool hello, receive_pool_ptr pool)
  : max_blob_(max_blob), pool_(std::move(pool)) {
  if (hello)
    start(phase::hello, hello_size);
  else
    start(phase::length, 4);
}

bool write_some(int fd, std::string_view head, const wire::blob* blob, size_t& done,
                int64_t& written) {
  size_t total = head.size() + (blob ? blob->size() : 0);
  while (done < total) {
    iovec iov[2];
    int n_iov = 0;
    if (done < head.size())
      iov[n_iov++] = {const_cast<char*>(head.data()) + done, head.size() - done};
    if (blob) {
      size_t off = done > head.size() ? done - head.size() : 0;
      if (off < blob->size())
        iov[n_iov++] = {const_cast<char*>(blob->data()) + off, blob->size() - off};
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = n_iov;
    auto n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    done += static_cast<size_t>(n);
    written += n;
  }
  return true;
}

range_write write_range_some(int fd, std::string_view head, const wire::file_range& range,
                             size_t& done, int64_t& written, caf::error& gone) {
  size_t total = head.size() + range.length;
  while (done < total) {
    ssize_t n = 0;
    if (done < head.size()) {
      // MSG_MORE: the head leaves in one segment with the file's first bytes.
      n = ::send(fd, head.data() + done, head.size() - done, MSG_NOSIGNAL | MSG_MORE);
    } else {
      uint64_t at = done - head.size();
      if (at == 0)
        if (auto err = wire::check_guard(range)) {
          gone = std::move(err);
          return range_write::range_gone;
        }
      auto off = static_cast<off_t>(range.offset + at);
      auto count = static_cast<size_t>(std::min<uint64_t>(range.length - at, 1u << 30));
      n = ::sendfile(fd, range.file->fd(), &off, count);
      if (n == 0) {
        gone = wire::range_shrunk(range, range.offset + at);
        return range_write::range_gone;
      }
    }
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
               ? range_write::progress
               : range_write::failed;
    done += static_cast<size_t>(n);
    written += n;
  }
  return range_write::progress;
}

void decoder::start(phase p, size_t n) {
  phase_ = p;
  need_ = n;
  if (p == phase::blob) {
    blob_ = wire::byte_buffer{};
    pooled_size_ = 0;
    if (pool_)
      pooled_ = pool_->take(n);
    return;
  }
  part_.resize(n);
}

decoder::space decoder::want() {
  // Between messages: the next length, its head and maybe more in one read.
  ahead_offered_ = phase_ == phase::length && need_ == 4;
  if (ahead_offered_) {
    ahead_.resize(read_ahead);
    return {ahead_.data(), ahead_.size()};
  }
  return want_part();
}

caf::error decoder::commit(size_t n) {
  if (!ahead_offered_)
    return commit_part(n);
  ahead_offered_ = false;
  if (n > ahead_.size())
    return bad("more bytes committed than wanted");
  return consume(ahead_.data(), n);
}

caf::error decoder::consume(const char* bytes, size_t n) {
  while (n > 0) {
    auto sp = want_part();
    size_t k = std::min(n, sp.size);
    std::copy_n(bytes, k, sp.data);
    if (auto err = commit_part(k))
      return err;
    bytes += k;
    n -= k;
  }
  return caf::none;
}

decoder::space decoder::want_part() {
  if (phase_ == phase::blob && pooled_)
    return {pooled_.data() + pooled_size_, need_};
  if (phase_ == phase::blob)
    return {blob_.append_space(need_), need_};
  return {part_.data() + (part_.size() - need_), need_};
}

caf::error decoder::commit_part(size_t n) {
  if (n > need_)
    return bad("more bytes committed than wanted");
  need_ -= n;
  if (phase_ == phase::blob && pooled_)
    pooled_size_ += n;
  else if (phase_ == phase::blob)
    blob_.commit(n);
  if (need_ > 0)
    return caf::none;
  return finish_part();
}

caf::error decoder::finish_part() {
  switch (phase_) {
    case phase::hello: {
      if (std::string_view{part_}.substr(0, magic.size()) != magic)
        return bad("not a ccserver data connection (bad hello)");
      auto len = get_u(part_, magic.size(), 2);
      if (len == 0 || len > 255)
        return bad("routing id of " + std::to_string(len) + " bytes");
      start(phase::id, len);
      return caf::none;
    }
    case phase::id:
      id_ = part_;
      start(phase::length, 4);
      return caf::none;
    case phase::length: {
      auto len = get_u(part_, 0, 4);
      if (len < 2 + 5 || len > max_head)
        return bad("message head of " + std::to_string(len) + " bytes");
      start(phase::head, len);
      return caf::none;
    }
    case phase::head:
      return parse_head();
    case phase::blob:
      building_.blob = pooled_ ? receive_pool::seal(std::move(pooled_), pooled_size_)
                               : wire::blob::from_buffer(std::move(blob_));
      ready_.push_back(std::move(building_));
      building_ = decoded{};
      start(phase::length, 4);
      return caf::none;
  }
  return caf::none;
}

caf::error decoder::parse_head() {
  std::string_view head{part_};
  auto count = get_u(head, 0, 2);
  if (count == 0 || count > max_frames)
    return bad(std::to_string(count) + " frames in a message");
  size_t at = 2;
  building_ = decoded{};
  building_.bytes = 4 + head.size();
  // One allocation for the frames, with room for the route frame the
  // receiver puts in front (data_listener's deliver).
  building_.frames.reserve(count + 1);
  for (uint32_t i = 0; i < count; ++i) {
    if (at + 4 > head.size())
      return bad("frame length past the head");
    auto len = get_u(head, at, 4);
    at += 4;
    if (len > head.size() - at)
      return bad("frame of " + std::to_string(len) + " bytes past the head");
    building_.frames.emplace_back(head.substr(at, len));
    at += len;
  }
  if (at + 5 != head.size())
    return bad("head of " + std::to_string(head.size()) +
               " bytes does not end with its blob length");
  bool has_blob = head[at] != 0;
  uint64_t blob_len = get_u(head, at + 1, 4);
  if (blob_len > max_blob_)
    return bad("blob of " + std::to_string(blob_len) + " bytes (limit " +
               std::to_string(max_blob_) + ")");
  if (!has_blob || blob_len == 0) {
    if (has_blob)
      building_.blob = wire::blob::from_string({});
    ready_.push_back(std::move(building_));
    building_ = decoded{};
    start(phase::length, 4);
    return caf::none;
  }
  building_.bytes += blob_len;
  start(phase::blob, blob_len);
  return caf::none;
}

std::optional<decoded> decoder::take() {
  if (ready_at_ == ready_.size())
    return std::nullopt;
  std::optional<decoded> out{std::move(ready_[ready_at_++])};
  if (ready_at_ == ready_.size()) {
    ready_.clear();
    ready_at_ = 0;
  }
  return out;
}

bool decoder::at_boundary() const {
  return phase_ == phase::length && need_ == 4;
}

} // namespace cc::data_frame
