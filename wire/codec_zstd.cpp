// zstd (libzstd) for fragments between our peers (wire/codec.hpp,
// docs/wire.md §6.6). The bomb guard is the gzip one plus what a zstd frame
// tells before it is decoded: the declared content sizes of all frames are
// summed and checked against the cap before any output exists, the window a
// frame may ask for is bounded by the cap (a huge window is memory the cap
// never needs), and the streaming decoder writes into the capped output.
// Owns no state beyond one call or one writer/reader, and a few compression
// contexts kept for the next calls (take_cctx).
#include "wire/codec_detail.hpp"

#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include <zstd.h>
#include <zstd_errors.h>

#include "base/error.hpp"

namespace cc::wire::detail {

namespace {

// Frames whose content size is unknown get this much output room first.
constexpr size_t first_room = 64 * 1024;
// Bounds of the decoder's window. The floor takes every frame written
// without a declared size by levels 1..19 (the zstd CLI's range without
// --ultra or --long; our own frames declare their size and need no more than
// it); the ceiling is zstd's default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT,
// which zstd.h shows to static linking only).
constexpr int min_window_log = 23;
constexpr int max_window_log = 27;

caf::error zstd_error(const char* op, size_t rc) {
  auto code = ZSTD_getErrorCode(rc);
  return make_error(code == ZSTD_error_memory_allocation ? errc::io
                                                         : errc::decode_failed,
                    std::string{"zstd: "} + op + " failed (" +
                      ZSTD_getErrorName(rc) + ")");
}

// The smallest window log whose window holds `cap` bytes, within the bounds:
// a frame that asks for more to make at most `cap` bytes is not one we sent,
// and its window is memory the cap never needs.
int window_log_for(size_t cap) {
  int log = min_window_log;
  while (log < max_window_log && (size_t{1} << log) < cap)
    ++log;
  return log;
}

struct declared {
  bool over = false;    // the declared sizes add up past the cap
  bool foreign = false; // a frame is neither zstd v1 nor skippable
  size_t total = 0;     // sum of the declared sizes (frames that declare one)
};

// zstd v1 frames (RFC 8878) and skippable frames only. A libzstd built with
// legacy support also decodes the pre-1.0 formats (v0.5-v0.7, magic
// 0xFD2FB525-27), whose decoders allocate the window the header asks for
// and ignore ZSTD_d_windowLogMax: a few bytes made one take 34 MB. No peer
// of ours writes them.
bool v1_or_skippable(const char* p, size_t left) {
  if (left < 4)
    return true; // too short to name a format: the decoder says truncated
  auto byte = [p](int i) { return uint32_t{static_cast<unsigned char>(p[i])}; };
  uint32_t magic = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
  return magic == ZSTD_MAGICNUMBER ||
         (magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

// Walks the frames' headers without decoding them. Anything malformed ends
// the walk; the decoder then says what is wrong.
declared declared_sizes(std::string_view bytes, size_t cap) {
  declared d;
  size_t off = 0;
  while (off < bytes.size()) {
    const char* p = bytes.data() + off;
    size_t left = bytes.size() - off;
    if (!v1_or_skippable(p, left)) {
      d.foreign = true;
      return d;
    }
    auto size = ZSTD_getFrameContentSize(p, left);
    if (size == ZSTD_CONTENTSIZE_ERROR)
      break;
    if (size != ZSTD_CONTENTSIZE_UNKNOWN) {
      if (size > cap - d.total) {
        d.over = true;
        return d;
      }
      d.total += static_cast<size_t>(size);
    }
    auto n = ZSTD_findFrameCompressedSize(p, left);
    if (ZSTD_isError(n))
      break;
    off += n;
  }
  return d;
}

struct dctx_deleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct cctx_deleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
using dctx_ptr = std::unique_ptr<ZSTD_DCtx, dctx_deleter>;
using cctx_ptr = std::unique_ptr<ZSTD_CCtx, cctx_deleter>;

// Level, and a checksum of the content in every frame: gzip and bzip2 carry a
// CRC, and a copy must not silently take a damaged fragment from zstd either.
caf::error set_up(ZSTD_CCtx* c, int level) {
  auto rc = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(rc))
    rc = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  if (ZSTD_isError(rc))
    return zstd_error("ZSTD_CCtx_setParameter", rc);
  return caf::none;
}

// Compression contexts kept between fragments: a new one per fragment
// allocated and cleared its tables every time (the tailer's `memset`). At
// most kept_cctx are kept (0.6 MB each at level 1, 3.7 MB at 6, 13 MB at 9),
// not one per compressing thread: a host with many compressing tailers does
// not hold a context for each idle one. A context taken is reset (session
// and parameters) before use.
constexpr size_t kept_cctx = 2;
std::mutex cctx_mtx;
std::vector<cctx_ptr> free_cctx;

cctx_ptr take_cctx() {
  {
    std::lock_guard<std::mutex> guard{cctx_mtx};
    if (!free_cctx.empty()) {
      auto c = std::move(free_cctx.back());
      free_cctx.pop_back();
      ZSTD_CCtx_reset(c.get(), ZSTD_reset_session_and_parameters);
      return c;
    }
  }
  return cctx_ptr{ZSTD_createCCtx()};
}

void give_back(cctx_ptr c) {
  std::lock_guard<std::mutex> guard{cctx_mtx};
  if (c && free_cctx.size() < kept_cctx)
    free_cctx.push_back(std::move(c));
}

} // namespace

caf::expected<std::string> zstd_compress(std::string_view bytes, int level) {
  auto c = take_cctx();
  if (!c)
    return make_error(errc::io, "zstd: ZSTD_createCCtx failed");
  if (auto err = set_up(c.get(), level))
    return err;
  std::string out;
  out.resize(ZSTD_compressBound(bytes.size()));
  // One call with the whole input: the frame declares its content size.
  auto rc = ZSTD_compress2(c.get(), out.data(), out.size(), bytes.data(),
                           bytes.size());
  give_back(std::move(c));
  if (ZSTD_isError(rc))
    return zstd_error("ZSTD_compress2", rc);
  out.resize(rc);
  return out;
}

caf::expected<std::string> zstd_decompress(std::string_view bytes,
                                           size_t cap) {
  if (bytes.empty())
    return truncated("zstd", 0);
  auto sizes = declared_sizes(bytes, cap);
  if (sizes.over)
    return over_cap("zstd", bytes.size(), cap);
  if (sizes.foreign)
    return make_error(errc::decode_failed,
                      "zstd: not a zstd v1 frame (legacy and unknown "
                      "formats are refused)");
  dctx_ptr d{ZSTD_createDCtx()};
  if (!d)
    return make_error(errc::io, "zstd: ZSTD_createDCtx failed");
  auto rc = ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax,
                                   window_log_for(cap));
  if (ZSTD_isError(rc))
    return zstd_error("ZSTD_DCtx_setParameter", rc);
  capped_output out{cap, sizes.total > 0 ? sizes.total : first_room};
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  for (;;) {
    bool probing = out.at_cap();
    auto [dst, room] = out.room();
    ZSTD_outBuffer o{dst, room, 0};
    rc = ZSTD_decompressStream(d.get(), &o, &in);
    if (ZSTD_isError(rc) &&
        ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
      return make_error(errc::too_large,
                        "zstd: a frame asks for a window of more than " +
                          std::to_string(size_t{1} << window_log_for(cap)) +
                          " bytes (the cap is " + std::to_string(cap) + ")");
    if (ZSTD_isError(rc))
      return zstd_error("ZSTD_decompressStream", rc);
    if (probing && o.pos > 0)
      return over_cap("zstd", bytes.size(), cap);
    out.produced(o.pos);
    if (in.pos == in.size && rc == 0)
      return out.take(); // the last frame ended and is flushed
    if (in.pos < in.size || o.pos == o.size)
      continue; // more input to take, or more output may be waiting
    return truncated("zstd", bytes.size());
  }
}

// -- zstd_writer ---------------------------------------------------------------

struct zstd_writer::impl {
  cctx_ptr c{ZSTD_createCCtx()};
  caf::error broken;
  explicit impl(int level) {
    if (!c) {
      broken = make_error(errc::io, "zstd: ZSTD_createCCtx failed");
      return;
    }
    broken = set_up(c.get(), level);
  }
};

zstd_writer::zstd_writer(int level) : impl_(std::make_unique<impl>(level)) {
}

zstd_writer::~zstd_writer() = default;

caf::error zstd_writer::write(std::string_view bytes, bool end,
                              std::string& out) {
  if (impl_->broken)
    return impl_->broken;
  auto* c = impl_->c.get();
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  auto mode = end ? ZSTD_e_end : ZSTD_e_continue;
  for (;;) {
    size_t old = out.size();
    size_t room = ZSTD_CStreamOutSize() + ZSTD_compressBound(in.size - in.pos);
    out.resize(old + room);
    ZSTD_outBuffer o{out.data() + old, room, 0};
    auto rc = ZSTD_compressStream2(c, &o, &in, mode);
    out.resize(old + o.pos);
    if (ZSTD_isError(rc))
      return zstd_error("ZSTD_compressStream2", rc);
    // continue: done once the input is taken; end: once all is flushed.
    if (end ? rc == 0 : in.pos == in.size)
      return caf::none;
  }
}

// -- zstd_reader ---------------------------------------------------------------

struct zstd_reader::impl {
  dctx_ptr d{ZSTD_createDCtx()};
  bool frame_end = true; // nothing read yet: an empty input is complete
};

zstd_reader::zstd_reader() : impl_(std::make_unique<impl>()) {
}

zstd_reader::~zstd_reader() = default;

caf::expected<size_t> zstd_reader::read(std::string_view& in, char* out,
                                        size_t room) {
  auto* d = impl_->d.get();
  if (d == nullptr)
    return make_error(errc::io, "zstd: ZSTD_createDCtx failed");
  size_t made = 0;
  while (made < room && !in.empty()) {
    ZSTD_inBuffer i{in.data(), in.size(), 0};
    ZSTD_outBuffer o{out + made, room - made, 0};
    auto rc = ZSTD_decompressStream(d, &o, &i);
    if (ZSTD_isError(rc))
      return zstd_error("ZSTD_decompressStream", rc);
    in.remove_prefix(i.pos);
    made += o.pos;
    impl_->frame_end = rc == 0;
    if (i.pos == 0 && o.pos == 0)
      break; // no progress: it waits for more room or input
  }
  return made;
}

bool zstd_reader::at_frame_end() const {
  return impl_->frame_end;
}

} // namespace cc::wire::detail
