// The tailwriter: its worker logic (worker_core: acks, duplicates, gaps,
// refusals, bombs, rotated copies, open-file bound, crash recovery) and the
// actors (handler + detached workers) with a recording router stand-in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/atoms.hpp"
#include "actors/dest_path.hpp"
#include "actors/tailwriter.hpp"
#include "actors/tailwriter_worker.hpp"
#include "actors/types.hpp"
#include "config/error.hpp"
#include "tests/support/actor_stats.hpp"
#include "tests/support/process.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"

using namespace cc;
using namespace cc::tw;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using cc::test::stats_of;

namespace {

std::string source_text(size_t bytes, int seed = 0) {
  std::string out;
  for (int i = 0; out.size() < bytes; ++i)
    out += "host" + std::to_string(seed) + " LOG: duration: " + std::to_string(i * 31 % 977)
           + " ms statement: select " + std::to_string(i) + "\n";
  out.resize(bytes);
  return out;
}

std::string slice(const std::string& s, uint64_t from, uint64_t to) {
  return s.substr(static_cast<size_t>(from), static_cast<size_t>(to - from));
}

/// One pub.logtail fragment as a sender builds it.
struct frag_spec {
  std::string host = "db1";
  std::string file = "/var/log/pg/pg.log";
  uint64_t dev = 2049;
  uint64_t ino = 77;
  std::string gen = "00000000000000a1";
  std::string op_mode;
  bool ack = true;
  wire::compression comp = wire::compression::none;
  bool use_blob = true;
  std::string route = "tailer-1";
};

wire::cc_message make_msg(const frag_spec& s, uint64_t fpos, const std::string& raw) {
  wire::logtail_body b;
  b.hdr.req = "pub.logtail";
  b.hdr.time = wire::now_seconds();
  b.hdr.hostname = s.host;
  b.filename = s.file;
  b.comp = s.comp == wire::compression::none ? "" : wire::to_string(s.comp);
  b.op_mode = s.op_mode;
  b.fpos = fpos;
  b.st_dev = s.dev;
  b.st_ino = s.ino;
  b.ack = s.ack;
  b.gen = s.gen;
  b.raw_size = raw.size();
  std::string payload = raw;
  if (s.comp != wire::compression::none)
    payload = *wire::compress(raw, s.comp, 6);
  wire::cc_message msg;
  msg.route = {wire::local_route_frame(s.route)};
  msg.type = "pub.logtail";
  if (s.use_blob) {
    msg.blob = cc::wire::blob::from_string(payload);
    b.hdr.blob_hash = wire::blob_hash_of(payload);
  } else {
    b.data = wire::base64_encode(payload);
  }
  msg.body = wire::make_body(b);
  return msg;
}

/// What the handler hands a worker.
fragment make_fragment(const frag_spec& s, uint64_t fpos, const std::string& raw,
                       const std::string& mask = "%(hostname)s/%(filename)s") {
  fragment f;
  f.msg = make_msg(s, fpos, raw);
  f.body = *wire::parse_logtail(f.msg.body);
  auto d = normalize_destination(expand_dstmask(mask, s.host, s.file), ".ccstate");
  if (d)
    f.dest_base = *d;
  else
    f.dest_error = d.error();
  return f;
}

wire::logtail_ack_body ack_of(const wire::cc_message& m) {
  REQUIRE(m.type == "logtail.ack");
  auto a = wire::parse_logtail_ack(m.body);
  REQUIRE(a);
  return *a;
}

struct worker_fixture {
  test::temp_dir tmp{"cc-tailwriter"};
  worker_options opts;
  counters_ptr counters = std::make_shared<writer_counters>();
  worker_core::outbox out;

  worker_fixture() {
    opts.dstdir = tmp / "dst";
    opts.state_dir = tmp / "dst/.ccstate";
    opts.hostname = "central";
    opts.who = "test.worker";
  }

  std::unique_ptr<worker_core> make() {
    auto w = std::make_unique<worker_core>(opts, counters);
    REQUIRE(!w->init());
    return w;
  }

  void send(worker_core& w, const frag_spec& s, uint64_t from, uint64_t to,
            const std::string& text) {
    w.handle(make_fragment(s, from, slice(text, from, to)), worker_core::clock::now(),
             out);
  }

  std::string copy(const std::string& rel) const {
    return test::read_file(opts.dstdir + "/" + rel);
  }

  int64_t counter(const char* name) const {
    return counters->snapshot().at(name);
  }

