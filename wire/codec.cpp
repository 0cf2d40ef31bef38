// gzip (zlib, windowBits 31) and bzip2 (libbz2) for fragments and compressed
// copies (wire/codec.hpp), and the dispatch to zstd (wire/codec_zstd.cpp). Owns no state beyond one call or one
// stream_compressor; the only allocation in decompress() is the output, which
// never grows past the caller's cap.
#include "wire/codec.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include <bzlib.h>
#include <zlib.h>

#include "base/error.hpp"
#include "wire/codec_detail.hpp"

namespace cc::wire {

namespace {

// zlib and libbz2 count input and output in 32-bit unsigned ints.
constexpr size_t max_chunk = size_t{1} << 30;
// Output room handed to the compressor per call while streaming.
constexpr size_t min_room = 16 * 1024;
constexpr size_t max_room = 4 * 1024 * 1024;
// gzip windowBits: 15-bit window, +16 for the gzip wrapper.
constexpr int gzip_window_bits = 15 + 16;

caf::error level_error(int level) {
  return make_error(errc::config_invalid,
                    "compression level " + std::to_string(level) +
                      " is outside 1..9");
}

caf::error zlib_error(const char* op, int rc, const z_stream& z) {
  std::string text = std::string{"gzip: "} + op + " failed (" +
                     std::to_string(rc);
  if (z.msg != nullptr)
    text += std::string{": "} + z.msg;
  text += ")";
  return make_error(rc == Z_MEM_ERROR ? errc::io : errc::decode_failed,
                    std::move(text));
}

caf::error bzip2_error(const char* op, int rc) {
  const char* why = "error";
  switch (rc) {
    case BZ_DATA_ERROR: why = "corrupt data"; break;
    case BZ_DATA_ERROR_MAGIC: why = "not bzip2 data"; break;
    case BZ_MEM_ERROR: why = "out of memory"; break;
    case BZ_PARAM_ERROR: why = "bad parameter"; break;
    case BZ_SEQUENCE_ERROR: why = "call out of sequence"; break;
    case BZ_CONFIG_ERROR: why = "library misconfigured"; break;
    default: break;
  }
  return make_error(rc == BZ_MEM_ERROR ? errc::io : errc::decode_failed,
                    std::string{"bzip2: "} + op + " failed (" +
                      std::to_string(rc) + ": " + why + ")");
}

} // namespace

caf::error detail::truncated(const char* format, size_t size) {
  return make_error(errc::decode_failed,
                    std::string{format} + ": input of " +
                      std::to_string(size) + " bytes ends inside a stream");
}

caf::error detail::over_cap(const char* format, size_t in_size, size_t cap) {
  return make_error(errc::too_large,
                    std::string{format} + ": " + std::to_string(in_size) +
                      " bytes decompress to more than the cap of " +
                      std::to_string(cap) + " bytes");
}

namespace {

using detail::capped_output;
using detail::over_cap;
using detail::truncated;

// Appends `room` writable bytes to `out`; returns where they start.
char* grow(std::string& out, size_t room) {
  size_t old = out.size();
  out.resize(old + room);
  return out.data() + old;
}

size_t room_for(size_t input) {
  return std::clamp(input + input / 100 + 600, min_room, max_room);
}


// A gzip member ends with ISIZE, the uncompressed size mod 2^32: for the
// usual single-member fragment it sizes the output exactly.
size_t gzip_size_hint(std::string_view bytes) {
  if (bytes.size() < 18)
    return 0;
  auto p = reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size() - 4);
  return size_t{p[0]} | (size_t{p[1]} << 8) | (size_t{p[2]} << 16) |
         (size_t{p[3]} << 24);
}

caf::expected<std::string> gunzip(std::string_view bytes, size_t cap) {
  z_stream z{};
  int rc = inflateInit2(&z, gzip_window_bits);
  if (rc != Z_OK)
    return zlib_error("inflateInit2", rc, z);
  struct guard {
    z_stream& z;
    ~guard() {
      inflateEnd(&z);
    }
  } end_stream{z};
  // Deflate expands at most ~1032:1, so a hint beyond that is a lie.
  size_t hint = std::min(gzip_size_hint(bytes), bytes.size() * 1032 + 64);
  capped_output out{cap, std::max({hint, bytes.size() * 4, size_t{64 * 1024}})};
  auto in = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t fed = 0; // input bytes handed to zlib so far
  for (;;) {
    if (z.avail_in == 0 && fed < bytes.size()) {
      size_t chunk = std::min(bytes.size() - fed, max_chunk);
      z.next_in = const_cast<unsigned char*>(in + fed);
      z.avail_in = static_cast<uInt>(chunk);
      fed += chunk;
    }
    bool probing = out.at_cap();
    auto [dst, room] = out.room();
    z.next_out = reinterpret_cast<unsigned char*>(dst);
    z.avail_out = static_cast<uInt>(std::min(room, max_chunk));
    uInt offered = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    size_t made = offered - z.avail_out;
    if (probing && made > 0)
      return over_cap("gzip", bytes.size(), cap);
    out.produced(made);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0 && fed == bytes.size())
        return out.take();
      // Another member follows (a multi-member file).
      rc = inflateReset(&z);
      if (rc != Z_OK)
        return zlib_error("inflateReset", rc, z);
      continue;
    }
    if (rc == Z_OK)
      continue;
    if (rc == Z_BUF_ERROR) {
      if (z.avail_out == 0)
        continue; // needs more room
      if (z.avail_in == 0 && fed == bytes.size())
        return truncated("gzip", bytes.size());
    }
    return zlib_error("inflate", rc, z);
  }
}

