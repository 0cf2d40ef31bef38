// The journal log (actors/write/journal_log): records, damage, compaction,
// the start's merge (legacy journals, a changed worker count), and a copy's
// journal through the log and back into copy_file's recovery.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "actors/write/copy_journal.hpp"
#include "actors/write/copy_writer.hpp"
#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/hash.hpp"
#include "tests/support/process.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"

using namespace cc;
using namespace cc::tw;
namespace fs = std::filesystem;

namespace {

const std::string pfx = jlog::prefix("tailwriter");
const std::string id_a = "00000000000000aa";
const std::string id_b = "00000000000000bb";
const std::string id_c = "00000000000000cc";

/// A copy's journal text as copy_file writes it.
std::string jtext(const std::string& identity, const std::string& path,
                  std::initializer_list<std::string> more = {}) {
  std::string out = journal::seal("H 1 =no =none " + journal_escape(path) + " "
                                  + journal_escape(identity))
                    + journal::seal("O");
  for (const auto& body : more)
    out += journal::seal(body);
  return out;
}

std::string seg(uint64_t src_base, uint64_t copy_base) {
  return "S =db1 2049 1234 =/var/log/x.log =g1 " + std::to_string(src_base) + " "
         + std::to_string(copy_base);
}

struct state_dir {
  test::temp_dir tmp{"cc-jlog"};
  std::string dir = tmp / "state";
  int fd = -1;
  state_dir() {
    fs::create_directories(dir);
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  }
  ~state_dir() { ::close(fd); }
  std::string path(const std::string& name) const { return dir + "/" + name; }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (auto& e : fs::directory_iterator(dir))
      out.insert(e.path().filename());
    return out;
  }
  std::unique_ptr<journal_log> open(size_t worker = 0) const {
    auto jl = journal_log::open(fd, pfx, worker);
    REQUIRE(jl);
    return std::move(*jl);
  }
  journal_prepare_result prepare(size_t workers, std::time_t now = std::time(nullptr)) const {
    auto r = prepare_journal_logs(fd, pfx, workers, by_identity(workers),
                                  std::chrono::hours{24 * 30}, now);
    REQUIRE(r);
    return *r;
  }
  static std::function<size_t(const std::string&)> by_identity(size_t workers) {
    return [workers](const std::string& identity) {
      return static_cast<size_t>(fnv1a64(identity) % workers);
    };
  }
};

std::string text_of(const journal_log& jl, const std::string& id) {
  auto t = jl.text(id);
  REQUIRE(t);
  return *t;
}

void set_mtime(const std::string& path, std::time_t t) {
  struct timeval tv[2] = {{t, 0}, {t, 0}};
  REQUIRE(::utimes(path.c_str(), tv) == 0);
}

} // namespace

TEST_CASE("journal log: records of several copies, read back per copy, replaced by a batch",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0)});
  auto b = jtext("C\nno\nb", "b.log", {seg(0, 0), "C 10"});
  {
    auto jl = st.open();
    REQUIRE(!jl->append(id_a, a));
    REQUIRE(!jl->append(id_b, b));
    REQUIRE(!jl->append(id_a, journal::seal("C 100")));
    REQUIRE(!jl->sync());
    CHECK(text_of(*jl, id_a) == a + journal::seal("C 100"));
    CHECK(text_of(*jl, id_b) == b);
    CHECK(text_of(*jl, id_c).empty());
    CHECK(!jl->has(id_c));
    // A copy's compaction: a batch replaces what it had.
    auto compacted = jtext("C\nno\na", "a.log", {seg(0, 0), "C 100"});
    REQUIRE(!jl->replace(id_a, compacted));
    CHECK(text_of(*jl, id_a) == compacted);
  }
  // One file for both copies, and what a restart reads is the same.
  CHECK(st.names() == std::set<std::string>{jlog::file_name(pfx, 1, 0)});
  auto jl = st.open();
  CHECK(text_of(*jl, id_a) == jtext("C\nno\na", "a.log", {seg(0, 0), "C 100"}));
  CHECK(text_of(*jl, id_b) == b);
  CHECK(jl->bad_records() == 0);
  // journal::parse reads it as the copy's journal.
  auto parsed = journal::parse(text_of(*jl, id_b));
  REQUIRE(parsed.header);
  CHECK(parsed.header->identity == "C\nno\nb");
  CHECK(parsed.claimed);
  CHECK(parsed.records.size() == 2);
}