  /// The first fragment of a generation new to the writer is confirmed at
  /// once with the generation's durable start `at`; takes that ack.
  void take_start_ack(uint64_t at = 0) {
    REQUIRE(out.size() == 1);
    auto a = ack_of(out[0]);
    CHECK(a.status == "ok");
    CHECK(a.fpos == at);
    out.clear();
  }

  /// Off-thread syncing: writes text[0, 1000) of `s` into a new copy and
  /// starts its sync; returns the batch of that one copy, still to be run.
  sync_batch_ptr first_sync_in_flight(worker_core& w, const frag_spec& s,
                                      const std::string& text) {
    send(w, s, 0, 1000, text);
    take_start_ack(0);
    auto batch = w.start_sync(out);
    REQUIRE(batch->size() == 1);
    CHECK(out.empty()); // its sync is in flight
    return batch;
  }

  /// The acks in `out`, by gen, the last one wins; `out` is cleared.
  std::vector<wire::logtail_ack_body> take_acks() {
    std::vector<wire::logtail_ack_body> acks;
    for (auto& m : out)
      acks.push_back(ack_of(m));
    out.clear();
    return acks;
  }
};

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST_CASE("worker: acks carry the durable offset after a sync",
          "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(5000);
  fx.send(*w, s, 0, 1000, text);
  // The new generation's start is confirmed at once (its segment line is
  // durable), no byte of it yet.
  fx.take_start_ack(0);
  fx.send(*w, s, 1000, 2500, text);
  CHECK(fx.out.empty()); // nothing acknowledged before it is durable
  CHECK(w->needs_sync());
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 2500);
  CHECK(acks[0].status == "ok");
  CHECK(acks[0].gen == s.gen);
  CHECK(acks[0].filename == s.file);
  CHECK(acks[0].st_dev == s.dev);
  CHECK(acks[0].st_ino == s.ino);
  CHECK(acks[0].hdr.hostname == "central");
  CHECK(acks[0].hdr.req == "logtail.ack");
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2500));
  CHECK(fx.counter("fragments") == 2);
  CHECK(fx.counter("bytes_written") == 2500);
  CHECK(fx.counter("acks_sent") == 2); // the start, then 2500
  CHECK(fx.counter("fsyncs") >= 2);
  CHECK(fx.counter("open_files") == 1);
  // The ack goes back along the fragment's route.
  w->sync(fx.out);
  CHECK(fx.out.empty()); // no progress, no ack
  fx.send(*w, s, 2500, 3000, text);
  w->sync(fx.out);
  REQUIRE(fx.out.size() == 1);
  CHECK(fx.out[0].route == std::vector<std::string>{wire::local_route_frame("tailer-1")});
  CHECK(ack_of(fx.out[0]).fpos == 3000);
  // The copy directory holds copies only; bookkeeping is in .ccstate.
  CHECK(files_under(fx.opts.dstdir + "/db1") == std::vector<std::string>{"pg.log"});
}

TEST_CASE("worker: an off-thread sync acknowledges what it covered while writes go on",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(4000);
  auto batch = fx.first_sync_in_flight(*w, s, text);
  // Writing goes on while the syncer flushes; the bytes are in the copy.
  fx.send(*w, s, 1000, 2500, text);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2500));
  CHECK(w->start_sync(fx.out)->empty()); // one sync of a copy at a time
  run_sync_jobs(*batch);
  CHECK(!(*batch)[0].err);
  CHECK((*batch)[0].ticket.fd.get() == -1); // the duplicate is closed
  w->finish_sync(*batch, fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 1000); // what the sync covered, not what came after
  CHECK(w->needs_sync());
  batch = w->start_sync(fx.out);
  REQUIRE(batch->size() == 1);
  run_sync_jobs(*batch);
  w->finish_sync(*batch, fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 2500);
  CHECK(!w->needs_sync());
  CHECK(fx.counter("fsyncs") >= 2);
}

TEST_CASE("worker: a failed off-thread sync closes the copy and acknowledges nothing",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  auto batch = fx.first_sync_in_flight(*w, s, text);
  // The disk refused the flush (EIO): injected as the syncer reports it.
  (*batch)[0].ticket.fd = unique_fd{};
  (*batch)[0].err = make_error(errc::io, "fdatasync copy db1/pg.log: Input/output error");
  w->finish_sync(*batch, fx.out);
  CHECK(fx.out.empty());
  CHECK(w->open_copies() == 0);
  CHECK(fx.counter("open_files") == 0);
  // The sender resends after its timeout; the copy is recovered and whole.
  fx.send(*w, s, 0, 2000, text);
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().fpos == 2000);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2000));
}

