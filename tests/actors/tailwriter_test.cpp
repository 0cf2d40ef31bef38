// The tailwriter: its worker logic (worker_core: acks, duplicates, gaps,
// refusals, bombs, rotated copies, open-file bound, crash recovery) and the
// actors (handler + detached workers) with a recording router stand-in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <csignal>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/direct_lanes.hpp"
#include "actors/core/types.hpp"
#include "actors/write/commit_log.hpp"
#include "actors/write/copy_journal.hpp"
#include "actors/write/copy_index.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/journal_log.hpp"
#include "actors/write/tailwriter.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/hash.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"
#include "base/room_meter.hpp"
#include "base/sync_thread.hpp"
#include "routes/route_table.hpp"
#include "tests/support/actor_stats.hpp"
#include "tests/support/process.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"

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
  std::string source; // the sending server's source-id ("": none)
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
  b.source = s.source;
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
  CHECK(!(*batch)[0].ticket.fd); // the ticket let go of the descriptor
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

namespace {

/// How many of the pages of `path`'s bytes [from, to) are in the page
/// cache (mincore of a mapping that touches none of them).
size_t cached_pages(const std::string& path, size_t from, size_t to) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* map = ::mmap(nullptr, to, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  std::vector<unsigned char> in((to + page - 1) / page);
  int rc = ::mincore(map, to, in.data());
  ::munmap(map, to);
  REQUIRE(rc == 0);
  size_t n = 0;
  for (size_t i = from / page; i < in.size(); ++i)
    n += in[i] & 1;
  return n;
}

} // namespace

TEST_CASE("worker: the bytes a sync made durable leave the page cache, but for the copy's "
          "last page, those written after it began stay until the next, and with "
          "drop-synced-pages off all stay",
          "[tailwriter][worker][cache]") {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (bool drop : {true, false}) {
    CAPTURE(drop);
    worker_fixture fx;
    fx.opts.sync_off_thread = true;
    fx.opts.copy.drop_synced_pages = drop;
    auto w = fx.make();
    frag_spec s;
    auto text = source_text(16 * page + 100);
    auto path = fx.opts.dstdir + "/db1/pg.log";
    // 8 pages and a bit, then its sync begins; 8 more pages while it runs.
    fx.send(*w, s, 0, 8 * page + 100, text);
    fx.take_start_ack(0);
    auto batch = w->start_sync(fx.out);
    REQUIRE(batch->size() == 1);
    fx.send(*w, s, 8 * page + 100, 16 * page + 100, text);
    REQUIRE(cached_pages(path, 0, 16 * page + 100) == 17);
    run_sync_jobs(*batch);
    REQUIRE(!(*batch)[0].err);
    w->finish_sync(*batch, fx.out);
    CHECK(fx.take_acks().at(0).fpos == 8 * page + 100);
    // The kernel drops whole pages: the 9th, half of it synced, stays.
    CHECK(cached_pages(path, 0, 8 * page) == (drop ? 0u : 8u));
    CHECK(cached_pages(path, 8 * page, 16 * page + 100) == 9);
    // The next sync takes the rest, that half page's page included.
    batch = w->start_sync(fx.out);
    REQUIRE(batch->size() == 1);
    run_sync_jobs(*batch);
    w->finish_sync(*batch, fx.out);
    CHECK(fx.take_acks().at(0).fpos == 16 * page + 100);
    // All but the page the next append goes into (read back from the disk
    // otherwise, before that append could be written).
    CHECK(cached_pages(path, 0, 16 * page) == (drop ? 0u : 16u));
    CHECK(cached_pages(path, 16 * page, 16 * page + 100) == 1);
    // What was dropped is read back from the disk: the copy is whole.
    CHECK(fx.copy("db1/pg.log") == text);
  }
}

TEST_CASE("worker: a sync round of syncfs-batch copies or more is made durable by one sync of their file system, a smaller one by an fdatasync each",
          "[tailwriter][worker][syncfs]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  fx.opts.syncfs_batch = 4;
  auto w = fx.make();
  REQUIRE(w->fs_sync_plan());
  auto text = source_text(3000);
  auto spec = [](int i) {
    frag_spec s;
    s.file = "/var/log/pg/pg" + std::to_string(i) + ".log";
    s.ino = 100 + static_cast<uint64_t>(i);
    return s;
  };
  for (int i = 0; i < 5; ++i) {
    fx.send(*w, spec(i), 0, 1000, text);
    fx.take_start_ack(0);
  }
  auto fsyncs = fx.counter("fsyncs");
  auto batch = w->start_sync(fx.out);
  REQUIRE(batch->size() == 5);
  // Each ticket names its copy's file system, as measured before the
  // write: the sync thread asks no fstat of it.
  for (const auto& job : *batch) {
    REQUIRE(job.ticket.dev);
    CHECK(*job.ticket.dev == static_cast<uint64_t>(w->fs_sync_plan()->dev));
  }
  run_sync_jobs(*batch, w->fs_sync_plan().get());
  for (const auto& job : *batch) {
    CHECK(job.by_syncfs);
    CHECK(!job.err);
    CHECK(!job.ticket.fd); // let go of, as after an fdatasync
  }
  w->finish_sync(*batch, fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 5);
  for (const auto& a : acks)
    CHECK(a.fpos == 1000); // durable, so acknowledged
  CHECK(fx.counter("syncfs_rounds") == 1);
  CHECK(fx.counter("syncfs_copies") == 5);
  CHECK(fx.counter("fsyncs") == fsyncs); // no fdatasync of a copy

  // Three copies written again: fewer than syncfs-batch, one fdatasync each.
  for (int i = 0; i < 3; ++i)
    fx.send(*w, spec(i), 1000, 2000, text);
  batch = w->start_sync(fx.out);
  REQUIRE(batch->size() == 3);
  run_sync_jobs(*batch, w->fs_sync_plan().get());
  for (const auto& job : *batch)
    CHECK(!job.by_syncfs);
  w->finish_sync(*batch, fx.out);
  acks = fx.take_acks();
  REQUIRE(acks.size() == 3);
  for (const auto& a : acks)
    CHECK(a.fpos == 2000);
  CHECK(fx.counter("syncfs_rounds") == 1);
  CHECK(fx.counter("fsyncs") == fsyncs + 3);
  for (int i = 0; i < 5; ++i)
    CHECK(fx.copy("db1/pg" + std::to_string(i) + ".log") == slice(text, 0, i < 3 ? 2000 : 1000));
}

