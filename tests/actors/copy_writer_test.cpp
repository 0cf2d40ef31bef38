// One copy and its journal (actors/write/copy_writer; the journal is the
// copy's records in a journal log, journal_log.hpp): the protocol's
// decisions, plain/keep/yes outputs, and recovery after a simulated crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/copy_writer.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"
#include "wire/codec.hpp"

using namespace cc;
using namespace cc::tw;
namespace fs = std::filesystem;

namespace {

/// Deterministic source text: numbered lines of varying length.
std::string source_text(size_t bytes) {
  std::string out;
  for (int i = 0; out.size() < bytes; ++i) {
    out += "2026-11-26 14:05:" + std::to_string(i % 60) + " LOG:  statement "
           + std::to_string(i * 7919 % 1000003) + std::string(static_cast<size_t>(i % 13), 'x')
           + "\n";
  }
  out.resize(bytes);
  return out;
}

std::string slice(const std::string& s, uint64_t from, uint64_t to) {
  return s.substr(static_cast<size_t>(from), static_cast<size_t>(to - from));
}

std::string gunzip(const std::string& bytes, wire::compression c) {
  auto out = wire::decompress(bytes, c, 1 << 30);
  REQUIRE(out);
  return *out;
}

/// Two directories (copies, state), their descriptors and the journal log
/// in the state directory (a worker's: what a start would open).
struct place {
  std::string dst;
  std::string state;
  int dst_fd = -1;
  int state_fd = -1;
  std::unique_ptr<journal_log> log;
  explicit place(const std::string& root) : dst(root + "/dst"), state(root + "/state") {
    fs::create_directories(dst);
    fs::create_directories(state);
    open_fds();
  }
  void open_fds() {
    dst_fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY);
    state_fd = ::open(state.c_str(), O_RDONLY | O_DIRECTORY);
    open_log();
  }
  static std::string prefix() { return jlog::prefix("copy-test"); }
  /// Opens the log again from its file, as a restart does.
  void open_log() {
    log.reset();
    auto jl = journal_log::open(state_fd, prefix(), 0);
    REQUIRE(jl);
    log = std::move(*jl);
  }
  /// The start's merge (legacy `.j` journals taken in), then the log opened.
  void migrate() {
    log.reset();
    auto r = prepare_journal_logs(
      state_fd, prefix(), 1, [](const std::string&) { return size_t{0}; },
      std::chrono::hours{24 * 30}, std::time(nullptr));
    REQUIRE(r);
    open_log();
  }
  /// The journal text of copy `id` (its records), or of the first copy.
  std::string journal(std::string id = {}) const {
    if (id.empty()) {
      auto ids = log->id_list();
      if (ids.empty())
        return {};
      id = ids.front();
    }
    auto text = log->text(id);
    REQUIRE(text);
    return *text;
  }
  std::string log_path() const { return state + "/" + log->file(); }
  ~place() {
    log.reset();
    ::close(dst_fd);
    ::close(state_fd);
  }
};

/// What a SIGKILL leaves on disk: the files as they are right now, copied
/// aside, while the live copy_file is later destroyed elsewhere.
std::unique_ptr<place> snapshot(const place& live, const std::string& root) {
  fs::create_directories(root);
  fs::copy(live.dst, root + "/dst", fs::copy_options::recursive);
  fs::copy(live.state, root + "/state", fs::copy_options::recursive);
  return std::make_unique<place>(root);
}

struct fixture {
  test::temp_dir tmp{"cc-copy"};
  place live{tmp.path()};
  copy_options opts;
  source_key key{"db1", 2049, 1234, "/var/log/pg/x.log"};
  std::string src = source_text(4000);

  copy_spec spec(wire::compression out = wire::compression::none,
                 bool rotated = false, std::string id = "C\nno\ndb1/x.log") const {
    copy_spec s;
    s.identity = std::move(id);
    s.base_path = "db1/x.log";
    s.rotated = rotated;
    s.out = out;
    return s;
  }

  caf::expected<std::unique_ptr<copy_file>> try_open(const place& p, const copy_spec& s,
                                                     std::time_t now) const {
    auto o = opts;
    o.log = p.log.get();
    return copy_file::open(o, p.dst_fd, s, now);
  }

  std::unique_ptr<copy_file> open(const copy_spec& s, const place& p) const {
    auto cf = try_open(p, s, std::time(nullptr));
    REQUIRE(cf);
    return std::move(*cf);
  }

  /// decide + append as a worker does; `comp` compresses the fragment as a
  /// sender would.
  decision put(copy_file& cf, const std::string& gen, uint64_t from, uint64_t to,
               bool ack = true, wire::compression comp = wire::compression::none,
               const std::string* text = nullptr) const {
    const std::string& s = text ? *text : src;
    auto raw = slice(s, from, to);
    auto d = cf.decide(key, gen, from, raw.size(), ack);
    if (d.kind != decision::append)
      return d;
    std::string member;
    if (comp != wire::compression::none && d.skip == 0) {
      auto packed = wire::compress(raw, comp, 6);
      REQUIRE(packed);
      member = *packed;
    }
    auto written = cf.append(key, gen, d, std::string_view{raw}.substr(d.skip),
                             member, comp, copy_file::clock::now());
    REQUIRE(written);
    return d;
  }

  std::string copy_bytes(const copy_file& cf, const place& p) const {
    return test::read_file(p.dst + "/" + cf.path());
  }
};

} // namespace

TEST_CASE("plain copy: in-order fragments, sync makes them durable",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  CHECK(cf->path() == "db1/x.log");
  fx.put(*cf, "g1", 0, 100);
  fx.put(*cf, "g1", 100, 250);
  fx.put(*cf, "g1", 250, 300);
  auto* seg = cf->find(fx.key, "g1");
  REQUIRE(seg != nullptr);
  CHECK(seg->src_end == 300);
  CHECK(seg->durable_end == 0);
  CHECK(cf->needs_sync());
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 300);
  CHECK(!cf->needs_sync());
  CHECK(cf->take_fsyncs() >= 2); // the segment start and the sync
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 300));
  CHECK(cf->segments().size() == 1);
}