TEST_CASE("worker: a sync coming back for a copy closed and opened again is ignored",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  fx.opts.close_idle = 0ms;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  auto batch = fx.first_sync_in_flight(*w, s, text);
  // Closed while its sync is in flight: closing syncs and answers in place.
  w->maintain(worker_core::clock::now(), fx.out);
  CHECK(w->open_copies() == 0);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 1000);
  // Opened again and written, not yet synced: the old batch must not
  // acknowledge the new bytes.
  fx.send(*w, s, 1000, 2000, text);
  CHECK(w->open_copies() == 1);
  run_sync_jobs(*batch);
  w->finish_sync(*batch, fx.out);
  for (auto& a : fx.take_acks())
    CHECK(a.fpos <= 1000);
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 2000);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2000));
}

TEST_CASE("worker: duplicates and overlaps are acknowledged, not rewritten",
          "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 1000, text);
  w->sync(fx.out);
  fx.take_acks();
  fx.send(*w, s, 0, 1000, text);   // a resend after an ack timeout
  fx.send(*w, s, 500, 1500, text); // overlapping
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 1500);
  CHECK(fx.counter("duplicates") == 1);
  CHECK(fx.counter("duplicate_bytes") == 1500);
  // A pure duplicate is answered even without progress.
  fx.send(*w, s, 200, 700, text);
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 1500);
  CHECK(acks[0].status == "ok");
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1500));
}

TEST_CASE("worker: a gap with ack writes nothing and asks for a rewind",
          "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 1000, text);
  fx.take_start_ack(0);
  fx.send(*w, s, 1200, 1500, text); // 1000..1200 was lost
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "gap");
  CHECK(acks[0].fpos == 1000);
  CHECK(fx.counter("gaps") == 1);
  CHECK(fx.counter("gap_bytes") == 200);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000));
  // The sender rewinds and resends; the copy is whole.
  fx.send(*w, s, 1000, 1500, text);
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "ok");
  CHECK(acks[0].fpos == 1500);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1500));
}

TEST_CASE("worker: senders without ack get no acks, gaps are written over",
          "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  s.ack = false;
  s.gen = ""; // the original sender
  s.use_blob = false;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 1000, text);
  fx.send(*w, s, 1200, 1500, text);
  fx.send(*w, s, 1200, 1500, text); // a duplicate is still skipped
  w->sync(fx.out);
  CHECK(fx.out.empty());
  CHECK(fx.counter("gaps") == 1);
  CHECK(fx.counter("acks_sent") == 0);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000) + slice(text, 1200, 1500));
}

TEST_CASE("worker: refused destinations are never created", "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  auto text = source_text(500);
  frag_spec s;
  s.host = "..";
  fx.send(*w, s, 0, 500, text);
  auto acks = fx.take_acks(); // refused acks are immediate
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "refused");
  CHECK(acks[0].fpos == 500);
  CHECK(fx.counter("refused_paths") == 1);
  CHECK(!fs::exists(fx.tmp / "x.log"));
  CHECK(!fs::exists(fx.tmp / "pg.log"));
  // A hostname aiming at the state directory.
  s.host = ".ccstate";
  fx.send(*w, s, 0, 500, text);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "refused");
  CHECK(!fs::exists(fx.opts.state_dir + "/pg.log"));
  // A symlink planted where the copy goes, to a file outside dstdir.
  test::write_file(fx.tmp / "victim", "precious");
  fs::create_directories(fx.opts.dstdir + "/evil");
  fs::create_symlink(fx.tmp / "victim", fx.opts.dstdir + "/evil/pg.log");
  s.host = "evil";
  fx.send(*w, s, 0, 500, text);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "refused");
  CHECK(test::read_file(fx.tmp / "victim") == "precious");
  // A symlinked host directory pointing outside.
  fs::create_directories(fx.tmp / "elsewhere");
  fs::create_directory_symlink(fx.tmp / "elsewhere", fx.opts.dstdir + "/evil2");
  s.host = "evil2";
  fx.send(*w, s, 0, 500, text);
  CHECK(fx.take_acks().at(0).status == "refused");
  CHECK(fs::is_empty(fx.tmp / "elsewhere"));
  CHECK(fx.counter("refused_paths") == 4);
  CHECK(fx.counter("open_files") == 0);
}