TEST_CASE("run_sync_jobs: a failed sync of the file system falls back to an fdatasync per copy, and a copy on another file system gets its own",
          "[tailwriter][worker][syncfs]") {
  test::temp_dir tmp{"cc-syncfs"};
  auto job_for = [](const std::string& path) {
    sync_job job;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "x\n", 2) == 2);
    job.ticket.fd = std::make_shared<unique_fd>(fd);
    job.ticket.path = path;
    return job;
  };
  struct stat st {};
  REQUIRE(::stat(tmp.path().c_str(), &st) == 0);
  // A copy on another file system than tmp's, if /dev/shm is one ("" when
  // not); removed at the end of the test case.
  struct stat shm {};
  std::string elsewhere;
  if (::stat("/dev/shm", &shm) == 0 && shm.st_dev != st.st_dev)
    elsewhere = "/dev/shm/cc-syncfs-" + std::to_string(::getpid());
  struct unlink_at_end {
    const std::string& path;
    ~unlink_at_end() {
      if (!path.empty())
        ::unlink(path.c_str());
    }
  } cleanup{elsewhere};
  auto not_checkable = [&] {
    if (elsewhere.empty())
      WARN("no /dev/shm on another file system than " << tmp.path() << ": not checked");
    return elsewhere.empty();
  };
  auto plan_on_tmp = [&] {
    fs_sync plan;
    plan.fd = unique_fd{::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    plan.dev = st.st_dev;
    plan.min_copies = 2;
    return plan;
  };
  auto a_elsewhere_b = [&] {
    sync_batch batch;
    batch.push_back(job_for(tmp / "a"));
    batch.push_back(job_for(elsewhere));
    batch.push_back(job_for(tmp / "b"));
    return batch;
  };

  SECTION("syncfs fails (an O_PATH descriptor): each copy is synced on its own") {
    fs_sync plan;
    plan.fd = unique_fd{::open(tmp.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    REQUIRE(plan.fd.get() >= 0);
    plan.dev = st.st_dev;
    plan.min_copies = 2;
    sync_batch batch;
    for (int i = 0; i < 3; ++i)
      batch.push_back(job_for(tmp / ("c" + std::to_string(i))));
    run_sync_jobs(batch, &plan);
    for (const auto& job : batch) {
      CHECK(!job.by_syncfs);
      CHECK(!job.err);
      CHECK(!job.ticket.fd);
    }
  }

  SECTION("a copy on another file system is not covered by this one's sync") {
    if (not_checkable())
      return;
    auto plan = plan_on_tmp();
    auto batch = a_elsewhere_b();
    run_sync_jobs(batch, &plan);
    CHECK(batch[0].by_syncfs);
    CHECK(!batch[1].by_syncfs);
    CHECK(batch[2].by_syncfs);
    for (const auto& job : batch) {
      CHECK(!job.err);
      CHECK(!job.ticket.fd);
    }
    // Two of three on the file system: below a min_copies of 3, none is.
    plan.min_copies = 3;
    auto again = a_elsewhere_b();
    run_sync_jobs(again, &plan);
    for (const auto& job : again)
      CHECK(!job.by_syncfs);
  }

  SECTION("a ticket's device is taken as it is (the copy's, measured while it was open)") {
    if (not_checkable())
      return;
    auto plan = plan_on_tmp();
    auto batch = a_elsewhere_b();
    // Told: the first two on the plan's file system, the third elsewhere
    // (no fstat would say so).
    batch[0].ticket.dev = static_cast<uint64_t>(st.st_dev);
    batch[1].ticket.dev = static_cast<uint64_t>(st.st_dev);
    batch[2].ticket.dev = static_cast<uint64_t>(shm.st_dev);
    run_sync_jobs(batch, &plan);
    CHECK(batch[0].by_syncfs);
    CHECK(batch[1].by_syncfs);
    CHECK(!batch[2].by_syncfs);
    for (const auto& job : batch) {
      CHECK(!job.err);
      CHECK(!job.ticket.fd);
    }
  }
}

TEST_CASE("worker: sync_bytes written since the last sync began make the next one early",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  frag_spec s;
  auto text = source_text(8000);
  SECTION("0: every sync waits for the interval") {
    fx.opts.sync_bytes = 0;
    auto w = fx.make();
    fx.send(*w, s, 0, 8000, text);
    CHECK(w->needs_sync());
    CHECK(!w->sync_early());
  }
  SECTION("counted from the start of the last sync") {
    fx.opts.sync_bytes = 2000;
    auto w = fx.make();
    fx.send(*w, s, 0, 1000, text);
    fx.take_start_ack(0);
    CHECK(!w->sync_early()); // 1000 of 2000 bytes
    fx.send(*w, s, 1000, 2500, text);
    CHECK(w->sync_early());
    auto batch = w->start_sync(fx.out);
    REQUIRE(batch->size() == 1);
    CHECK(!w->sync_early()); // that sync covers them
    // Bytes written while it runs count toward the next one.
    fx.send(*w, s, 2500, 4000, text);
    CHECK(!w->sync_early());
    fx.send(*w, s, 4000, 4600, text);
    CHECK(w->sync_early());
    run_sync_jobs(*batch);
    w->finish_sync(*batch, fx.out);
    CHECK(fx.take_acks().back().fpos == 2500);
    batch = w->start_sync(fx.out);
    // A duplicate writes nothing and counts nothing.
    fx.send(*w, s, 0, 4600, text);
    CHECK(!w->sync_early());
    run_sync_jobs(*batch);
    w->finish_sync(*batch, fx.out);
    CHECK(fx.take_acks().back().fpos == 4600);
    CHECK(fx.copy("db1/pg.log") == slice(text, 0, 4600));
  }
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
  (*batch)[0].ticket.fd.reset();
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

TEST_CASE("worker: opening, closing and claiming copies are debug lines, summed up in one "
          "info line per summary period and at close_all",
          "[tailwriter][worker]") {
  worker_fixture fx;
  fx.opts.max_open_copies = 2;
  fx.opts.summary_period = 3600s;
  fx.opts.close_idle = 7200s; // not closed for being idle by the maintain() below
  auto w = fx.make();
  std::string log_path = fx.tmp / "ccserver.log";
  std::string err;
  REQUIRE(cc::log::open(log_path, err));
  struct log_back {
    ~log_back() {
      std::string e;
      cc::log::open("", e);
      cc::log::set_level(cc::log::level::info);
    }
  } restore;
  cc::log::set_level(cc::log::level::info);
  std::vector<frag_spec> files(3);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/logs/s" + std::to_string(i) + ".log";
    files[i].ino = 300 + i;
    files[i].source = "aaaaaaaaaaaaaaaa";
    texts.push_back(source_text(200, static_cast<int>(i)));
  }
  // Three new copies through two slots, then the first again: 3 created,
  // 1 opened again, 2 closed, 3 destinations claimed.
  auto t0 = worker_core::clock::now();
  for (size_t i = 0; i < files.size(); ++i)
    fx.send(*w, files[i], 0, 100, texts[i]);
  fx.send(*w, files[0], 100, 200, texts[0]);
  w->sync(fx.out);
  fx.out.clear();
  CHECK(fx.counter("open_files_evicted") == 2);
  CHECK(fx.copy("db1/s0.log") == texts[0]);
  // Before the period: nothing at info about single copies, no summary.
  w->maintain(t0 + 1s, fx.out);
  auto logged = test::read_file(log_path);
  CHECK(test::count_of(logged, "opened ") == 0);
  CHECK(test::count_of(logged, "closed ") == 0);
  CHECK(test::count_of(logged, "from now on") == 0);
  CHECK(test::count_of(logged, "copies in the last") == 0);
  // Once the period passed: one line with the counts.
  w->maintain(t0 + 3601s, fx.out);
  logged = test::read_file(log_path);
  CHECK(test::count_of(logged, "copies in the last") == 1);
  CHECK_THAT(logged, Catch::Contains("INFO test.worker: copies in the last "));
  CHECK_THAT(logged, Catch::Contains(" s: 3 created, 1 opened again, 2 closed, 3 destinations "
                                     "claimed by a source; 2 open (of at most 2)"));
  // Counted again from zero; at debug each copy has its lines; close_all
  // says what is left without waiting for the period.
  cc::log::set_level(cc::log::level::debug);
  fx.send(*w, files[1], 100, 200, texts[1]);
  w->close_all(fx.out);
  fx.out.clear();
  logged = test::read_file(log_path);
  CHECK(test::count_of(logged, "DEBUG test.worker: opened db1/s1.log") == 1);
  CHECK(test::count_of(logged, "DEBUG test.worker: closed db1/s") == 3);
  CHECK(test::count_of(logged, "copies in the last") == 2);
  CHECK_THAT(logged, Catch::Contains(": 0 created, 1 opened again, 3 closed, 0 destinations "
                                     "claimed by a source; 0 open (of at most 2)"));
  for (size_t i = 0; i < files.size(); ++i)
    CHECK(fx.copy("db1/s" + std::to_string(i) + ".log") == slice(texts[i], 0, i == 2 ? 100 : 200));
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
  for (auto comp : {wire::compression::gzip, wire::compression::zstd}) {
    DYNAMIC_SECTION(wire::to_string(comp)) {
      worker_fixture fx;
      fx.opts.max_fragment_bytes = 1 << 20;
      auto w = fx.make();
      std::string log_path = fx.tmp / "ccserver.log";
      std::string err;
      REQUIRE(cc::log::open(log_path, err));
      struct log_back {
        ~log_back() {
          std::string e;
          cc::log::open("", e);
        }
      } restore;
      frag_spec s;
      s.comp = comp;
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
      // Without raw_size the cap is found by the decoder (zstd: from the
      // size its frame declares, before inflating anything).
      auto f = make_fragment(s, 1000, bomb);
      f.body.raw_size = 0;
      w->handle(f, worker_core::clock::now(), fx.out);
      CHECK(fx.counter("too_large") == 2);
      fx.take_acks();
      auto logged = test::read_file(log_path);
      CHECK_THAT(logged, Catch::Contains("refused a fragment of"));
      CHECK_THAT(logged, Catch::Contains(std::string{wire::to_string(comp)} + ": "));
      CHECK_THAT(logged, Catch::Contains("more than the cap of 1048576 bytes"));
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
  }
}

TEST_CASE("worker: zstd fragments with write-compressed = keep make a .gz copy",
          "[tailwriter][worker][zstd]") {
  worker_fixture fx;
  fx.opts.copy.mode = write_mode::keep;
  auto w = fx.make();
  frag_spec s;
  s.comp = wire::compression::zstd;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 1000, text);
  fx.send(*w, s, 1000, 3000, text);
  w->sync(fx.out);
  CHECK(fx.take_acks().back().fpos == 3000);
  CHECK_FALSE(std::filesystem::exists(fx.opts.dstdir + "/db1/pg.log.zst"));
  CHECK(*wire::decompress(fx.copy("db1/pg.log.gz"), wire::compression::gzip, 1 << 20)
        == slice(text, 0, 3000));
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

namespace {

/// Names and inode numbers of the entries under `dir` (recursively).
/// A worker's commit log (two files) and owner log: files of its own, not a copy's.
bool commit_log_file(const std::filesystem::path& p) {
  auto name = p.filename().string();
  return name.rfind("cl-", 0) == 0 || name.rfind("ow-", 0) == 0;
}

std::map<std::string, ino_t> entries_under(const std::string& dir) {
  std::map<std::string, ino_t> out;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (commit_log_file(e.path()))
      continue;
    struct stat st {};
    REQUIRE(::stat(e.path().c_str(), &st) == 0);
    out[e.path().string()] = st.st_ino;
  }
  return out;
}

/// As the tailwriter does before its workers start: every journal log and
/// journal file of the state directory merged into one log per worker.
journal_prepare_result prepare_logs(const worker_options& opts, size_t workers = 1) {
  int fd = ::open(opts.state_dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  auto r = prepare_journal_logs(
    fd, jlog::prefix(opts.section), workers,
    [workers](const std::string& identity) {
      return static_cast<size_t>(fnv1a64(identity_dest_base(identity)) % workers);
    },
    std::chrono::hours{24 * 30}, std::time(nullptr));
  ::close(fd);
  REQUIRE(r);
  return *r;
}

std::vector<std::string> names_in(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (fs::exists(dir))
    for (auto& e : fs::directory_iterator(dir)) {
      auto name = e.path().filename().string();
      if (name.rfind(prefix, 0) == 0)
        out.push_back(name);
    }
  return out;
}


/// Journal files (`*.j`, builds before session 18) in `dir`.
size_t journals_in(const std::string& dir) {
  size_t n = 0;
  if (fs::exists(dir))
    for (auto& e : fs::directory_iterator(dir))
      n += e.path().extension() == ".j";
  return n;
}

/// The copies' journals in the journal log of worker `opts.index`, by id
/// (read from its file, as a restart would).
std::map<std::string, std::string> logged_journals(const worker_options& opts) {
  int fd = ::open(opts.state_dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  auto jl = journal_log::open(fd, jlog::prefix(opts.section), opts.index);
  REQUIRE(jl);
  std::map<std::string, std::string> out;
  for (const auto& id : (*jl)->id_list()) {
    auto text = (*jl)->text(id);
    REQUIRE(text);
    out[id] = *text;
  }
  jl->reset();
  ::close(fd);
  return out;
}

/// This process's descriptors open on files (not directories) under `dir`,
/// the copies' and journals' (a worker's commit log aside).
size_t descriptors_under(const std::string& dir) {
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    n += !ec && target.string().rfind(dir + "/", 0) == 0 && !commit_log_file(target)
             && std::filesystem::is_regular_file(target, ec)
           ? 1
           : 0;
  }
  return n;
}

/// Three copies written in turn, 100 bytes at a time up to 3,000 each,
/// through a worker with max_open_copies 2 and off-thread syncs, one batch
/// held "on the sync thread" while the next starts: every fragment closes a
/// copy, often while its fdatasync is in flight. After each fragment at most
/// two copies are open and at most `max_fds` descriptors under the test's
/// directory; `round(at)` runs once all three got the bytes at `at`. Then
/// the held batches finish, close_all runs, and every copy must be whole
/// and acknowledged to its end. Returns the sources.
std::vector<frag_spec> churn_three(worker_fixture& fx, worker_core& w, size_t max_fds,
                                   const std::function<void(uint64_t)>& round) {
  std::vector<frag_spec> files(3);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/logs/f" + std::to_string(i) + ".log";
    files[i].ino = 200 + i;
    texts.push_back(source_text(3000, static_cast<int>(i)));
  }
  std::map<std::string, uint64_t> acked;
  std::vector<sync_batch_ptr> held; // batches still "on the sync thread"
  auto take_acks = [&] {
    for (auto& a : fx.take_acks())
      acked[a.filename] = std::max(acked[a.filename], a.fpos);
  };
  for (uint64_t at = 0; at < 3000; at += 100) {
    for (size_t i = 0; i < files.size(); ++i) {
      fx.send(w, files[i], at, at + 100, texts[i]);
      CHECK(w.open_copies() <= 2);
      CHECK(descriptors_under(fx.tmp.path()) <= max_fds);
      held.push_back(w.start_sync(fx.out));
      if (held.size() > 1) {
        run_sync_jobs(*held.front());
        w.finish_sync(*held.front(), fx.out);
        held.erase(held.begin());
      }
    }
    take_acks();
    round(at);
  }
  for (auto& b : held) {
    run_sync_jobs(*b);
    w.finish_sync(*b, fx.out);
  }
  CHECK(fx.counter("open_files_evicted") >= 80);
  w.close_all(fx.out);
  take_acks();
  for (size_t i = 0; i < files.size(); ++i) {
    CHECK(acked[files[i].file] == 3000);
    CHECK(fx.copy("db1/f" + std::to_string(i) + ".log") == texts[i]);
  }
  return files;
}

} // namespace

TEST_CASE("worker: copies closed with their sync in flight get their partial block's P line "
          "and their C line once it is back, all of a batch's copies in one write",
          "[tailwriter][worker][journal_log]") {
  worker_fixture fx;
  fx.opts.max_open_copies = 1;
  fx.opts.sync_off_thread = true;
  auto w = fx.make();
  auto text = source_text(3000);
  std::vector<frag_spec> files(3);
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/logs/f" + std::to_string(i) + ".log";
    files[i].ino = 300 + i;
    fx.send(*w, files[i], 0, 1000, text);
    fx.take_start_ack(0); // the closed copies' acks wait for their sync
  }
  REQUIRE(fx.counter("open_files_evicted") == 2);
  // Each copy's P and C records (in its journal's order), by copy.
  auto closing = [&] {
    std::map<std::string, std::string> id_of;
    std::vector<std::string> lines;
    for (const auto& [id, journal] : logged_journals(fx.opts)) {
      for (size_t i = 0; i < files.size(); ++i)
        if (journal.find("db1/f" + std::to_string(i) + ".log") != std::string::npos)
          id_of[id] = "f" + std::to_string(i);
      for (const auto& r : journal::parse(journal).records)
        if (r.kind == 'P' || r.kind == 'C')
          lines.push_back(id_of[id] + " " + r.kind);
    }
    std::stable_sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) {
      return a.substr(0, 2) < b.substr(0, 2);
    });
    return lines;
  };
  // Closed with 1,000 bytes not yet synced: neither line is written yet.
  CHECK(closing().empty());
  auto writes = w->journal_writes();
  auto batch = w->start_sync(fx.out);
  REQUIRE(batch->size() == 3); // the two closed copies and the open one
  run_sync_jobs(*batch);
  w->finish_sync(*batch, fx.out);
  CHECK(w->journal_writes() == writes + 1);
  CHECK(closing() == std::vector<std::string>{"f0 P", "f0 C", "f1 P", "f1 C"});
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 3);
  for (const auto& a : acks)
    CHECK(a.fpos == 1000);
  // Reopened, each goes on from its clean close (its D line the digest of
  // its block so far).
  for (size_t i = 0; i < files.size(); ++i) {
    fx.send(*w, files[i], 1000, 3000, text);
    fx.out.clear();
  }
  w->close_all(fx.out);
  for (size_t i = 0; i < files.size(); ++i)
    CHECK(fx.copy("db1/f" + std::to_string(i) + ".log") == text);
  CHECK(fx.counter("copy_changed") == 0);
}