TEST_CASE("journal log: a torn last record is cut off, a batch it cuts does not count",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0)});
  {
    auto jl = st.open();
    REQUIRE(!jl->append(id_a, a));
    REQUIRE(!jl->append(id_b, jtext("C\nno\nb", "b.log")));
  }
  auto file = st.path(jlog::file_name(pfx, 1, 0));
  // A crash tore a batch for a (its R record and half of the next one).
  auto batch = jlog::batch(id_a, jtext("C\nno\na", "a.log", {seg(0, 0), "C 5"}), 0);
  test::append_file(file, batch.substr(0, batch.size() - 7));
  auto size_before = fs::file_size(file);
  {
    auto jl = st.open();
    CHECK(text_of(*jl, id_a) == a);
    CHECK(text_of(*jl, id_b) == jtext("C\nno\nb", "b.log"));
    CHECK(jl->bad_records() == 0);
    CHECK(fs::file_size(file) < size_before); // the torn tail is cut
    // What is appended after it reads whole.
    REQUIRE(!jl->append(id_a, journal::seal("C 7")));
  }
  auto jl = st.open();
  CHECK(text_of(*jl, id_a) == a + journal::seal("C 7"));
}

TEST_CASE("journal log: a bad record in the middle ends its copy's records, "
          "other copies' records after it count",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0)});
  auto b = jtext("C\nno\nb", "b.log", {seg(0, 0)});
  std::string log = jlog::records(id_a, a) + jlog::records(id_b, b);
  auto bad = jlog::record(id_a, "C 100");
  bad[bad.size() - 3] = bad[bad.size() - 3] == '0' ? '1' : '0'; // its checksum fails
  log += bad + jlog::record(id_b, "C 20") + jlog::record(id_a, "A")
         + jlog::record(id_c, "H 1 =no =none =c.log =C%0ano%0ac");
  test::write_file(st.path(jlog::file_name(pfx, 1, 0)), log);
  {
    auto jl = st.open();
    CHECK(jl->bad_records() == 1);
    CHECK(text_of(*jl, id_a) == a); // not its A after the damage
    CHECK(text_of(*jl, id_b) == b + journal::seal("C 20"));
    CHECK(journal::parse(text_of(*jl, id_c)).header);
    // A whole batch (a compaction) makes the copy's records count again.
    REQUIRE(!jl->replace(id_a, a));
    REQUIRE(!jl->append(id_a, journal::seal("C 9")));
    CHECK(text_of(*jl, id_a) == a + journal::seal("C 9"));
  }
  // The start's merge reads the same.
  auto r = st.prepare(1);
  CHECK(r.bad_records == 1);
  CHECK(r.copies == 3);
  auto jl = st.open();
  CHECK(text_of(*jl, id_a) == a + journal::seal("C 9"));
  CHECK(text_of(*jl, id_b) == b + journal::seal("C 20"));
  CHECK(jl->bad_records() == 0);
}

