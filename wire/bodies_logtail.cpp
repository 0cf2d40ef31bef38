// The logtail family's bodies (wire/bodies.hpp): pub.logtail (a fragment,
// a repair or a question), logtail.ack and logtail.state, and a fragment's
// bytes (its blob, or its base64 data decoded).
#include "wire/base64.hpp"
#include "base/error.hpp"
#include "wire/bodies.hpp"
#include "wire/body_json.hpp"

namespace cc::wire {

namespace {

using namespace body_json;

constexpr std::array<field<logtail_body>, 23> logtail_fields{
  req_field<logtail_body>,
  time_field<logtail_body>,
  hostname_field<logtail_body>(true),
  blob_hash_field<logtail_body>,
  field<logtail_body>{"filename", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string(v, x.filename);
                      }},
  field<logtail_body>{"comp", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.comp);
                      }},
  field<logtail_body>{"mode", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string(v, x.mode);
                      }},
  field<logtail_body>{"op_mode", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.op_mode);
                      }},
  field<logtail_body>{"fpos", true,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.fpos);
                      }},
  field<logtail_body>{"st_dev", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.st_dev);
                      }},
  field<logtail_body>{"st_ino", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.st_ino);
                      }},
  field<logtail_body>{"data", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.data);
                      }},
  field<logtail_body>{"ack", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.ack);
                      }},
  field<logtail_body>{"gen", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.gen);
                      }},
  field<logtail_body>{"raw_size", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.raw_size);
                      }},
  field<logtail_body>{"query", false,
                      [](scalar& v, logtail_body& x) -> read_result {
                        if (auto why = read_string_or_null(v, x.query))
                          return why;
                        if (!x.query.empty() && x.query != query_kind::state &&
                            x.query != query_kind::digest)
                          return "expected \"\", \"state\" or \"digest\"";
                        return nullptr;
                      }},
  field<logtail_body>{"digests", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.digests);
                      }},
  field<logtail_body>{"from", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.range_from);
                      }},
  field<logtail_body>{"to", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.range_to);
                      }},
  field<logtail_body>{"block", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.block);
                      }},
  field<logtail_body>{"repair", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.repair);
                      }},
  field<logtail_body>{"truncate", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.truncate);
                      }},
  field<logtail_body>{"source", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.source);
                      }},
};

constexpr std::array<field<logtail_ack_body>, 12> ack_fields{
  req_field<logtail_ack_body>,
  time_field<logtail_ack_body>,
  hostname_field<logtail_ack_body>(false),
  blob_hash_field<logtail_ack_body>,
  field<logtail_ack_body>{"filename", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string(v, x.filename);
                          }},
  field<logtail_ack_body>{"st_dev", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.st_dev);
                          }},
  field<logtail_ack_body>{"st_ino", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.st_ino);
                          }},
  field<logtail_ack_body>{"gen", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string(v, x.gen);
                          }},
  field<logtail_ack_body>{"fpos", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.fpos);
                          }},
  field<logtail_ack_body>{"status", true,
                          [](scalar& v, logtail_ack_body& x) -> read_result {
                            if (auto why = read_string(v, x.status))
                              return why;
                            for (auto known : {ack_status::ok, ack_status::gap,
                                               ack_status::refused, ack_status::denied,
                                               ack_status::error})
                              if (x.status == known)
                                return nullptr;
                            return "expected \"ok\", \"gap\", \"refused\", \"denied\" or \"error\"";
                          }},
  field<logtail_ack_body>{"writer", false,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string_or_null(v, x.writer);
                          }},
  field<logtail_ack_body>{"detail", false,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string_or_null(v, x.detail);
                          }},
};


/// Reads `key` of `j` into `out` if present; false when present with
/// another type.
template <class T>
bool read_member(const nlohmann::json& j, const char* key, T& out,
                 std::string& bad) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return true;
  try {
    if constexpr (std::is_same_v<T, uint64_t>) {
      if (!i->is_number_unsigned() && !(i->is_number_integer() && i->get<int64_t>() >= 0))
        throw std::exception{};
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!i->is_string())
        throw std::exception{};
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!i->is_boolean())
        throw std::exception{};
    }
    out = i->get<T>();
    return true;
  } catch (const std::exception&) {
    bad = key;
    return false;
  }
}

} // namespace

caf::expected<logtail_body> parse_logtail(const std::string& json) {
  logtail_body x;
  x.mode.clear(); // required: whatever the sender wrote
  if (auto err = read_body(json, "pub.logtail", logtail_fields, x))
    return err;
  return x;
}

