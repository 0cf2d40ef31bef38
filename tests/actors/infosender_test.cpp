// The infosender against real files in a temporary directory, in real time
// (it is detached and reads real files). A router stand-in takes its
// pub.infofile requests and plays the infowriter's side: it answers each
// with an infofile.ack (ok, error or refused) or with none, on demand. Every
// wait is bounded; nothing asserts how long something took.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <sys/stat.h>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/infosender.hpp"
#include "tests/support/actor_stats.hpp"
#include "tests/support/process.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

struct sent_file {
  cc::wire::infofile_body body;
  std::string content;
};

/// What the stand-in saw, and how it answers.
struct fake_writer {
  std::mutex mtx;
  std::vector<sent_file> sent;
  std::string answer = "ok"; // "ok", "error", "refused", or "" for none
  caf::actor endpoint;
};

caf::behavior fake_router(caf::event_based_actor* self,
                          std::shared_ptr<fake_writer> w) {
  return {
    [=](cc::register_atom, const std::string&, const caf::actor& a) {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->endpoint = a;
      return cc::ok_atom::value;
    },
    [=](cc::dispatch_atom, const cc::wire::cc_message& msg) {
      auto body = cc::wire::parse_infofile(msg.body);
      REQUIRE(body);
      std::string content = msg.has_blob() ? std::string{msg.blob->view()}
                                           : *cc::wire::base64_decode(body->data);
      std::lock_guard<std::mutex> guard{w->mtx};
      w->sent.push_back({*body, content});
      if (!w->answer.empty() && w->endpoint) {
        cc::wire::infofile_ack_body ack;
        ack.hdr = cc::wire::make_header("infofile.ack");
        ack.filename = body->filename;
        ack.mtime_ns = cc::wire::infofile_mtime_ns(*body);
        ack.status = w->answer;
        ack.reason = w->answer == "ok" ? "" : "test says " + w->answer;
        cc::wire::cc_message reply;
        reply.type = "infofile.ack";
        reply.body = cc::wire::make_body(ack);
        self->send(w->endpoint, cc::reply_atom::value, std::move(reply));
      }
      return cc::ok_atom::value;
    },
  };
}

caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  cc::register_types(cfg);
  return cfg;
}

int64_t mtime_ns(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

struct env {
  temp_dir dir{"ccinfosend"};
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<fake_writer> w = std::make_shared<fake_writer>();
  caf::actor router;
  caf::actor sender;
  cc::infosender_options opts;

  env() : sys(test_config(cfg)) {
    ::mkdir((dir / "info").c_str(), 0755);
    router = sys.spawn(fake_router, w);
    opts.infodir = dir / "info";
    opts.infomask = "info.*";
    opts.save_dir = dir / "run/d:info.save.d";
    opts.job_name = "test.d:info";
    opts.hostname = "testhost";
    opts.ack_timeout = 300ms;
  }
  ~env() {
    if (sender)
      stop();
    caf::anon_send_exit(router, caf::exit_reason::kill);
  }

  std::string file(const std::string& name) const { return dir / ("info/" + name); }

  void start() { sender = cc::spawn_infosender_actor(sys, opts, caf::actor_cast<cc::router_actor>(router)); }

  void stop() {
    caf::scoped_actor self{sys};
    self->monitor(sender);
    self->send_exit(sender, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(10s) >> [] { FAIL("not stopped"); });
    sender = nullptr;
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{w->mtx};
    return w->sent.size();
  }
  std::vector<sent_file> sent() {
    std::lock_guard<std::mutex> guard{w->mtx};
    return w->sent;
  }
  void answer(std::string a) {
    std::lock_guard<std::mutex> guard{w->mtx};
    w->answer = std::move(a);
  }
  int64_t stat(const std::string& name) {
    caf::scoped_actor self{sys};
    return cc::test::stats_of(self, sender)[name];
  }
};

} // namespace