caf::expected<std::string> bunzip2(std::string_view bytes, size_t cap) {
  bz_stream s{};
  int rc = BZ2_bzDecompressInit(&s, 0, 0);
  if (rc != BZ_OK)
    return bzip2_error("BZ2_bzDecompressInit", rc);
  struct guard {
    bz_stream& s;
    bool live = true;
    ~guard() {
      if (live)
        BZ2_bzDecompressEnd(&s);
    }
  } end_stream{s};
  capped_output out{cap, std::max(bytes.size() * 5, size_t{256 * 1024})};
  size_t fed = 0;
  for (;;) {
    if (s.avail_in == 0 && fed < bytes.size()) {
      size_t chunk = std::min(bytes.size() - fed, max_chunk);
      s.next_in = const_cast<char*>(bytes.data() + fed);
      s.avail_in = static_cast<unsigned>(chunk);
      fed += chunk;
    }
    bool probing = out.at_cap();
    auto [dst, room] = out.room();
    s.next_out = dst;
    s.avail_out = static_cast<unsigned>(std::min(room, max_chunk));
    unsigned offered = s.avail_out;
    unsigned in_before = s.avail_in;
    rc = BZ2_bzDecompress(&s);
    size_t made = offered - s.avail_out;
    if (probing && made > 0)
      return over_cap("bzip2", bytes.size(), cap);
    out.produced(made);
    if (rc == BZ_STREAM_END) {
      if (s.avail_in == 0 && fed == bytes.size())
        return out.take();
      // Another member follows: libbz2 has no reset, so start a new stream
      // on the remaining input.
      char* next_in = s.next_in;
      unsigned avail_in = s.avail_in;
      BZ2_bzDecompressEnd(&s);
      end_stream.live = false;
      s = bz_stream{};
      rc = BZ2_bzDecompressInit(&s, 0, 0);
      if (rc != BZ_OK)
        return bzip2_error("BZ2_bzDecompressInit", rc);
      end_stream.live = true;
      s.next_in = next_in;
      s.avail_in = avail_in;
      continue;
    }
    if (rc != BZ_OK)
      return bzip2_error("BZ2_bzDecompress", rc);
    // libbz2 answers BZ_OK even when it is starved: no input left, room
    // left, nothing consumed or produced means the stream was cut short.
    if (made == 0 && s.avail_out > 0 && s.avail_in == 0 &&
        in_before == 0 && fed == bytes.size())
      return truncated("bzip2", bytes.size());
  }
}

} // namespace