caf::expected<logtail_ack_body> parse_logtail_ack(const std::string& json) {
  logtail_ack_body x;
  if (auto err = read_body(json, "logtail.ack", ack_fields, x))
    return err;
  return x;
}

caf::expected<logtail_state_body> parse_logtail_state(const std::string& json) {
  const char* what = "logtail.state";
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded())
    return body_error(what, "not valid JSON");
  if (!j.is_object())
    return body_error(what, "not a JSON object");
  logtail_state_body x;
  std::string bad;
  bool ok = read_member(j, "req", x.hdr.req, bad) && read_member(j, "time", x.hdr.time, bad)
            && read_member(j, "hostname", x.hdr.hostname, bad)
            && read_member(j, "blob_hash", x.hdr.blob_hash, bad)
            && read_member(j, "filename", x.filename, bad)
            && read_member(j, "st_dev", x.st_dev, bad)
            && read_member(j, "st_ino", x.st_ino, bad) && read_member(j, "gen", x.gen, bad)
            && read_member(j, "query", x.query, bad) && read_member(j, "writer", x.writer, bad)
            && read_member(j, "status", x.status, bad)
            && read_member(j, "detail", x.detail, bad) && read_member(j, "copy", x.copy, bad)
            && read_member(j, "compressed", x.compressed, bad)
            && read_member(j, "from", x.range_from, bad)
            && read_member(j, "to", x.range_to, bad) && read_member(j, "block", x.block, bad);
  if (!ok)
    return body_error(what, "field '" + bad + "' has the wrong type");
  for (const char* key : {"req", "filename", "st_dev", "st_ino", "query", "writer", "status"})
    if (!j.contains(key))
      return body_error(what, std::string{"required field '"} + key + "' is missing");
  if (x.status != state_status::ok && x.status != state_status::none
      && x.status != state_status::refused && x.status != state_status::unavailable
      && x.status != state_status::denied)
    return body_error(what, "field 'status': unknown value '" + x.status.substr(0, 32) + "'");
  if (auto s = j.find("segments"); s != j.end() && !s->is_null()) {
    if (!s->is_array())
      return body_error(what, "field 'segments' is not an array");
    for (const auto& e : *s) {
      segment_state seg;
      if (!e.is_object()
          || !(read_member(e, "st_dev", seg.st_dev, bad) && read_member(e, "st_ino", seg.st_ino, bad)
               && read_member(e, "gen", seg.gen, bad)
               && read_member(e, "src_base", seg.src_base, bad)
               && read_member(e, "src_end", seg.src_end, bad)
               && read_member(e, "last", seg.last, bad))
          || seg.src_end < seg.src_base)
        return body_error(what, "a malformed segment");
      if (auto d = e.find("digests"); d != e.end() && !d->is_null()) {
        if (!d->is_array())
          return body_error(what, "a segment's digests are not an array");
        for (const auto& r : *d) {
          if (!r.is_array() || r.size() != 3 || !r[0].is_number_unsigned()
              || !r[1].is_number_unsigned() || !r[2].is_string())
            return body_error(what, "a malformed digest");
          seg.digests.push_back(
            {r[0].get<uint64_t>(), r[1].get<uint64_t>(), r[2].get<std::string>()});
        }
      }
      x.segments.push_back(std::move(seg));
    }
  }
  if (auto p = j.find("pieces"); p != j.end() && !p->is_null()) {
    if (!p->is_array())
      return body_error(what, "field 'pieces' is not an array");
    for (const auto& e : *p) {
      if (!e.is_string())
        return body_error(what, "a piece digest is not a string");
      x.pieces.push_back(e.get<std::string>());
    }
  }
  return x;
}

std::string make_body(const logtail_body& x) {
  // base64 data escapes one '\n' per 77 bytes; names rarely need escapes.
  body_writer w{x.data.size() + x.data.size() / 38 + 2 * x.filename.size() +
                x.hdr.hostname.size() + x.gen.size() + 128};
  w.header_fields(x.hdr)
    .str("filename", x.filename)
    .str("comp", x.comp)
    .str("mode", x.mode)
    .str("op_mode", x.op_mode)
    .u64("fpos", x.fpos)
    .u64("st_dev", x.st_dev)
    .u64("st_ino", x.st_ino)
    .str("data", x.data)
    .boolean("ack", x.ack)
    .str("gen", x.gen)
    .u64("raw_size", x.raw_size);
  // The reconcile extensions only when used: fragments stay as they were.
  if (!x.query.empty()) {
    w.str("query", x.query);
    if (x.digests)
      w.boolean("digests", true);
    if (x.query == query_kind::digest)
      w.u64("from", x.range_from).u64("to", x.range_to).u64("block", x.block);
  }
  if (x.repair)
    w.boolean("repair", true);
  if (x.truncate)
    w.boolean("truncate", true);
  if (!x.source.empty())
    w.str("source", x.source);
  return w.done();
}