TEST_CASE("worker: copies closed and reopened many times under max_open_copies 2 stay "
          "whole, a reopen creates no file, their journals records of one log file",
          "[tailwriter][worker][journal_log]") {
  worker_fixture fx;
  fx.opts.max_open_copies = 2;
  fx.opts.sync_off_thread = true;
  auto w = fx.make();
  std::map<std::string, ino_t> created;
  // The copies, those closed with a sync in flight, and the journal log.
  auto files = churn_three(fx, *w, 2 * 2 + 1, [&](uint64_t at) {
    if (at == 0)
      created = entries_under(fx.opts.dstdir); // every copy and the log exists
    else
      CHECK(entries_under(fx.opts.dstdir) == created); // same names, same inodes
  });
  CHECK(descriptors_under(fx.tmp.path()) == 1); // the worker's journal log
  CHECK(journals_in(fx.opts.state_dir) == 0);
  CHECK(names_in(fx.opts.state_dir, jlog::prefix(fx.opts.section)).size() == 1);
  w.reset();
  CHECK(descriptors_under(fx.tmp.path()) == 0);
  // The log recovers the same copies in a new worker, after a start's merge
  // (a new log file): resent bytes are duplicates, new ones continue each
  // copy, no copy is made anew.
  auto r = prepare_logs(fx.opts);
  CHECK(r.copies == 3);
  CHECK(r.bad_records == 0);
  auto copies_of = [&](std::map<std::string, ino_t> entries) {
    for (auto e = entries.begin(); e != entries.end();)
      e = e->first.rfind(fx.opts.state_dir, 0) == 0 ? entries.erase(e) : std::next(e);
    return entries;
  };
  auto w2 = fx.make();
  for (size_t i = 0; i < files.size(); ++i)
    fx.send(*w2, files[i], 3000, 3000, source_text(3000, static_cast<int>(i)));
  CHECK(fx.counter("copy_changed") == 0);
  CHECK(copies_of(entries_under(fx.opts.dstdir)) == copies_of(created));
  for (size_t i = 0; i < files.size(); ++i) {
    auto more = source_text(3000, static_cast<int>(i)) + source_text(500, 9);
    fx.send(*w2, files[i], 2500, 3500, more);
    w2->sync(fx.out);
    CHECK(fx.copy("db1/f" + std::to_string(i) + ".log") == more);
  }
  CHECK(fx.counter("copy_changed") == 0);
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
  test::temp_dir tmp{"cc-tailwriter-actor"};  // outlives the actor system
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<recorded_replies> rec = std::make_shared<recorded_replies>();
  caf::actor router;
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

  caf::actor spawn(direct_lanes_ptr lanes = nullptr) {
    auto tw = spawn_tailwriter_actor(sys, twc, caf::actor_cast<router_actor>(router),
                                     std::move(lanes));
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

/// `text` dispatched in pieces of 3,000 bytes, each answered before the next.
void dispatch_in_pieces(caf::scoped_actor& self, const caf::actor& tw,
                        const frag_spec& s, const std::string& text) {
  for (uint64_t at = 0; at < text.size(); at += 3000)
    REQUIRE(!dispatch_and_wait(
      self, tw, make_msg(s, at, slice(text, at, std::min<uint64_t>(at + 3000, text.size())))));
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

namespace {

/// Lanes that send pub.logtail to env's tailwriter, not open yet.
direct_lanes_ptr lanes_for(const actor_env& env) {
  auto lanes = std::make_shared<direct_lanes>();
  routes::route_table table;
  table.add("pub.logtail", {env.twc.section});
  lanes->prepare(table);
  return lanes;
}

/// Each message given to the lane carries a receipt, as the gateway's:
/// released once the worker is done with it (or at once when refused).
struct counted_lane {
  direct_lanes_ptr lanes;
  std::shared_ptr<std::atomic<int>> released = std::make_shared<std::atomic<int>>(0);

  bool take(wire::cc_message m) {
    m.receipt = wire::make_receipt([r = released] { ++*r; });
    return lanes->take(m);
  }
};

} // namespace

TEST_CASE("tailwriter actor: the direct lane takes fragments past the router and "
          "acks go straight back",
          "[tailwriter][actor][direct_lanes]") {
  actor_env env;
  auto lanes = lanes_for(env);
  auto replies = std::make_shared<recorded_replies>();
  lanes->set_reply_path(
    [replies](wire::cc_message& m) {
      std::lock_guard<std::mutex> guard{replies->mtx};
      replies->msgs.push_back(std::move(m));
      return true;
    },
    replies.get());
  auto tw = env.spawn(lanes);
  lanes->open();
  caf::scoped_actor self{env.sys};
  counted_lane lane{lanes};
  auto& released = lane.released;
  auto take = [&](wire::cc_message m) { return lane.take(std::move(m)); };
  frag_spec f;
  f.file = "/pg_log/direct.log";
  auto text = source_text(30000);
  for (uint64_t at = 0; at < 30000; at += 3000)
    REQUIRE(take(make_msg(f, at, slice(text, at, at + 3000))));
  auto bad = make_msg(f, 30000, "x");
  bad.body = "{not json";
  CHECK(take(std::move(bad))); // taken: refused and counted as the actor would
  frag_spec escape = f;
  escape.host = "..";
  escape.file = "/x/outside.log";
  CHECK(take(make_msg(escape, 0, "escape\n")));
  CHECK(test::wait_until([&] { return replies->max_ack_by_file()[f.file] == 30000; }, 20s));
  CHECK(test::read_file(env.twc.dstdir + "/db1/direct.log") == text);
  CHECK(test::wait_until([&] { return released->load() == 12; }, 10s));
  CHECK(env.rec->size() == 0); // nothing through the router
  auto c = stats_of(self, tw);
  CHECK(c["fragments"] == 11);
  CHECK(c["invalid"] == 1);
  CHECK(c["refused_paths"] == 1);
  CHECK(!fs::exists(fs::path{env.twc.dstdir}.parent_path() / "outside.log"));
  CHECK(lanes->taken() == 12);
  CHECK(lanes->replies() >= 1);
  // The tailwriter gone, the lane sends its messages to the router again.
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
  self->wait_for(tw);
  auto late = make_msg(f, 30000, "late\n");
  CHECK_FALSE(lanes->take(late));
  CHECK(late.type == "pub.logtail");
}

namespace {

/// A worker spawned with its core shared (worker_inline), no timer firing
/// during a test: it only moves on messages the test causes.
struct inline_env {
  actor_env env;
  counters_ptr counters = std::make_shared<writer_counters>();
  worker_inline_ptr in = std::make_shared<worker_inline>();
  room_meter meter;
  caf::actor worker;

  /// `sync_bytes`: 0, no sync but at shutdown; 1, one after every write.
  explicit inline_env(uint64_t sync_bytes = 0) {
    worker_options o;
    o.dstdir = env.twc.dstdir;
    o.state_dir = env.tmp / "state";
    o.hostname = "central";
    o.sync_interval = 3600s;
    o.sync_bytes = sync_bytes;
    o.maint_period = 3600s;
    worker = spawn_tailwriter_worker(env.sys, o, counters,
                                     caf::actor_cast<router_actor>(env.router), nullptr, in);
  }

  /// A sync of the worker's in the kernel: its disk gate held by another
  /// thread (as the sync thread holds it) for this object's life.
  struct gate_held {
    std::promise<void> locked, release;
    std::thread holder;
    explicit gate_held(std::mutex& gate) {
      holder = std::thread{[this, &gate, r = release.get_future()] {
        std::lock_guard<std::mutex> syncing{gate};
        locked.set_value();
        r.wait();
      }};
      locked.get_future().wait();
    }
    ~gate_held() {
      release.set_value();
      holder.join();
    }
  };

  /// Waits until the worker wrote `bytes` in all and left its core.
  void settle(int64_t bytes) {
    REQUIRE(test::wait_until([&] { return counters->bytes_written.load() == bytes; }, 20s));
    std::lock_guard<std::mutex> guard{in->mtx};
  }

  /// The worker writes `raw` as the copy's first bytes, syncs and
  /// acknowledges them (with `sync_bytes` set).
  void first_acked(const frag_spec& s, const std::string& raw) {
    caf::anon_send(worker, dispatch_atom::value,
                   std::make_shared<const fragment>(make_fragment(s, 0, raw)));
    settle(static_cast<int64_t>(raw.size()));
    REQUIRE(test::wait_until(
      [&] { return env.rec->max_ack_by_file()[s.file] == raw.size(); }, 20s));
  }

  bool write(const frag_spec& s, uint64_t from, const std::string& raw) {
    return write_inline(in, worker, meter,
                        std::make_shared<const fragment>(make_fragment(s, from, raw)));
  }
};

} // namespace

TEST_CASE("tailwriter worker: a small fragment is written inline when the worker is "
          "idle, in order, exactly once",
          "[tailwriter][actor][inline]") {
  inline_env x;
  frag_spec s;
  s.file = "/pg_log/inline.log";
  auto text = source_text(4000);
  auto copy = x.env.twc.dstdir + "/db1/inline.log";
  // A new copy is the worker's (opened, created, its commit round).
  CHECK_FALSE(x.write(s, 0, slice(text, 0, 1000)));
  caf::anon_send(x.worker, dispatch_atom::value,
                 std::make_shared<const fragment>(make_fragment(s, 0, slice(text, 0, 1000))));
  x.settle(1000);
  // A sync of the worker's in the kernel: the worker's (the append may wait
  // behind its writeback, which the loop must not).
  {
    inline_env::gate_held syncing{*x.in->disk_gate};
    CHECK_FALSE(x.write(s, 1000, slice(text, 1000, 1100)));
  }
  // Idle, open: written on this thread, in the copy when the call returns.
  CHECK(x.write(s, 1000, slice(text, 1000, 1100)));
  CHECK(test::read_file(copy) == slice(text, 0, 1100));
  // Resent: found in the copy, not written twice.
  CHECK(x.write(s, 1000, slice(text, 1000, 1100)));
  CHECK(x.counters->duplicates.load() == 1);
  CHECK(test::read_file(copy) == slice(text, 0, 1100));
  // Something sent to the worker and not done: after it, so not here.
  x.meter.queued = 10;
  CHECK_FALSE(x.write(s, 1100, slice(text, 1100, 1200)));
  x.meter.queued = 0;
  // The worker busy (its lock held): not here, and not waited for.
  {
    std::lock_guard<std::mutex> busy{x.in->mtx};
    auto other = std::async(std::launch::async,
                            [&] { return x.write(s, 1100, slice(text, 1100, 1200)); });
    CHECK_FALSE(other.get());
  }
  CHECK(x.write(s, 1100, slice(text, 1100, 4000)));
  CHECK(test::read_file(copy) == text);
  // Shutdown acknowledges what was written inline, once.
  caf::scoped_actor self{x.env.sys};
  caf::anon_send_exit(x.worker, caf::exit_reason::user_shutdown);
  self->wait_for(x.worker);
  CHECK(test::wait_until([&] { return x.env.rec->max_ack_by_file()[s.file] == 4000; }, 20s));
  {
    std::lock_guard<std::mutex> guard{x.env.rec->mtx};
    CHECK(std::count_if(x.env.rec->msgs.begin(), x.env.rec->msgs.end(),
                        [](const wire::cc_message& m) {
                          auto a = wire::parse_logtail_ack(m.body);
                          return a && a->fpos == 4000;
                        }) == 1);
  }
  // The worker gone, nothing is written for it any more.
  CHECK_FALSE(x.write(s, 4000, "late\n"));
}

// A 50 MB/s stream's fragments (tens of KiB, one a millisecond) are written
// on the loop too, one right after the other, while the worker is idle and
// none of its syncs is in flight: no hand-off to the worker's thread per
// fragment (bench/PROFILE.md, "Session 18: latency on a quiet host"; until
// then only fragments below 4 KiB after 5 ms without one were).
TEST_CASE("tailwriter worker: a stream's fragments of tens of KiB are written inline, "
          "one right after the other, and during a sync by the worker",
          "[tailwriter][actor][inline]") {
  inline_env x;
  frag_spec s;
  s.file = "/pg_log/stream.log";
  auto text = source_text(200000);
  auto copy = x.env.twc.dstdir + "/db1/stream.log";
  caf::anon_send(x.worker, dispatch_atom::value,
                 std::make_shared<const fragment>(make_fragment(s, 0, slice(text, 0, 1000))));
  x.settle(1000);
  // Right after the worker's write and after each other: here.
  CHECK(x.write(s, 1000, slice(text, 1000, 51000)));
  CHECK(x.write(s, 51000, slice(text, 51000, 101000)));
  CHECK(x.write(s, 101000, slice(text, 101000, 151000)));
  CHECK(test::read_file(copy) == slice(text, 0, 151000));
  CHECK(x.counters->bytes_written.load() == 151000);
  // During a sync of the worker's (in the kernel): the worker's.
  {
    inline_env::gate_held syncing{*x.in->disk_gate};
    CHECK_FALSE(x.write(s, 151000, slice(text, 151000, 191000)));
  }
  CHECK(x.write(s, 151000, slice(text, 151000, 191000)));
  CHECK(test::read_file(copy) == slice(text, 0, 191000));
  CHECK(x.counters->duplicates.load() == 0);
  caf::scoped_actor self{x.env.sys};
  caf::anon_send_exit(x.worker, caf::exit_reason::user_shutdown);
  self->wait_for(x.worker);
  CHECK(test::wait_until([&] { return x.env.rec->max_ack_by_file()[s.file] == 191000; }, 20s));
}

// The loop leaves a fragment to the worker only while one of the worker's
// syncs is in the kernel (worker_inline::disk_gate), not for the whole way of
// its batch: queued behind another job of the sync thread, or back from it
// and not yet taken by the worker, the loop goes on writing (bench/PROFILE.md,
// "Session 20: latency"). Acknowledged only once that sync is back.
TEST_CASE("tailwriter worker: a sync queued on the sync thread holds no inline write up, "
          "one in the kernel does, and the batch waits for the write in progress",
          "[tailwriter][actor][inline]") {
  auto syncer = sync_thread::shared(); // the worker's, shared while both hold it
  inline_env x{1};
  frag_spec s;
  s.file = "/pg_log/queued.log";
  auto text = source_text(30000);
  x.first_acked(s, slice(text, 0, 1000));
  // The sync thread busy with another job: the worker's next batch waits
  // behind it.
  std::promise<void> started, go;
  auto gone = go.get_future().share();
  syncer->submit([&started, gone] {
    started.set_value();
    gone.wait();
  });
  started.get_future().wait();
  uint64_t jobs = syncer->jobs_run(); // every job before this one
  CHECK(x.write(s, 1000, slice(text, 1000, 10000))); // and submits a batch
  {
    std::lock_guard<std::mutex> guard{x.in->mtx};
    REQUIRE(x.in->sync_in_flight);
  }
  // Queued, not in the kernel: the loop writes (on main: the worker's).
  CHECK(x.write(s, 10000, slice(text, 10000, 20000)));
  CHECK(test::read_file(x.env.twc.dstdir + "/db1/queued.log") == slice(text, 0, 20000));
  // The loop writing (the gate held as write_inline holds it): the batch,
  // its turn come, waits for that write; none of it is acknowledged.
  {
    std::unique_lock<std::mutex> writing{*x.in->disk_gate};
    go.set_value();
    REQUIRE(test::wait_until([&] { return syncer->jobs_run() == jobs + 1; }, 20s));
    std::this_thread::sleep_for(100ms); // the batch would run now: it may not
    CHECK(syncer->jobs_run() == jobs + 1);
    CHECK(x.env.rec->max_ack_by_file()[s.file] < 10000);
  }
  // Released: the batch runs and comes back; its bytes are acknowledged.
  CHECK(test::wait_until([&] { return x.env.rec->max_ack_by_file()[s.file] >= 10000; }, 20s));
  caf::scoped_actor self{x.env.sys};
  caf::anon_send_exit(x.worker, caf::exit_reason::user_shutdown);
  self->wait_for(x.worker);
  CHECK(test::wait_until([&] { return x.env.rec->max_ack_by_file()[s.file] == 20000; }, 20s));
}

// A sync due after a fragment written on the I/O loop starts after the
// loop's next wait, not before the loop sleeps: the write woke the copy's
// readers, and on a busy host they wait for the loop's CPU, where waking the
// sync thread cost the loop more than the write (bench/PROFILE.md, "Session
// 25"). When the worker holds the lock then, the worker starts it.
TEST_CASE("tailwriter worker: a sync due after an inline write starts after the I/O "
          "loop's next wait, also when the worker holds the lock then",
          "[tailwriter][actor][inline]") {
  auto loop = io_loop::shared();
  inline_env x{1}; // a sync due after every write
  frag_spec s;
  s.file = "/pg_log/after_wait.log";
  auto text = source_text(30000);
  x.first_acked(s, slice(text, 0, 1000));
  bool worker_holds_lock = false;
  SECTION("the lock free") {
  }
  SECTION("the worker holds the lock") {
    worker_holds_lock = true;
  }
  std::promise<void> locked, release;
  std::thread holder;
  std::promise<std::pair<bool, bool>> seen;
  loop->post([&] {
    bool written = x.write(s, 1000, slice(text, 1000, 10000));
    bool in_flight;
    {
      std::lock_guard<std::mutex> guard{x.in->mtx};
      in_flight = x.in->sync_in_flight;
    }
    if (worker_holds_lock) {
      // Held (as the worker's thread holds it) from before the loop's
      // next wait until well after it.
      holder = std::thread{[&, r = release.get_future()] {
        std::lock_guard<std::mutex> busy{x.in->mtx};
        locked.set_value();
        r.wait_for(200ms);
      }};
      locked.get_future().wait();
    }
    seen.set_value({written, in_flight});
  });
  auto f = seen.get_future();
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  auto [written, in_flight] = f.get();
  CHECK(written);
  // Written, and its sync not yet handed to the sync thread.
  CHECK_FALSE(in_flight);
  // Then synced and acknowledged, with no timer of the worker's firing
  // (sync_interval is an hour).
  CHECK(test::wait_until([&] { return x.env.rec->max_ack_by_file()[s.file] == 10000; }, 20s));
  if (holder.joinable()) {
    release.set_value();
    holder.join();
  }
  CHECK(test::read_file(x.env.twc.dstdir + "/db1/after_wait.log") == slice(text, 0, 10000));
  caf::scoped_actor self{x.env.sys};
  caf::anon_send_exit(x.worker, caf::exit_reason::user_shutdown);
  self->wait_for(x.worker);
}

TEST_CASE("tailwriter actor: on the direct lane small fragments are written inline, big "
          "ones by the worker, in their order",
          "[tailwriter][actor][direct_lanes][inline]") {
  actor_env env;
  env.twc.worker_threads = 1;
  auto lanes = lanes_for(env);
  auto tw = env.spawn(lanes);
  lanes->open();
  caf::scoped_actor self{env.sys};
  counted_lane lane{lanes};
  auto& released = lane.released;
  auto take = [&](wire::cc_message m) { REQUIRE(lane.take(std::move(m))); };
  frag_spec f;
  f.file = "/pg_log/mixed.log";
  auto text = source_text(700000);
  auto inlined = [&] { return stats_of(self, tw)["written_inline"]; };
  take(make_msg(f, 0, slice(text, 0, 100))); // a new copy: the worker's
  REQUIRE(test::wait_until([&] { return released->load() == 1; }, 20s));
  // Big: the worker's, whether it is idle or not.
  take(make_msg(f, 100, slice(text, 100, 100 + inline_max_bytes)));
  REQUIRE(test::wait_until([&] { return released->load() == 2; }, 20s));
  CHECK(inlined() == 0);
  // Small ones, each after the last was done and a pause: a trickle, the
  // worker idle in between, so (whatever the moment its timers and syncs
  // pick) some are written inline.
  uint64_t at = 100 + inline_max_bytes;
  for (int i = 0; i < 20; ++i, at += 500) {
    std::this_thread::sleep_for(10ms);
    take(make_msg(f, at, slice(text, at, at + 500)));
    REQUIRE(test::wait_until([&] { return released->load() == 3 + i; }, 20s));
  }
  CHECK(inlined() >= 1);
  // A small one right after a big one to the same copy: after it.
  auto big = inline_max_bytes + 1000;
  auto end = at + big + 200;
  take(make_msg(f, at, slice(text, at, at + big)));
  take(make_msg(f, at + big, slice(text, at + big, end)));
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[f.file] == end; }, 20s));
  CHECK(test::read_file(env.twc.dstdir + "/db1/mixed.log") == slice(text, 0, end));
  CHECK(stats_of(self, tw)["duplicates"] == 0);
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: acks wait for the shared sync thread, and its syncs "
          "are grouped",
          "[tailwriter][actor][sync_thread]") {
  actor_env env;
  env.twc.worker_threads = 2;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  std::vector<frag_spec> files(4);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/pg_log/held-" + std::to_string(i) + ".log";
    files[i].ino = 900 + i;
    texts.push_back(source_text(8000, static_cast<int>(i)));
  }
  // The copies exist first: a new copy's first byte waits for its commit
  // round, which runs on the sync thread too (group commit).
  int sent = 0;
  for (size_t i = 0; i < files.size(); ++i, ++sent)
    REQUIRE(!dispatch_and_wait(self, tw, make_msg(files[i], 0, slice(texts[i], 0, 1000))));
  REQUIRE(test::wait_until([&] { return stats_of(self, tw)["bytes_written"] == 4000; }, 20s));
  // The process's sync thread, held by a job until released: the workers
  // share this instance (sync_thread::shared()).
  auto syncs = sync_thread::shared();
  std::promise<void> go;
  std::promise<void> holding;
  syncs->submit([gate = go.get_future().share(), &holding] {
    holding.set_value();
    gate.wait();
  });
  REQUIRE(holding.get_future().wait_for(30s) == std::future_status::ready);
  for (uint64_t at = 1000; at < 8000; at += 1000)
    for (size_t i = 0; i < files.size(); ++i, ++sent)
      REQUIRE(!dispatch_and_wait(self, tw, make_msg(files[i], at,
                                                    slice(texts[i], at, at + 1000))));
  // Every fragment is written; none is acknowledged while the fdatasync
  // that would cover it has not run.
  CHECK(test::wait_until([&] { return stats_of(self, tw)["bytes_written"] == 32000; }, 20s));
  for (auto& [file, fpos] : env.rec->max_ack_by_file())
    CHECK(fpos <= 1000);
  go.set_value();
  bool all_acked = test::wait_until(
    [&] {
      auto acks = env.rec->max_ack_by_file();
      for (auto& f : files)
        if (acks[f.file] != 8000)
          return false;
      return true;
    },
    20s);
  CHECK(all_acked);
  // Grouped: the 32 fragments written while the thread was held were
  // synced in far fewer fdatasyncs than fragments (one per copy per batch).
  auto after = stats_of(self, tw);
  CHECK(after["fsyncs"] >= 4);
  CHECK(after["fsyncs"] < sent);
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("tailwriter actor: a stream past sync-bytes is acknowledged without waiting "
          "for sync-interval",
          "[tailwriter][actor]") {
  actor_env env;
  env.twc.worker_threads = 1;
  // An interval no test waits for: only sync-bytes can start these syncs.
  env.twc.sync_interval = 3600s;
  env.twc.sync_bytes = 2000;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  s.file = "/pg_log/bulk.log";
  auto text = source_text(10000);
  for (uint64_t at = 0; at < 10000; at += 2000)
    REQUIRE(!dispatch_and_wait(self, tw, make_msg(s, at, slice(text, at, at + 2000))));
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[s.file] == 10000; }, 20s));
  CHECK(test::read_file(env.twc.dstdir + "/db1/bulk.log") == text);
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
  dispatch_in_pieces(self, tw, s, text);
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