TEST_CASE("journal log: compaction keeps every copy's journal, and a crash during it "
          "loses nothing",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0)});
  auto b = jtext("C\nno\nb", "b.log", {seg(0, 0)});
  auto jl = st.open();
  REQUIRE(!jl->append(id_a, a));
  REQUIRE(!jl->append(id_b, b));
  std::string a_now = a;
  for (int i = 0; i < 200; ++i) { // a copy compacted often: dead records
    a_now = jtext("C\nno\na", "a.log", {seg(0, 0), "C " + std::to_string(i)});
    REQUIRE(!jl->replace(id_a, a_now));
  }
  CHECK(jl->compaction_due(1000));
  CHECK(!jl->compaction_due(jl->size()));
  auto old_name = jl->file();
  auto old_size = jl->size();
  // A crash before the rename left the next file's temporary: not read.
  test::write_file(st.path(jlog::file_name(pfx, 2, 0) + ".tmp"), "garbage");
  {
    auto again = st.open();
    CHECK(again->file() == old_name);
    CHECK(text_of(*again, id_a) == a_now);
  }
  // A crash after the rename, before the old file's unlink: both whole.
  fs::copy_file(st.path(old_name), st.tmp / "old");
  REQUIRE(!jl->compact());
  CHECK(jl->size() < old_size / 10);
  CHECK(jl->file() == jlog::file_name(pfx, 2, 0));
  CHECK(!fs::exists(st.path(old_name)));
  CHECK(text_of(*jl, id_a) == a_now);
  CHECK(text_of(*jl, id_b) == b);
  REQUIRE(!jl->append(id_b, journal::seal("C 3")));
  jl.reset();
  fs::copy_file(st.tmp / "old", st.path(old_name));
  {
    auto again = st.open(); // the newest file: everything
    CHECK(text_of(*again, id_a) == a_now);
    CHECK(text_of(*again, id_b) == b + journal::seal("C 3"));
  }
  // The start's merge reads both in order; the leftovers go.
  auto r = st.prepare(1);
  CHECK(r.copies == 2);
  CHECK(st.names() == std::set<std::string>{jlog::file_name(pfx, 3, 0)});
  auto merged = st.open();
  CHECK(text_of(*merged, id_a) == a_now);
  CHECK(text_of(*merged, id_b) == b + journal::seal("C 3"));
}

TEST_CASE("journal log: the start takes legacy journals in, and a copy's log records win "
          "over its legacy journal, which goes only after the new file is durable",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto now = std::time(nullptr);
  auto legacy_a = jtext("C\nno\na", "a.log", {seg(0, 0), "C 50"});
  auto legacy_b = jtext("C\nno\nb", "b.log", {seg(0, 0)});
  auto log_a = jtext("C\nno\na", "a.log", {seg(0, 0), "C 50", "A", seg(50, 50)});
  test::write_file(st.path(id_a + ".j"), legacy_a); // migrated before, not unlinked
  test::write_file(st.path(id_b + ".j"), legacy_b + "S =torn");
  test::write_file(st.path(id_c + ".j"), jtext("C\nno\nc", "c.log"));
  set_mtime(st.path(id_c + ".j"), now - 31 * 86400); // unused for a month
  test::write_file(st.path("0000000000000dd.j.tmp"), "left by a compaction");
  test::write_file(st.path("other.txt"), "not a journal: it stays");
  test::write_file(st.path(jlog::file_name(pfx, 1, 0)), jlog::batch(id_a, log_a, now - 60));
  auto r = st.prepare(1, now);
  CHECK(r.migrated == 2); // b and c; a's records are in the log
  CHECK(r.pruned == 1);   // c
  CHECK(r.copies == 2);
  CHECK(st.names() == std::set<std::string>{jlog::file_name(pfx, 2, 0), "other.txt"});
  auto jl = st.open();
  CHECK(text_of(*jl, id_a) == log_a);
  CHECK(text_of(*jl, id_b) == legacy_b); // its torn line is not taken
  CHECK(!jl->has(id_c));
  // The legacy journal's time is kept: the next start a month later prunes.
  auto later = st.prepare(1, now + 31 * 86400);
  CHECK(later.pruned == 2);
  CHECK(later.copies == 0);
}

TEST_CASE("journal log: a change of worker-threads between runs moves each copy's "
          "journal to its new worker's log",
          "[tailwriter][journal_log]") {
  state_dir st;
  std::vector<std::string> ids;
  std::map<std::string, std::string> texts;
  std::map<std::string, std::string> identity;
  for (int i = 0; i < 20; ++i) {
    auto id = hex64(static_cast<uint64_t>(1000 + i));
    identity[id] = "C\nno\ndb" + std::to_string(i) + "/x.log";
    texts[id] = jtext(identity[id], "db" + std::to_string(i) + "/x.log", {seg(0, 0)});
    ids.push_back(id);
  }
  auto assign2 = state_dir::by_identity(2);
  {
    std::vector<std::unique_ptr<journal_log>> logs;
    logs.push_back(st.open(0));
    logs.push_back(st.open(1));
    for (auto& id : ids)
      REQUIRE(!logs[assign2(identity[id])]->append(id, texts[id]));
    for (auto& id : ids) {
      texts[id] += journal::seal("C 1");
      REQUIRE(!logs[assign2(identity[id])]->append(id, journal::seal("C 1")));
    }
  }
  auto r = st.prepare(3);
  CHECK(r.copies == 20);
  CHECK(st.names().size() == 3); // one file per worker, the old ones gone
  auto assign3 = state_dir::by_identity(3);
  for (size_t w = 0; w < 3; ++w) {
    auto jl = st.open(w);
    for (auto& id : ids)
      if (assign3(identity[id]) == w)
        CHECK(text_of(*jl, id) == texts[id]);
      else
        CHECK(!jl->has(id));
  }
  // And back to one worker.
  st.prepare(1);
  auto jl = st.open(0);
  CHECK(jl->ids() == 20);
  for (auto& id : ids)
    CHECK(text_of(*jl, id) == texts[id]);
}