std::optional<compression> parse_compression(std::string_view name) {
  if (name.empty() || name == "none")
    return compression::none;
  if (name == "gzip")
    return compression::gzip;
  if (name == "bzip2")
    return compression::bzip2;
  if (name == "zstd")
    return compression::zstd;
  return std::nullopt;
}

const char* to_string(compression c) {
  switch (c) {
    case compression::none: return "none";
    case compression::gzip: return "gzip";
    case compression::bzip2: return "bzip2";
    case compression::zstd: return "zstd";
  }
  return "none";
}

const char* file_extension(compression c) {
  switch (c) {
    case compression::none: return "";
    case compression::gzip: return ".gz";
    case compression::bzip2: return ".bz2";
    case compression::zstd: return ".zst";
  }
  return "";
}

int default_level(compression c) {
  return c == compression::gzip || c == compression::none ? 6 : 3;
}

// -- stream_compressor ---------------------------------------------------------

struct stream_compressor::impl {
  compression method;
  int level;
  caf::error broken; // sticky: a bad level or a library failure
  bool open = false; // a member has been started and not finished
  z_stream z{};
  bool z_ready = false; // deflateInit2 done (reused across members)
  bz_stream bz{};
  std::unique_ptr<detail::zstd_writer> zw; // reused across members

  impl(compression c, int lvl) : method(c), level(lvl) {
    if (level == 0)
      level = default_level(c);
    if (level < 1 || level > 9)
      broken = level_error(lvl);
  }

  ~impl() {
    if (z_ready)
      deflateEnd(&z);
    if (open && method == compression::bzip2)
      BZ2_bzCompressEnd(&bz);
  }

  caf::error open_member() {
    if (method == compression::gzip) {
      int rc = z_ready ? deflateReset(&z)
                       : deflateInit2(&z, level, Z_DEFLATED, gzip_window_bits,
                                      8, Z_DEFAULT_STRATEGY);
      if (rc != Z_OK)
        return zlib_error(z_ready ? "deflateReset" : "deflateInit2", rc, z);
      z_ready = true;
    } else if (method == compression::bzip2) {
      bz = bz_stream{};
      int rc = BZ2_bzCompressInit(&bz, level, 0, 0);
      if (rc != BZ_OK)
        return bzip2_error("BZ2_bzCompressInit", rc);
    } else if (method == compression::zstd && !zw) {
      zw = std::make_unique<detail::zstd_writer>(level);
    }
    open = true;
    return caf::none;
  }

  // Runs the compressor over `bytes` with `flush` (Z_NO_FLUSH / Z_FINISH).
  caf::error run_gzip(std::string_view bytes, int flush, std::string& out) {
    auto in = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t done = 0;
    do {
      size_t chunk = std::min(bytes.size() - done, max_chunk);
      bool last = done + chunk == bytes.size();
      int mode = last ? flush : Z_NO_FLUSH;
      z.next_in = const_cast<unsigned char*>(in + done);
      z.avail_in = static_cast<uInt>(chunk);
      for (;;) {
        size_t room = room_for(deflateBound(&z, z.avail_in));
        char* dst = grow(out, room);
        z.next_out = reinterpret_cast<unsigned char*>(dst);
        z.avail_out = static_cast<uInt>(room);
        int rc = deflate(&z, mode);
        out.resize(out.size() - z.avail_out);
        if (rc == Z_STREAM_END)
          break;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
          return zlib_error("deflate", rc, z);
        // Done with this chunk once zlib stopped short of filling the room.
        if (mode == Z_NO_FLUSH && z.avail_in == 0 && z.avail_out > 0)
          break;
      }
      done += chunk;
    } while (done < bytes.size());
    return caf::none;
  }

