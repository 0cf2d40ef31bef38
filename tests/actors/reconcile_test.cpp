// The sender's half of reconcile (actors/tail/reconcile.*) and the source reader
// (actors/tail/source_reader.*), without actors: a copy held in a string answers
// the questions as the writer would (docs/wire.md §6.1), and the source is
// a real file (plain, gzip or bzip2).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <variant>

#include "actors/tail/reconcile.hpp"
#include "actors/tail/source_reader.hpp"
#include "tests/support/process.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"

using cc::test::temp_dir;
using cc::test::write_file;
namespace tail = cc::tail;
namespace wire = cc::wire;

namespace {

std::string text_of(size_t n, uint32_t seed) {
  std::mt19937 gen{seed};
  std::string out;
  while (out.size() < n) {
    out += "2026-12-04 21:39:01.123 UTC [" + std::to_string(gen() % 99999) + "] LOG:  ";
    for (int i = 0; i < 40; ++i)
      out += static_cast<char>('a' + gen() % 26);
    out += '\n';
  }
  out.resize(n);
  return out;
}

/// A writer holding one segment: source bytes [base, base + bytes.size()).
struct held_segment {
  uint64_t dev = 7;
  uint64_t ino = 42;
  std::string gen = "00000000000000aa";
  uint64_t base = 0;
  std::string bytes;
  bool last = true;
  int questions = 0;

  uint64_t end() const { return base + bytes.size(); }

  std::string digest(uint64_t from, uint64_t to) const {
    return wire::digest_hex(
      wire::xxh3(std::string_view{bytes}.substr(from - base, to - from)));
  }

  wire::segment_state state(bool digests) const {
    wire::segment_state s;
    s.st_dev = dev;
    s.st_ino = ino;
    s.gen = gen;
    s.src_base = base;
    s.src_end = end();
    s.last = last;
    if (digests && end() > base) {
      auto b = wire::digest_block;
      auto first_to = std::min(end(), (base / b + 1) * b);
      s.digests.push_back({base, first_to, digest(base, first_to)});
      auto last_from = std::max(base, (end() - 1) / b * b);
      if (last_from >= first_to)
        s.digests.push_back({last_from, end(), digest(last_from, end())});
    }
    return s;
  }

  wire::logtail_state_body answer(const tail::question& q) {
    ++questions;
    wire::logtail_state_body a;
    a.query = q.query;
    a.st_dev = q.st_dev;
    a.st_ino = q.st_ino;
    a.gen = q.gen;
    a.writer = "1234123412341234";
    if (q.query == "state") {
      a.segments.push_back(state(q.digests));
      return a;
    }
    auto from = std::max(q.from, base);
    auto to = std::min(q.to, end());
    a.range_from = q.from;
    a.range_to = to;
    a.block = q.block;
    for (auto at = from; at < to; at += q.block)
      a.pieces.push_back(digest(at, std::min(to, at + q.block)));
    return a;
  }
};

struct source_file {
  temp_dir dir{"ccrec"};
  std::string path = dir / "app.log";
  std::unique_ptr<tail::source_reader> reader;

  explicit source_file(const std::string& content) {
    write_file(path, content);
    auto r = tail::source_reader::open(path);
    REQUIRE(r);
    reader = std::move(*r);
  }
};

/// Runs a reconcile to its plan, answering from `held`.
tail::resume_plan reconcile(tail::reconciler& r, held_segment& held,
                            tail::source_reader& src) {
  auto q = r.first();
  for (int i = 0; i < 200; ++i) {
    auto next = r.feed(held.answer(q), src);
    REQUIRE(next);
    if (auto* plan = std::get_if<tail::resume_plan>(&*next))
      return *plan;
    q = std::get<tail::question>(*next);
    REQUIRE(q.query == "digest");
  }
  FAIL("no plan after 200 questions");
  return {};
}

} // namespace

TEST_CASE("reconcile: a copy that holds a prefix of the source resumes at its end",
          "[reconcile]") {
  auto content = text_of(3 * 1024 * 1024 + 777, 1);
  source_file src{content};
  held_segment held;
  held.bytes = content.substr(0, 2 * 1024 * 1024 + 5);
  tail::reconciler r{{held.dev, held.ino, 0}, content.size(), {"ffffffffffffffff", 0, 0, false}};
  auto plan = reconcile(r, held, *src.reader);
  CHECK(plan.found);
  CHECK(plan.offset == held.end());
  CHECK(plan.gen == held.gen); // the writer's generation, not our fresh one
  CHECK(plan.writer_has_gen);
  CHECK_FALSE(plan.truncate);
  CHECK(held.questions == 1); // first and last block matched: one question
}

