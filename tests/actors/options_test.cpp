// The option structs, --check and docs/config.md read the same defaults:
// each struct is filled through config::reader from the schema, so a
// default-constructed struct, the struct built from a minimal validated
// section, and the schema's default text agree (and the drifts issue 18
// found stay fixed).
#include <catch2/catch.hpp>

#include <stdexcept>

#include "actors/core/jobmgr.hpp"
#include "actors/core/stats.hpp"
#include "actors/core/status.hpp"
#include "actors/link/forwarder.hpp"
#include "actors/tail/infosender.hpp"
#include "actors/tail/tailer_options.hpp"
#include "actors/write/infowriter.hpp"
#include "actors/write/tailwriter.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "config/ini.hpp"
#include "config/reader.hpp"

namespace cfg = cc::config;
using namespace std::chrono_literals;

namespace {

const char* base_ini = "[ccserver]\n"
                       "cc-socket = tcp://127.0.0.1:22999\n"
                       "cc-role = insecure\n"
                       "pidfile = /tmp/cc-options-test/%(job_name)s.pid\n"
                       "[routes]\n"
                       "job = h:jobmgr\n"
                       "pub.logtail = h:tw\n"
                       "pub.infofile = h:iw\n"
                       "fwd = h:fwd\n"
                       "[h:jobmgr]\nhandler = jobmgr\ndaemons = d:tail, d:info\n"
                       "[h:tw]\nhandler = tailwriter\ndstdir = /tmp/cc-options-test/tw\n"
                       "[h:iw]\nhandler = infowriter\ndstdir = /tmp/cc-options-test/iw\n"
                       "[h:fwd]\nhandler = proxy\nremote-cc = tcp://127.0.0.1:1\n"
                       "[d:info]\nmodule = infosender\ninfodir = /tmp/x\ninfomask = *\n"
                       // last: the tests append keys to it
                       "[d:tail]\nmodule = logtail\nlogdir = /tmp/x\nlogmask = *.log\n";

cfg::load_result load(const std::string& extra_tail = "") {
  auto text = std::string{base_ini} + extra_tail;
  auto doc = cfg::ini::parse(text, "/tmp/options_test.ini");
  REQUIRE(doc);
  auto r = cfg::validate(*doc);
  for (auto& d : r.diagnostics)
    UNSCOPED_INFO(d.str());
  REQUIRE(r.ok());
  return r;
}

std::chrono::milliseconds schema_ms(const char* kind, const char* key) {
  return cfg::reader::defaults(kind).millis(key);
}

uint64_t schema_size(const char* kind, const char* key) {
  auto* opt = cfg::schema_by_kind(kind)->find(key);
  REQUIRE(opt != nullptr);
  REQUIRE(opt->has_default);
  return *cfg::parse_size(std::string{opt->default_value});
}

} // namespace

TEST_CASE("options: every schema default is what an empty section reads",
          "[options]") {
  for (const auto& s : cfg::schemas()) {
    if (s.kind == "routes")
      continue;
    auto sec = cfg::default_section(s.kind);
    for (const auto& opt : s.options) {
      if (!opt.has_default || opt.name == "handler" || opt.name == "module")
        continue;
      INFO(std::string(s.kind) + ":" + std::string(opt.name));
      CHECK(sec.str(std::string(opt.name)) == opt.default_value);
      CHECK(sec.is_default(std::string(opt.name)));
    }
  }
}