// A new copy's fragments wait for its commit round on the sync thread; a
// shutdown before the round is back must still write and acknowledge them
// (the round's answer would reach a worker that is gone). The shared sync
// thread is held busy so the round cannot run before the shutdown.
TEST_CASE("tailwriter actor: shutdown writes what waits for a commit round",
          "[tailwriter][actor]") {
  auto syncer = sync_thread::shared();
  std::mutex m;
  std::condition_variable cv;
  bool release = false, holding = false;
  syncer->submit([&] {
    std::unique_lock<std::mutex> lock{m};
    holding = true;
    cv.notify_all();
    cv.wait_for(lock, 30s, [&] { return release; });
  });
  struct releaser {
    std::mutex& m;
    std::condition_variable& cv;
    bool& release;
    ~releaser() {
      std::lock_guard<std::mutex> guard{m};
      release = true;
      cv.notify_all();
    }
  };
  {
    std::unique_lock<std::mutex> lock{m};
    REQUIRE(cv.wait_for(lock, 10s, [&] { return holding; }));
  }
  actor_env env;
  // Declared after the actor system, so the sync thread is released before
  // the system's shutdown waits for it (else the test waits the hold out).
  releaser guard{m, cv, release};
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  auto text = source_text(30000);
  dispatch_in_pieces(self, tw, s, text);
  CHECK(env.rec->max_ack_by_file()[s.file] == 0); // held: the round cannot run
  self->monitor(tw);
  self->send_exit(tw, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(30s) >> [] { FAIL("the tailwriter did not stop"); });
  CHECK(test::wait_until([&] { return env.rec->max_ack_by_file()[s.file] == 30000; },
                         20s));
  CHECK(test::read_file(env.twc.dstdir + "/db1/pg.log") == text);
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

// -- reconcile, verify and repair (docs/wire.md §6.1) ----------------------------

namespace {

/// A question as a tailer builds it: the fragment's fields, no payload.
wire::cc_message make_question_msg(const frag_spec& s, const std::string& query,
                                   bool digests = false, uint64_t from = 0,
                                   uint64_t to = 0, uint64_t block = 0) {
  auto spec = s;
  spec.use_blob = false;
  auto msg = make_msg(spec, 0, "");
  auto b = *wire::parse_logtail(msg.body);
  b.query = query;
  b.digests = digests;
  b.range_from = from;
  b.range_to = to;
  b.block = block;
  msg.body = wire::make_body(b);
  return msg;
}

/// What the handler makes of a message.
fragment as_fragment(wire::cc_message msg) {
  fragment f;
  f.msg = std::move(msg);
  f.body = *wire::parse_logtail(f.msg.body);
  auto d = normalize_destination(
    expand_dstmask("%(hostname)s/%(filename)s", f.body.hdr.hostname, f.body.filename),
    ".ccstate");
  if (d)
    f.dest_base = *d;
  else
    f.dest_error = d.error();
  return f;
}

/// A repair of text[from, to) (docs/wire.md §6.1).
fragment make_repair(const frag_spec& s, uint64_t from, uint64_t to,
                     const std::string& text, bool truncate = false) {
  auto msg = make_msg(s, from, slice(text, from, to));
  auto b = *wire::parse_logtail(msg.body);
  b.repair = true;
  b.truncate = truncate;
  msg.body = wire::make_body(b);
  return as_fragment(std::move(msg));
}

wire::logtail_state_body state_of(const wire::cc_message& m) {
  REQUIRE(m.type == "logtail.state");
  auto a = wire::parse_logtail_state(m.body);
  REQUIRE(a);
  return *a;
}

std::string xxh3_hex(const std::string& text, uint64_t from, uint64_t to) {
  return wire::digest_hex(wire::xxh3(slice(text, from, to)));
}

/// Asks `w` one question and returns its answer (the only message out).
wire::logtail_state_body ask(worker_fixture& fx, worker_core& w, wire::cc_message q) {
  fx.out.clear();
  w.handle(as_fragment(std::move(q)), worker_core::clock::now(), fx.out);
  REQUIRE(fx.out.size() == 1);
  auto a = state_of(fx.out[0]);
  CHECK(fx.out[0].route == std::vector<std::string>{wire::local_route_frame("tailer-1")});
  fx.out.clear();
  return a;
}

} // namespace

TEST_CASE("worker: a state question is answered along the route with the copy's segments",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  fx.opts.writer_id = "00000000000000aa";
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(5000);
  fx.send(*w, s, 0, 1000, text);
  CHECK(ack_of(fx.out.at(0)).writer == "00000000000000aa");
  fx.take_start_ack(0);
  frag_spec s2 = s; // a new generation of the same file (truncated)
  s2.gen = "00000000000000b2";
  fx.send(*w, s2, 0, 500, text);
  fx.take_start_ack(0);
  frag_spec other = s; // another file that continues the same copy
  other.ino = 99;
  other.gen = "00000000000000c3";
  auto other_text = source_text(300, 7);
  fx.send(*w, other, 0, 300, other_text);
  fx.take_start_ack(0);
  auto fsyncs = fx.counter("fsyncs");
  auto a = ask(fx, *w, make_question_msg(s, "state", true));
  CHECK(fx.counter("fsyncs") > fsyncs); // synced before it answered
  CHECK(a.hdr.req == "logtail.state");
  CHECK(a.hdr.hostname == "central");
  CHECK(a.status == "ok");
  CHECK(a.writer == "00000000000000aa");
  CHECK(a.query == "state");
  CHECK(a.filename == s.file);
  CHECK(a.st_ino == s.ino);
  CHECK(a.gen == s.gen);
  CHECK(a.copy == "db1/pg.log");
  CHECK_FALSE(a.compressed);
  REQUIRE(a.segments.size() == 3);
  CHECK(a.segments[0].gen == s.gen);
  CHECK(a.segments[0].src_base == 0);
  CHECK(a.segments[0].src_end == 1000);
  CHECK_FALSE(a.segments[0].last);
  REQUIRE(a.segments[0].digests.size() == 1); // first and last block: one
  CHECK(a.segments[0].digests[0].from == 0);
  CHECK(a.segments[0].digests[0].to == 1000);
  CHECK(a.segments[0].digests[0].xxh3 == xxh3_hex(text, 0, 1000));
  CHECK(a.segments[1].gen == s2.gen);
  CHECK(a.segments[1].src_end == 500);
  CHECK(a.segments[1].digests.at(0).xxh3 == xxh3_hex(text, 0, 500));
  // Another source wrote last: its segment is given too.
  CHECK(a.segments[2].st_ino == 99);
  CHECK(a.segments[2].gen == other.gen);
  CHECK(a.segments[2].src_end == 300);
  CHECK(a.segments[2].last);
  CHECK(a.segments[2].digests.at(0).xxh3 == xxh3_hex(other_text, 0, 300));
  // Without digests: none given. Questions are not fragments.
  auto b = ask(fx, *w, make_question_msg(s2, "state"));
  CHECK(b.segments.size() == 3);
  CHECK(b.segments[0].digests.empty());
  CHECK(fx.counter("queries") == 2);
  CHECK(fx.counter("fragments") == 3);
}

TEST_CASE("worker: a question about a source no copy holds answers none and creates nothing",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto a = ask(fx, *w, make_question_msg(s, "state", true));
  CHECK(a.status == "none");
  CHECK_FALSE(a.detail.empty());
  CHECK(a.segments.empty());
  s.op_mode = "rotated";
  CHECK(ask(fx, *w, make_question_msg(s, "state")).status == "none");
  CHECK(ask(fx, *w, make_question_msg(s, "digest", false, 0, 100, 10)).status == "none");
  CHECK(!fs::exists(fx.opts.dstdir + "/db1"));
  CHECK(logged_journals(fx.opts).empty());
  CHECK(fx.counter("open_files") == 0);
  // A destination the writer never takes.
  s.host = "..";
  auto r = ask(fx, *w, make_question_msg(s, "state"));
  CHECK(r.status == "refused");
  CHECK_THAT(r.detail, Catch::Contains("destination"));
  CHECK(fx.counter("queries") == 4);
}

TEST_CASE("worker: at max_open_copies a question about a copy never made closes no other "
          "copy",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  fx.opts.max_open_copies = 1;
  auto w = fx.make();
  frag_spec a;
  auto text = source_text(1000);
  fx.send(*w, a, 0, 500, text);
  REQUIRE(fx.counter("open_files") == 1);
  frag_spec b = a;
  b.file = "/var/log/pg/other.log";
  b.ino = 78;
  auto q = ask(fx, *w, make_question_msg(b, "state", true));
  CHECK(q.status == "none");
  CHECK_THAT(q.detail, Catch::Contains("no copy"));
  CHECK(fx.counter("open_files_evicted") == 0);
  CHECK(fx.counter("open_files") == 1);
  CHECK(logged_journals(fx.opts).size() == 1);
  // A copy that was made is opened for its question as before (the other
  // closed to make room), and the first goes on.
  fx.out.clear();
  fx.send(*w, b, 0, 300, text);
  w->sync(fx.out);
  CHECK(fx.counter("open_files_evicted") == 1);
  auto q2 = ask(fx, *w, make_question_msg(a, "state"));
  CHECK(q2.status == "ok");
  CHECK(fx.counter("open_files_evicted") == 2);
  fx.out.clear();
  fx.send(*w, a, 500, 1000, text);
  w->sync(fx.out);
  CHECK(fx.copy("db1/pg.log") == text);
  CHECK(fx.copy("db1/other.log") == slice(text, 0, 300));
}

TEST_CASE("worker: a copy deleted behind the writer's back is none, said and counted once",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(1000);
  fx.send(*w, s, 0, 1000, text);
  w->close_all(fx.out);
  fx.out.clear();
  fs::remove(fx.opts.dstdir + "/db1/pg.log");
  for (int i = 0; i < 2; ++i) {
    auto a = ask(fx, *w, make_question_msg(s, "state"));
    CHECK(a.status == "none");
    CHECK_THAT(a.detail, Catch::Contains("missing"));
  }
  CHECK(!fs::exists(fx.opts.dstdir + "/db1/pg.log"));
  CHECK(fx.counter("copy_changed") == 1);
}

TEST_CASE("worker: digest questions give pieces of the copy's bytes, bounded",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(5000);
  fx.send(*w, s, 0, 5000, text);
  auto a = ask(fx, *w, make_question_msg(s, "digest", false, 1000, 2000, 300));
  CHECK(a.status == "ok");
  CHECK(a.query == "digest");
  CHECK(a.range_from == 1000);
  CHECK(a.range_to == 2000);
  CHECK(a.block == 300);
  CHECK(a.pieces == std::vector<std::string>{xxh3_hex(text, 1000, 1300),
                                             xxh3_hex(text, 1300, 1600),
                                             xxh3_hex(text, 1600, 1900),
                                             xxh3_hex(text, 1900, 2000)});
  // Clipped to the segment.
  a = ask(fx, *w, make_question_msg(s, "digest", false, 4000, 9000, 1000));
  CHECK(a.range_from == 4000);
  CHECK(a.range_to == 5000);
  CHECK(a.pieces == std::vector<std::string>{xxh3_hex(text, 4000, 5000)});
  // Bounded: at most 4096 pieces.
  a = ask(fx, *w, make_question_msg(s, "digest", false, 0, 5000, 1));
  CHECK(a.status == "unavailable");
  CHECK_THAT(a.detail, Catch::Contains("4096"));
  CHECK(a.pieces.empty());
  a = ask(fx, *w, make_question_msg(s, "digest", false, 0, 5000, 0));
  CHECK(a.status == "unavailable");
  // A generation the copy does not hold.
  auto other = s;
  other.gen = "00000000000000ff";
  CHECK(ask(fx, *w, make_question_msg(other, "digest", false, 0, 100, 10)).status == "none");
  // A byte flipped in the copy shows in its piece.
  {
    auto path = fx.opts.dstdir + "/db1/pg.log";
    auto bytes = test::read_file(path);
    bytes[1450] ^= 1;
    test::write_file(path, bytes);
  }
  a = ask(fx, *w, make_question_msg(s, "digest", false, 1000, 2000, 300));
  CHECK(a.pieces[0] == xxh3_hex(text, 1000, 1300));
  CHECK(a.pieces[1] != xxh3_hex(text, 1300, 1600));
  CHECK(a.pieces[2] == xxh3_hex(text, 1600, 1900));
}

TEST_CASE("worker: a compressed copy gives journaled block digests only",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  fx.opts.copy.mode = write_mode::keep;
  auto w = fx.make();
  frag_spec s;
  s.comp = wire::compression::gzip;
  const uint64_t MiB = 1 << 20;
  auto text = source_text(2 * MiB + 5000);
  for (uint64_t at = 0; at < text.size(); at += 400000)
    fx.send(*w, s, at, std::min<uint64_t>(text.size(), at + 400000), text);
  auto a = ask(fx, *w, make_question_msg(s, "state", true));
  CHECK(a.compressed);
  CHECK(a.copy == "db1/pg.log.gz");
  REQUIRE(a.segments.size() == 1);
  CHECK(a.segments[0].src_end == text.size());
  REQUIRE(a.segments[0].digests.size() == 2);
  CHECK(a.segments[0].digests[0].xxh3 == xxh3_hex(text, 0, MiB));
  CHECK(a.segments[0].digests[1].from == 2 * MiB);
  CHECK(a.segments[0].digests[1].xxh3 == xxh3_hex(text, 2 * MiB, text.size()));
  a = ask(fx, *w, make_question_msg(s, "digest", false, 0, 2 * MiB, MiB));
  CHECK(a.status == "ok");
  CHECK(a.pieces == std::vector<std::string>{xxh3_hex(text, 0, MiB), xxh3_hex(text, MiB, 2 * MiB)});
  a = ask(fx, *w, make_question_msg(s, "digest", false, 0, MiB, 4096));
  CHECK(a.status == "unavailable");
  CHECK(a.pieces.empty());
}

TEST_CASE("worker: junk appended to a copy is cut back when the resend overlaps it",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 1000, text);
  w->close_all(fx.out); // a clean stop of the central
  fx.out.clear();
  w.reset();
  test::append_file(fx.opts.dstdir + "/db1/pg.log", "JUNKJUNKJU");
  auto w2 = fx.make();
  fx.send(*w2, s, 1000, 2000, text); // the tailer goes on where it was acked
  CHECK(fx.counter("copy_changed") == 1); // the size after a clean close
  CHECK(fx.counter("diverged") == 1);
  CHECK(fx.counter("repaired_bytes") == 10);
  CHECK(fx.counter("duplicate_bytes") == 0);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2000));
  w2->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().fpos == 2000);
  // A true duplicate is still just that.
  fx.send(*w2, s, 1500, 2000, text);
  CHECK(fx.counter("duplicates") == 1);
  CHECK(fx.counter("diverged") == 1);
}