namespace {

/// An ack's fields after its header, in the order both writers below use.
std::string write_ack_rest(body_writer& w, std::string_view filename, uint64_t st_dev,
                       uint64_t st_ino, std::string_view gen, uint64_t fpos,
                       std::string_view status, std::string_view writer,
                       std::string_view detail) {
  w.str("filename", filename)
    .u64("st_dev", st_dev)
    .u64("st_ino", st_ino)
    .str("gen", gen)
    .u64("fpos", fpos)
    .str("status", status);
  if (!writer.empty())
    w.str("writer", writer);
  if (!detail.empty())
    w.str("detail", detail);
  return w.done();
}

} // namespace

std::string make_body(const logtail_ack_body& x) {
  body_writer w{x.filename.size() + x.hdr.hostname.size() + 64};
  w.header_fields(x.hdr);
  return write_ack_rest(w, x.filename, x.st_dev, x.st_ino, x.gen, x.fpos, x.status, x.writer,
                    x.detail);
}

std::string make_ack_body(double time, std::string_view hostname, std::string_view filename,
                          uint64_t st_dev, uint64_t st_ino, std::string_view gen,
                          uint64_t fpos, std::string_view status, std::string_view writer,
                          std::string_view detail) {
  body_writer w{filename.size() + hostname.size() + 64};
  w.header_fields("logtail.ack", time, hostname, "");
  return write_ack_rest(w, filename, st_dev, st_ino, gen, fpos, status, writer, detail);
}

std::string make_body(const logtail_state_body& x) {
  // Written directly (a writer answers one for every new source file: at
  // 10,000 files this body built as a nlohmann object, its strings parsed
  // back from our escaping, cost ~2.6 % of the central, bench/PROFILE.md
  // session 16). The keys in the order nlohmann's object wrote them
  // (sorted): the same JSON as before, the same text when every string is
  // ASCII (a character that is not is escaped now, as in every other body;
  // nlohmann wrote it as UTF-8). Strings go through our own escaping, so a
  // byte that is not valid UTF-8 reads as its Latin-1 character here too.
  std::string segments{"["};
  auto num = [](std::string& out, uint64_t v) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
  };
  for (const auto& s : x.segments) {
    if (segments.size() > 1)
      segments += ',';
    std::string digests{"["};
    for (const auto& d : s.digests) {
      digests += digests.size() > 1 ? ",[" : "[";
      num(digests, d.from);
      digests += ',';
      num(digests, d.to);
      digests += ',';
      append_json_string(digests, d.xxh3);
      digests += ']';
    }
    digests += ']';
    body_writer seg{digests.size() + s.gen.size() + 96};
    seg.raw("digests", digests)
      .str("gen", s.gen)
      .boolean("last", s.last)
      .u64("src_base", s.src_base)
      .u64("src_end", s.src_end)
      .u64("st_dev", s.st_dev)
      .u64("st_ino", s.st_ino);
    segments += seg.done();
  }
  segments += ']';
  std::string pieces{"["};
  for (const auto& p : x.pieces) {
    if (pieces.size() > 1)
      pieces += ',';
    append_json_string(pieces, p);
  }
  pieces += ']';
  body_writer w{x.filename.size() + x.copy.size() + x.detail.size() + segments.size()
                + pieces.size() + 128};
  w.str("blob_hash", x.hdr.blob_hash)
    .u64("block", x.block)
    .boolean("compressed", x.compressed)
    .str("copy", x.copy)
    .str("detail", x.detail)
    .str("filename", x.filename)
    .u64("from", x.range_from)
    .str("gen", x.gen)
    .str("hostname", x.hdr.hostname)
    .raw("pieces", pieces)
    .str("query", x.query)
    .str("req", x.hdr.req)
    .raw("segments", segments)
    .u64("st_dev", x.st_dev)
    .u64("st_ino", x.st_ino)
    .str("status", x.status)
    .dbl("time", x.hdr.time)
    .u64("to", x.range_to)
    .str("writer", x.writer);
  return w.done();
}

caf::expected<std::string_view>
fragment_bytes(const logtail_body& body, std::string_view blob,
               std::string& storage) {
  if (!blob.empty())
    return blob;
  auto decoded = base64_decode(body.data);
  if (!decoded)
    return make_error(errc::decode_failed,
                      "pub.logtail data of " + body.filename + ": " +
                        describe(decoded.error()));
  storage = std::move(*decoded);
  return std::string_view{storage};
}

} // namespace cc::wire