TEST_CASE("options: a default-constructed struct is the minimal section's",
          "[options]") {
  auto r = load();
  const auto& c = *r.config;
  SECTION("logtail") {
    cc::tailer_options dflt;
    auto got = cc::make_tailer_options(c.daemons.at("d:tail"));
    REQUIRE(got);
    CHECK(dflt.ack_window == got->ack_window);
    CHECK(dflt.ack_window == schema_size("logtail", "ack-window"));
    CHECK(dflt.ack_window == 32u << 20); // not the old 16 MiB fallback
    CHECK(dflt.fragment_bytes == got->fragment_bytes);
    CHECK(dflt.fragment_bytes == 1u << 20); // the computed default
    CHECK(dflt.fragment_lines == got->fragment_lines);
    CHECK(dflt.lag_max_bytes == got->lag_max_bytes);
    CHECK(dflt.comp == got->comp);
    CHECK(dflt.comp_level == got->comp_level);
    CHECK(dflt.msg_type == got->msg_type);
    CHECK(dflt.use_blob == got->use_blob);
    CHECK(dflt.ack == got->ack);
    CHECK(dflt.ack_timeout == got->ack_timeout);
    CHECK(dflt.ack_timeout == schema_ms("logtail", "ack-timeout"));
    CHECK(dflt.poll_interval == got->poll_interval);
    CHECK(dflt.idle_flush == got->idle_flush);
    CHECK(dflt.save_interval == got->save_interval);
    CHECK(dflt.save_interval == schema_ms("logtail", "save-interval"));
    CHECK(dflt.verify_period == got->verify_period);
    CHECK(dflt.inotify == got->inotify);
    CHECK(dflt.binary == got->binary);
    CHECK(dflt.op == got->op);
  }
  SECTION("infosender") {
    cc::infosender_options dflt;
    auto got = cc::make_infosender_options(c.daemons.at("d:info"));
    REQUIRE(got);
    CHECK(dflt.comp_name == got->comp_name);
    CHECK(dflt.comp_name == "none");
    CHECK(dflt.comp_level == got->comp_level);
    CHECK(dflt.msg_type == got->msg_type);
    CHECK(dflt.use_blob == got->use_blob);
    CHECK(dflt.maint_period == got->maint_period);
    CHECK(dflt.maint_period == schema_ms("infosender", "maint-period"));
    CHECK(dflt.ack == got->ack);
    CHECK(dflt.ack_timeout == got->ack_timeout);
    CHECK(dflt.max_file_bytes == got->max_file_bytes);
    CHECK(dflt.inotify == got->inotify);
  }
  SECTION("tailwriter") {
    cc::tailwriter_config dflt;
    auto got = cc::tailwriter_config_from(c.handlers.at("h:tw"), "central");
    REQUIRE(got);
    CHECK(dflt.dstmask == got->dstmask);
    CHECK(dflt.host_subdirs == got->host_subdirs);
    CHECK(dflt.mode == got->mode);
    CHECK(dflt.compression == got->compression);
    CHECK(dflt.compression_level == got->compression_level);
    CHECK(dflt.buffer_bytes == got->buffer_bytes);
    CHECK(dflt.buffer_bytes == schema_size("tailwriter", "buffer-bytes"));
    CHECK(dflt.maint_period == got->maint_period);
    CHECK(dflt.close_idle == got->close_idle);
    CHECK(dflt.worker_threads == got->worker_threads);
    CHECK(dflt.max_fragment_bytes == got->max_fragment_bytes);
    CHECK(dflt.sync_interval == got->sync_interval);
    CHECK(dflt.sync_interval == 20ms);
    CHECK(dflt.sync_bytes == got->sync_bytes);
    CHECK(dflt.sync_bytes == schema_size("tailwriter", "sync-bytes"));
    CHECK(dflt.sync_bytes == cc::tw::worker_options{}.sync_bytes);
    CHECK(dflt.max_open_files == got->max_open_files);
    CHECK(dflt.max_source_keys_per_host == got->max_source_keys_per_host);
  }
  SECTION("infowriter") {
    cc::infowriter_config dflt;
    auto got = cc::infowriter_config_from(c.handlers.at("h:iw"), "central");
    REQUIRE(got);
    CHECK(dflt.dstmask == got->dstmask);
    CHECK(dflt.store.mode == got->store.mode);
    CHECK(dflt.store.compression == got->store.compression);
    CHECK(dflt.store.level == got->store.level);
    CHECK(dflt.store.bakext == got->store.bakext);
    CHECK(dflt.store.max_bytes == got->store.max_bytes);
    CHECK(dflt.store.max_bytes == schema_size("infowriter", "max-file-bytes"));
    CHECK(dflt.worker_threads == got->worker_threads);
    CHECK(dflt.max_files_per_host == got->max_files_per_host);
  }
  SECTION("proxy") {
    cc::forwarder_settings dflt;
    auto got = cc::forwarder_settings_from(c.handlers.at("h:fwd"), "local");
    CHECK(dflt.queue_bytes == got.queue_bytes);
    CHECK(dflt.queue_bytes == schema_size("proxy", "queue-bytes"));
    CHECK(dflt.ping_interval == got.ping_interval);
    CHECK(dflt.ping_timeout == got.ping_timeout);
  }
  SECTION("jobmgr and [ccserver]") {
    cc::watchdog_options w;
    auto got = cc::make_watchdog_options(c.handlers.at("h:jobmgr"));
    CHECK(w.formula_a == got.formula_a);
    CHECK(w.formula_b == got.formula_b);
    CHECK(w.formula_b == 5s);
    CHECK(w.formula_cap == got.formula_cap);
    CHECK(w.reset == got.reset);
    cc::stats_settings s;
    auto sg = cc::stats_settings_from(c.main);
    CHECK(s.level == sg.level);
    CHECK(s.period == sg.period);
    CHECK(s.infofile_level == sg.infofile_level);
    cc::health_settings h;
    CHECK(h.link_timeout == sg.health.link_timeout);
    CHECK(h.failure_hold == sg.health.failure_hold);
  }
}