TEST_CASE("worker: a copy truncated while the writer runs: a gap, never a hole",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(3000);
  fx.send(*w, s, 0, 2000, text);
  w->sync(fx.out);
  fx.out.clear();
  REQUIRE(::truncate((fx.opts.dstdir + "/db1/pg.log").c_str(), 1500) == 0);
  fx.send(*w, s, 2000, 2500, text);
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "gap");
  CHECK(acks[0].fpos == 1500); // below what was acknowledged: what the copy holds
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1500));
  CHECK(fx.counter("copy_changed") == 1);
  fx.send(*w, s, 1500, 2500, text);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 2500));
}

TEST_CASE("worker: a resend over bytes that differ rewrites them, never skips them",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec a1;
  frag_spec b2 = a1;
  b2.gen = "00000000000000b2";
  auto text = source_text(3000);
  auto path = fx.opts.dstdir + "/db1/pg.log";
  fx.send(*w, a1, 0, 1000, text);
  fx.send(*w, b2, 0, 500, text); // the copy's last segment
  w->sync(fx.out);
  fx.out.clear();
  auto damage = [&](size_t at) {
    auto bytes = test::read_file(path);
    bytes[at] = '#';
    test::write_file(path, bytes);
  };
  // In the earlier segment: the differing overlap is rewritten in place.
  damage(300);
  fx.send(*w, a1, 200, 400, text);
  CHECK(fx.counter("diverged") == 1);
  CHECK(fx.counter("repaired_bytes") == 100);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000) + slice(text, 0, 500));
  // In the last segment: cut back there, written from the fragment on.
  damage(1000 + 250);
  fx.send(*w, b2, 200, 500, text);
  CHECK(fx.counter("diverged") == 2);
  CHECK(fx.counter("repaired_bytes") == 100 + 250);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000) + slice(text, 0, 500));
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().gen == b2.gen);
  CHECK(acks.back().fpos == 500);
}