TEST_CASE("plain copy: a reopen after a clean close syncs nothing until written, then "
          "once for its A and S lines",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "g1", 0, 100);
  // A new copy: its header, then its O and S lines together (one sync each).
  CHECK(cf->take_fsyncs() == 2);
  REQUIRE(!cf->close());
  CHECK(cf->take_fsyncs() == 1); // the data, before the C line
  for (int round = 0; round < 3; ++round) {
    auto again = fx.open(fx.spec(), fx.live);
    CHECK(again->take_fsyncs() == 0); // closed clean at this size: nothing to sync
    CHECK(again->find(fx.key, "g1")->durable_end == 100u + 100u * round);
    REQUIRE(!again->close());
    again = fx.open(fx.spec(), fx.live);
    fx.put(*again, "g1", 100 + 100 * round, 200 + 100 * round);
    CHECK(again->take_fsyncs() == 1); // the A line, before the copy changes
    fx.put(*again, "g2-" + std::to_string(round), 0, 50);
    CHECK(again->take_fsyncs() == 2); // a new segment: the data before it, its S line
    REQUIRE(!again->close());
    again = fx.open(fx.spec(), fx.live);
    fx.put(*again, "g3-" + std::to_string(round), 0, 10); // after a clean close: A and S, one sync
    CHECK(again->take_fsyncs() == 1);
    REQUIRE(!again->close());
  }
  auto last = fx.open(fx.spec(), fx.live);
  CHECK(last->take_changed() == 0);
  CHECK(last->find(fx.key, "g1")->src_end == 400);
}

TEST_CASE("duplicates, overlaps, out-of-order and gaps",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "g1", 0, 100);
  fx.put(*cf, "g1", 100, 200);
  auto d = fx.put(*cf, "g1", 0, 100);
  CHECK(d.kind == decision::duplicate);
  CHECK(d.src_end == 200);
  d = fx.put(*cf, "g1", 50, 200);
  CHECK(d.kind == decision::duplicate);
  d = fx.put(*cf, "g1", 150, 250); // overlap: only 200..250 is new
  CHECK(d.kind == decision::append);
  CHECK(d.skip == 50);
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 250));
  // Ahead of the end with ack: nothing written, the sender must rewind.
  d = fx.put(*cf, "g1", 300, 400, true);
  CHECK(d.kind == decision::gap);
  CHECK(d.src_end == 250);
  CHECK(d.gap_bytes == 50);
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 250));
  // The resend from the asked offset continues the copy.
  fx.put(*cf, "g1", 250, 300);
  fx.put(*cf, "g1", 300, 400);
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 400));
  // Without ack (the original sender): the gap is written over.
  d = fx.put(*cf, "g1", 450, 500, false);
  CHECK(d.kind == decision::append);
  CHECK(d.new_segment);
  CHECK(d.gap_bytes == 50);
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 400) + slice(fx.src, 450, 500));
  // After the gap segment, offsets map on: a resend of 450..500 is a duplicate.
  CHECK(fx.put(*cf, "g1", 450, 500, false).kind == decision::duplicate);
  CHECK(cf->find(fx.key, "g1")->src_end == 500);
}

TEST_CASE("generations: new ones continue the copy, old ones are recognised",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  std::string second = source_text(1000);
  std::reverse(second.begin(), second.end());
  fx.put(*cf, "aaaa", 0, 100);
  // A new generation (truncation): a new segment at its fpos, appended.
  auto d = fx.put(*cf, "bbbb", 0, 80, true, wire::compression::none, &second);
  CHECK(d.new_segment);
  // A late resend of the old generation is a duplicate, not a new segment.
  CHECK(fx.put(*cf, "aaaa", 0, 100).kind == decision::duplicate);
  CHECK(fx.put(*cf, "aaaa", 40, 90).kind == decision::duplicate);
  // The same key with a fresh generation starting mid-file (tail -f).
  d = fx.put(*cf, "cccc", 500, 600);
  CHECK(d.new_segment);
  CHECK(d.src_base == 500);
  CHECK(fx.copy_bytes(*cf, fx.live)
        == slice(fx.src, 0, 100) + slice(second, 0, 80) + slice(fx.src, 500, 600));
  CHECK(cf->segments().size() == 3);
  // A sender without generations that starts over at 0 (copytruncate).
  fixture plain;
  auto cp = plain.open(plain.spec(), plain.live);
  plain.put(*cp, "", 0, 100, false);
  d = plain.put(*cp, "", 0, 60, false);
  CHECK(d.kind == decision::append);
  CHECK(d.new_segment);
  CHECK(plain.copy_bytes(*cp, plain.live) == slice(plain.src, 0, 100) + slice(plain.src, 0, 60));
}

TEST_CASE("two keys continuing one copy interleave as segments",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  source_key other{"db1", 2049, 9999, "/other/x.log"};
  fx.put(*cf, "g", 0, 100);
  auto d = cf->decide(other, "h", 0, 10, true);
  REQUIRE(cf->append(other, "h", d, "0123456789", {}, wire::compression::none,
                     copy_file::clock::now()));
  d = fx.put(*cf, "g", 100, 150); // back to the first key: a new segment
  CHECK(d.new_segment);
  CHECK(d.src_base == 100);
  CHECK(fx.copy_bytes(*cf, fx.live)
        == slice(fx.src, 0, 100) + "0123456789" + slice(fx.src, 100, 150));
}

TEST_CASE("plain recovery: bytes past the last sync are still source bytes",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "g1", 0, 1000);
  REQUIRE(!cf->sync());
  fx.put(*cf, "g1", 1000, 1500); // written, never synced
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  auto rec = fx.open(fx.spec(), *crashed);
  auto* seg = rec->find(fx.key, "g1");
  REQUIRE(seg != nullptr);
  CHECK(seg->src_end == 1500);
  CHECK(seg->durable_end == 1500);
  // The sender resends from its last acknowledged offset.
  CHECK(fx.put(*rec, "g1", 0, 1000).kind == decision::duplicate);
  auto d = fx.put(*rec, "g1", 1000, 2000);
  CHECK(d.skip == 500);
  REQUIRE(!rec->sync());
  CHECK(fx.copy_bytes(*rec, *crashed) == slice(fx.src, 0, 2000));
}

TEST_CASE("plain recovery: a copy shorter than a segment start drops it",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "g1", 0, 100);
  fx.put(*cf, "g2", 0, 100);
  REQUIRE(!cf->sync());
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  // The disk lost the tail (the second segment and a bit of the first).
  REQUIRE(::truncate((crashed->dst + "/db1/x.log").c_str(), 90) == 0);
  auto rec = fx.open(fx.spec(), *crashed);
  REQUIRE(rec->find(fx.key, "g1") != nullptr);
  CHECK(rec->find(fx.key, "g1")->src_end == 90);
  CHECK(rec->find(fx.key, "g2") == nullptr);
  fx.put(*rec, "g1", 0, 100);
  CHECK(fx.copy_bytes(*rec, *crashed) == slice(fx.src, 0, 100));
}