TEST_CASE("worker: a decompression bomb is refused and leaves a hole",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.max_fragment_bytes = 1 << 20;
  auto w = fx.make();
  frag_spec s;
  s.comp = wire::compression::gzip;
  auto text = source_text(2000);
  fx.send(*w, s, 0, 1000, text);
  fx.take_start_ack(0);
  std::string bomb(8 << 20, '\0');
  w->handle(make_fragment(s, 1000, bomb), worker_core::clock::now(), fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "refused");
  CHECK(acks[0].fpos == 1000 + bomb.size());
  CHECK(fx.counter("too_large") == 1);
  // Without raw_size the cap is found while inflating.
  auto f = make_fragment(s, 1000, bomb);
  f.body.raw_size = 0;
  w->handle(f, worker_core::clock::now(), fx.out);
  CHECK(fx.counter("too_large") == 2);
  fx.take_acks();
  // The next fragment after the refused range is not a gap.
  auto after = 1000 + bomb.size();
  w->handle(make_fragment(s, after, "after the bomb\n"), worker_core::clock::now(),
            fx.out);
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "ok");
  CHECK(acks[0].fpos == after + 15);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000) + "after the bomb\n");
  CHECK(fx.counter("gaps") == 0);
}

TEST_CASE("worker: corrupt payloads are counted as invalid", "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  s.comp = wire::compression::gzip;
  auto f = make_fragment(s, 0, "hello\n");
  f.msg.blob = cc::wire::blob::from_string("\x1f\x8b not gzip at all");
  w->handle(f, worker_core::clock::now(), fx.out);
  CHECK(fx.counter("invalid") == 1);
  CHECK(fx.take_acks().at(0).status == "refused");
  frag_spec b64;
  b64.use_blob = false;
  auto g = make_fragment(b64, 0, "hello\n");
  g.body.data = "!!!not base64!!!";
  w->handle(g, worker_core::clock::now(), fx.out);
  CHECK(fx.counter("invalid") == 2);
}

TEST_CASE("worker: rotated generations get their own copies",
          "[tailwriter][worker]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec g1;
  g1.op_mode = "rotated";
  g1.file = "/var/log/pping/pping-stats.log";
  frag_spec g2 = g1;
  g2.ino = 78;
  g2.gen = "00000000000000b2";
  auto t1 = source_text(800, 1);
  auto t2 = source_text(600, 2);
  fx.send(*w, g1, 0, 800, t1);
  fx.send(*w, g2, 0, 600, t2);
  fx.send(*w, g1, 0, 800, t1); // a late resend of the old generation
  w->sync(fx.out);
  auto names = files_under(fx.opts.dstdir + "/db1");
  REQUIRE(names.size() == 2);
  std::map<std::string, uint64_t> acked;
  for (auto& a : fx.take_acks())
    acked[a.gen] = a.fpos;
  CHECK(acked[g1.gen] == 800);
  CHECK(acked[g2.gen] == 600);
  CHECK(fx.counter("duplicates") == 1);
  std::vector<std::string> contents{fx.copy("db1/" + names[0]), fx.copy("db1/" + names[1])};
  std::sort(contents.begin(), contents.end());
  std::vector<std::string> expected{t1, t2};
  std::sort(expected.begin(), expected.end());
  CHECK(contents == expected);
  for (auto& n : names)
    CHECK(n.rfind("pping-stats.log.", 0) == 0);
  // After a restart the generation continues in the same copy.
  w->close_all(fx.out);
  w.reset();
  auto w2 = fx.make();
  auto more = t1 + "another line\n";
  fx.send(*w2, g1, 0, more.size(), more);
  w2->sync(fx.out);
  CHECK(files_under(fx.opts.dstdir + "/db1") == names);
  CHECK((fx.copy("db1/" + names[0]) == more || fx.copy("db1/" + names[1]) == more));
}

TEST_CASE("worker: never more than max_open_copies open", "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.max_open_copies = 2;
  fx.opts.copy.mode = write_mode::recompress;
  auto w = fx.make();
  std::vector<frag_spec> files(5);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/logs/f" + std::to_string(i) + ".log";
    files[i].ino = 100 + i;
    texts.push_back(source_text(3000, static_cast<int>(i)));
  }
  std::map<std::string, uint64_t> acked;
  for (uint64_t at = 0; at < 3000; at += 500) {
    for (size_t i = 0; i < files.size(); ++i) {
      fx.send(*w, files[i], at, at + 500, texts[i]);
      CHECK(w->open_copies() <= 2);
      CHECK(fx.counter("open_files") <= 2);
    }
    for (auto& a : fx.take_acks())
      acked[a.filename] = std::max(acked[a.filename], a.fpos);
  }
  // 5 copies in turn through 2 slots: every open past the first two closed one.
  CHECK(fx.counter("open_files_evicted") >= 3);
  w->close_all(fx.out);
  for (auto& a : fx.take_acks())
    acked[a.filename] = std::max(acked[a.filename], a.fpos);
  CHECK(fx.counter("open_files") == 0);
  for (size_t i = 0; i < files.size(); ++i) {
    CHECK(acked[files[i].file] == 3000);
    auto bytes = fx.copy("db1/f" + std::to_string(i) + ".log.gz");
    CHECK(*wire::decompress(bytes, wire::compression::gzip, 1 << 20) == texts[i]);
  }
}