  caf::error run_bzip2(std::string_view bytes, int action, std::string& out) {
    size_t done = 0;
    do {
      size_t chunk = std::min(bytes.size() - done, max_chunk);
      bool last = done + chunk == bytes.size();
      int mode = last ? action : BZ_RUN;
      bz.next_in = const_cast<char*>(bytes.data() + done);
      bz.avail_in = static_cast<unsigned>(chunk);
      for (;;) {
        size_t room = room_for(bz.avail_in);
        char* dst = grow(out, room);
        bz.next_out = dst;
        bz.avail_out = static_cast<unsigned>(room);
        int rc = BZ2_bzCompress(&bz, mode);
        out.resize(out.size() - bz.avail_out);
        if (rc == BZ_STREAM_END)
          break;
        if (rc != BZ_RUN_OK && rc != BZ_FINISH_OK)
          return bzip2_error("BZ2_bzCompress", rc);
        if (mode == BZ_RUN && bz.avail_in == 0)
          break;
      }
      done += chunk;
    } while (done < bytes.size());
    return caf::none;
  }
};

stream_compressor::stream_compressor(compression c, int level)
  : impl_(std::make_unique<impl>(c, level)) {
  // nop
}

stream_compressor::~stream_compressor() = default;

bool stream_compressor::member_open() const {
  return impl_->open;
}

caf::error stream_compressor::write(std::string_view bytes, std::string& out) {
  auto& d = *impl_;
  if (d.broken)
    return d.broken;
  if (d.method == compression::none) {
    out.append(bytes);
    return caf::none;
  }
  if (!d.open)
    if (auto err = d.open_member()) {
      d.broken = err;
      return err;
    }
  if (bytes.empty())
    return caf::none;
  caf::error err;
  if (d.method == compression::gzip)
    err = d.run_gzip(bytes, Z_NO_FLUSH, out);
  else if (d.method == compression::bzip2)
    err = d.run_bzip2(bytes, BZ_RUN, out);
  else
    err = d.zw->write(bytes, false, out);
  if (err)
    d.broken = err;
  return err;
}

caf::error stream_compressor::finish(std::string& out) {
  auto& d = *impl_;
  if (d.broken)
    return d.broken;
  if (d.method == compression::none || !d.open)
    return caf::none;
  caf::error err;
  if (d.method == compression::gzip) {
    err = d.run_gzip({}, Z_FINISH, out);
  } else if (d.method == compression::zstd) {
    err = d.zw->write({}, true, out);
  } else {
    err = d.run_bzip2({}, BZ_FINISH, out);
    BZ2_bzCompressEnd(&d.bz);
  }
  d.open = false;
  if (err)
    d.broken = err;
  return err;
}

// -- one-shot ------------------------------------------------------------------

caf::expected<std::string> compress(std::string_view bytes, compression c,
                                    int level) {
  if (level < 0 || level > 9)
    return level_error(level);
  if (c == compression::none)
    return std::string{bytes};
  if (c == compression::zstd)
    return detail::zstd_compress(bytes, level == 0 ? default_level(c) : level);
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 100 + 1024);
  stream_compressor sc{c, level};
  if (auto err = sc.write(bytes, out))
    return err;
  if (auto err = sc.finish(out))
    return err;
  return out;
}

caf::expected<std::string> decompress(std::string_view bytes, compression c,
                                      size_t cap) {
  switch (c) {
    case compression::none:
      if (bytes.size() > cap)
        return over_cap("none", bytes.size(), cap);
      return std::string{bytes};
    case compression::gzip:
      return gunzip(bytes, cap);
    case compression::bzip2:
      return bunzip2(bytes, cap);
    case compression::zstd:
      return detail::zstd_decompress(bytes, cap);
  }
  return make_error(errc::decode_failed, "unknown compression");
}

// -- stream_decompressor -------------------------------------------------------