TEST_CASE("keep: members as received, recovery truncates to the last member end",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.mode = write_mode::keep;
  auto spec = fx.spec(wire::compression::gzip, false, "C\nkeep\ndb1/x.log");
  auto cf = fx.open(spec, fx.live);
  CHECK(cf->path() == "db1/x.log.gz");
  auto gz = wire::compression::gzip;
  fx.put(*cf, "g1", 0, 700, true, gz);
  fx.put(*cf, "g1", 700, 1400, true, gz);
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 1400);
  // Exactly the received members, concatenated.
  auto m1 = *wire::compress(slice(fx.src, 0, 700), gz, 6);
  auto m2 = *wire::compress(slice(fx.src, 700, 1400), gz, 6);
  CHECK(fx.copy_bytes(*cf, fx.live) == m1 + m2);
  fx.put(*cf, "g1", 1400, 2100, true, gz); // written, not journaled
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  test::append_file(crashed->dst + "/db1/x.log.gz", "\x1f\x8b garbage of a torn member");
  auto rec = fx.open(spec, *crashed);
  CHECK(rec->size() == m1.size() + m2.size());
  CHECK(rec->find(fx.key, "g1")->src_end == 1400);
  CHECK(fx.put(*rec, "g1", 0, 700, true, gz).kind == decision::duplicate);
  fx.put(*rec, "g1", 1000, 2100, true, gz); // overlap: recompressed tail
  fx.put(*rec, "g1", 2100, 2500, true, gz);
  REQUIRE(!rec->close());
  CHECK(gunzip(test::read_file(crashed->dst + "/db1/x.log.gz"), gz)
        == slice(fx.src, 0, 2500));
}

TEST_CASE("keep: a plain fragment into a compressed copy is compressed",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.mode = write_mode::keep;
  auto cf = fx.open(fx.spec(wire::compression::bzip2, false, "C\nkeep\ndb1/x.log"),
                    fx.live);
  CHECK(cf->path() == "db1/x.log.bz2");
  fx.put(*cf, "g1", 0, 500, true, wire::compression::bzip2);
  fx.put(*cf, "g1", 500, 900, true, wire::compression::none);
  fx.put(*cf, "g1", 900, 1300, true, wire::compression::gzip);
  REQUIRE(!cf->close());
  CHECK(gunzip(test::read_file(fx.live.dst + "/db1/x.log.bz2"), wire::compression::bzip2)
        == slice(fx.src, 0, 1300));
}

TEST_CASE("yes: recompressed members every buffer-bytes, recovery after a crash",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.mode = write_mode::recompress;
  fx.opts.compression = wire::compression::gzip;
  fx.opts.buffer_bytes = 1000;
  auto spec = fx.spec(wire::compression::gzip, false, "C\nyes\ndb1/x.log");
  auto cf = fx.open(spec, fx.live);
  fx.put(*cf, "g1", 0, 600);
  CHECK(cf->member_open());
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 0); // inside an open member
  fx.put(*cf, "g1", 600, 1200);                      // member ends at 1200
  CHECK(!cf->member_open());
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 1200);
  fx.put(*cf, "g1", 1200, 1700); // an open member at the crash
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  test::append_file(crashed->dst + "/db1/x.log.gz", std::string(333, '\xee'));
  auto rec = fx.open(spec, *crashed);
  CHECK(rec->find(fx.key, "g1")->src_end == 1200);
  for (uint64_t at = 0; at < 3000; at += 300)
    fx.put(*rec, "g1", at, at + 300);
  REQUIRE(!rec->finish_member());
  REQUIRE(!rec->sync());
  CHECK(rec->find(fx.key, "g1")->durable_end == 3000);
  REQUIRE(!rec->close());
  auto path = crashed->dst + "/db1/x.log.gz";
  CHECK(gunzip(test::read_file(path), wire::compression::gzip) == slice(fx.src, 0, 3000));
  // gzip(1) agrees: a valid multi-member file.
  test::write_file(fx.tmp / "expected", slice(fx.src, 0, 3000));
  std::string out;
  CHECK(test::run({"/bin/sh", "-c",
                   "gzip -dc < '" + path + "' | cmp - '" + fx.tmp / "expected" + "'"},
                  out)
        == 0);
}

TEST_CASE("yes: a fragment already in the output compression is kept as is",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.mode = write_mode::recompress;
  fx.opts.compression = wire::compression::gzip;
  auto cf = fx.open(fx.spec(wire::compression::gzip, false, "C\nyes\ndb1/x.log"), fx.live);
  auto gz = wire::compression::gzip;
  fx.put(*cf, "g1", 0, 800, true, gz);
  CHECK(!cf->member_open());
  fx.put(*cf, "g1", 800, 1000, true, wire::compression::bzip2); // recompressed
  CHECK(cf->member_open());
  REQUIRE(!cf->close());
  auto bytes = test::read_file(fx.live.dst + "/db1/x.log.gz");
  auto m1 = *wire::compress(slice(fx.src, 0, 800), gz, 6);
  CHECK(bytes.compare(0, m1.size(), m1) == 0);
  CHECK(gunzip(bytes, gz) == slice(fx.src, 0, 1000));
}

TEST_CASE("journal: compaction keeps recovery exact, torn lines are ignored",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.mode = write_mode::keep;
  fx.opts.compact_after = 5;
  auto spec = fx.spec(wire::compression::gzip, false, "C\nkeep\ndb1/x.log");
  auto cf = fx.open(spec, fx.live);
  auto gz = wire::compression::gzip;
  std::string other_gen = source_text(300);
  fx.put(*cf, "old", 0, 300, true, gz, &other_gen);
  for (uint64_t at = 0; at < 2000; at += 100) {
    fx.put(*cf, "g1", at, at + 100, true, gz);
    REQUIRE(!cf->sync());
  }
  CHECK(cf->journal_lines() <= 6);
  auto journal = fx.live.journal();
  REQUIRE(!journal.empty());
  CHECK(journal.size() < 600);
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  test::append_file(crashed->log_path(), cf->journal_file() + " M 99999 99"); // torn: no newline
  crashed->open_log();
  auto rec = fx.open(spec, *crashed);
  CHECK(rec->find(fx.key, "g1")->src_end == 2000);
  REQUIRE(rec->find(fx.key, "old") != nullptr);
  CHECK(rec->find(fx.key, "old")->src_end == 300);
  CHECK(fx.put(*rec, "old", 0, 300, true, gz, &other_gen).kind == decision::duplicate);
  fx.put(*rec, "g1", 2000, 2100, true, gz);
  REQUIRE(!rec->close());
  CHECK(gunzip(test::read_file(crashed->dst + "/db1/x.log.gz"), gz)
        == other_gen + slice(fx.src, 0, 2100));
}