TEST_CASE("worker: maintenance finishes idle members and closes idle copies",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.copy.mode = write_mode::recompress;
  fx.opts.copy.compression = wire::compression::bzip2;
  fx.opts.flush_idle = 0ms;
  fx.opts.close_idle = 1h;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(4000);
  fx.send(*w, s, 0, 4000, text);
  fx.take_start_ack(0);
  w->sync(fx.out);
  CHECK(fx.take_acks().empty()); // the member is still open: nothing durable
  w->maintain(worker_core::clock::now(), fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 4000);
  CHECK(w->open_copies() == 1);
  CHECK(*wire::decompress(fx.copy("db1/pg.log.bz2"), wire::compression::bzip2, 1 << 20)
        == text);
  fx.opts.close_idle = 0ms;
  auto w2 = fx.make();
  fx.send(*w2, s, 4000, 4000, text); // opens the copy again (nothing new)
  CHECK(w2->open_copies() == 1);
  w2->maintain(worker_core::clock::now(), fx.out);
  CHECK(w2->open_copies() == 0);
}

TEST_CASE("worker: members of ack senders end soon after the stream pauses",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.copy.mode = write_mode::recompress;
  fx.opts.ack_flush_idle = 250ms;
  fx.opts.ack_member_age = 2s;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(4000);
  auto t0 = worker_core::clock::now();
  w->handle(make_fragment(s, 0, slice(text, 0, 1000)), t0, fx.out);
  fx.take_start_ack(0);
  CHECK(w->has_open_members());
  w->flush_members(t0 + 100ms, fx.out); // still streaming: nothing to do
  CHECK(w->has_open_members());
  CHECK(fx.take_acks().empty());
  w->flush_members(worker_core::clock::now() + 300ms, fx.out); // paused
  CHECK(!w->has_open_members());
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].fpos == 1000);
  // A sender without acks keeps its member open until flush_idle.
  frag_spec quiet;
  quiet.ack = false;
  quiet.file = "/var/log/quiet.log";
  auto t1 = worker_core::clock::now();
  w->handle(make_fragment(quiet, 0, slice(text, 0, 500)), t1, fx.out);
  w->flush_members(t1 + 300ms, fx.out);
  CHECK(w->has_open_members());
  w->flush_members(t1 + 3100ms, fx.out);
  CHECK(!w->has_open_members());
  CHECK(fx.take_acks().empty());
  CHECK(*wire::decompress(fx.copy("db1/quiet.log.gz"), wire::compression::gzip, 1 << 20)
        == slice(text, 0, 500));
}

TEST_CASE("worker: recovery after a crash, then resends, ends byte-identical",
          "[tailwriter][worker]") {
  for (auto mode : {write_mode::plain, write_mode::keep, write_mode::recompress}) {
    INFO("write-compressed " << to_string(mode));
    worker_fixture fx;
    fx.opts.copy.mode = mode;
    fx.opts.copy.buffer_bytes = 1500;
    auto w = fx.make();
    frag_spec s;
    s.comp = mode == write_mode::plain ? wire::compression::none
                                       : wire::compression::gzip;
    auto text = source_text(10000);
    uint64_t durable = 0;
    for (uint64_t at = 0; at < 6000; at += 1000) {
      fx.send(*w, s, at, at + 1000, text);
      if (at == 3000) {
        w->sync(fx.out);
        for (auto& a : fx.take_acks())
          durable = a.fpos;
      }
    }
    CHECK(durable >= 3000);
    // SIGKILL now: what is on disk is what the next process finds.
    test::temp_dir crash{"cc-crash"};
    fs::copy(fx.opts.dstdir, crash / "dst", fs::copy_options::recursive);
    auto copy_name = mode == write_mode::plain ? "db1/pg.log" : "db1/pg.log.gz";
    // A torn write past the last member end (compressed copies are truncated).
    if (mode != write_mode::plain)
      test::append_file(crash / "dst/" + copy_name, "\x1f\x8b\x08 torn");
    worker_fixture after;
    after.opts = fx.opts;
    after.opts.dstdir = crash / "dst";
    after.opts.state_dir = crash / "dst/.ccstate";
    auto w2 = after.make();
    // The tailer resends from its last acknowledged offset.
    for (uint64_t at = durable; at < 10000; at += 700)
      after.send(*w2, s, at, std::min<uint64_t>(at + 700, 10000), text);
    w2->close_all(after.out);
    uint64_t last = 0;
    for (auto& a : after.take_acks())
      last = std::max(last, a.fpos);
    CHECK(last == 10000);
    auto bytes = test::read_file(after.opts.dstdir + "/" + copy_name);
    if (mode == write_mode::plain)
      CHECK(bytes == text);
    else
      CHECK(*wire::decompress(bytes, wire::compression::gzip, 1 << 20) == text);
  }
}