TEST_CASE("journal log: a gzip and a zstd-received copy's journal (members, digests, "
          "clean close) goes through the log and back, and copy_file recovers from it",
          "[tailwriter][journal_log]") {
  for (auto received : {wire::compression::gzip, wire::compression::zstd}) {
    test::temp_dir tmp{"cc-jlog-copy"};
    fs::create_directories(tmp / "dst");
    fs::create_directories(tmp / "state");
    int dst_fd = ::open((tmp / "dst").c_str(), O_RDONLY | O_DIRECTORY);
    int state_fd = ::open((tmp / "state").c_str(), O_RDONLY | O_DIRECTORY);
    copy_options opts;
    opts.mode = write_mode::keep;
    copy_spec spec;
    spec.identity = "C\nkeep\ndb1/x.log";
    spec.base_path = "db1/x.log";
    spec.out = wire::compression::gzip;
    source_key key{"db1", 2049, 1234, "/var/log/x.log"};
    std::string src;
    for (int i = 0; src.size() < 300000; ++i)
      src += "line " + std::to_string(i * 7919) + "\n";
    std::string id;
    {
      auto written = journal_log::open(state_fd, pfx, 0);
      REQUIRE(written);
      opts.log = written->get();
      auto cf = copy_file::open(opts, dst_fd, spec, std::time(nullptr));
      REQUIRE(cf);
      for (uint64_t at = 0; at < src.size(); at += 70000) {
        auto raw = src.substr(at, 70000);
        auto d = (*cf)->decide(key, "g1", at, raw.size(), true);
        auto member = wire::compress(raw, received, 3);
        REQUIRE(member);
        REQUIRE((*cf)->append(key, "g1", d, raw, *member, received,
                              copy_file::clock::now()));
        REQUIRE(!(*cf)->sync());
      }
      id = (*cf)->journal_file();
      REQUIRE(!(*cf)->close());
      opts.log = nullptr;
    }
    // Out of the log as the journal file an older build reads (a
    // downgrade's export), and into the log again (the start's migration).
    auto exported = export_journal_files(state_fd);
    REQUIRE(exported);
    CHECK(exported->copies == 1);
    auto journal_name = id + ".j";
    auto legacy = test::read_file(tmp / ("state/" + journal_name));
    auto before = journal::parse(legacy);
    REQUIRE(before.records.size() > 5);
    auto r = prepare_journal_logs(state_fd, pfx, 2, state_dir::by_identity(2),
                                  std::chrono::hours{24}, std::time(nullptr));
    REQUIRE(r);
    CHECK(r->migrated == 1);
    CHECK(!fs::exists(tmp / ("state/" + journal_name)));
    auto jl = journal_log::open(state_fd, pfx, state_dir::by_identity(2)(spec.identity));
    REQUIRE(jl);
    auto text = text_of(**jl, id);
    CHECK(text == legacy.substr(0, before.good_bytes));
    auto after = journal::parse(text);
    REQUIRE(after.records.size() == before.records.size());
    for (size_t i = 0; i < after.records.size(); ++i) {
      CHECK(after.records[i].kind == before.records[i].kind);
      CHECK(after.records[i].src_end == before.records[i].src_end);
      CHECK(after.records[i].copy_size == before.records[i].copy_size);
      CHECK(after.records[i].digest == before.records[i].digest);
    }
    // copy_file reads it from the log: the copy recovers whole.
    opts.log = jl->get();
    auto cf = copy_file::open(opts, dst_fd, spec, std::time(nullptr));
    REQUIRE(cf);
    REQUIRE((*cf)->find(key, "g1") != nullptr);
    CHECK((*cf)->find(key, "g1")->src_end == src.size());
    CHECK((*cf)->take_changed() == 0);
    REQUIRE(!(*cf)->close());
    auto out = wire::decompress(test::read_file(tmp / "dst/db1/x.log.gz"),
                                wire::compression::gzip, 1 << 30);
    REQUIRE(out);
    CHECK(*out == src);
    ::close(dst_fd);
    ::close(state_fd);
  }
}