TEST_CASE("rotated copies get a suffix and keep it after a restart",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto s1 = fx.spec(wire::compression::none, true, "R\nno\ngen1");
  std::string path1;
  {
    auto cf = fx.open(s1, fx.live);
    path1 = cf->path();
    fx.put(*cf, "gen1", 0, 100);
  }
  CHECK(path1.rfind("db1/x.log.", 0) == 0);
  CHECK(path1.size() == std::string{"db1/x.log"}.size() + 20);
  // Another generation opened in the same second gets a different name.
  auto s2 = fx.spec(wire::compression::none, true, "R\nno\ngen2");
  auto cf2 = fx.open(s2, fx.live);
  CHECK(cf2->path() != path1);
  // Compressed: the extension comes before the suffix, as in the original.
  fx.opts.mode = write_mode::keep;
  auto gz = fx.open(fx.spec(wire::compression::gzip, true, "R\nkeep\ngen1"), fx.live);
  CHECK(gz->path().rfind("db1/x.log.gz.", 0) == 0);
  fx.opts.mode = write_mode::plain;
  // The first generation's copy is found again by its bookkeeping.
  auto again = fx.open(s1, fx.live);
  CHECK(again->path() == path1);
  CHECK(again->find(fx.key, "gen1")->src_end == 100);
  CHECK(fx.put(*again, "gen1", 0, 100).kind == decision::duplicate);
}

TEST_CASE("rotated: a journal without its copy (a crash in between) names it after a restart",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto spec = fx.spec(wire::compression::none, true, "R\nno\ngen1");
  std::string path;
  {
    auto cf = fx.try_open(fx.live, spec, 1000000);
    REQUIRE(cf);
    path = (*cf)->path();
  }
  // The process died after the journal was written, before the copy was
  // created: no copy on disk.
  REQUIRE(::unlink((fx.live.dst + "/" + path).c_str()) == 0);
  // Restarted later: the journal's name is used, nothing else is created.
  auto again = fx.try_open(fx.live, spec, 2000000);
  REQUIRE(again);
  CHECK((*again)->path() == path);
  fx.put(**again, "gen1", 0, 100);
  int copies = 0;
  for (auto& e : fs::directory_iterator(fx.live.dst + "/db1")) {
    (void) e;
    ++copies;
  }
  CHECK(copies == 1);
  CHECK(fx.copy_bytes(**again, fx.live) == slice(fx.src, 0, 100));
}

namespace {

/// A sealed journal line, as copy_writer writes it.
std::string sealed(const std::string& body) {
  static constexpr char digits[] = "0123456789abcdef";
  auto sum = static_cast<uint32_t>(fnv1a64(body));
  std::string hex(8, '0');
  for (int i = 7; i >= 0; --i, sum >>= 4)
    hex[static_cast<size_t>(i)] = digits[sum & 0xf];
  return body + " #" + hex + "\n";
}

/// Rewrites a copy's journal (id `journal` in the log of `p`) to what a
/// SIGKILL inside the rotated naming loop leaves: only the header, naming
/// `path`, not yet claimed.
void leave_unclaimed_header(place& p, const std::string& journal, const std::string& spec_id,
                            const std::string& path) {
  auto body = "H 1 =no =none " + journal_escape(path) + " " + journal_escape(spec_id);
  REQUIRE(!p.log->replace(journal, sealed(body)));
}

} // namespace

// Found by tests/faults/harness.sh --mode rotated: the central was killed while
// a new generation's journal held a candidate name that another generation's
// copy already had; after the restart the new generation appended to that copy.
TEST_CASE("rotated: a crash while naming never appends to another generation's copy",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto s1 = fx.spec(wire::compression::none, true, "R\nno\ngen1");
  auto s2 = fx.spec(wire::compression::none, true, "R\nno\ngen2");
  std::string path1;
  {
    auto cf1 = fx.try_open(fx.live, s1, 1000000);
    REQUIRE(cf1);
    path1 = (*cf1)->path();
    fx.put(**cf1, "gen1", 0, 1000);
    REQUIRE(!(*cf1)->close());
  }
  std::string journal2;
  {
    auto cf2 = fx.try_open(fx.live, s2, 1000000);
    REQUIRE(cf2);
    CHECK((*cf2)->path() != path1);
    REQUIRE(::unlink((fx.live.dst + "/" + (*cf2)->path()).c_str()) == 0);
    journal2 = (*cf2)->journal_file();
  }
  leave_unclaimed_header(fx.live, journal2, "R\nno\ngen2", path1);
  auto again = fx.try_open(fx.live, s2, 1000000);
  REQUIRE(again);
  CHECK((*again)->path() != path1);
  fx.put(**again, "gen2", 0, 500);
  REQUIRE(!(*again)->close());
  CHECK(test::read_file(fx.live.dst + "/" + path1) == slice(fx.src, 0, 1000));
  CHECK(test::read_file(fx.live.dst + "/" + (*again)->path()) == slice(fx.src, 0, 500));
  // And the claim survives the next restart.
  auto third = fx.try_open(fx.live, s2, 3000000);
  REQUIRE(third);
  CHECK((*third)->path() == (*again)->path());
  CHECK(fx.put(**third, "gen2", 0, 500).kind == decision::duplicate);
}

TEST_CASE("rotated: a crash after creating the copy, before claiming it, keeps that copy",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto s1 = fx.spec(wire::compression::none, true, "R\nno\ngen1");
  std::string path1;
  std::string journal1;
  {
    auto cf1 = fx.try_open(fx.live, s1, 1000000);
    REQUIRE(cf1);
    path1 = (*cf1)->path();
    journal1 = (*cf1)->journal_file();
  }
  leave_unclaimed_header(fx.live, journal1, "R\nno\ngen1", path1); // the copy exists, empty
  auto again = fx.try_open(fx.live, s1, 2000000);
  REQUIRE(again);
  CHECK((*again)->path() == path1);
  fx.put(**again, "gen1", 0, 300);
  REQUIRE(!(*again)->close());
  int copies = 0;
  for (auto& e : fs::directory_iterator(fx.live.dst + "/db1")) {
    (void) e;
    ++copies;
  }
  CHECK(copies == 1);
  CHECK(test::read_file(fx.live.dst + "/" + path1) == slice(fx.src, 0, 300));
}