TEST_CASE("worker: repairs rewrite in place, append past the end, truncate, acked",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(4000);
  auto path = fx.opts.dstdir + "/db1/pg.log";
  auto now = worker_core::clock::now();
  fx.send(*w, s, 0, 3000, text);
  w->sync(fx.out);
  fx.out.clear();
  auto bytes = test::read_file(path);
  bytes[1500] = '#';
  test::write_file(path, bytes);
  w->handle(make_repair(s, 1400, 1600, text), now, fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 3000));
  CHECK(fx.counter("repaired_bytes") == 100);
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1); // answered although nothing moved on
  CHECK(acks[0].status == "ok");
  CHECK(acks[0].fpos == 3000);
  // Junk past the source's end, cut by a repair with truncate.
  test::append_file(path, std::string(20, 'J'));
  w->handle(make_repair(s, 2900, 3000, text, true), now, fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 3000));
  CHECK(fx.counter("copy_changed") == 1);
  CHECK(fx.counter("repaired_bytes") == 120);
  // Past the end: appended.
  w->handle(make_repair(s, 2900, 3500, text), now, fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 3500));
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().fpos == 3500);
  // An empty repair with truncate: the source ends at 3200.
  w->handle(make_repair(s, 3200, 3200, text, true), now, fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 3200));
  w->sync(fx.out);
  acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().fpos == 3200); // lower than acknowledged before: the copy's truth
  CHECK(fx.counter("repaired_bytes") == 420);
}

TEST_CASE("worker: a repair of a compressed copy is refused",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  fx.opts.copy.mode = write_mode::recompress;
  auto w = fx.make();
  frag_spec s;
  auto text = source_text(2000);
  fx.send(*w, s, 0, 2000, text);
  w->sync(fx.out);
  fx.out.clear();
  w->handle(make_repair(s, 100, 200, text), worker_core::clock::now(), fx.out);
  auto acks = fx.take_acks();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].status == "refused");
  CHECK(fx.counter("repaired_bytes") == 0);
}

TEST_CASE("worker: the rotated copies of a source are found from the journals",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  frag_spec g1;
  g1.op_mode = "rotated";
  frag_spec g2 = g1; // truncated in place: the same file, a new generation
  g2.gen = "00000000000000b2";
  auto t1 = source_text(800, 1);
  auto t2 = source_text(600, 2);
  {
    auto w = fx.make();
    fx.send(*w, g1, 0, 800, t1);
    w->close_all(fx.out);
  }
  fx.out.clear();
  // A restarted writer: the index is built from the journals at the first
  // question, whatever generation it names.
  auto w = fx.make();
  frag_spec lost = g1;
  lost.gen = "0000000000000fff"; // a tailer that lost its .save
  auto a = ask(fx, *w, make_question_msg(lost, "state", true));
  CHECK(a.status == "ok");
  REQUIRE(a.segments.size() == 1);
  CHECK(a.segments[0].gen == g1.gen);
  CHECK(a.segments[0].src_end == 800);
  CHECK(a.segments[0].last);
  CHECK(a.segments[0].digests.at(0).xxh3 == xxh3_hex(t1, 0, 800));
  CHECK(a.copy.rfind("db1/pg.log.", 0) == 0);
  auto first_copy = a.copy;
  // A generation written after the index was built is found too.
  fx.send(*w, g2, 0, 600, t2);
  fx.out.clear();
  a = ask(fx, *w, make_question_msg(g2, "state"));
  REQUIRE(a.segments.size() == 2);
  std::set<std::string> gens{a.segments[0].gen, a.segments[1].gen};
  CHECK(gens == std::set<std::string>{g1.gen, g2.gen});
  CHECK(a.copy != first_copy); // the copy of the generation asked about
  a = ask(fx, *w, make_question_msg(g1, "state"));
  CHECK(a.copy == first_copy);
  // Digests of one generation come from its own copy.
  a = ask(fx, *w, make_question_msg(g1, "digest", false, 0, 800, 400));
  CHECK(a.copy == first_copy);
  CHECK(a.pieces == std::vector<std::string>{xxh3_hex(t1, 0, 400), xxh3_hex(t1, 400, 800)});
  // Another file: nothing.
  frag_spec other = g1;
  other.ino = 5;
  CHECK(ask(fx, *w, make_question_msg(other, "state")).status == "none");
}

TEST_CASE("tailwriter actor: a question is answered after the fragments before it",
          "[tailwriter][actor][question]") {
  actor_env env;
  env.twc.worker_threads = 2;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  frag_spec s;
  auto text = source_text(20000);
  for (uint64_t at = 0; at < 20000; at += 2000)
    REQUIRE(!dispatch_and_wait(self, tw, make_msg(s, at, slice(text, at, at + 2000))));
  REQUIRE(!dispatch_and_wait(self, tw, make_question_msg(s, "state", true)));
  std::optional<wire::logtail_state_body> answer;
  CHECK(test::wait_until(
    [&] {
      std::lock_guard<std::mutex> guard{env.rec->mtx};
      for (auto& m : env.rec->msgs)
        if (m.type == "logtail.state")
          answer = *wire::parse_logtail_state(m.body);
      return answer.has_value();
    },
    20s));
  REQUIRE(answer);
  REQUIRE(answer->segments.size() == 1);
  CHECK(answer->segments[0].src_end == 20000);
  CHECK(answer->segments[0].digests.at(0).xxh3 == xxh3_hex(text, 0, 20000));
  CHECK(answer->writer.size() == 16);
  {
    std::lock_guard<std::mutex> guard{env.rec->mtx};
    for (auto& m : env.rec->msgs) {
      CHECK(m.route == std::vector<std::string>{wire::local_route_frame("tailer-1")});
      if (m.type == "logtail.ack")
        CHECK(wire::parse_logtail_ack(m.body)->writer == answer->writer);
    }
  }
  auto c = stats_of(self, tw);
  CHECK(c["queries"] == 1);
  CHECK(c["fragments"] == 10);
  CHECK(c.count("repaired_bytes") == 1);
  CHECK(c.count("copy_changed") == 1);
  CHECK(c.count("diverged") == 1);
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

TEST_CASE("worker: state of a copy cut behind the writer's back: shorter, empty",
          "[tailwriter][worker][question]") {
  worker_fixture fx;
  auto w = fx.make();
  frag_spec a1;
  frag_spec b2 = a1;
  b2.gen = "00000000000000b2";
  auto text = source_text(3000);
  auto path = fx.opts.dstdir + "/db1/pg.log";
  fx.send(*w, a1, 0, 1000, text);
  fx.send(*w, b2, 200, 700, text); // starts at copy offset 1000
  // Shorter than the second segment's start: it is gone, the first is last.
  REQUIRE(::truncate(path.c_str(), 600) == 0);
  auto a = ask(fx, *w, make_question_msg(a1, "state", true));
  CHECK(a.status == "ok");
  REQUIRE(a.segments.size() == 1);
  CHECK(a.segments[0].gen == a1.gen);
  CHECK(a.segments[0].src_end == 600);
  CHECK(a.segments[0].last);
  CHECK(a.segments[0].digests.at(0).xxh3 == xxh3_hex(text, 0, 600));
  CHECK(fx.counter("copy_changed") == 1);
  // Asked with the generation the copy lost: the source's other segment.
  a = ask(fx, *w, make_question_msg(b2, "state"));
  REQUIRE(a.segments.size() == 1);
  CHECK(a.segments[0].gen == a1.gen);
  // Empty: the segment that starts at 0 holds nothing, no digests.
  REQUIRE(::truncate(path.c_str(), 0) == 0);
  a = ask(fx, *w, make_question_msg(a1, "state", true));
  CHECK(a.status == "ok");
  REQUIRE(a.segments.size() == 1);
  CHECK(a.segments[0].src_base == 0);
  CHECK(a.segments[0].src_end == 0);
  CHECK(a.segments[0].last);
  CHECK(a.segments[0].digests.empty());
  CHECK(fx.counter("copy_changed") == 2);
}

TEST_CASE("tailwriter actor: a fragment claiming a host its key may not write is denied, "
          "counted and not written",
          "[tailwriter][actor][binding]") {
  actor_env env;
  auto tw = env.spawn();
  caf::scoped_actor self{env.sys};
  auto db1_key = std::make_shared<wire::peer_identity>();
  db1_key->key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  db1_key->label = "db1";
  db1_key->line = 4;
  db1_key->hosts = {"db1"};
  auto unbound_key = std::make_shared<wire::peer_identity>();
  unbound_key->key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  frag_spec own;      // db1, as the key may
  frag_spec foreign;  // db2: not this key's
  foreign.host = "db2";
  foreign.file = "/var/log/pg/other.log";
  auto with_peer = [](wire::cc_message m, wire::peer_ptr p) {
    m.peer = std::move(p);
    return m;
  };
  CHECK(!dispatch_and_wait(self, tw, with_peer(make_msg(foreign, 0, "no\n"), db1_key)));
  CHECK(!dispatch_and_wait(self, tw, with_peer(make_msg(foreign, 0, "no\n"), db1_key)));
  CHECK(!dispatch_and_wait(self, tw, with_peer(make_msg(own, 0, "yes\n"), db1_key)));
  // An unbound key, and a message without a peer (in-process), write any host.
  frag_spec db3 = foreign;
  db3.host = "db3";
  CHECK(!dispatch_and_wait(self, tw, with_peer(make_msg(db3, 0, "any\n"), unbound_key)));
  frag_spec db4 = foreign;
  db4.host = "db4";
  db4.file = "/var/log/pg/local.log";
  CHECK(!dispatch_and_wait(self, tw, make_msg(db4, 0, "local\n")));
  CHECK(test::wait_until([&] {
    auto acks = env.rec->max_ack_by_file();
    return acks[own.file] == 4 && acks[db3.file] == 4 && acks[db4.file] == 6;
  }, 20s));
  auto counters = stats_of(self, tw);
  CHECK(counters["host_denied"] == 2);
  CHECK(test::read_file(env.twc.dstdir + "/db1/pg.log") == "yes\n");
  CHECK(test::read_file(env.twc.dstdir + "/db3/other.log") == "any\n");
  CHECK(test::read_file(env.twc.dstdir + "/db4/local.log") == "local\n");
  CHECK(!fs::exists(env.twc.dstdir + "/db2"));
  // Each denied fragment was answered `denied` along its route, acknowledging
  // nothing, with the writer's id and why.
  std::vector<wire::logtail_ack_body> denied;
  std::string writer;
  {
    std::lock_guard<std::mutex> guard{env.rec->mtx};
    for (auto& m : env.rec->msgs) {
      auto a = ack_of(m);
      if (a.status == "denied")
        denied.push_back(a);
      else
        writer = a.writer;
      CHECK(m.route == std::vector<std::string>{wire::local_route_frame("tailer-1")});
    }
  }
  REQUIRE(denied.size() == 2);
  for (auto& a : denied) {
    CHECK(a.filename == foreign.file);
    CHECK(a.st_ino == foreign.ino);
    CHECK(a.gen == foreign.gen);
    CHECK(a.fpos == 0);
    CHECK(a.writer == writer);
    CHECK(a.detail.find("client key " + db1_key->key + " ('db1')") != std::string::npos);
    CHECK(a.detail.find("host=db1") != std::string::npos);
    CHECK(a.detail.find("may not write host 'db2'") != std::string::npos);
  }
  CHECK(!writer.empty());
  caf::anon_send_exit(tw, caf::exit_reason::user_shutdown);
}

// -- one copy per source (issue 17, docs/guarantees.md) ----------------------------

TEST_CASE("worker: a copy belongs to the first source with an id, another is denied, "
          "its bytes not written",
          "[tailwriter][worker][ownership]") {
  worker_fixture fx;
  auto w = fx.make();
  auto text = source_text(3000);
  frag_spec a;
  a.source = "aaaaaaaaaaaaaaaa";
  fx.send(*w, a, 0, 1000, text);
  w->sync(fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 1000));
  // Another server claims the same host and file (a clone, a copied config).
  frag_spec b = a;
  b.source = "bbbbbbbbbbbbbbbb";
  b.ino = 99;
  b.gen = "00000000000000b1";
  b.route = "tailer-b";
  fx.out.clear();
  auto other = source_text(500);
  fx.send(*w, b, 0, 500, other);
  REQUIRE(fx.out.size() == 1);
  auto denied = ack_of(fx.out[0]);
  CHECK(denied.status == "denied");
  CHECK_THAT(denied.detail, Catch::Contains("aaaaaaaaaaaaaaaa"));
  CHECK_THAT(denied.detail, Catch::Contains("bbbbbbbbbbbbbbbb"));
  CHECK(fx.out[0].route == std::vector<std::string>{wire::local_route_frame("tailer-b")});
  CHECK(fx.counter("sources_denied") == 1);
  // Its questions are denied too; a sender without an id as well.
  auto question_of_b = b;
  question_of_b.route = "tailer-1"; // where ask() expects the answer
  CHECK(ask(fx, *w, make_question_msg(question_of_b, "state")).status == "denied");
  frag_spec anonymous = b;
  anonymous.source.clear();
  fx.out.clear();
  fx.send(*w, anonymous, 0, 500, other);
  REQUIRE(fx.out.size() == 1);
  CHECK(ack_of(fx.out[0]).status == "denied");
  // The owner goes on; nothing of the others is in the copy.
  fx.out.clear();
  fx.send(*w, a, 1000, 3000, text);
  w->sync(fx.out);
  CHECK(fx.copy("db1/pg.log") == text);
  // The record survives a restart of the writer.
  w.reset();
  w = fx.make();
  fx.out.clear();
  fx.send(*w, b, 0, 500, other);
  REQUIRE(fx.out.size() == 1);
  CHECK(ack_of(fx.out[0]).status == "denied");
}