TEST_CASE("infosender: a settled file goes with its mtime, a change goes again",
          "[infosender]") {
  env e;
  write_file(e.file("info.a"), "one\n");
  write_file(e.file("skip.me"), "not matched\n");
  e.start();
  REQUIRE(wait_until([&] { return e.count() >= 1; }, 10s));
  auto first = e.sent().front();
  CHECK(first.body.filename == e.file("info.a"));
  CHECK(first.content == "one\n");
  CHECK(first.body.comp == "none");
  CHECK(first.body.mode == "b");
  CHECK(first.body.ack);
  REQUIRE(first.body.mtime_ns);
  CHECK(*first.body.mtime_ns == mtime_ns(e.file("info.a")));
  CHECK(first.body.mtime == cc::wire::seconds_of_ns(*first.body.mtime_ns));
  // Several rewrites in quick succession: the last content arrives.
  for (int v = 2; v <= 4; ++v) {
    write_file(e.file("info.a"), "version " + std::to_string(v) + "\n");
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(wait_until([&] { return e.sent().back().content == "version 4\n"; }, 10s));
  // Nothing was sent twice: every message is another version.
  auto all = e.sent();
  for (size_t i = 1; i < all.size(); ++i)
    CHECK(*all[i].body.mtime_ns != *all[i - 1].body.mtime_ns);
  CHECK(e.stat("resends") == 0);
  CHECK(wait_until([&] { return e.stat("in_flight") == 0; }, 5s));
}

TEST_CASE("infosender: without an ack a file goes again, a confirmed version "
          "is saved and not sent after a restart",
          "[infosender]") {
  env e;
  write_file(e.file("info.a"), "payload\n");
  e.answer(""); // a writer that does not answer (yet)
  e.start();
  REQUIRE(wait_until([&] { return e.count() >= 2; }, 10s));
  auto all = e.sent();
  CHECK(*all[0].body.mtime_ns == *all[1].body.mtime_ns); // the same version again
  CHECK(e.stat("resends") >= 1);
  e.answer("ok");
  REQUIRE(wait_until([&] { return e.stat("acked") >= 1; }, 10s));
  e.stop();
  auto before = e.count();
  e.start();
  // It looked at the file (pending would show it) and sends nothing.
  REQUIRE(wait_until([&] { return e.stat("pending") == 0; }, 5s));
  std::this_thread::sleep_for(1500ms);
  CHECK(e.count() == before);
  // A change after the restart goes.
  write_file(e.file("info.a"), "payload 2\n");
  REQUIRE(wait_until([&] { return e.count() == before + 1; }, 10s));
  CHECK(e.sent().back().content == "payload 2\n");
}

TEST_CASE("infosender: an error answer is sent again, refused is not",
          "[infosender]") {
  env e;
  e.opts.ack_timeout = 200ms;
  write_file(e.file("info.a"), "a\n");
  e.answer("error");
  e.start();
  REQUIRE(wait_until([&] { return e.stat("write_errors") >= 2; }, 10s));
  e.answer("refused");
  REQUIRE(wait_until([&] { return e.stat("refused") == 1; }, 10s));
  auto n = e.count();
  std::this_thread::sleep_for(1000ms); // several ack-timeouts
  CHECK(e.count() == n);
}

TEST_CASE("infosender: a file over max-file-bytes is not sent, gzip and "
          "base64 data as configured",
          "[infosender]") {
  env e;
  e.opts.max_file_bytes = 100;
  e.opts.comp = cc::wire::compression::gzip;
  e.opts.comp_name = "gzip";
  e.opts.use_blob = false;
  write_file(e.file("info.big"), std::string(101, 'b'));
  write_file(e.file("info.small"), std::string(100, 's'));
  e.start();
  REQUIRE(wait_until([&] { return e.count() >= 1; }, 10s));
  REQUIRE(wait_until([&] { return e.stat("too_large") == 1; }, 5s));
  auto s = e.sent().front();
  CHECK(s.body.filename == e.file("info.small"));
  CHECK(s.body.comp == "gzip");
  CHECK_FALSE(s.body.data.empty());
  auto plain = cc::wire::decompress(s.content, cc::wire::compression::gzip, 1000);
  REQUIRE(plain);
  CHECK(*plain == std::string(100, 's'));
  std::this_thread::sleep_for(1200ms);
  CHECK(e.count() == 1);
}