TEST_CASE("segments are bounded, a hole can be skipped",
          "[tailwriter][copy_writer]") {
  fixture fx;
  fx.opts.max_segments = 2;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "a", 0, 10);
  fx.put(*cf, "b", 0, 10);
  fx.put(*cf, "c", 0, 10);
  CHECK(cf->segments().size() == 2);
  CHECK(cf->find(fx.key, "a") == nullptr);
  REQUIRE(!cf->skip_to(fx.key, "c", 50));
  auto d = fx.put(*cf, "c", 50, 60);
  CHECK(d.kind == decision::append);
  CHECK(!d.new_segment);
  CHECK(fx.copy_bytes(*cf, fx.live)
        == slice(fx.src, 0, 10) + slice(fx.src, 0, 10) + slice(fx.src, 0, 10)
             + slice(fx.src, 50, 60));
}

TEST_CASE("journal field escaping round-trips any bytes", "[tailwriter][copy_writer]") {
  for (std::string s : {std::string{}, std::string{"plain-host.example"},
                        std::string{"sp ace%\n\x01\xff/="}, std::string("\0x", 2)}) {
    auto e = journal_escape(s);
    CHECK(e.find(' ') == std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
    auto back = journal_unescape(e);
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK(!journal_unescape("no-equals"));
  CHECK(!journal_unescape("=%4"));
  CHECK(!journal_unescape("=%zz"));
}

TEST_CASE("write-compressed parsing", "[tailwriter][copy_writer]") {
  CHECK(*parse_write_mode("") == write_mode::plain);
  CHECK(*parse_write_mode("no") == write_mode::plain);
  CHECK(*parse_write_mode("keep") == write_mode::keep);
  CHECK(*parse_write_mode("yes") == write_mode::recompress);
  CHECK(!parse_write_mode("maybe"));
}

// -- digests and the copy as the authority (docs/wire.md §6.1) ------------------

namespace {

constexpr uint64_t MiB = 1 << 20;

/// Feeds `text[from, to)` in fragments of `piece` bytes.
void put_range(const fixture& fx, copy_file& cf, const std::string& gen,
               const std::string& text, uint64_t from, uint64_t to,
               wire::compression comp = wire::compression::none,
               uint64_t piece = 300000) {
  for (uint64_t at = from; at < to; at += piece)
    fx.put(cf, gen, at, std::min(to, at + piece), true, comp, &text);
}

uint64_t xxh3_of(const std::string& s, uint64_t from, uint64_t to) {
  return wire::xxh3(slice(s, from, to));
}

/// Overwrites bytes of a file in place, as someone else would.
void poke(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset))
          == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

} // namespace

TEST_CASE("digests: complete blocks are journaled as written and recovered after a crash",
          "[tailwriter][copy_writer][digest]") {
  fixture fx;
  std::string big = source_text(3300000);
  auto cf = fx.open(fx.spec(), fx.live);
  // A tail -f start mid-file: the first block is clipped to the segment.
  put_range(fx, *cf, "g1", big, 500000, 2600000);
  const auto* seg = cf->find(fx.key, "g1");
  REQUIRE(seg != nullptr);
  REQUIRE(seg->blocks.size() == 2);
  CHECK(seg->blocks.at(MiB) == xxh3_of(big, 500000, MiB));
  CHECK(seg->blocks.at(2 * MiB) == xxh3_of(big, MiB, 2 * MiB));
  auto journal = fx.live.journal();
  CHECK_THAT(journal, Catch::Contains("D 0 1048576 " + wire::digest_hex(xxh3_of(big, 500000, MiB))));
  CHECK_THAT(journal, Catch::Contains("D 0 2097152 "));
  // digest() of a plain copy reads the copy.
  CHECK(cf->digest(*seg, 2 * MiB, 2600000).value() == xxh3_of(big, 2 * MiB, 2600000));
  CHECK(cf->digest(*seg, 700000, 700100).value() == xxh3_of(big, 700000, 700100));
  // SIGKILL: the journal's lines are in the page cache, and so on disk.
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  auto rec = fx.open(fx.spec(), *crashed);
  const auto* r = rec->find(fx.key, "g1");
  REQUIRE(r != nullptr);
  CHECK(r->src_end == 2600000);
  CHECK(r->blocks == seg->blocks);
  CHECK(rec->take_changed() == 0);
  // The block being written goes on from the copy's bytes.
  put_range(fx, *rec, "g1", big, 2600000, 3300000);
  CHECK(rec->find(fx.key, "g1")->blocks.at(3 * MiB) == xxh3_of(big, 2 * MiB, 3 * MiB));
}

TEST_CASE("digests: a journal without D lines (an older build) recovers and digests on",
          "[tailwriter][copy_writer][digest]") {
  fixture fx;
  std::string big = source_text(1300000);
  std::string id = "C\nno\ndb1/x.log";
  fs::create_directories(fx.live.dst + "/db1");
  test::write_file(fx.live.dst + "/db1/x.log", slice(big, 0, 600000));
  // Its journal file, taken into the log by the start's merge.
  test::write_file(fx.live.state + "/" + wire::digest_hex(fnv1a64(id)) + ".j",
                   sealed("H 1 =no =none =db1/x.log " + journal_escape(id)) + sealed("O")
                     + sealed("S =db1 2049 1234 =/var/log/pg/x.log =g1 0 0"));
  fx.live.migrate();
  auto cf = fx.open(fx.spec(), fx.live);
  const auto* seg = cf->find(fx.key, "g1");
  REQUIRE(seg != nullptr);
  CHECK(seg->src_end == 600000);
  CHECK(seg->blocks.empty());
  CHECK(fx.put(*cf, "g1", 0, 600000).kind == decision::duplicate);
  put_range(fx, *cf, "g1", big, 600000, 1300000);
  CHECK(cf->find(fx.key, "g1")->blocks.at(MiB) == xxh3_of(big, 0, MiB));
  CHECK(fx.copy_bytes(*cf, fx.live) == big);
}

TEST_CASE("digests: a compressed copy answers whole journaled blocks only, across reopens",
          "[tailwriter][copy_writer][digest]") {
  for (auto mode : {write_mode::keep, write_mode::recompress}) {
    INFO("write-compressed " << to_string(mode));
    fixture fx;
    fx.opts.mode = mode;
    fx.opts.buffer_bytes = 250000; // recompress: several members per block
    std::string big = source_text(3300000);
    auto spec = fx.spec(wire::compression::gzip, false,
                        std::string{"C\n"} + to_string(mode) + "\ndb1/x.log");
    auto gz = wire::compression::gzip;
    {
      auto cf = fx.open(spec, fx.live);
      put_range(fx, *cf, "g1", big, 0, 2600000, gz);
      REQUIRE(!cf->finish_member());
      REQUIRE(!cf->sync());
      const auto* seg = cf->find(fx.key, "g1");
      CHECK(cf->digest(*seg, 0, MiB).value() == xxh3_of(big, 0, MiB));
      CHECK(cf->digest(*seg, MiB, 2 * MiB).value() == xxh3_of(big, MiB, 2 * MiB));
      CHECK(cf->digest(*seg, 2 * MiB, 2600000).value() == xxh3_of(big, 2 * MiB, 2600000));
      auto part = cf->digest(*seg, 0, 1000);
      REQUIRE_FALSE(part);
      CHECK(part.error().code() == static_cast<uint8_t>(errc::unavailable));
      REQUIRE(!cf->close());
    }
    // A clean close wrote the partial block (P) and the size (C).
    auto journal = fx.live.journal();
    CHECK_THAT(journal, Catch::Contains("P 0 2600000 "
                                        + wire::digest_hex(xxh3_of(big, 2 * MiB, 2600000))));
    CHECK_THAT(journal, Catch::Contains("\nC "));
    // Reopened: the block being written is decompressed from a member
    // boundary and digested on.
    auto cf = fx.open(spec, fx.live);
    CHECK(cf->take_changed() == 0);
    const auto* seg = cf->find(fx.key, "g1");
    CHECK(cf->digest(*seg, 2 * MiB, 2600000).value() == xxh3_of(big, 2 * MiB, 2600000));
    put_range(fx, *cf, "g1", big, 2600000, 3300000, gz);
    CHECK(cf->find(fx.key, "g1")->blocks.at(3 * MiB) == xxh3_of(big, 2 * MiB, 3 * MiB));
    REQUIRE(!cf->close());
    CHECK(gunzip(test::read_file(fx.live.dst + "/db1/x.log.gz"), gz) == big);
  }
}

TEST_CASE("authority: a plain copy changed behind the writer's back is adopted and said once",
          "[tailwriter][copy_writer][authority]") {
  fixture fx;
  auto path = fx.live.dst + "/db1/x.log";
  {
    auto cf = fx.open(fx.spec(), fx.live);
    fx.put(*cf, "g1", 0, 3000);
    REQUIRE(!cf->close());
  }
  // Junk appended while the writer was down (after a clean stop).
  test::append_file(path, "0123456789");
  {
    auto cf = fx.open(fx.spec(), fx.live);
    CHECK(cf->take_changed() == 1);
    CHECK(cf->find(fx.key, "g1")->src_end == 3010);
    REQUIRE(!cf->close());
  }
  {
    // Adopted and closed again: not a change any more.
    auto cf = fx.open(fx.spec(), fx.live);
    CHECK(cf->take_changed() == 0);
    REQUIRE(!cf->close());
  }
  // Truncated while the writer was down.
  REQUIRE(::truncate(path.c_str(), 2000) == 0);
  auto cf = fx.open(fx.spec(), fx.live);
  CHECK(cf->take_changed() == 1);
  CHECK(cf->find(fx.key, "g1")->src_end == 2000);
  CHECK(cf->measure().value() == false);
  // ... and while it runs: measured when it answers.
  REQUIRE(::truncate(path.c_str(), 1500) == 0);
  CHECK(cf->measure().value() == true);
  CHECK(cf->find(fx.key, "g1")->src_end == 1500);
  CHECK(cf->size() == 1500);
  CHECK(cf->take_changed() == 1);
  CHECK(cf->measure().value() == false);
  CHECK(cf->take_changed() == 0);
  // The next fragment continues at what the copy holds.
  CHECK(fx.put(*cf, "g1", 2000, 2500).kind == decision::gap);
  fx.put(*cf, "g1", 1500, 2500);
  CHECK(fx.copy_bytes(*cf, fx.live) == slice(fx.src, 0, 2500));
}

TEST_CASE("authority: a crash is not a change, a block that no longer matches is",
          "[tailwriter][copy_writer][authority]") {
  fixture fx;
  std::string big = source_text(1500000);
  {
    // Closed cleanly, written again, then killed: the C line no longer holds.
    auto cf = fx.open(fx.spec(), fx.live);
    fx.put(*cf, "g1", 0, 100, true, wire::compression::none, &big);
    REQUIRE(!cf->close());
  }
  auto cf = fx.open(fx.spec(), fx.live);
  put_range(fx, *cf, "g1", big, 100, 1500000);
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  {
    auto rec = fx.open(fx.spec(), *crashed);
    CHECK(rec->take_changed() == 0);
    CHECK(rec->find(fx.key, "g1")->src_end == 1500000);
  }
  // A byte flipped inside the last journaled complete block.
  auto crashed2 = snapshot(fx.live, fx.tmp / "crash2");
  poke(crashed2->dst + "/db1/x.log", 777777, "#");
  auto rec = fx.open(fx.spec(), *crashed2);
  CHECK(rec->take_changed() == 1);
  std::string changed = slice(big, 0, MiB);
  changed[777777] = '#';
  CHECK(rec->find(fx.key, "g1")->blocks.at(MiB) == wire::xxh3(changed));
}

TEST_CASE("authority: a compressed copy truncated behind the writer's back reports its honest end",
          "[tailwriter][copy_writer][authority]") {
  fixture fx;
  fx.opts.mode = write_mode::keep;
  auto spec = fx.spec(wire::compression::gzip, false, "C\nkeep\ndb1/x.log");
  auto gz = wire::compression::gzip;
  auto path = fx.live.dst + "/db1/x.log.gz";
  {
    // Synced after each: each member end is journaled (M).
    auto cf = fx.open(spec, fx.live);
    for (uint64_t at = 0; at < 2100; at += 700) {
      fx.put(*cf, "g1", at, at + 700, true, gz);
      REQUIRE(!cf->sync());
    }
    REQUIRE(!cf->close());
  }
  // Down: cut inside the third member.
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(fs::file_size(path) - 5)) == 0);
  auto cf = fx.open(spec, fx.live);
  CHECK(cf->take_changed() == 1);
  CHECK(cf->find(fx.key, "g1")->src_end == 1400);
  fx.put(*cf, "g1", 1400, 2100, true, gz);
  REQUIRE(!cf->sync());
  uint64_t member_end = cf->size();
  fx.put(*cf, "g1", 2100, 2800, true, gz);
  REQUIRE(!cf->sync());
  // Running: cut inside the last member; the open copy is measured.
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(member_end + 3)) == 0);
  CHECK(cf->measure().value() == true);
  CHECK(cf->take_changed() == 1);
  CHECK(cf->find(fx.key, "g1")->src_end == 2100);
  CHECK(cf->size() == member_end);
  CHECK(fs::file_size(path) == member_end);
  CHECK(fx.put(*cf, "g1", 2800, 3500, true, gz).kind == decision::gap);
  fx.put(*cf, "g1", 2100, 3500, true, gz);
  REQUIRE(!cf->close());
  CHECK(gunzip(test::read_file(path), gz) == slice(fx.src, 0, 3500));
}