TEST_CASE("reconcile: junk appended to the copy is found to the byte and cut back",
          "[reconcile]") {
  auto content = text_of(5 * 1024 * 1024, 2);
  source_file src{content};
  held_segment held;
  uint64_t good = 4 * 1024 * 1024 + 12345;
  held.bytes = content.substr(0, good) + "JUNK-JUNK-";
  SECTION("the tailer's own generation (its .save names it)") {
    tail::reconciler r{{held.dev, held.ino, 0}, content.size(), {held.gen, good, 0, true}};
    auto plan = reconcile(r, held, *src.reader);
    CHECK(plan.offset == good);
    CHECK(plan.truncate);
    CHECK(plan.gen == held.gen);
    CHECK(held.questions < 20);  // log2(blocks) + 4 narrowing, not the file
  }
  SECTION("one block only, the source grown past the junk, acknowledged far below it") {
    // The whole copy is its first and last block: its one digest differs,
    // yet the copy holds most of the source (the central killed before
    // its acks reached the tailer, junk appended while it was down).
    auto small = text_of(411547, 6);
    source_file grown{small};
    held_segment one;
    uint64_t kept = 384063;
    one.bytes = small.substr(0, kept) + "0123456789";
    tail::reconciler r{{one.dev, one.ino, 0}, small.size(), {one.gen, 65422, 0, true}};
    auto plan = reconcile(r, one, *grown.reader);
    CHECK(plan.found);
    CHECK(plan.offset == kept);
    CHECK(plan.truncate);
    CHECK(plan.gen == one.gen);
  }
  SECTION("the source has no more bytes than the copy's good part") {
    source_file shorter{content.substr(0, good)};
    tail::reconciler r{{held.dev, held.ino, 0}, good, {held.gen, good, 0, true}};
    auto plan = reconcile(r, held, *shorter.reader);
    CHECK(plan.offset == good);
    CHECK(plan.truncate);
  }
}

TEST_CASE("reconcile: a truncated copy resumes below the tailer's acknowledged offset",
          "[reconcile]") {
  auto content = text_of(300000, 3);
  source_file src{content};
  held_segment held;
  held.bytes = content.substr(0, 299000);
  tail::reconciler r{{held.dev, held.ino, 0}, content.size(), {held.gen, 300000, 0, true}};
  auto plan = reconcile(r, held, *src.reader);
  CHECK(plan.offset == 299000);
  CHECK_FALSE(plan.truncate);
  CHECK(plan.gen == held.gen);
}

TEST_CASE("reconcile: another file's content is not taken, and never cut back",
          "[reconcile]") {
  // New content under the same inode (copytruncate while we were away, and
  // the .save lost): the lines share their timestamp prefix only.
  auto old_content = text_of(200000, 4);
  auto new_content = text_of(150000, 5);
  source_file src{new_content};
  held_segment held;
  held.bytes = old_content;
  tail::reconciler r{{held.dev, held.ino, 0}, new_content.size(),
                     {"ffffffffffffffff", 0, 0, false}};
  auto plan = reconcile(r, held, *src.reader);
  CHECK_FALSE(plan.found);
  CHECK_FALSE(plan.truncate);
  CHECK(plan.offset == 0);
  CHECK(plan.gen == "ffffffffffffffff");
}

TEST_CASE("reconcile: a copy without our generation is sent again from the position's "
          "base",
          "[reconcile]") {
  auto content = text_of(100000, 6);
  source_file src{content};
  held_segment held;
  held.gen = "0000000000000001";
  held.bytes = text_of(5000, 99); // some other generation's bytes
  held.ino = 43;                  // of another inode
  tail::reconciler r{{7, 42, 0}, content.size(), {"00000000000000bb", 80000, 20000, true}};
  auto plan = reconcile(r, held, *src.reader);
  CHECK_FALSE(plan.found);
  CHECK(plan.offset == 20000);
  CHECK(plan.gen == "00000000000000bb");
}

TEST_CASE("difference_search finds the first differing byte, a short source included",
          "[reconcile]") {
  auto content = text_of(3 * 1024 * 1024, 7);
  source_file src{content};
  held_segment held;
  held.bytes = content;
  uint64_t at = 2 * 1024 * 1024 + 999;
  held.bytes[at] ^= 0x20;
  held.bytes[at + 5000] ^= 0x20; // a later difference: the first one is found
  tail::question seg;
  seg.st_dev = held.dev;
  seg.st_ino = held.ino;
  seg.gen = held.gen;
  tail::difference_search search{seg, 0, content.size()};
  for (int i = 0; i < 40 && !search.done(); ++i)
    REQUIRE_FALSE(search.feed(held.answer(*search.next()).pieces, *src.reader));
  REQUIRE(search.done());
  CHECK(search.result() == at);
}