TEST_CASE("worker: an owner record file of an older build is read only when the listing "
          "at the first lookup had it, not looked for per new destination",
          "[tailwriter][worker][ownership]") {
  worker_fixture fx;
  auto text = source_text(1000);
  frag_spec a;
  a.source = "aaaaaaaaaaaaaaaa";
  auto w = fx.make();
  fx.send(*w, a, 0, 500, text); // the first lookup: the owner logs and the listing
  REQUIRE(fx.out.size() == 1);
  CHECK(ack_of(fx.out[0]).status == "ok");
  // A record file put there after that is not looked for: the destination is
  // new to the logs and to the listing, so its first source claims it.
  frag_spec other = a;
  other.file = "/var/log/pg/other.log";
  other.ino = 78;
  auto dest = make_fragment(other, 0, slice(text, 0, 10)).dest_base;
  REQUIRE(!dest.empty());
  test::write_file(fx.opts.state_dir + "/" + hex64(fnv1a64(dest)) + ".owner",
                   dest + "\ncccccccccccccccc\ndb1\n");
  fx.out.clear();
  fx.send(*w, other, 0, 500, text);
  w->sync(fx.out);
  REQUIRE(!fx.out.empty());
  CHECK(ack_of(fx.out[0]).status == "ok");
  CHECK(fx.copy("db1/other.log") == slice(text, 0, 500));
  // After a restart the owner log's record (the first one) holds, as before.
  w.reset();
  w = fx.make();
  frag_spec c = other;
  c.source = "cccccccccccccccc";
  c.route = "tailer-c";
  fx.out.clear();
  fx.send(*w, c, 500, 1000, text);
  REQUIRE(fx.out.size() == 1);
  CHECK(ack_of(fx.out[0]).status == "denied");
}

TEST_CASE("worker: an owner record file of an older build is honoured, new records go "
          "to the owner log",
          "[tailwriter][worker][ownership]") {
  worker_fixture fx;
  auto text = source_text(1000);
  frag_spec a;
  a.source = "aaaaaaaaaaaaaaaa";
  auto dest = make_fragment(a, 0, slice(text, 0, 10)).dest_base;
  REQUIRE(!dest.empty());
  // A state directory written by a build before owner logs: one file per record.
  fs::create_directories(fx.opts.state_dir);
  test::write_file(fx.opts.state_dir + "/" + hex64(fnv1a64(dest)) + ".owner",
                   dest + "\ncccccccccccccccc\ndb1\n");
  auto w = fx.make();
  fx.send(*w, a, 0, 500, text);
  REQUIRE(fx.out.size() == 1);
  CHECK(ack_of(fx.out[0]).status == "denied");
  CHECK(fx.copy("db1/pg.log").empty());
  // Its owner writes; another destination is claimed in the owner log.
  frag_spec owner = a;
  owner.source = "cccccccccccccccc";
  frag_spec other = a;
  other.file = "/var/log/pg/other.log";
  other.ino = 77;
  fx.out.clear();
  fx.send(*w, owner, 0, 500, text);
  fx.send(*w, other, 0, 500, text);
  w->sync(fx.out);
  CHECK(fx.copy("db1/pg.log") == slice(text, 0, 500));
  CHECK(fx.copy("db1/other.log") == slice(text, 0, 500));
  size_t files = 0;
  std::string logs;
  for (auto& e : fs::directory_iterator(fx.opts.state_dir)) {
    auto name = e.path().filename().string();
    files += e.path().extension() == ".owner";
    if (name.compare(0, 3, "ow-") == 0)
      logs += test::read_file(e.path().string());
  }
  CHECK(files == 1); // the old one, nothing new
  CHECK(logs.find("other.log") != std::string::npos);
  CHECK(logs.find("pg.log") == std::string::npos);
  // Both hold after a restart.
  w.reset();
  w = fx.make();
  for (auto* s : {&a, &other}) {
    auto intruder = *s;
    intruder.source = "bbbbbbbbbbbbbbbb";
    fx.out.clear();
    fx.send(*w, intruder, 500, 1000, text);
    REQUIRE(fx.out.size() == 1);
    CHECK(ack_of(fx.out[0]).status == "denied");
  }
}

TEST_CASE("worker: without ids the copy is written as before (the original's senders)",
          "[tailwriter][worker][ownership]") {
  worker_fixture fx;
  auto w = fx.make();
  auto text = source_text(1000);
  frag_spec a; // no source id
  fx.send(*w, a, 0, 500, text);
  frag_spec b = a;
  b.ino = 99;
  b.gen = "00000000000000b1";
  fx.send(*w, b, 500, 1000, text);
  w->sync(fx.out);
  CHECK(fx.copy("db1/pg.log") == text);
  CHECK(fx.counter("sources_denied") == 0);
}

// -- group commit of new copies (commit_log.hpp) ----------------------------------

namespace {

/// Three new copies in two directories, from one source with an id; the
/// first fragment of each (and a second one of the first) sent.
struct commit_fixture : worker_fixture {
  frag_spec a, b, c;
  std::string text = source_text(3000);
  commit_fixture() {
    opts.group_commit = true;
    a.file = "/var/log/pg/a.log";
    a.ino = 11;
    b.file = "/var/log/pg/b.log";
    b.ino = 12;
    c.host = "db2";
    c.file = "/var/log/pg/c.log";
    c.ino = 13;
    for (auto* s : {&a, &b, &c})
      s->source = "aaaaaaaaaaaaaaaa";
  }
  void send_firsts(worker_core& w) {
    send(w, a, 0, 1000, text);
    send(w, b, 0, 1000, text);
    send(w, c, 0, 1000, text);
    send(w, a, 1000, 2000, text); // behind a's first: held in its order
  }
  std::vector<fs::path> state_files(const std::string& ext) const {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(opts.state_dir))
      if (e.path().extension() == ext)
        out.push_back(e.path());
    return out;
  }
  /// The owner logs (source_owner.hpp) of the state directory.
  std::vector<fs::path> owner_logs() const {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(opts.state_dir))
      if (e.path().filename().string().compare(0, 3, "ow-") == 0)
        out.push_back(e.path());
    return out;
  }
};

} // namespace

TEST_CASE("group commit: a batch of new copies is written once one round made it durable",
          "[tailwriter][worker][commit]") {
  commit_fixture fx;
  auto w = fx.make();
  fx.send_firsts(*w);
  // Nothing of them is written or acknowledged before their round.
  CHECK(fx.out.empty());
  CHECK(w->held() == 4);
  CHECK(fx.copy("db1/a.log").empty());
  CHECK(fx.copy("db2/c.log").empty());
  CHECK(fx.counter("fsyncs") == 0); // no sync on the worker
  REQUIRE(w->commit_due());
  auto round = w->start_commit();
  CHECK(!w->commit_due()); // one round at a time
  CHECK(round->dirs.size() == 2); // db1 and db2: one fsync per directory
  CHECK(round->journal != nullptr); // the journal log, where their journals are
  // A question about a waiting destination waits too; another goes on.
  w->handle(as_fragment(make_question_msg(fx.a, "state")), worker_core::clock::now(), fx.out);
  CHECK(w->held() == 5);
  CHECK(fx.out.empty());
  run_commit_round(*round);
  CHECK(!round->err);
  CHECK(round->syncs == 4); // the commit log, the journal log, two directories
  w->finish_commit(*round, worker_core::clock::now(), fx.out);
  CHECK(w->held() == 0);
  // Each new generation's start confirmed at once, then its bytes synced;
  // the question answered after the fragments before it.
  REQUIRE(fx.out.size() == 4);
  CHECK(fx.out.back().type == "logtail.state");
  fx.out.pop_back();
  auto starts = fx.take_acks();
  REQUIRE(starts.size() == 3);
  for (auto& s : starts)
    CHECK(s.fpos == 0);
  CHECK(fx.copy("db1/a.log") == slice(fx.text, 0, 2000));
  CHECK(fx.copy("db1/b.log") == slice(fx.text, 0, 1000));
  w->sync(fx.out);
  std::map<std::string, uint64_t> acked;
  for (auto& ack : fx.take_acks())
    acked[ack.filename] = ack.fpos;
  CHECK(acked[fx.a.file] == 2000);
  CHECK(acked[fx.b.file] == 1000);
  CHECK(acked[fx.c.file] == 1000);
  // Later segments of a copy are synced in place as before.
  auto before = fx.counter("fsyncs");
  auto next = fx.a;
  next.gen = "00000000000000a2";
  fx.send(*w, next, 0, 500, fx.text);
  CHECK(fx.counter("fsyncs") > before);
  CHECK(w->held() == 0);
}

TEST_CASE("group commit: a crash before the round loses nothing acknowledged, the round "
          "syncs the journal log, recovery reads the commit log's owner records",
          "[tailwriter][worker][commit][journal_log]") {
  commit_fixture fx;
  auto w = fx.make();
  auto log_name = names_in(fx.opts.state_dir, jlog::prefix(fx.opts.section)).at(0);
  auto log_path = fx.opts.state_dir + "/" + log_name;
  auto empty_size = fs::file_size(log_path);
  fx.send_firsts(*w);
  CHECK(fx.out.empty());
  CHECK(fs::file_size(log_path) > empty_size); // written, not synced
  auto round = w->start_commit();
  CHECK(fx.out.empty());
  CHECK(round->journal != nullptr);
  // The round's entries are written to the commit log now: owner lines only
  // (the journals are records in the journal log, which the round syncs).
  std::string commit_text;
  for (auto& name : names_in(fx.opts.state_dir, "cl-"))
    commit_text += test::read_file(fx.opts.state_dir + "/" + name);
  CHECK(commit_text.find("\nO ") != std::string::npos);
  CHECK(commit_text.find("\nJ ") == std::string::npos);
  SECTION("the journal log's records and the owner records never reached the disk") {
    // The crash: the round never ran. What was written unsynced is lost
    // (pages never written back).
    w.reset();
    round.reset();
    auto owners = fx.owner_logs();
    CHECK(fx.state_files(".owner").empty()); // one owner log, no file per record
    REQUIRE(owners.size() == 1);
    CHECK(test::read_file(owners[0].string()).find("db1/b.log") != std::string::npos);
    fs::resize_file(log_path, empty_size);
    for (auto& p : owners)
      fs::resize_file(p, 0);
  }
  SECTION("a process crash: the page cache kept everything") {
    w.reset();
    round.reset();
  }
  SECTION("a crash in the middle of an owner line") {
    w.reset();
    round.reset();
    auto owners = fx.owner_logs();
    REQUIRE(owners.size() == 1);
    auto size = fs::file_size(owners[0]);
    fs::resize_file(owners[0], size - 7); // the last record torn
  }
  SECTION("a crash in the middle of the journal log's last record") {
    w.reset();
    round.reset();
    fs::resize_file(log_path, fs::file_size(log_path) - 5);
  }
  // The next start replays the commit log (every owner record holds its
  // source again) and merges the journal log; no copy byte was written.
  prepare_logs(fx.opts);
  auto w2 = fx.make();
  CHECK(journals_in(fx.opts.state_dir) == 0);
  CHECK(fx.copy("db1/a.log").empty());
  CHECK(fx.copy("db1/b.log").empty());
  // The senders resend after their timeout: written once, acknowledged.
  fx.send(*w2, fx.a, 0, 2000, fx.text);
  fx.send(*w2, fx.c, 0, 1000, fx.text);
  for (int i = 0; i < 4 && w2->held() > 0; ++i) {
    auto r2 = w2->start_commit();
    run_commit_round(*r2);
    w2->finish_commit(*r2, worker_core::clock::now(), fx.out);
  }
  CHECK(w2->held() == 0);
  w2->sync(fx.out);
  std::map<std::string, uint64_t> acked;
  for (auto& ack : fx.take_acks())
    acked[ack.filename] = std::max(acked[ack.filename], ack.fpos);
  CHECK(acked[fx.a.file] == 2000);
  CHECK(acked[fx.c.file] == 1000);
  CHECK(fx.copy("db1/a.log") == slice(fx.text, 0, 2000));
  CHECK(fx.copy("db2/c.log") == slice(fx.text, 0, 1000));
  CHECK(fx.counter("copy_changed") == 0);
  // The replayed owner record still keeps another source out.
  auto other = fx.b;
  other.source = "bbbbbbbbbbbbbbbb";
  fx.send(*w2, other, 0, 1000, fx.text);
  REQUIRE(!fx.out.empty());
  CHECK(ack_of(fx.out.back()).status == "denied");
  CHECK(fx.copy("db1/b.log").empty());
  // So does the last one claimed (torn in one section).
  auto other_c = fx.c;
  other_c.source = "bbbbbbbbbbbbbbbb";
  fx.send(*w2, other_c, 1000, 2000, fx.text);
  REQUIRE(!fx.out.empty());
  CHECK(ack_of(fx.out.back()).status == "denied");
  CHECK(fx.copy("db2/c.log") == slice(fx.text, 0, 1000));
}