struct stream_decompressor::impl {
  compression method;
  z_stream z{};
  bool z_ready = false;
  bz_stream bz{};
  bool bz_ready = false;
  std::unique_ptr<detail::zstd_reader> zr;
  bool member_end = true; // nothing read yet: an empty input is complete

  explicit impl(compression c) : method(c) {
  }
  ~impl() {
    if (z_ready)
      inflateEnd(&z);
    if (bz_ready)
      BZ2_bzDecompressEnd(&bz);
  }

  caf::expected<size_t> gunzip(std::string_view& in, char* out, size_t room) {
    if (!z_ready) {
      int rc = inflateInit2(&z, gzip_window_bits);
      if (rc != Z_OK)
        return zlib_error("inflateInit2", rc, z);
      z_ready = true;
    }
    size_t made = 0;
    while (made < room && !in.empty()) {
      z.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(in.data()));
      z.avail_in = static_cast<uInt>(std::min(in.size(), max_chunk));
      z.next_out = reinterpret_cast<unsigned char*>(out + made);
      z.avail_out = static_cast<uInt>(std::min(room - made, max_chunk));
      uInt in_before = z.avail_in;
      uInt out_before = z.avail_out;
      int rc = inflate(&z, Z_NO_FLUSH);
      in.remove_prefix(in_before - z.avail_in);
      made += out_before - z.avail_out;
      member_end = false;
      if (rc == Z_STREAM_END) {
        member_end = true;
        rc = inflateReset(&z);
        if (rc != Z_OK)
          return zlib_error("inflateReset", rc, z);
        continue;
      }
      if (rc == Z_OK || rc == Z_BUF_ERROR)
        continue;
      return zlib_error("inflate", rc, z);
    }
    return made;
  }

  caf::expected<size_t> bunzip(std::string_view& in, char* out, size_t room) {
    size_t made = 0;
    while (made < room && !in.empty()) {
      if (!bz_ready) {
        bz = bz_stream{};
        int rc = BZ2_bzDecompressInit(&bz, 0, 0);
        if (rc != BZ_OK)
          return bzip2_error("BZ2_bzDecompressInit", rc);
        bz_ready = true;
      }
      bz.next_in = const_cast<char*>(in.data());
      bz.avail_in = static_cast<unsigned>(std::min(in.size(), max_chunk));
      bz.next_out = out + made;
      bz.avail_out = static_cast<unsigned>(std::min(room - made, max_chunk));
      unsigned in_before = bz.avail_in;
      unsigned out_before = bz.avail_out;
      int rc = BZ2_bzDecompress(&bz);
      in.remove_prefix(in_before - bz.avail_in);
      made += out_before - bz.avail_out;
      member_end = false;
      if (rc == BZ_STREAM_END) {
        // libbz2 has no reset: the next member gets a new stream.
        member_end = true;
        BZ2_bzDecompressEnd(&bz);
        bz_ready = false;
        continue;
      }
      if (rc != BZ_OK)
        return bzip2_error("BZ2_bzDecompress", rc);
    }
    return made;
  }
};

stream_decompressor::stream_decompressor(compression c)
  : impl_(std::make_unique<impl>(c)) {
}

stream_decompressor::~stream_decompressor() = default;

caf::expected<size_t> stream_decompressor::read(std::string_view& in, char* out,
                                                size_t room) {
  switch (impl_->method) {
    case compression::gzip:
      return impl_->gunzip(in, out, room);
    case compression::bzip2:
      return impl_->bunzip(in, out, room);
    case compression::zstd:
      if (!impl_->zr)
        impl_->zr = std::make_unique<detail::zstd_reader>();
      return impl_->zr->read(in, out, room);
    case compression::none:
      break;
  }
  auto n = std::min(in.size(), room);
  std::memcpy(out, in.data(), n);
  in.remove_prefix(n);
  return n;
}

bool stream_decompressor::at_member_end() const {
  if (impl_->zr)
    return impl_->zr->at_frame_end();
  return impl_->member_end;
}

} // namespace cc::wire