// -- the actors ------------------------------------------------------------------

namespace {

/// The router stand-in: records every (reply_atom, msg) it gets.
struct recorded_replies {
  std::mutex mtx;
  std::vector<wire::cc_message> msgs;

  std::map<std::string, uint64_t> max_ack_by_file() {
    std::lock_guard<std::mutex> guard{mtx};
    std::map<std::string, uint64_t> out;
    for (auto& m : msgs) {
      auto a = wire::parse_logtail_ack(m.body);
      if (a && a->status == "ok")
        out[a->filename] = std::max(out[a->filename], a->fpos);
    }
    return out;
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return msgs.size();
  }
};

caf::behavior recording_router(caf::event_based_actor*,
                               std::shared_ptr<recorded_replies> rec) {
  return {
    [rec](reply_atom, const wire::cc_message& msg) {
      std::lock_guard<std::mutex> guard{rec->mtx};
      rec->msgs.push_back(msg);
    },
  };
}

struct actor_env {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<recorded_replies> rec = std::make_shared<recorded_replies>();
  caf::actor router;
  test::temp_dir tmp{"cc-tailwriter-actor"};
  tailwriter_config twc;

  static caf::actor_system_config& prepared(caf::actor_system_config& c) {
    register_types(c);
    return c;
  }

  actor_env() : sys(prepared(cfg)) {
    router = sys.spawn(recording_router, rec);
    twc.dstdir = tmp / "central";
    twc.dstmask = "%(hostname)s/%(filename)s";
    twc.worker_threads = 3;
    twc.sync_interval = 5ms;
    twc.hostname = "central";
  }

  ~actor_env() {
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }

  caf::actor spawn() {
    auto tw = spawn_tailwriter_actor(sys, twc, router);
    REQUIRE(tw);
    return *tw;
  }
};

/// Sends `msg` as a request and returns the answer (ok or an error).
caf::error dispatch_and_wait(caf::scoped_actor& self, const caf::actor& tw,
                             wire::cc_message msg) {
  caf::error result = make_error(errc::unavailable, "no answer");
  self->request(tw, caf::infinite, dispatch_atom::value, std::move(msg))
    .receive([&](caf::ok_atom) { result = caf::none; },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

TEST_CASE("tailwriter actor: interleaved files, acks to the router, counters",
          "[tailwriter][actor]") {
  actor_env env;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  std::vector<frag_spec> files(5);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/pg_log/postgresql-" + std::to_string(i) + ".log";
    files[i].ino = 500 + i;
    files[i].comp = i % 2 ? wire::compression::gzip : wire::compression::none;
    files[i].use_blob = i != 4;
    texts.push_back(source_text(20000, static_cast<int>(i)));
  }
  int sent = 0;
  for (uint64_t at = 0; at < 20000; at += 2000)
    for (size_t i = 0; i < files.size(); ++i, ++sent)
      REQUIRE(!dispatch_and_wait(self, tw, make_msg(files[i], at,
                                                    slice(texts[i], at, at + 2000))));
  bool all_acked = test::wait_until(
    [&] {
      auto acks = env.rec->max_ack_by_file();
      for (auto& f : files)
        if (acks[f.file] != 20000)
          return false;
      return true;
    },
    20s);
  CHECK(all_acked);
  for (size_t i = 0; i < files.size(); ++i)
    CHECK(test::read_file(env.twc.dstdir + "/db1/postgresql-" + std::to_string(i) + ".log")
          == texts[i]);
  auto c = stats_of(self, tw);
  CHECK(c["fragments"] == sent);
  CHECK(c["bytes_written"] == 100000);
  CHECK(c["acks_sent"] >= 5);
  CHECK(c["fsyncs"] >= 5);
  CHECK(c["invalid"] == 0);
  // Every reply travelled with the fragment's route.
  {
    std::lock_guard<std::mutex> guard{env.rec->mtx};
    for (auto& m : env.rec->msgs)
      CHECK(m.route == std::vector<std::string>{wire::local_route_frame("tailer-1")});
  }
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: invalid messages are dropped and counted",
          "[tailwriter][actor]") {
  actor_env env;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  auto hijacked = make_msg(s, 0, "x\n");
  hijacked.type = "pub.logtail.other"; // req differs from the type frame
  CHECK(dispatch_and_wait(self, tw, hijacked));
  // A blob whose body has no blob_hash key at all.
  auto no_hash = make_msg(s, 0, "x\n");
  std::string stripped = no_hash.body;
  auto pos = stripped.find("\"blob_hash\"");
  REQUIRE(pos != std::string::npos);
  auto end = stripped.find(',', pos);
  stripped.erase(pos, end - pos + 1);
  no_hash.body = stripped;
  CHECK(dispatch_and_wait(self, tw, no_hash));
  // A blob that does not match its hash.
  auto wrong = make_msg(s, 0, "x\n");
  wrong.blob = cc::wire::blob::from_string("y\n");
  CHECK(dispatch_and_wait(self, tw, wrong));
  auto garbage = make_msg(s, 0, "x\n");
  garbage.body = "{not json";
  CHECK(dispatch_and_wait(self, tw, garbage));
  auto c = stats_of(self, tw);
  CHECK(c["invalid"] == 4);
  CHECK(c["fragments"] == 0);
  CHECK(!fs::exists(env.twc.dstdir + "/db1/pg.log"));
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: many small requests, one at a time, all "
          "answered and written", "[tailwriter][actor]") {
  actor_env env;
  env.twc.max_queued_bytes = 1; // each worker's share: the 1 MiB minimum
  env.twc.worker_threads = 2;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  auto text = source_text(50000);
  // Many requests in flight at once; all are answered.
  int answered = 0;
  for (uint64_t at = 0; at < 50000; at += 1000)
    self->request(tw, caf::infinite, dispatch_atom::value,
                  make_msg(s, at, slice(text, at, at + 1000)))
      .receive([&](caf::ok_atom) { ++answered; }, [&](caf::error&) {});
  CHECK(answered == 50);
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[s.file] == 50000; },
                         20s));
  CHECK(test::read_file(env.twc.dstdir + "/db1/pg.log") == text);
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: a worker's full queue holds the answers until it "
          "caught up, and loses nothing", "[tailwriter][actor]") {
  actor_env env;
  env.twc.max_queued_bytes = 1;  // the worker's share: the 1 MiB minimum
  env.twc.worker_threads = 1;
  env.twc.mode = write_mode::recompress;  // gzip: a slow worker
  env.twc.compression_level = 9;
  auto tw = env.spawn();
  frag_spec s;
  const uint64_t piece = 700 * 1024;
  const int n = 8;
  auto text = source_text(piece * n);
  // All n requests in flight at once (as the router sends them): past the
  // second, answers wait until the worker is done with earlier fragments.
  auto answered = std::make_shared<std::atomic<int>>(0);
  auto client = env.sys.spawn([=](caf::event_based_actor* self) {
    for (int i = 0; i < n; ++i)
      self->request(tw, caf::infinite, dispatch_atom::value,
                    make_msg(s, i * piece, slice(text, i * piece, (i + 1) * piece)))
        .then([answered](caf::ok_atom) { ++*answered; });
  });
  CHECK(test::wait_until([&] { return answered->load() == n; }, 30s));
  CHECK(test::wait_until(
    [&] { return env.rec->max_ack_by_file()[s.file] == piece * n; }, 30s));
  caf::scoped_actor self{env.sys};
  auto c = stats_of(self, tw);
  CHECK(c["backpressure_waits"] >= 1);
  CHECK(c["bytes_written"] > 0);
  self->monitor(tw);
  self->send_exit(tw, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(30s) >> [] { FAIL("the tailwriter did not stop"); });
  auto copy = wire::decompress(test::read_file(env.twc.dstdir + "/db1/pg.log.gz"),
                               wire::compression::gzip, 64 << 20);
  REQUIRE(copy);
  CHECK(*copy == text);
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: shutdown finishes members, syncs and acks",
          "[tailwriter][actor]") {
  actor_env env;
  env.twc.mode = write_mode::recompress;
  env.twc.buffer_bytes = 1 << 20; // members stay open until shutdown
  env.twc.maint_period = 1h;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  auto text = source_text(30000);
  for (uint64_t at = 0; at < 30000; at += 3000)
    REQUIRE(!dispatch_and_wait(self, tw, make_msg(s, at, slice(text, at, at + 3000))));
  std::this_thread::sleep_for(50ms);
  CHECK(env.rec->max_ack_by_file()[s.file] == 0); // nothing durable yet
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[s.file] == 30000; },
                         20s));
  auto bytes = test::read_file(env.twc.dstdir + "/db1/pg.log.gz");
  auto plain = wire::decompress(bytes, wire::compression::gzip, 1 << 20);
  REQUIRE(plain);
  CHECK(*plain == text);
}