TEST_CASE("rewrites in place: first difference, overwrite and cut keep the digests true",
          "[tailwriter][copy_writer][digest]") {
  fixture fx;
  std::string big = source_text(2500000);
  auto cf = fx.open(fx.spec(), fx.live);
  put_range(fx, *cf, "g1", big, 0, 2500000);
  const auto* seg = cf->find(fx.key, "g1");
  auto path = fx.live.dst + "/db1/x.log";
  CHECK(cf->first_difference(*seg, MiB, slice(big, MiB, 2 * MiB)).value() == 2 * MiB);
  poke(path, 1500000, "#");
  CHECK(cf->first_difference(*seg, MiB, slice(big, MiB, 2 * MiB)).value() == 1500000);
  // Another byte written over it: the block is digested again, journaled.
  REQUIRE(!cf->overwrite(*seg, 1500000, "$"));
  std::string changed = big;
  changed[1500000] = '$';
  CHECK(cf->find(fx.key, "g1")->blocks.at(2 * MiB) == xxh3_of(changed, MiB, 2 * MiB));
  CHECK(cf->find(fx.key, "g1")->durable_end <= 1500000);
  CHECK(test::read_file(path) == changed);
  {
    // The later D line wins at recovery.
    auto crashed = snapshot(fx.live, fx.tmp / "crash");
    auto rec = fx.open(fx.spec(), *crashed);
    CHECK(rec->find(fx.key, "g1")->blocks.at(2 * MiB) == xxh3_of(changed, MiB, 2 * MiB));
  }
  // Cut back into the second block: its digest is gone, the copy ends there.
  REQUIRE(!cf->cut(1200000));
  seg = cf->find(fx.key, "g1");
  CHECK(seg->src_end == 1200000);
  CHECK(seg->blocks.count(2 * MiB) == 0);
  CHECK(cf->size() == 1200000);
  CHECK(fs::file_size(path) == 1200000);
  // Written again from the source: the block is the source's again.
  put_range(fx, *cf, "g1", big, 1200000, 2500000);
  CHECK(cf->find(fx.key, "g1")->blocks.at(2 * MiB) == xxh3_of(big, MiB, 2 * MiB));
  CHECK(test::read_file(path) == big);
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 2500000);
}