TEST_CASE("group commit: a round's entries reach the commit log together, when the round "
          "is taken, and replay from there",
          "[tailwriter][commit]") {
  test::temp_dir tmp{"cc-commit-buffer"};
  auto dir = tmp / "state";
  fs::create_directories(dir);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  auto first_line = journal::seal("W =db1/w =src =db1");
  auto owner_line = journal::seal("W =db1/x =src =db1");
  auto next_line = journal::seal("W =db1/y =src =db1");
  auto log_file = dir + "/" + commit_log_prefix("h:tw") + "0.0";
  {
    auto log = commit_log::open(fd, fd, "h:tw", 0);
    REQUIRE(log);
    auto started = test::read_file(log_file); // its G line
    REQUIRE(!started.empty());
    REQUIRE(!(*log)->add_owner_line("ow-first", first_line));
    REQUIRE(!(*log)->add_owner_line("ow-test", owner_line));
    CHECK((*log)->pending());
    CHECK(test::read_file(log_file) == started); // nothing written yet
    auto round = (*log)->take();
    auto taken = test::read_file(log_file);
    CHECK(taken.size() > started.size());
    CHECK(taken.find("\nO =ow-first ") != std::string::npos);
    CHECK(taken.find("\nO =ow-test ") != std::string::npos);
    run_commit_round(round);
    REQUIRE(!round.err);
    // The next round's entry, at shutdown: sync_all writes it first.
    REQUIRE(!(*log)->add_owner_line("ow-next", next_line));
    int64_t syncs = 0;
    REQUIRE(!(*log)->sync_all(syncs));
    CHECK(test::read_file(log_file).find("\nO =ow-next ") != std::string::npos);
  }
  // A crash took the owner lines: the log has them all.
  auto n = replay_commit_logs(fd, commit_log_prefix("h:tw"));
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(test::read_file(dir + "/ow-first") == first_line);
  CHECK(test::read_file(dir + "/ow-test") == owner_line);
  CHECK(test::read_file(dir + "/ow-next") == next_line);
  ::close(fd);
}

TEST_CASE("group commit: the commit log of an older build keeps an old journal file and mends "
          "a torn one",
          "[tailwriter][commit]") {
  test::temp_dir tmp{"cc-commit-log"};
  auto dir = tmp / "state";
  fs::create_directories(dir);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  auto text = std::string{"H 1 =no =none =db1/x.log =id-x #00000000\n"};
  auto owner_line = journal::seal("W =db1/x =src =db1");
  auto kept_line = journal::seal("W =db1/y =src =db1");
  {
    auto log = commit_log::open(fd, fd, "h:tw", 0);
    REQUIRE(log);
    REQUIRE(!(*log)->add_owner_line("ow-test", owner_line));
    REQUIRE(!(*log)->add_owner_line("ow-test", kept_line));
    auto round = (*log)->take();
    run_commit_round(round);
    REQUIRE(!round.err);
  }
  // Lines as older builds wrote them: a new copy's journal file (before
  // session 18) and a record file's text (before owner logs).
  {
    std::ofstream cl{dir + "/" + commit_log_prefix("h:tw") + "0.0", std::ios::app};
    for (auto name : {"x.j", "y.j"})
      cl << journal::seal("J " + journal_escape(name) + " " + journal_escape(text));
    cl << journal::seal("W =z.owner " + journal_escape("db1/z\nsrc\ndb1\n"));
  }
  test::write_file(dir + "/x.j", text + "more lines\n"); // whole, written on since
  test::write_file(dir + "/y.j", "H 1 =no"); // torn
  test::write_file(dir + "/ow-test", kept_line + "W =db1/x =s"); // one kept, one torn
  auto n = replay_commit_logs(fd, commit_log_prefix("h:tw"));
  REQUIRE(n);
  CHECK(*n == 3); // y.j, the torn owner line and the missing z.owner
  CHECK(test::read_file(dir + "/x.j") == text + "more lines\n");
  CHECK(test::read_file(dir + "/y.j") == text);
  CHECK(test::read_file(dir + "/z.owner") == "db1/z\nsrc\ndb1\n");
  // The torn line stays a damaged line of its own; the record follows whole.
  CHECK(test::read_file(dir + "/ow-test") == kept_line + "W =db1/x =s\n" + owner_line);
  // The logs are gone: a second replay finds nothing to do.
  auto again = replay_commit_logs(fd, commit_log_prefix("h:tw"));
  REQUIRE(again);
  CHECK(*again == 0);
  ::close(fd);
}

TEST_CASE("worker: a copy closed with unsynced bytes is synced and acknowledged by the next "
          "batch, not on the worker",
          "[tailwriter][worker][commit]") {
  worker_fixture fx;
  fx.opts.sync_off_thread = true;
  fx.opts.max_open_copies = 1;
  auto w = fx.make();
  frag_spec a, b;
  b.file = "/var/log/pg/other.log";
  b.ino = 78;
  auto text = source_text(2000);
  fx.send(*w, a, 0, 2000, text);
  fx.take_start_ack(0);
  auto before = fx.counter("fsyncs");
  // b's copy takes the one slot: a is closed with 2000 bytes not synced.
  fx.send(*w, b, 0, 500, text);
  CHECK(w->open_copies() == 1);
  CHECK(fx.counter("fsyncs") == before + 3); // b's commit round; nothing of a's
  fx.take_start_ack(0);
  CHECK(w->needs_sync());
  auto batch = w->start_sync(fx.out);
  REQUIRE(batch->size() == 2); // a's owed sync and b's
  CHECK(fx.out.empty());
  run_sync_jobs(*batch);
  w->finish_sync(*batch, fx.out);
  std::map<std::string, uint64_t> acked;
  for (auto& ack : fx.take_acks())
    acked[ack.filename] = ack.fpos;
  CHECK(acked[a.file] == 2000);
  CHECK(acked[b.file] == 500);
  // Its journal ends with a clean close now: reopening it syncs nothing.
  auto journals = 0;
  for (auto& [id, text] : logged_journals(fx.opts))
    journals += text.find("\nC 2000 #") != std::string::npos;
  CHECK(journals == 1);
}

// -- the journal log (journal_log.hpp): a worker's copies' journals as records in
// one log file per worker --------------------------------------------------------

TEST_CASE("journal log: a worker does not start on a state directory being exported, and "
          "holds its lock while it lives",
          "[tailwriter][worker][journal_log]") {
  worker_fixture fx;
  fs::create_directories(fx.opts.state_dir);
  int fd = ::open(fx.opts.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(!lock_state_dir(fd, true)); // --export-journals runs
  {
    worker_core w{fx.opts, fx.counters};
    auto err = w.init();
    REQUIRE(err);
    CHECK_THAT(describe(err), Catch::Contains("being exported"));
  }
  ::close(fd);
  auto w = fx.make();
  int exporter = ::open(fx.opts.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(exporter >= 0);
  CHECK(lock_state_dir(exporter, true)); // refused while the worker lives
  w.reset();
  CHECK(!lock_state_dir(exporter, true));
  ::close(exporter);
}

TEST_CASE("journal log: an upgrade takes the journal files of an older build in and "
          "their copies go on whole, and a change of worker count finds them too",
          "[tailwriter][worker][journal_log]") {
  worker_fixture fx;
  std::vector<frag_spec> files(4);
  std::vector<std::string> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].file = "/logs/u" + std::to_string(i) + ".log";
    files[i].ino = 300 + i;
    files[i].comp = i % 2 == 0 ? wire::compression::none : wire::compression::gzip;
    texts.push_back(source_text(4000, static_cast<int>(i)));
  }
  {
    auto w = fx.make();
    for (size_t i = 0; i < files.size(); ++i)
      fx.send(*w, files[i], 0, 2000, texts[i]);
    w->sync(fx.out);
    w->close_all(fx.out);
  }
  // The state an older build leaves, a journal file per copy: the log
  // exported for a downgrade (the older build would have written on).
  {
    int fd = ::open(fx.opts.state_dir.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    auto exported = export_journal_files(fd);
    ::close(fd);
    REQUIRE(exported);
    CHECK(exported->copies == 4);
  }
  REQUIRE(journals_in(fx.opts.state_dir) == 4);
  CHECK(names_in(fx.opts.state_dir, jlog::prefix(fx.opts.section)).empty());
  auto r = prepare_logs(fx.opts, 2);
  CHECK(r.migrated == 4);
  CHECK(r.copies == 4);
  CHECK(journals_in(fx.opts.state_dir) == 0);
  std::vector<std::unique_ptr<worker_core>> workers;
  for (size_t k = 0; k < 2; ++k) {
    fx.opts.index = k;
    workers.push_back(fx.make());
  }
  for (size_t i = 0; i < files.size(); ++i) {
    auto dest = "db1/u" + std::to_string(i) + ".log";
    auto& w = *workers[fnv1a64(dest) % 2];
    fx.send(w, files[i], 1500, 3000, texts[i]);
    w.sync(fx.out);
    CHECK(fx.copy(dest) == slice(texts[i], 0, 3000));
  }
  CHECK(fx.counter("copy_changed") == 0);
  for (auto& w : workers)
    w->close_all(fx.out);
  workers.clear();
  // Back to one worker: it holds every copy.
  prepare_logs(fx.opts, 1);
  CHECK(names_in(fx.opts.state_dir, jlog::prefix(fx.opts.section)).size() == 1);
  fx.opts.index = 0;
  auto w1 = fx.make();
  for (size_t i = 0; i < files.size(); ++i) {
    fx.send(*w1, files[i], 2500, 4000, texts[i]);
    w1->sync(fx.out);
    CHECK(fx.copy("db1/u" + std::to_string(i) + ".log") == texts[i]);
  }
  CHECK(fx.counter("copy_changed") == 0);
}

TEST_CASE("journal log: a new copy whose journal records cannot be written to the log is "
          "neither written nor acknowledged, and is found whole after a restart",
          "[tailwriter][worker][commit][journal_log]") {
  commit_fixture fx;
  auto w = fx.make();
  frag_spec g1 = fx.a;
  g1.op_mode = "rotated";
  auto g2 = g1;
  g2.gen = "00000000000000a2";
  auto run_rounds = [&](worker_core& wk) {
    for (int i = 0; i < 4 && wk.held() > 0; ++i) {
      auto r = wk.start_commit();
      run_commit_round(*r);
      wk.finish_commit(*r, worker_core::clock::now(), fx.out);
    }
  };
  fx.send(*w, g1, 0, 100, fx.text); // the destination's owner record: made now
  run_rounds(*w);
  REQUIRE(fx.take_acks().size() == 1);
  auto log_path =
    fx.opts.state_dir + "/" + names_in(fx.opts.state_dir, jlog::prefix(fx.opts.section)).at(0);
  // The journal log cannot grow by a whole record (a full disk, as EFBIG).
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old_limit {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  struct rlimit small = old_limit;
  small.rlim_cur = static_cast<rlim_t>(fs::file_size(log_path) + 20);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  fx.send(*w, g2, 0, 100, fx.text);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  ::signal(SIGXFSZ, old_handler);
  CHECK(w->held() == 0); // not waiting for a round: dropped
  run_rounds(*w);
  CHECK(fx.take_acks().empty());
  // Its sender sends it again: written once, acknowledged.
  fx.send(*w, g2, 0, 100, fx.text);
  run_rounds(*w);
  w->sync(fx.out);
  auto acks = fx.take_acks();
  REQUIRE(!acks.empty());
  CHECK(acks.back().fpos == 100);
  w->close_all(fx.out);
  w.reset();
  // A restart finds both copies by their journals: resent bytes are
  // duplicates, no copy is made anew.
  prepare_logs(fx.opts);
  auto w2 = fx.make();
  fx.send(*w2, g2, 0, 100, fx.text);
  fx.send(*w2, g1, 0, 100, fx.text);
  run_rounds(*w2);
  w2->sync(fx.out);
  CHECK(w2->held() == 0);
  // (The dropped copy's file stays, empty, as after any failed creation.)
  size_t copies = 0;
  for (auto& e : fs::directory_iterator(fx.opts.dstdir + "/db1")) {
    auto bytes = test::read_file(e.path().string());
    if (bytes.empty())
      continue;
    ++copies;
    CHECK(bytes == slice(fx.text, 0, 100));
  }
  CHECK(copies == 2);
}