TEST_CASE("options: buffer-bytes 0 means no byte limit of its own",
          "[options]") {
  // Documented: with buffer-lines set, buffer-bytes defaults to 0 (no byte
  // limit); a fragment is then bounded by ack-window only.
  auto r = load("buffer-lines = 100\nack-window = 4M\n");
  const auto& d = r.config->daemons.at("d:tail");
  CHECK(d.size("buffer-bytes") == 0);
  auto o = cc::make_tailer_options(d);
  REQUIRE(o);
  CHECK(o->fragment_lines == 100);
  CHECK(o->fragment_bytes == 4u << 20);
  // 0 with compression stays 0: no limit is more than the 64 KB least.
  auto z = load("buffer-lines = 10\ncompression = gzip\n");
  CHECK(z.config->daemons.at("d:tail").size("buffer-bytes") == 0);
}

TEST_CASE("options: a value below a floor is raised where --check sees it",
          "[options]") {
  auto r = load("ack-timeout = 0.01\nverify-period = 0.02\n");
  const auto& d = r.config->daemons.at("d:tail");
  CHECK(d.str("ack-timeout") == "0.05");
  CHECK(d.str("verify-period") == "0.1");
  bool warned = false;
  for (auto& diag : r.diagnostics)
    warned |= diag.str().find("ack-timeout: '0.01' is below 0.05; raised to 0.05")
              != std::string::npos;
  CHECK(warned);
  auto o = cc::make_tailer_options(d);
  REQUIRE(o);
  CHECK(o->ack_timeout == 50ms);
  CHECK(o->verify_period == 100ms);
  auto off = load("verify-period = 0\n");
  CHECK(cc::make_tailer_options(off.config->daemons.at("d:tail"))->verify_period == 0ms);
}

TEST_CASE("options: the reader refuses a key its kind does not declare",
          "[options]") {
  auto r = cfg::reader::defaults("logtail");
  CHECK_THROWS_AS(r.size("no-such-key"), std::logic_error);
  CHECK_THROWS_AS(r.str("ack-window"), std::logic_error); // a size, not a string
  CHECK(r.declares("ack-window"));
  CHECK_FALSE(cfg::reader::defaults("proxy").declares("zmq_rcvhwm"));
  cfg::section unknown;
  unknown.kind = "nonsense";
  CHECK_THROWS_AS(cfg::reader{unknown}, std::logic_error);
}