TEST_CASE("digests: a reopened copy digests its block being written again only when it is "
          "used, never for a question or a duplicate",
          "[tailwriter][copy_writer][digest]") {
  fixture fx;
  auto path = fx.live.dst + "/db1/x.log";
  {
    auto cf = fx.open(fx.spec(), fx.live);
    fx.put(*cf, "g1", 0, 3000);
    REQUIRE(!cf->close());
  }
  auto journal = fx.live.journal();
  CHECK_THAT(journal, Catch::Contains("P 0 3000 " + wire::digest_hex(xxh3_of(fx.src, 0, 3000))));
  {
    // Reopened (max-open-files closed it) for a question and a duplicate:
    // nothing is read back, the clean close's lines still hold.
    auto cf = fx.open(fx.spec(), fx.live);
    CHECK(cf->hasher_rebuilds() == 0);
    const auto* seg = cf->find(fx.key, "g1");
    REQUIRE(seg != nullptr);
    CHECK(cf->digest(*seg, 0, 3000).value() == xxh3_of(fx.src, 0, 3000)); // plain: read
    CHECK(fx.put(*cf, "g1", 1000, 3000).kind == decision::duplicate);
    REQUIRE(!cf->close());
    CHECK(cf->hasher_rebuilds() == 0);
    CHECK(fx.live.journal() == journal);
  }
  {
    // Reopened and appended to: rebuilt once, the next block's digests right.
    auto cf = fx.open(fx.spec(), fx.live);
    fx.put(*cf, "g1", 3000, 3500);
    CHECK(cf->hasher_rebuilds() == 1);
    fx.put(*cf, "g1", 3500, 4000);
    CHECK(cf->hasher_rebuilds() == 1);
    REQUIRE(!cf->close());
  }
  CHECK_THAT(fx.live.journal(),
             Catch::Contains("P 0 4000 " + wire::digest_hex(xxh3_of(fx.src, 0, 4000))));
  CHECK(test::read_file(path) == fx.src);
  {
    // A crash left no C line: the close after a reopen that wrote nothing
    // writes the partial block's line, digested from the copy then.
    std::string more = fx.src + source_text(1000);
    auto cf = fx.open(fx.spec(), fx.live);
    fx.put(*cf, "g1", 4000, 4800, true, wire::compression::none, &more);
    auto crashed = snapshot(fx.live, fx.tmp / "crash");
    auto rec = fx.open(fx.spec(), *crashed);
    CHECK(rec->hasher_rebuilds() == 0);
    REQUIRE(!rec->close());
    CHECK(rec->hasher_rebuilds() == 1);
    CHECK_THAT(crashed->journal(),
               Catch::Contains("P 0 4800 " + wire::digest_hex(xxh3_of(more, 0, 4800))));
  }
}