namespace {

/// The live records' bytes, counted the long way: every record of every id.
uint64_t walked_live_bytes(const jlog::index& idx) {
  uint64_t n = 0;
  for (const auto& [id, e] : idx.entries())
    for (const auto& s : e.recs)
      n += s.len + id.size() + 1 + 11; // "<id> <body> #<8 hex>\n"
  return n;
}

/// Two indexes say the same: each id's records at the same places.
void same_records(const jlog::index& x, const jlog::index& y) {
  REQUIRE(x.entries().size() == y.entries().size());
  for (const auto& [id, e] : x.entries()) {
    INFO("id " << id);
    auto other = y.find(id);
    REQUIRE(other != nullptr);
    CHECK(e.damaged == other->damaged);
    REQUIRE(e.recs.size() == other->recs.size());
    for (size_t i = 0; i < e.recs.size(); ++i) {
      CHECK(e.recs[i].off == other->recs[i].off);
      CHECK(e.recs[i].len == other->recs[i].len);
    }
  }
  CHECK(x.live_bytes() == y.live_bytes());
}

} // namespace

TEST_CASE("journal log: records written are indexed where a restart finds them, and the "
          "live bytes are kept as they come and go, not walked for each compaction check",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto jl = st.open();
  CHECK(jl->records_index().live_bytes() == 0);
  REQUIRE(!jl->append(id_a, jtext("C\nno\na", "a.log", {seg(0, 0)})));
  REQUIRE(!jl->append(id_b, jtext("C\nno\nb", "b.log", {seg(0, 0)})));
  for (int i = 1; i <= 20; ++i)
    REQUIRE(!jl->append(id_a, journal::seal("D 0 " + std::to_string(i << 20) + " 0123456789abcdef")));
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  // A compaction of a (a batch), a dropped new copy (an empty batch), more
  // records of b.
  REQUIRE(!jl->replace(id_a, jtext("C\nno\na", "a.log", {seg(0, 0), "C 100"})));
  REQUIRE(!jl->replace(id_c, ""));
  REQUIRE(!jl->append(id_b, journal::seal("C 50")));
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  // What a restart reads from the file is what was indexed as written.
  {
    auto again = st.open();
    same_records(jl->records_index(), again->records_index());
  }
  // The compaction check: the file against twice the live records.
  auto live = jl->records_index().live_bytes();
  CHECK(jl->size() > 2 * live); // a's twenty D records are dead now
  CHECK(jl->compaction_due(0));
  CHECK(!jl->compaction_due(jl->size()));
  REQUIRE(!jl->compact());
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  CHECK(!jl->compaction_due(0));
  // A damaged record of b (a bad checksum): b takes no more records until a
  // batch, whether read at a start or written afterwards.
  jl.reset();
  test::append_file(st.path(jlog::file_name(pfx, 2, 0)), id_b + " C 77 #00000000\n");
  jl = st.open();
  CHECK(jl->damaged(id_b));
  REQUIRE(!jl->append(id_b, journal::seal("C 78")));
  REQUIRE(!jl->append(id_a, journal::seal("C 101")));
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  {
    auto again = st.open();
    same_records(jl->records_index(), again->records_index());
    CHECK(text_of(*again, id_b) == jtext("C\nno\nb", "b.log", {seg(0, 0), "C 50"}));
  }
  REQUIRE(!jl->replace(id_b, jtext("C\nno\nb", "b.log", {seg(0, 0), "C 78"})));
  CHECK(!jl->damaged(id_b));
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  auto again = st.open();
  same_records(jl->records_index(), again->records_index());
}