TEST_CASE("tailwriter config from a section", "[tailwriter][actor]") {
  config::section sec;
  sec.name = "h:tailwriter";
  sec.kind = "tailwriter";
  sec.values = {{"dstdir", "/tmp/cc/central"},
                {"host-subdirs", "yes"},
                {"write-compressed", "yes"},
                {"compression", "bzip2"},
                {"compression-level", "3"},
                {"buffer-bytes", "256K"},
                {"maint-period", "1.5"},
                {"close-idle", "10"},
                {"worker-threads", "4"},
                {"max-fragment-bytes", "8M"},
                {"sync-interval", "0.05"},
                {"max-open-files", "64"}};
  auto c = tailwriter_config_from(sec, "central");
  REQUIRE(c);
  CHECK(c->dstdir == "/tmp/cc/central");
  CHECK(c->dstmask == "%(hostname)s/%(filename)s");
  CHECK(c->mode == write_mode::recompress);
  CHECK(c->compression == wire::compression::bzip2);
  CHECK(c->compression_level == 3);
  CHECK(c->buffer_bytes == 256 * 1024);
  CHECK(c->maint_period == 1500ms);
  CHECK(c->close_idle == 10s);
  CHECK(c->worker_threads == 4);
  CHECK(c->max_fragment_bytes == 8u << 20);
  CHECK(c->sync_interval == 50ms);
  CHECK(c->max_open_files == 64);
  CHECK(c->hostname == "central");
  sec.values["dstmask"] = "%(host)s/x";
  CHECK(!tailwriter_config_from(sec, "central"));
  sec.values.erase("dstmask");
  sec.values["host-subdirs"] = "no";
  CHECK(tailwriter_config_from(sec, "central")->dstmask == "%(hostname)s--%(filename)s");
}

TEST_CASE("tailwriter actor: max-source-keys-per-host refuses a host's extra sources",
          "[tailwriter][actor][limits]") {
  actor_env env;
  env.twc.max_source_keys_per_host = 2;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  auto spec = [](std::string host, std::string file, uint64_t ino) {
    frag_spec s;
    s.host = std::move(host);
    s.file = std::move(file);
    s.ino = ino;
    return s;
  };
  auto a = spec("db1", "/var/log/pg/a.log", 1);
  auto b = spec("db1", "/var/log/pg/b.log", 2);
  auto c = spec("db1", "/var/log/pg/c.log", 3);
  auto other = spec("db2", "/var/log/pg/c.log", 3);
  CHECK(!dispatch_and_wait(self, tw, make_msg(a, 0, "a1\n")));
  CHECK(!dispatch_and_wait(self, tw, make_msg(b, 0, "b1\n")));
  // A third source of db1 is refused and written nowhere ...
  CHECK(dispatch_and_wait(self, tw, make_msg(c, 0, "c1\n")));
  // ... while the known ones and another host go on.
  CHECK(!dispatch_and_wait(self, tw, make_msg(a, 3, "a2\n")));
  CHECK(!dispatch_and_wait(self, tw, make_msg(other, 0, "o1\n")));
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[a.file] == 6; }, 20s));
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[other.file] == 3; }, 20s));
  auto counters = stats_of(self, tw);
  CHECK(counters["too_many_sources"] == 1);
  CHECK(test::read_file(env.twc.dstdir + "/db1/a.log") == "a1\na2\n");
  CHECK(test::read_file(env.twc.dstdir + "/db2/c.log") == "o1\n");
  CHECK(!fs::exists(env.twc.dstdir + "/db1/c.log"));
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}