TEST_CASE("digests: a reopened compressed copy decompresses its block being written only for "
          "a question about it or the next append",
          "[tailwriter][copy_writer][digest]") {
  for (auto mode : {write_mode::keep, write_mode::recompress}) {
    INFO("write-compressed " << to_string(mode));
    fixture fx;
    fx.opts.mode = mode;
    auto gz = wire::compression::gzip;
    auto spec = fx.spec(gz, false, std::string{"C\n"} + to_string(mode) + "\ndb1/x.log");
    {
      auto cf = fx.open(spec, fx.live);
      fx.put(*cf, "g1", 0, 1000, true, gz);
      fx.put(*cf, "g1", 1000, 3000, true, gz);
      REQUIRE(!cf->close());
    }
    {
      auto cf = fx.open(spec, fx.live);
      CHECK(fx.put(*cf, "g1", 0, 2000, true, gz).kind == decision::duplicate);
      CHECK(cf->hasher_rebuilds() == 0);
      const auto* seg = cf->find(fx.key, "g1");
      REQUIRE(seg != nullptr);
      // A question for the block being written: it is decompressed now.
      CHECK(cf->digest(*seg, 0, 3000).value() == xxh3_of(fx.src, 0, 3000));
      CHECK(cf->hasher_rebuilds() == 1);
      REQUIRE(!cf->close());
    }
    {
      auto cf = fx.open(spec, fx.live);
      fx.put(*cf, "g1", 3000, 4000, true, gz);
      CHECK(cf->hasher_rebuilds() == 1);
      const auto* seg = cf->find(fx.key, "g1");
      CHECK(cf->digest(*seg, 0, 4000).value() == xxh3_of(fx.src, 0, 4000));
      CHECK(cf->hasher_rebuilds() == 1);
      REQUIRE(!cf->close());
    }
    CHECK_THAT(fx.live.journal(),
               Catch::Contains("P 0 4000 " + wire::digest_hex(xxh3_of(fx.src, 0, 4000))));
    CHECK(gunzip(test::read_file(fx.live.dst + "/db1/x.log.gz"), gz) == fx.src);
  }
}

TEST_CASE("a sync begun before a rewrite makes nothing durable",
          "[tailwriter][copy_writer]") {
  fixture fx;
  auto cf = fx.open(fx.spec(), fx.live);
  fx.put(*cf, "g1", 0, 1000);
  auto ticket = cf->begin_sync();
  REQUIRE(ticket);
  REQUIRE(!cf->cut(600));
  fx.put(*cf, "g1", 600, 1000);
  REQUIRE(!cf->end_sync(*ticket, caf::none));
  CHECK(cf->find(fx.key, "g1")->durable_end <= 600);
  CHECK(cf->needs_sync());
  REQUIRE(!cf->sync());
  CHECK(cf->find(fx.key, "g1")->durable_end == 1000);
}

TEST_CASE("digests: compaction keeps them for the remembered segments",
          "[tailwriter][copy_writer][digest]") {
  fixture fx;
  fx.opts.compact_after = 2;
  std::string big = source_text(2300000);
  auto cf = fx.open(fx.spec(), fx.live);
  put_range(fx, *cf, "a", big, 0, 1200000);
  put_range(fx, *cf, "b", big, 0, 2200000);
  fx.put(*cf, "c", 0, 100, true, wire::compression::none, &big);
  REQUIRE(!cf->sync()); // three S lines: compacted
  CHECK(cf->journal_lines() == 3);
  auto after = fx.live.journal();
  CHECK(test::count_of(after, "\nO") == 1); // a fresh journal
  CHECK(test::count_of(after, "\nS ") == 3);
  CHECK(test::count_of(after, "\nD ") == 3); // a: 1 MiB; b: 1 and 2 MiB
  CHECK(test::count_of(after, "\nP ") == 3); // a, b ended mid-block; c is there
  CHECK_THAT(after, Catch::Contains("P 0 1200000 " + wire::digest_hex(xxh3_of(big, MiB, 1200000))));
  auto crashed = snapshot(fx.live, fx.tmp / "crash");
  auto rec = fx.open(fx.spec(), *crashed);
  for (auto gen : {"a", "b"})
    CHECK(rec->find(fx.key, gen)->blocks == cf->find(fx.key, gen)->blocks);
  CHECK(rec->find(fx.key, "c")->blocks.at(100) == xxh3_of(big, 0, 100));
  CHECK(rec->find(fx.key, "b")->blocks.at(2 * MiB) == xxh3_of(big, MiB, 2 * MiB));
  CHECK(rec->find(fx.key, "a")->blocks.at(1200000) == xxh3_of(big, MiB, 1200000));
}

TEST_CASE("rotated copies opened in one second are named after that second, never a "
          "later one",
          "[tailwriter][copy_writer]") {
  fixture fx;
  std::time_t now = 1733350000; // a fixed second
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto s = fx.spec(wire::compression::none, true, "R\nno\ndb1/x.log\ngen" + std::to_string(i));
    auto cf = fx.try_open(fx.live, s, now);
    REQUIRE(cf);
    names.push_back((*cf)->path());
  }
  auto first = "db1/x.log" + rotated_suffix(now);
  CHECK(names[0] == first);
  CHECK(names[1] == first + "-1");
  CHECK(names[2] == first + "-2");
  // In name order they stay in the order they were opened, and before the
  // next second's copy.
  CHECK(names[0] < names[1]);
  CHECK(names[2] < "db1/x.log" + rotated_suffix(now + 1));
}

TEST_CASE("group commit: a new copy's first journal lines are written in one go, "
          "by its worker or at the latest when it closes",
          "[copy_writer][commit]") {
  fixture fx;
  auto s = fx.spec();
  s.defer_sync = true;
  auto cf = fx.open(s, fx.live);
  REQUIRE(cf->awaiting_commit());
  // Created, named, empty: H and O are held, nothing in the log yet.
  auto id = cf->journal_file();
  REQUIRE(!id.empty());
  CHECK(fx.live.journal(id).empty());
  CHECK(cf->creation_text().find("H 1 ") == 0);
  REQUIRE(!cf->skip_to(fx.key, "g1", 0));
  CHECK(fx.live.journal(id).empty());
  auto text = cf->creation_text();
  CHECK(text.find("\nS ") != std::string::npos);
  REQUIRE(!cf->write_held_journal());
  CHECK(fx.live.journal(id) == text);
  REQUIRE(!cf->write_held_journal()); // once
  CHECK(fx.live.journal(id) == text);
  cf->committed();
  fx.put(*cf, "g1", 0, 1000);
  REQUIRE(!cf->close());
  cf.reset();
  // Reopened from its journal: the bytes are its own.
  auto again = fx.open(fx.spec(), fx.live);
  CHECK(again->size() == 1000);
  REQUIRE(again->find(fx.key, "g1") != nullptr);
  CHECK(again->find(fx.key, "g1")->src_end == 1000);
  again.reset();

  // A copy closed before its worker wrote them: close() writes them.
  auto s2 = fx.spec(wire::compression::none, false, "C\nno\ndb1/y.log");
  s2.base_path = "db1/y.log";
  s2.defer_sync = true;
  auto other = fx.open(s2, fx.live);
  auto held = other->creation_text();
  auto name = other->journal_file();
  CHECK(fx.live.journal(name).empty());
  REQUIRE(!other->close());
  CHECK(fx.live.journal(name).compare(0, held.size(), held) == 0);
}