TEST_CASE("journal log: an export for a downgrade writes each copy's journal as the journal "
          "file an older build reads, with its time, and removes the logs only after",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto now = std::time(nullptr);
  // Two workers' logs, written at start by the merge (with their times),
  // then on by the workers; a copy dropped unwritten (no header); a legacy
  // journal the logs hold no journal of, and one they do.
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0), "C 50"});
  auto b = jtext("C\nno\nb", "b.log", {seg(0, 0)});
  auto d = jtext("C\nno\nd", "d.log", {seg(0, 0), "C 9"});
  test::write_file(st.path(jlog::file_name(pfx, 3, 0)),
                   jlog::batch(id_a, a, now - 3600) + jlog::batch(id_c, "", now));
  test::write_file(st.path(jlog::file_name(pfx, 3, 1)), jlog::batch(id_b, b, now - 7200));
  {
    auto w1 = st.open(1);
    REQUIRE(!w1->append(id_b, journal::seal("M 10 20")));
  }
  std::string id_d = "00000000000000dd";
  test::write_file(st.path(id_d + ".j"), d);                     // not in the logs: kept
  test::write_file(st.path(id_a + ".j"), jtext("C\nno\na", "a.log")); // older: replaced
  test::write_file(st.path(jlog::file_name(pfx, 3, 0) + ".tmp"), "left by a crash");
  std::map<std::string, std::string> logged;
  for (size_t w = 0; w < 2; ++w) {
    auto jl = st.open(w);
    for (const auto& id : jl->id_list())
      logged[id] = text_of(*jl, id);
  }
  REQUIRE(logged.size() == 2); // c's empty batch holds no journal
  auto r = export_journal_files(st.fd);
  REQUIRE(r);
  CHECK(r->copies == 2);
  CHECK(r->logs == 2);
  CHECK(r->bad_records == 0);
  CHECK(st.names()
        == std::set<std::string>{id_a + ".j", id_b + ".j", id_d + ".j"});
  // The legacy reader (a journal file's text, journal::parse) reads what
  // the log held for each copy.
  for (const auto& [id, text] : logged) {
    INFO("id " << id);
    auto file = test::read_file(st.path(id + ".j"));
    CHECK(file == text);
    auto from_file = journal::parse(file);
    auto from_log = journal::parse(text);
    REQUIRE(from_file.header);
    CHECK(from_file.header->identity == from_log.header->identity);
    CHECK(from_file.header->path == from_log.header->path);
    CHECK(from_file.records.size() == from_log.records.size());
    CHECK(from_file.claimed);
    CHECK(from_file.good_bytes == file.size());
  }
  CHECK(logged[id_b] == b + journal::seal("M 10 20"));
  CHECK(test::read_file(st.path(id_d + ".j")) == d);
  // The time a copy was last written is its file's mtime (an older build
  // prunes by it).
  struct stat sa {};
  REQUIRE(::stat(st.path(id_a + ".j").c_str(), &sa) == 0);
  CHECK(sa.st_mtime == now - 3600);
  // Upgraded again: the start takes them in as it did the first time.
  auto back = st.prepare(1);
  CHECK(back.migrated == 3);
  auto jl = st.open();
  CHECK(text_of(*jl, id_a) == a);
  CHECK(text_of(*jl, id_b) == logged[id_b]);
  CHECK(text_of(*jl, id_d) == d);
}