TEST_CASE("range_verify reports every differing range exactly", "[reconcile]") {
  auto content = text_of(4 * 1024 * 1024 + 100, 8);
  source_file src{content};
  held_segment held;
  held.bytes = content;
  held.bytes[10] ^= 1;                      // one byte in the first block
  held.bytes.replace(2 * 1024 * 1024, 3, "XYZ"); // three bytes at a block start
  held.bytes[4 * 1024 * 1024 + 99] ^= 1;    // the very last byte
  tail::question seg;
  seg.st_dev = held.dev;
  seg.st_ino = held.ino;
  seg.gen = held.gen;
  tail::range_verify v{seg, 0, content.size()};
  for (int i = 0; i < 500 && !v.done(); ++i)
    REQUIRE_FALSE(v.feed(held.answer(*v.next()).pieces, *src.reader));
  REQUIRE(v.done());
  auto diff = v.differences();
  REQUIRE(diff.size() == 3);
  CHECK(diff[0] == tail::byte_range{10, 11});
  // "XYZ" may equal the source in a byte: the range covers what differs.
  CHECK(diff[1].first >= 2 * 1024 * 1024);
  CHECK(diff[1].second <= 2 * 1024 * 1024 + 3);
  CHECK(diff[2] == tail::byte_range{4 * 1024 * 1024 + 99, 4 * 1024 * 1024 + 100});
  CHECK(v.blocks_differing() == 3);
  CHECK(v.blocks_equal() == 2);
  CHECK(v.bytes_compared() == content.size());
}

TEST_CASE("source_reader reads a compressed rotation copy by offset", "[reconcile]") {
  auto content = text_of(700000, 9);
  temp_dir dir{"ccrec"};
  for (auto c : {wire::compression::gzip, wire::compression::bzip2}) {
    // Two members, as a concatenation of rotations would make.
    auto a = wire::compress(content.substr(0, 300000), c, 6);
    auto b = wire::compress(content.substr(300000), c, 6);
    REQUIRE(a);
    REQUIRE(b);
    auto path = dir / (std::string{"app.log.1"} + wire::file_extension(c));
    write_file(path, *a + *b);
    auto r = tail::source_reader::open(path);
    REQUIRE(r);
    CHECK((*r)->compressed());
    std::string buf(5000, '\0');
    auto n = (*r)->read_at(400000, buf.data(), buf.size());
    REQUIRE(n);
    CHECK(*n == 5000);
    CHECK(buf == content.substr(400000, 5000));
    n = (*r)->read_at(100, buf.data(), 100); // backwards: starts over
    REQUIRE(n);
    CHECK(buf.substr(0, 100) == content.substr(100, 100));
    n = (*r)->read_at(content.size() - 10, buf.data(), 100);
    REQUIRE(n);
    CHECK(*n == 10);
    CHECK((*r)->complete());
    // Cut short (gzip still writing it): not complete, no error.
    write_file(path, *a + b->substr(0, b->size() / 2));
    auto cut = tail::source_reader::open(path);
    REQUIRE(cut);
    n = (*cut)->read_at(0, buf.data(), buf.size());
    REQUIRE(n);
    std::string all;
    for (uint64_t at = 0;; at += 4096) {
      std::string piece(4096, '\0');
      auto m = (*cut)->read_at(at, piece.data(), piece.size());
      REQUIRE(m);
      all += piece.substr(0, *m);
      if (*m < piece.size())
        break;
    }
    CHECK(all.size() < content.size());
    CHECK(content.compare(0, all.size(), all) == 0);
    CHECK_FALSE((*cut)->complete());
  }
}

TEST_CASE("find_moved_generation finds logrotate's copy by its first bytes",
          "[reconcile]") {
  temp_dir dir{"ccrec"};
  auto old_gen = text_of(50000, 10);
  write_file(dir / "app.log", "new generation\n");
  write_file(dir / "app.log.2", text_of(50000, 11)); // another, older one
  auto packed = wire::compress(old_gen, wire::compression::gzip, 6);
  REQUIRE(packed);
  write_file(dir / "app.log.1.gz", *packed);
  tail::fingerprint fp{cc::fnv1a64(std::string_view{old_gen}.substr(0, 4096)), 4096};
  auto app = tail::stat_file(dir / "app.log");
  REQUIRE(app);
  REQUIRE(*app);
  auto found = tail::find_moved_generation(dir.path(), "app.log", fp, 40000, **app);
  REQUIRE(found);
  REQUIRE(*found);
  CHECK(**found == dir / "app.log.1.gz");
  // It must hold more than what was delivered already.
  found = tail::find_moved_generation(dir.path(), "app.log", fp, 50000, **app);
  REQUIRE(found);
  CHECK_FALSE(*found);
  // An uncompressed copy is preferred.
  write_file(dir / "app.log.1", old_gen);
  found = tail::find_moved_generation(dir.path(), "app.log", fp, 40000, **app);
  REQUIRE(found);
  REQUIRE(*found);
  CHECK(**found == dir / "app.log.1");
}