TEST_CASE("journal log: a state directory's lock: servers share it, an export takes it alone",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto open_dir = [&] {
    int fd = ::open(st.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    return std::make_unique<unique_fd>(fd);
  };
  auto server = open_dir();
  auto second = open_dir();
  REQUIRE(!lock_state_dir(server->get(), false));
  CHECK(!lock_state_dir(second->get(), false)); // another section on it
  auto exporter = open_dir();
  auto refused = lock_state_dir(exporter->get(), true);
  REQUIRE(refused);
  CHECK(refused.code() == static_cast<uint8_t>(errc::unavailable));
  server.reset();
  CHECK(lock_state_dir(exporter->get(), true)); // the second still holds it
  second.reset();
  REQUIRE(!lock_state_dir(exporter->get(), true));
  // A server starting meanwhile is refused.
  auto late = open_dir();
  CHECK(lock_state_dir(late->get(), false));
}

TEST_CASE("journal log: several copies' records in one write are each indexed where a "
          "restart finds them, and a batch's records are those of its text",
          "[tailwriter][journal_log]") {
  state_dir st;
  auto jl = st.open();
  auto a = jtext("C\nno\na", "a.log", {seg(0, 0)});
  auto b = journal::seal("C 10") + journal::seal("D 0 1048576 0123456789abcdef");
  auto c = jtext("C\nno\nc", "c.log", {seg(0, 0), seg(5, 7), "C 12"});
  REQUIRE(!jl->append(id_a, a));
  REQUIRE(!jl->append(id_b, jtext("C\nno\nb", "b.log", {seg(0, 0)})));
  auto writes = jl->writes();
  const auto c1 = journal::seal("C 1");
  std::pair<std::string_view, std::string_view> each[] = {{id_a, c1},
                                                          {id_b, b},
                                                          {id_c, c}};
  REQUIRE(!jl->append_each(each, 3));
  CHECK(jl->writes() == writes + 1);
  CHECK(text_of(*jl, id_a) == a + journal::seal("C 1"));
  CHECK(text_of(*jl, id_b) == jtext("C\nno\nb", "b.log", {seg(0, 0)}) + b);
  CHECK(text_of(*jl, id_c) == c);
  CHECK(jl->records_index().live_bytes() == walked_live_bytes(jl->records_index()));
  // A batch (a new copy's held lines): "R <n>", then each line as "+<line>".
  REQUIRE(!jl->replace(id_c, jtext("C\nno\nc", "c.log", {seg(0, 0)})));
  CHECK(text_of(*jl, id_c) == jtext("C\nno\nc", "c.log", {seg(0, 0)}));
  CHECK(jlog::batch(id_a, journal::seal("O") + journal::seal("C 5"), 0)
        == jlog::record(id_a, "R 2") + jlog::record(id_a, "+O") + jlog::record(id_a, "+C 5"));
  CHECK(jlog::batch(id_a, journal::seal("O"), 1700000000)
        == jlog::record(id_a, "R 2") + jlog::record(id_a, "+T 1700000000")
             + jlog::record(id_a, "+O"));
  CHECK(jlog::records(id_b, b) == jlog::record(id_b, "C 10")
                                    + jlog::record(id_b, "D 0 1048576 0123456789abcdef"));
  auto again = st.open();
  same_records(jl->records_index(), again->records_index());
  CHECK(text_of(*again, id_b) == jtext("C\nno\nb", "b.log", {seg(0, 0)}) + b);
}

TEST_CASE("journal lines: built in one string, the same text as field by field",
          "[tailwriter][journal_log]") {
  // What the lines were made of before (each field escaped, then joined).
  copy_file::segment s;
  s.key = {"db 1", 2049, 1234, "/var/log/a b%.log"};
  s.gen = "g\n1";
  s.src_base = 5;
  s.copy_base = 18446744073709551615ull;
  CHECK(journal::segment_line(s)
        == "S " + journal_escape(s.key.hostname) + " 2049 1234 " + journal_escape(s.key.filename)
             + " " + journal_escape(s.gen) + " 5 18446744073709551615");
  CHECK(journal::member_line(0, 77) == "M 0 77");
  CHECK(journal::digest_line(0, wire::digest_block, 0xabcdefull)
        == "D 0 " + std::to_string(wire::digest_block) + " " + wire::digest_hex(0xabcdefull));
  CHECK(journal::digest_line(3, 10, 1) == "P 3 10 " + wire::digest_hex(1));
  CHECK(journal::line{"W", 1}.text("").text("a=b c").num(0).sealed()
        == journal::seal("W " + journal_escape("") + " " + journal_escape("a=b c") + " 0"));
  std::string body = "X " + journal_escape("é\t");
  auto sealed = journal::seal(body);
  CHECK(journal::seal(std::string{body}) == sealed);
  std::string out = "prefix ";
  auto at = out.size();
  out += body;
  journal::append_seal(out, at);
  CHECK(out == "prefix " + sealed);
  std::string esc = "kept ";
  append_journal_escaped(esc, "x y");
  CHECK(esc == "kept " + journal_escape("x y"));
}
