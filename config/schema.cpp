// The option tables: every key of every section kind, declared once. The
// validator (config.cpp), `--check` (describe) and docs/config.md
// (schema_markdown) read only these tables, so they cannot drift apart.
#include "config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <sstream>

#include "config/config.hpp"

namespace cc::config {

// -- option builders ------------------------------------------------------------

option option::between(double lo, double hi) const {
  auto o = *this;
  o.min_value = lo;
  o.max_value = hi;
  return o;
}

option option::at_least(double lo) const {
  auto o = *this;
  o.min_value = lo;
  return o;
}

option option::one_of(std::vector<std::string_view> values) const {
  auto o = *this;
  o.choices = std::move(values);
  return o;
}

option option::ext() const {
  auto o = *this;
  o.extension = true;
  return o;
}

option option::computed(std::string_view note) const {
  auto o = *this;
  o.default_note = note;
  return o;
}

option option::caf_allowed() const {
  auto o = *this;
  o.allow_caf = true;
  return o;
}

option option::yes_means(std::string_view seconds) const {
  auto o = *this;
  o.boolean_means = seconds;
  return o;
}

option option::checked(bool (*fn)(const std::string&, std::string&)) const {
  auto o = *this;
  o.check = fn;
  return o;
}

option option::raised_to(double least, bool zero_is_off) const {
  auto o = *this;
  o.floor = least;
  o.floor_keeps_zero = zero_is_off;
  return o;
}

const char* to_string(value_type t) {
  switch (t) {
    case value_type::string: return "string";
    case value_type::integer: return "integer";
    case value_type::boolean: return "boolean";
    case value_type::size: return "size";
    case value_type::seconds: return "seconds";
    case value_type::list: return "list";
    case value_type::file: return "file";
    case value_type::endpoint: return "endpoint";
    case value_type::choice: return "choice";
  }
  return "unknown";
}

namespace {

using vt = value_type;

// The least value of durations that must not be zero (a period, a timeout);
// shown as "greater than 0".
constexpr double positive = 0.001;

option required(std::string_view name, value_type type, std::string_view desc) {
  return option{name, type, "", false, true, desc};
}

option with_default(std::string_view name, value_type type,
                    std::string_view value, std::string_view desc) {
  return option{name, type, value, true, false, desc};
}

option optional(std::string_view name, value_type type, std::string_view desc) {
  return option{name, type, "", false, false, desc};
}

// The ZeroMQ socket options shared by [ccserver] (cc-socket) and proxy (the
// link to remote-cc), with the original's defaults.
std::vector<option> zmq_options(std::string_view hwm_desc) {
  return {
    with_default("zmq_hwm", vt::integer, "100", hwm_desc).at_least(0),
    with_default("zmq_linger", vt::integer, "500",
                 "milliseconds unsent messages are kept when the socket "
                 "closes (ZMQ_LINGER); -1: until sent")
      .at_least(-1),
    with_default("zmq_rcvbuf", vt::size, "0",
                 "kernel receive buffer (SO_RCVBUF); 0: the OS default"),
    with_default("zmq_sndbuf", vt::size, "0",
                 "kernel send buffer (SO_SNDBUF); 0: the OS default"),
    with_default("zmq_tcp_keepalive", vt::boolean, "on",
                 "TCP keepalive probes on the connections (ZMQ_TCP_KEEPALIVE)"),
    with_default("zmq_tcp_keepalive_intvl", vt::integer, "15",
                 "seconds between keepalive probes; -1: the OS default")
      .at_least(-1)
      .raised_to(1),
    with_default("zmq_tcp_keepalive_idle", vt::integer, "240",
                 "seconds of silence before the first probe; -1: the OS "
                 "default")
      .at_least(-1)
      .raised_to(1),
    with_default("zmq_tcp_keepalive_cnt", vt::integer, "4",
                 "unanswered probes before the connection is dropped; -1: "
                 "the OS default")
      .at_least(-1)
      .raised_to(1),
  };
}

bool host_port_check(const std::string& text, std::string& why);
bool readable_check(const std::string& text, std::string& why);
bool ack_check(const std::string& text, std::string& why);

// `ack` of the senders (logtail, infosender): auto by default. The text
// after the sender's own first sentence is the same for both.
#define CC_ACK_CHOICES                                                        \
  " auto (the default): do so when the handlers of the message type "        \
  "acknowledge (a writer of ours; a forwarder learns it from its remote's "  \
  "echo answer at every connect), else behave as no and say so once in the " \
  "log; yes: always (against an original CC, which never acknowledges, "     \
  "this resends forever); no: fire and forget, as the original. A boolean "  \
  "works as yes or no"

option ack_option(std::string_view desc) {
  return with_default("ack", vt::choice, "auto", desc)
    .one_of({"auto", "yes", "no"})
    .checked(ack_check)
    .ext();
}

// The CAF middleman keys of [ccserver]: publishing and TLS (docs/clusters.md).
std::vector<option> caf_options() {
  return {
    optional("caf-listen", vt::string,
             "HOST:PORT where this node's router is published through CAF's "
             "middleman (bound to that address only, with address reuse) "
             "for proxies elsewhere with remote-cc = caf://HOST:PORT; works "
             "beside cc-socket, both feed the same router. Unset: none. A "
             "change needs a restart")
      .checked(host_port_check)
      .ext(),
    optional("caf-certificate", vt::file,
             "this node's certificate chain (PEM). With caf-key and "
             "caf-cafile, caf-listen and every caf:// proxy use TLS with "
             "mutual authentication (CAF's OpenSSL module): a peer whose "
             "certificate is not signed by caf-cafile is refused. A change "
             "needs a restart")
      .checked(readable_check)
      .ext(),
    optional("caf-key", vt::file,
             "the private key of caf-certificate (PEM, not encrypted); "
             "required with caf-certificate")
      .checked(readable_check)
      .ext(),
    optional("caf-cafile", vt::file,
             "the CA certificates (PEM) a peer's certificate must be signed "
             "by; required with caf-certificate")
      .checked(readable_check)
      .ext(),
  };
}

// How the server is watched and run as a service: the HTTP endpoint, health,
// the control socket, the log format (docs/operations.md).
std::vector<option> operations_options() {
  return {
    with_default("log-format", vt::choice, "text",
                 "text: one line per event (date, level, component, text); "
                 "json: one JSON object per line (time, level, component, "
                 "message, pid) for log pipelines")
      .one_of({"text", "json"})
      .ext(),
    optional("http-listen", vt::string,
             "HOST:PORT of the HTTP endpoint: /metrics (Prometheus), "
             "/health (200, or 503 with the problems as JSON), /status "
             "(JSON). A loopback address unless http-allow-remote; unset: "
             "no endpoint. A change needs a restart")
      .checked(host_port_check)
      .ext(),
    with_default("http-allow-remote", vt::boolean, "no",
                 "let http-listen bind an address other hosts can reach "
                 "(the endpoint has no authentication: put it behind a "
                 "firewall or a proxy)")
      .ext(),
    optional("control-socket", vt::file,
             "Unix socket (mode 0660) where `ccserver --status` reads the "
             "running server's status, with or without http-listen")
      .computed("the pidfile without its extension, plus `.sock`; unset "
                "without a pidfile")
      .ext(),
    with_default("health-link-timeout", vt::seconds, "30",
                 "/health answers 503 when a proxy's link to remote-cc has "
                 "been down longer than this")
      .at_least(positive)
      .ext(),
    with_default("health-failure-hold", vt::seconds, "30",
                 "/health answers 503 while a daemon that ended with an "
                 "error is not running, and for this long after its "
                 "restart (a daemon that keeps failing stays unhealthy)")
      .at_least(0)
      .ext(),
  };
}

std::vector<option> concat(std::vector<option> a, std::vector<option> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A section's options from its groups, in order.
std::vector<option> joined(std::initializer_list<std::vector<option>> groups) {
  std::vector<option> all;
  for (const auto& g : groups)
    all.insert(all.end(), g.begin(), g.end());
  return all;
}

// Where the server binds, its role and its files.
std::vector<option> server_options() {
  return {
    required("cc-socket", vt::endpoint,
             "ZeroMQ endpoint this server binds (a ROUTER socket): local "
             "daemons, clients and remote forwarders connect here. "
             "tcp://HOST:PORT, ipc://PATH or inproc://NAME"),
    with_default("data-port", vt::integer, "0",
                 "TCP port for data connections beside a tcp:// cc-socket "
                 "without CURVE, on the same host: our forwarders send "
                 "pub.logtail fragments there as plain TCP, the rest stays "
                 "on ZeroMQ (docs/wire.md 6.8). 0: a port the kernel picks, "
                 "announced in echo answers; -1: none (everything over "
                 "ZeroMQ). Never opened with curve-secret-key (the data "
                 "connection is not encrypted) nor with cc-role = local")
      .between(-1, 65535)
      .ext(),
    with_default("cc-role", vt::choice, "insecure",
                 "which handler types may run here: each declares its roles "
                 "(tailwriter, infowriter: remote; jobmgr: local; proxy, "
                 "echo, locallogger: both). insecure allows every type and logs a "
                 "warning at start-up")
      .one_of({"local", "remote", "insecure"}),
    optional("pidfile", vt::file,
             "PID file, usually templated: /var/run/cc/%(job_name)s.pid. "
             "Daemons of a jobmgr inherit the template with their own "
             "job_name; their position files are derived from it"),
    optional("logfile", vt::file,
             "log file (appended; reopened on SIGHUP); unset: stderr"),
  };
}

// Statistics: how often and where they go.
std::vector<option> stats_options() {
  return {
    with_default("cc-stats", vt::integer, "1",
                 "statistics level: 0 none, 1 totals, 2 per handler")
      .between(0, 2),
    with_default("stats-period", vt::seconds, "30",
                 "how often statistics are logged and the infofile and "
                 "metrics-file are rewritten")
      .at_least(positive)
      .raised_to(0.1),
    optional("infofile", vt::file,
             "periodic human-readable status file; unset: none"),
    with_default("infofile-level", vt::integer, "2",
                 "detail of the infofile")
      .at_least(0),
    optional("metrics-file", vt::file,
             "counters in Prometheus text format, rewritten every "
             "stats-period (atomically: written aside, then renamed); unset: "
             "none")
      .ext(),
  };
}

// CAF's scheduler for this server's actors.
std::vector<option> scheduler_options() {
  return {
    with_default("caf-scheduler", vt::choice, "sharing",
                 "how CAF runs this server's actors: sharing (one queue; idle "
                 "workers sleep until work arrives: the least CPU and context "
                 "switches per GB) or stealing (CAF's default work stealing; "
                 "idle workers poll)")
      .one_of({"sharing", "stealing"})
      .ext(),
    with_default("io-slice", vt::seconds, "0.0001",
                 "the scheduler slice this process's I/O loop thread asks "
                 "the kernel for (Linux 6.12+ EEVDF; its CPU share is "
                 "unchanged): woken, a thread with a short slice runs at "
                 "once instead of after up to the kernel's default slice "
                 "(0.7 ms x (1 + log2 of the CPUs): 1.4 ms on 2 CPUs) of "
                 "whatever else that CPU runs, and a thread it wakes is "
                 "less likely to preempt it. The loop works in bursts of tens of "
                 "microseconds per fragment (bench/PROFILE.md, \"Session "
                 "19: latency\"). With a local and its central on one host "
                 "(as in bench/), the central that the local's send wakes "
                 "cannot preempt the local and waits for another CPU: on an "
                 "idle guest whose halted vCPUs wake slowly that adds ~0.1 ms "
                 "to a trickle line; with both vCPUs busy, the slice kept the "
                 "trickle p99 at 0.84-0.90 ms against 1.09-3.51 ms without it "
                 "(bench/PROFILE.md, \"Session 29\"). 0: the kernel's default")
      .between(0, 0.1)
      .ext(),
    with_default("caf-threads", vt::integer, "1",
                 "CAF scheduler threads, which run the router, the "
                 "tailwriter's dispatcher, the jobmgr, the tailers (their "
                 "reads come from the page cache; their inotify events from "
                 "the process's one I/O loop) and the other non-detached "
                 "actors (the tailwriter's workers, a compressing tailer, "
                 "the infosender and a caf:// forwarder have threads of their "
                 "own; ZeroMQ sockets run on the process's I/O loop). One: the "
                 "router hands a message to the next actor on the same "
                 "thread, without waking another (less CPU and latency at "
                 "50 MB/s, the same throughput: bench/PROFILE.md); 0: CAF's "
                 "default (the number of cores, at least 4)")
      .between(0, 64)
      .ext(),
  };
}

// cc-socket's ZeroMQ settings and the process's ZeroMQ context.
std::vector<option> cc_socket_options() {
  auto opts = zmq_options("high-water mark of cc-socket, in messages per "
                          "peer (ZMQ_SNDHWM; ZMQ_RCVHWM too unless "
                          "zmq_rcvhwm is set)");
  // Placed after zmq_hwm.
  auto hwm = std::find_if(opts.begin(), opts.end(), [](const option& o) {
    return o.name == "zmq_hwm";
  });
  opts.insert(hwm + 1,
              with_default("zmq_rcvhwm", vt::integer, "4",
                           "messages ZeroMQ reads ahead from each peer of "
                           "cc-socket before the server takes them "
                           "(ZMQ_RCVHWM); beyond it the peer's TCP "
                           "connection pushes back. Bounds a central's memory "
                           "to about peers x this x message size; 0: "
                           "zmq_hwm")
                .at_least(0)
                .ext());
  // zmq_nthreads is per process, so only here: after zmq_linger, where the
  // original lists it.
  auto linger = std::find_if(opts.begin(), opts.end(), [](const option& o) {
    return o.name == "zmq_linger";
  });
  opts.insert(linger + 1,
              with_default("zmq_nthreads", vt::integer, "1",
                           "ZeroMQ I/O threads of this process")
                .between(1, 64));
  opts.push_back(with_default("max-message-size", vt::size, "128 MB",
                              "largest message accepted on cc-socket: a "
                              "bigger frame makes ZeroMQ close the sender's "
                              "connection (ZMQ_MAXMSGSIZE), a multipart "
                              "message bigger in total is dropped, logged and "
                              "counted (oversize). 0: no limit")
                   .ext());
  return opts;
}

// Who this server is to a central, and whom its cc-socket lets in.
std::vector<option> identity_options() {
  return {
    optional("source-id", vt::string,
             "this server's identity as a source of copies, sent "
             "with every fragment: a central writes each copy "
             "for one source only and refuses another that "
             "claims the same host and file (docs/guarantees.md). "
             "Set it to the id the central's refusal names to let "
             "a reinstalled host take its copies over")
      .computed("16 hex digits derived from /etc/machine-id and "
                "job_name (none without a machine-id)")
      .ext(),
    optional("curve-secret-key", vt::file,
             "this server's CurveZMQ secret key file (Z85, "
             "mode 0600; `ccserver --keygen NAME` writes one): "
             "cc-socket becomes a CURVE server, encrypted, and "
             "only clients in curve-allowed-keys get in. A "
             "change needs a restart")
      .ext(),
    optional("curve-allowed-keys", vt::file,
             "the client public keys let in (Z85, one per line, "
             "`#` comments); required with curve-secret-key. A "
             "line may bind its key to the host names it "
             "writes (`KEY host=db1,db2  # db1`) and a relay's "
             "to the hosts it carries (`relay=web1,web2` or "
             "`relay=*`), docs/security.md; fragments and info "
             "files claiming another host are denied. Re-read "
             "on SIGHUP: a "
             "removed key's messages are dropped from then on, "
             "even on open connections, and new bindings apply "
             "to every message read after it")
      .ext(),
  };
}

section_schema make_ccserver() {
  auto opts = joined({server_options(), stats_options(), scheduler_options(),
                      cc_socket_options(), identity_options(), caf_options(),
                      operations_options()});
  return {"ccserver", {}, {}, false,
          "The main section of every file: what this server binds and how it "
          "logs. Its keys are visible to interpolation in every section as "
          "${ccserver:key}.",
          std::move(opts)};
}

section_schema make_routes() {
  return {"routes", {}, {}, false,
          "One line per route: `msgtype-prefix = handler-section[, ...]`. "
          "The key is a message-type prefix (dot-separated words of "
          "[A-Za-z0-9_-], matched by whole words: `log` matches `log.info` "
          "but not `logx`) or `*` for every message. A message goes to the "
          "handlers of every route that matches it; a handler section named "
          "by several routes is one handler. Every named section must exist "
          "and have a `handler =` line. A message no route matches is "
          "dropped, counted and logged.",
          {}};
}

section_schema make_locallogger() {
  return {"locallogger", {"cc.handler.locallogger", "locallogger"},
          {"local", "remote"}, false,
          "Writes each `log.*` message it is routed into this server's own "
          "log as `[job_name@hostname] HH:MM:SS,mmm LEVEL message`; other "
          "messages as `non-log msg`.",
          {required("handler", vt::string,
                    "cc.handler.locallogger or locallogger (`plugin =` is "
                    "the old name of this key)")}};
}

section_schema make_echo() {
  return {"echo", {"cc.handler.echo", "echo"}, {"local", "remote"}, false,
          "Answers `echo.request` with `echo.response` along the request's "
          "route: the far end of a proxy's `ping`.",
          {required("handler", vt::string,
                    "cc.handler.echo or echo (`plugin =` is the old name of "
                    "this key)")}};
}

section_schema make_proxy() {
  auto opts = std::vector<option>{
    required("handler", vt::string,
             "cc.handler.proxy or proxy (`plugin =` is the old name of this "
             "key)"),
    required("remote-cc", vt::endpoint,
             "the remote server to forward to: tcp://HOST:PORT, ipc://PATH, "
             "inproc://NAME, or caf://HOST:PORT for a remote node's router "
             "published through CAF's middleman")
      .caf_allowed(),
    with_default("ping", vt::seconds, "0",
                 "send `echo.request` to remote-cc every this many seconds "
                 "and watch the pongs; 0: off. The original's boolean is "
                 "accepted: yes = 1 (its fixed one-second tick), no = 0")
      .yes_means("1"),
    with_default("ping-timeout", vt::seconds, "30",
                 "with ping on: warn when no pong came for this long")
      .at_least(positive),
    with_default("queue-bytes", vt::size, "16 MB",
                 "bound of the outgoing queue while remote-cc is slow or "
                 "away; senders are pushed back beyond it (bounded memory)")
      .at_least(1)
      .ext(),
    optional("remote-cc-public-key", vt::string,
             "the remote server's CurveZMQ public key: 40 Z85 characters or "
             "the path of a file holding them (its NAME.pub). Turns CURVE on "
             "for the link; needs curve-secret-key")
      .ext(),
    optional("curve-secret-key", vt::file,
             "this forwarder's own CurveZMQ secret key file (mode 0600); its "
             "public key must be in the remote's curve-allowed-keys")
      .ext(),
  };
  return {"proxy", {"cc.handler.proxy", "proxy"}, {"local", "remote"}, false,
          "The forwarder: a ZeroMQ DEALER connected to remote-cc (tcp://, "
          "ipc://), or a CAF middleman link (caf://HOST:PORT). Sends every "
          "message it is routed to the remote server and carries replies "
          "back along the route frames to whoever sent the original.",
          concat(std::move(opts),
                 zmq_options("high-water mark of the link to remote-cc, in "
                             "messages (ZMQ_SNDHWM and ZMQ_RCVHWM)"))};
}

// The watchdog keys: declared by jobmgr, and accepted in a daemon's own
// section too (the original read them there) where they override.
std::vector<option> watchdog_options() {
  return {
    with_default("watchdog-formula-a", vt::seconds, "0",
                 "restart delay of a failed daemon: a + b * (starts - 1) "
                 "seconds"),
    with_default("watchdog-formula-b", vt::seconds, "5",
                 "see watchdog-formula-a"),
    with_default("watchdog-formula-cap", vt::seconds, "0",
                 "upper bound of the restart delay; 0: no cap"),
    with_default("watchdog-reset", vt::seconds, "3600",
                 "the start counter resets after this long in good health"),
  };
}

// A daemon's watchdog keys: what its jobmgr has unless set here.
std::vector<option> daemon_watchdog_options() {
  auto wd = watchdog_options();
  for (auto& o : wd) {
    o = o.computed("the value in the jobmgr that runs this daemon");
    o.has_default = false;
    o.default_value = "";
  }
  return wd;
}

section_schema make_jobmgr() {
  auto opts = std::vector<option>{
    required("handler", vt::string,
             "cc.handler.jobmgr or jobmgr (`plugin =` is the old name of "
             "this key)"),
    required("daemons", vt::list,
             "daemon sections to run and supervise (`d:logtail, d:other`); "
             "each must exist and name its type with `module =`"),
  };
  return {"jobmgr", {"cc.handler.jobmgr", "jobmgr"}, {"local"}, false,
          "Runs the daemons named in `daemons` and restarts one that fails "
          "after the watchdog delay. Each daemon gets `job_name = <server "
          "job_name>.<section>` and `service_name = <section>` as defaults "
          "and inherits the server's `pidfile` template.",
          concat(std::move(opts), watchdog_options())};
}

// Where the writers (tailwriter, infowriter) put their copies and in what
// form: the original's keys, the same for both.
std::vector<option> copy_options() {
  return {
    required("dstdir", vt::file, "root directory of all copies"),
    optional("dstmask", vt::string,
             "path of a copy under dstdir; %(hostname)s (the sender's), "
             "%(filename)s (base name), %(filepath)s (full source path) are "
             "filled per message, not by config interpolation (`%%(...)s`, "
             "the original's spelling, works too)")
      .computed("`%(hostname)s/%(filename)s` with host-subdirs, else "
                "`%(hostname)s--%(filename)s`"),
    with_default("host-subdirs", vt::boolean, "no",
                 "default dstmask: one directory per host (yes) or a "
                 "`host--` prefix (no)"),
    with_default("write-compressed", vt::choice, "no",
                 "no: write plain bytes (decompress if needed); keep: write "
                 "as received (adds .gz/.bz2 when compressed; zstd fragments "
                 "are written as gzip); yes: compress "
                 "with compression and compression-level (adds the "
                 "extension)")
      .one_of({"no", "keep", "yes"}),
    with_default("compression", vt::choice, "gzip",
                 "with write-compressed = yes: the format written")
      .one_of({"gzip", "bzip2"}),
    with_default("compression-level", vt::integer, "6",
                 "with write-compressed = yes: the level")
      .between(1, 9),
  };
}

// When a tailwriter's copies are made durable, and what then.
std::vector<option> sync_options() {
  return {
    with_default("sync-interval", vt::seconds, "0.02",
                 "fdatasync calls are grouped over this interval before "
                 "acknowledging; 0: sync every fragment")
      .ext(),
    with_default("sync-bytes", vt::size, "4 MB",
                 "a sync starts before sync-interval once a worker wrote "
                 "this many bytes since its last one began, so a bulk "
                 "stream is acknowledged as fast as the disk syncs; 0: "
                 "only sync-interval")
      .ext(),
    with_default("drop-synced-pages", vt::boolean, "yes",
                 "a plain copy's bytes leave the page cache once a sync made "
                 "them durable (POSIX_FADV_DONTNEED): a central writes far "
                 "more than it reads back, and the freed pages are the next "
                 "writes' pages again (all but the page the next append "
                 "goes into); a reader of a copy reads what was synced from "
                 "the disk. no: they stay, as the kernel keeps any file's "
                 "pages")
      .ext(),
    with_default("syncfs-batch", vt::integer, "8",
                 "a sync round with at least this many copies on the "
                 "destination's file system makes them durable with one "
                 "syncfs(2) of it (called twice) instead of one fdatasync "
                 "per copy: far cheaper for many small files. It also writes "
                 "out what other programs have dirty on that file system; "
                 "0: always one fdatasync per copy")
      .at_least(0)
      .ext(),
  };
}

section_schema make_tailwriter() {
  std::vector<option> opts{
    required("handler", vt::string,
             "cc.handler.tailwriter or tailwriter (`plugin =` is the old name "
             "of this key)"),
  };
  opts = concat(std::move(opts), copy_options());
  opts = concat(std::move(opts), std::vector<option>{
    with_default("buffer-bytes", vt::size, "1 MB",
                 "with write-compressed = yes: bytes collected per compressed "
                 "member")
      .at_least(1),
    with_default("maint-period", vt::seconds, "3",
                 "how often idle files are flushed and long-idle ones closed")
      .at_least(positive),
    with_default("close-idle", vt::seconds, "30",
                 "a copy idle this long is closed (bounded open files)")
      .at_least(positive)
      .ext(),
    with_default("worker-threads", vt::integer, "2",
                 "parallel writers, a thread each; a given copy is always "
                 "written by the same one (more help only when many copies "
                 "are compressed at once)")
      .between(1, 1024),
    optional("state-dir", vt::file,
             "the writer's bookkeeping (positions of every copy), kept out "
             "of the copy tree")
      .computed("`<dstdir>/.ccstate`")
      .ext(),
    with_default("max-fragment-bytes", vt::size, "64 MB",
                 "a fragment that decompresses to more is refused, logged "
                 "and counted")
      .at_least(1)
      .ext(),
  });
  opts = concat(std::move(opts), sync_options());
  opts = concat(std::move(opts), std::vector<option>{
    with_default("max-open-files", vt::integer, "1000",
                 "bound on the descriptors the copies hold, counted as two "
                 "per open copy (the copy, and one kept for its sync in "
                 "flight after it closes; journals are records in each "
                 "worker's log), so at most half as many copies are open; "
                 "the least recently used is closed")
      .at_least(1)
      .ext(),
    with_default("max-source-keys-per-host", vt::integer, "10000",
                 "distinct source files (hostname, st_dev, st_ino, filename) "
                 "one hostname may write, counting those seen in the last "
                 "day; a fragment of one more is refused, logged and counted "
                 "(too_many_sources)")
      .at_least(1)
      .ext(),
  });
  return {"tailwriter", {"cc.handler.tailwriter", "tailwriter"}, {"remote"},
          false,
          "Appends every `pub.logtail` fragment to its copy under dstdir, "
          "keyed by (hostname, st_dev, st_ino, filename); acknowledges "
          "durably written offsets when the tailer asks. A rotated-mode "
          "source gets one copy per generation, named with the suffix "
          "`.%Y-%m-%d_%H-%M-%S` of the second its copy was first opened "
          "(local time); a second generation in the same second gets `-1`, "
          "`-2`... after that suffix.",
          std::move(opts)};
}

// What a tailer follows.
std::vector<option> tail_source_options() {
  return {
    required("module", vt::string, "cc.daemon.logtail or logtail"),
    with_default("operation-mode", vt::choice, "",
                 "classic: the newest of logdir/logmask by name, then the "
                 "next; rotated: the one file logdir/logname, renamed or "
                 "recreated by rotation. Unset means classic; the value is "
                 "sent as written (op_mode)")
      .one_of({"classic", "rotated"}),
    required("logdir", vt::file, "directory holding the logs"),
    optional("logmask", vt::string,
             "glob of the log files (classic mode, where it is required)"),
    optional("logname", vt::string,
             "the one file name to follow (rotated mode, where it is "
             "required); `*`, `?` and `[` are errors"),
    with_default("file-mode", vt::choice, "text",
                 "text: fragments end at line ends; binary: at any byte")
      .one_of({"text", "binary"}),
    with_default("lag-max-bytes", vt::size, "0",
                 "on restart, skip to the end when the saved position lags "
                 "the newest file by more than this; 0: never skip"),
  };
}

// How a tailer cuts and encodes fragments.
std::vector<option> tail_fragment_options() {
  return {
    optional("buffer-bytes", vt::size,
             "send a fragment when this many bytes are buffered; 0: no byte "
             "limit of its own (buffer-lines ends a fragment, and ack-window, "
             "what may be in flight, bounds it)")
      .computed("1 MB when buffer-lines is unset too, else 0 (no byte "
                "limit); at least 64 KB with compression"),
    with_default("buffer-lines", vt::integer, "0",
                 "send a fragment when this many lines are buffered; 0: no "
                 "line limit")
      .at_least(0),
    with_default("compression", vt::choice, "",
                 "per-fragment compression; unset means none and is sent as "
                 "comp \"\", as the original does. zstd (ours only) goes to "
                 "peers that announce it, gzip to the others")
      .one_of({"none", "gzip", "bzip2", "zstd"}),
    with_default("compression-level", vt::integer, "6",
                 "level of gzip, bzip2 or zstd (zstd's own scale, 1 fastest)")
      .between(1, 9),
    with_default("msg-suffix", vt::string, "",
                 "appended to the message type: pub.logtail.<suffix>; "
                 "dot-separated words of [A-Za-z0-9_-]"),
    with_default("use-blob", vt::boolean, "yes",
                 "payload in the blob frame (yes) or base64 in the JSON data "
                 "field (no)"),
    with_default("sendfile", vt::boolean, "yes",
                 "uncompressed fragments of 64 KiB or more in the blob stay "
                 "in the source file until sent: sendfile on the data "
                 "connection, read only where the bytes are needed (no: "
                 "read every fragment, as before)")
      .ext(),
  };
}

// Acknowledged delivery and the tailer's timers.
std::vector<option> tail_delivery_options() {
  return {
    ack_option("ask the tailwriter for acknowledgements and save only "
               "acknowledged positions (exactly-once)." CC_ACK_CHOICES),
    with_default("ack-window", vt::size, "32 MB",
                 "unacknowledged bytes in flight at most; reading pauses "
                 "beyond it (ack-window-ranges instead for file ranges "
                 "while the data connection is up)")
      .at_least(1)
      .ext(),
    with_default("ack-window-ranges", vt::size, "256 MB",
                 "unacknowledged bytes in flight at most while the fragments "
                 "are file ranges (sendfile) and the data connection is up: "
                 "nothing of them waits in the local's memory, so a sync of "
                 "the central that takes seconds does not stop the stream "
                 "(an ack still follows the fdatasync); ack-window where "
                 "that is larger, and whenever the fragments go over ZeroMQ "
                 "(whose queue would hold the bytes) or to a writer in this "
                 "process")
      .at_least(1)
      .ext(),
    with_default("ack-timeout", vt::seconds, "10",
                 "after this long without an acknowledgement, ask the "
                 "writer what it holds and resend what it lacks (the wait "
                 "doubles while nothing moves, up to 8 times); an idle "
                 "source asks this often whether its copy is still whole")
      .at_least(positive)
      .raised_to(0.05)
      .ext(),
    with_default("verify-period", vt::seconds, "0",
                 "compare the central's copy of the file being tailed with "
                 "the source, block by block (XXH3), this often, and send "
                 "again what differs (logged; counted as "
                 "verify_mismatch_bytes and repaired_bytes); 0: never. "
                 "`ccserver --verify` does the same for every file on demand")
      .at_least(0)
      .raised_to(0.1, true)
      .ext(),
    with_default("poll-interval", vt::seconds, "0.5",
                 "fallback polling when inotify is unavailable, and a safety "
                 "net beside it (then ten times less often while the tailer "
                 "is idle: nothing in flight or asked)")
      .at_least(positive)
      .raised_to(0.01)
      .ext(),
    with_default("idle-flush", vt::seconds, "1",
                 "a partial last line is sent after this long without new "
                 "bytes, so nothing is stranded")
      .at_least(positive)
      .ext(),
    with_default("save-interval", vt::seconds, "1",
                 "while acknowledgements keep coming, the position in "
                 "save-file is written (and fsynced) at most this often. Once "
                 "everything sent is acknowledged it is written at once when "
                 "that burst took a quarter of it (at most 0.25 s) or more, "
                 "else after that long without a new acknowledgement; always "
                 "before a new file or generation is sent and at a stop. "
                 "After a crash the tailer resends at most what was "
                 "acknowledged since the last write, and the writer drops "
                 "what it holds; 0: write after every acknowledgement")
      .at_least(0)
      .ext(),
  };
}

// What a tailer sends as its identity and where it keeps its positions.
std::vector<option> tail_identity_options() {
  return {
    optional("hostname", vt::string,
             "sent as `hostname`; the tailwriter's %(hostname)s")
      .computed("the short host name (host_name)")
      .ext(),
    optional("pidfile", vt::file,
             "the base of save-file (the original ran each daemon as a "
             "process with this PID file)")
      .computed("the [ccserver] pidfile template with this daemon's "
                "job_name"),
    optional("save-file", vt::file,
             "where positions are saved")
      .computed("the pidfile without its extension, plus `.save`")
      .ext(),
    with_default("inotify", vt::boolean, "yes",
                 "notice new bytes by inotify; no: poll-interval only")
      .ext(),
    optional("source-id", vt::string,
             "sent as `source` with every fragment")
      .computed("the [ccserver] source-id")
      .ext(),
  };
}

section_schema make_logtail() {
  auto opts = joined({tail_source_options(), tail_fragment_options(),
                      tail_delivery_options(), tail_identity_options(),
                      daemon_watchdog_options()});
  return {"logtail", {"cc.daemon.logtail", "logtail"}, {}, true,
          "The tailer: follows log files and publishes each newly appended "
          "byte range as `pub.logtail`. Run by a jobmgr that names its "
          "section in `daemons`; gets `job_name = <server job_name>.<section>` "
          "and `service_name = <section>` as defaults.",
          std::move(opts)};
}

section_schema make_infosender() {
  std::vector<option> opts{
    required("module", vt::string, "cc.daemon.infosender or infosender"),
    required("infodir", vt::file, "directory holding the info files"),
    required("infomask", vt::string, "glob of the info files in infodir"),
    with_default("compression", vt::choice, "none",
                 "compression of each file on the wire, sent as `comp` "
                 "(the original sends \"none\" when unset)")
      .one_of({"none", "gzip", "bzip2"}),
    optional("compression-level", vt::integer, "level of gzip or bzip2")
      .between(1, 9)
      .computed("6 for gzip, 3 for bzip2 (the original's)"),
    with_default("msg-suffix", vt::string, "",
                 "appended to the message type: pub.infofile.<suffix>; "
                 "dot-separated words of [A-Za-z0-9_-]"),
    with_default("use-blob", vt::boolean, "yes",
                 "content in the blob frame (yes) or base64 in the JSON data "
                 "field (no)"),
    with_default("maint-period", vt::seconds, "3600",
                 "how often files that disappeared are forgotten (a file "
                 "created again after that is sent again)")
      .at_least(positive)
      .raised_to(1),
    with_default("stats-period", vt::seconds, "30",
                 "accepted for the original's configurations; statistics "
                 "follow [ccserver] stats-period")
      .at_least(positive),
    ack_option("ask the infowriter to acknowledge each file once its copy "
               "is durable; remember acknowledged versions across restarts "
               "and send again what was not acknowledged." CC_ACK_CHOICES),
    with_default("ack-timeout", vt::seconds, "10",
                 "send a file again after this long without its "
                 "acknowledgement (doubling up to 8 times while none comes)")
      .at_least(positive)
      .raised_to(0.05)
      .ext(),
    with_default("max-file-bytes", vt::size, "64 MB",
                 "a larger file is not sent (logged once, counted as "
                 "too_large): the whole file is read into memory")
      .at_least(1)
      .ext(),
    with_default("inotify", vt::boolean, "yes",
                 "notice changes by inotify (a file goes out one second "
                 "after its last change); no: the once-a-second scan only "
                 "(one to two seconds)")
      .ext(),
    optional("hostname", vt::string,
             "sent as `hostname`; the infowriter's %(hostname)s")
      .computed("the short host name (host_name)")
      .ext(),
    optional("pidfile", vt::file,
             "the base of save-file (the original ran each daemon as a "
             "process with this PID file)")
      .computed("the [ccserver] pidfile template with this daemon's "
                "job_name"),
    optional("save-file", vt::file,
             "with acknowledgements: the versions the infowriter confirmed "
             "are kept in the directory save-file + `.d`, one small file "
             "per info file")
      .computed("the pidfile without its extension, plus `.save`")
      .ext(),
  };
  return {"infosender", {"cc.daemon.infosender", "infosender"}, {}, true,
          "Sends whole info files (status dumps, configs, reports) as "
          "`pub.infofile`: every second it looks at infodir/infomask and "
          "sends a file once its modification time and size stayed the "
          "same for a whole second, and again each time it changed and "
          "became stable again. Run by a jobmgr like logtail.",
          concat(std::move(opts), daemon_watchdog_options())};
}

section_schema make_infowriter() {
  std::vector<option> opts{
    required("handler", vt::string,
             "cc.handler.infowriter or infowriter (`plugin =` is the old "
             "name of this key)"),
  };
  opts = concat(std::move(opts), copy_options());
  opts = concat(std::move(opts), std::vector<option>{
    with_default("bakext", vt::string, "",
                 "when set, the previous copy is kept as <copy><bakext> (a "
                 "hard link made before the new copy replaces it); must not "
                 "contain `/`"),
    with_default("worker-threads", vt::integer, "2",
                 "parallel writers, a thread each; a given copy is always "
                 "written by the same one (more help only when many copies "
                 "are compressed at once)")
      .between(1, 1024),
    with_default("max-file-bytes", vt::size, "64 MB",
                 "a file larger than this (as received, or once "
                 "decompressed) is refused, logged and counted (too_large)")
      .at_least(1)
      .ext(),
    with_default("max-files-per-host", vt::integer, "10000",
                 "distinct copies one hostname may write, counting those "
                 "written in the last day; a file for one more is refused, "
                 "logged and counted (too_many_files)")
      .at_least(1)
      .ext(),
  });
  return {"infowriter", {"cc.handler.infowriter", "infowriter"}, {"remote"},
          false,
          "Writes every `pub.infofile` as a whole copy under dstdir: the "
          "new content goes to <copy>.new, is synced, and replaces the copy "
          "by a rename (readers see the old or the new file, never a mix); "
          "the copy gets the source's modification time. A file whose copy "
          "is as new or newer is skipped. Acknowledges each file when the "
          "sender asks.",
          std::move(opts)};
}

bool parse_integer(const std::string& text, long long& out) {
  if (text.empty())
    return false;
  size_t i = text[0] == '-' || text[0] == '+' ? 1 : 0;
  if (i == text.size())
    return false;
  for (size_t j = i; j < text.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(text[j])))
      return false;
  errno = 0;
  out = std::strtoll(text.c_str(), nullptr, 10);
  return errno == 0;
}

bool parse_seconds(const std::string& text, double& out) {
  // Plain decimal: "30", "0.5", ".02". No sign, exponent or unit.
  bool digits = false;
  bool dot = false;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)))
      digits = true;
    else if (c == '.' && !dot)
      dot = true;
    else
      return false;
  }
  if (!digits)
    return false;
  out = std::strtod(text.c_str(), nullptr);
  return true;
}

bool valid_port(const std::string& text) {
  long long port = 0;
  return !text.empty() && text.size() <= 5
         && std::all_of(text.begin(), text.end(),
                        [](char c) {
                          return std::isdigit(static_cast<unsigned char>(c));
                        })
         && parse_integer(text, port) && port >= 1 && port <= 65535;
}

bool valid_host_port(const std::string& rest) {
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  auto host = rest.substr(0, colon);
  if (host.find_first_of(" \t/") != std::string::npos)
    return false;
  return valid_port(rest.substr(colon + 1));
}

bool host_port_check(const std::string& text, std::string& why) {
  if (valid_host_port(text))
    return true;
  why = "is not an address; expected HOST:PORT (port 1..65535), like "
        "127.0.0.1:4242 or [::1]:4242";
  return false;
}

bool readable_check(const std::string& text, std::string& why) {
  auto path = expand_user(text);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) {
    std::fclose(f);
    return true;
  }
  why = "cannot be read: " + std::string{std::strerror(errno)};
  return false;
}

bool ack_check(const std::string& text, std::string& why) {
  if (text == "auto" || parse_bool(text))
    return true;
  why = "is not one of the choices; expected auto, yes or no (or another "
        "boolean: true/false, on/off, 1/0)";
  return false;
}

bool valid_endpoint(const std::string& text, bool allow_caf) {
  auto starts = [&](std::string_view p) { return text.rfind(p, 0) == 0; };
  if (starts("tcp://"))
    return valid_host_port(text.substr(6));
  if (starts("caf://"))
    return allow_caf && valid_host_port(text.substr(6));
  if (starts("ipc://"))
    return text.size() > 6;
  if (starts("inproc://"))
    return text.size() > 9;
  return false;
}

std::string range_text(const option& opt) {
  auto num = number_text;
  bool lo = std::isfinite(opt.min_value);
  bool hi = std::isfinite(opt.max_value);
  if (lo && hi)
    return "from " + num(opt.min_value) + " to " + num(opt.max_value);
  if (lo && opt.min_value == positive)
    return "greater than 0";
  if (lo)
    return "of at least " + num(opt.min_value);
  if (hi)
    return "of at most " + num(opt.max_value);
  return "";
}

bool in_range(const option& opt, double v) {
  return v >= opt.min_value && v <= opt.max_value;
}

std::string join(const std::vector<std::string_view>& xs, std::string_view sep) {
  std::string out;
  for (auto x : xs) {
    if (!out.empty())
      out += sep;
    out += x;
  }
  return out;
}

} // namespace

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

const option* section_schema::find(std::string_view key) const {
  for (const auto& opt : options)
    if (opt.name == key)
      return &opt;
  return nullptr;
}

const std::vector<section_schema>& schemas() {
  static const std::vector<section_schema> all{
    make_ccserver(), make_routes(),     make_locallogger(), make_echo(),
    make_proxy(),    make_jobmgr(),     make_tailwriter(),  make_logtail(),
    make_infowriter(), make_infosender(),
  };
  return all;
}

const section_schema* schema_by_kind(std::string_view kind) {
  for (const auto& s : schemas())
    if (s.kind == kind)
      return &s;
  return nullptr;
}

const section_schema* schema_by_type_name(std::string_view name, bool daemon) {
  for (const auto& s : schemas())
    if (s.is_daemon == daemon && !s.type_names.empty()
        && std::find(s.type_names.begin(), s.type_names.end(), name)
             != s.type_names.end())
      return &s;
  return nullptr;
}

std::string_view type_key(const section_schema& schema) {
  return schema.is_daemon ? "module" : "handler";
}

std::string known_type_names(bool daemon) {
  std::string out;
  for (const auto& s : schemas()) {
    if (s.is_daemon != daemon || s.type_names.empty())
      continue;
    if (!out.empty())
      out += ", ";
    out += std::string(s.type_names.front()) + " (" + std::string(s.kind) + ")";
  }
  return out;
}

// The type's own check; check_value adds an option's extra check after it.
static bool check_type(const option& opt, const std::string& text,
                       std::string& why);

bool check_value(const option& opt, const std::string& text, std::string& why) {
  if (opt.check && !check_type(opt, text, why))
    return false;
  if (opt.check)
    return opt.check(text, why);
  return check_type(opt, text, why);
}

static bool check_type(const option& opt, const std::string& text,
                       std::string& why) {
  auto range = range_text(opt);
  switch (opt.type) {
    case value_type::string:
    case value_type::list:
      return true;
    case value_type::file:
      if (!text.empty())
        return true;
      why = "is empty; expected a path";
      return false;
    case value_type::integer: {
      long long v = 0;
      if (!parse_integer(text, v)) {
        why = "is not an integer; expected a whole number"
              + (range.empty() ? "" : " " + range);
        return false;
      }
      if (!in_range(opt, static_cast<double>(v))) {
        why = "is out of range; expected an integer " + range;
        return false;
      }
      return true;
    }
    case value_type::boolean:
      if (parse_bool(text))
        return true;
      why = "is not a boolean; expected yes/no, true/false, on/off or 1/0";
      return false;
    case value_type::size: {
      auto v = parse_size(text);
      if (!v) {
        why = "is not a size; expected a whole number with an optional unit "
              "K, M, G or T (powers of 1024, optional B, any case), like "
              "64K, 256 MB or 1048576";
        return false;
      }
      if (!in_range(opt, static_cast<double>(*v))) {
        why = "is out of range; expected a size " + range + " bytes";
        return false;
      }
      return true;
    }
    case value_type::seconds: {
      double v = 0;
      if (!opt.boolean_means.empty() && parse_bool(text))
        return true;
      if (!parse_seconds(text, v)) {
        why = "is not a duration; expected seconds like 30, 0.5 or 0.02";
        if (!opt.boolean_means.empty())
          why += ", or yes/no";
        return false;
      }
      if (!in_range(opt, v)) {
        why = "is out of range; expected seconds " + range;
        return false;
      }
      return true;
    }
    case value_type::endpoint:
      if (valid_endpoint(text, opt.allow_caf))
        return true;
      why = "is not an endpoint; expected tcp://HOST:PORT (port 1..65535), "
            "ipc://PATH";
      why += opt.allow_caf ? ", inproc://NAME or caf://HOST:PORT"
                           : " or inproc://NAME";
      return false;
    case value_type::choice:
      if (std::find(opt.choices.begin(), opt.choices.end(), text)
          != opt.choices.end())
        return true;
      why = "is not one of the choices; expected one of: "
            + join(opt.choices, ", ");
      return false;
  }
  why = "has an unknown type";
  return false;
}

// -- Markdown -----------------------------------------------------------------

namespace {

const char* markdown_preamble = R"(# Configuration reference

<!-- Generated from the option tables in config/schema.cpp by
     cc::config::schema_markdown(); do not edit by hand. Regenerate with
     CC_UPDATE_DOCS=1 build/tests/config_tests '[docs]'
     (tests/config/docs_test.cpp fails while this file and the tables differ). -->

One INI file configures one `ccserver` process: `ccserver --check FILE` validates
it and prints every resolved value. Options marked *ext.* are this project's
extensions to the original CC; everything else means what it meant there.

## File format

- Sections: `[ccserver]` (required), `[routes]`, one `[h:NAME]` per handler and
  one `[d:NAME]` per daemon. Section names are free text; the `h:`/`d:` prefixes
  are convention. A handler section names its type with `handler =` (old
  synonym: `plugin =`), a daemon section with `module =`; both the original
  module paths (`cc.handler.proxy`) and the short names (`proxy`) work.
- `key = value` (or `key: value`). Keys are case-insensitive and may contain
  dots; values are trimmed. An indented line continues the previous value
  (joined with a newline). Lines starting with `#` or `;` are comments; a `;`
  after whitespace ends a value, a `#` inside a value is kept. A key given twice
  in a section: the later value wins, with a warning.
- Defaults visible in every section: `job_name` (the file name without directory
  and extension), `service_name` (`ccserver`), `host_name` (the short host name),
  `config_dir` and `config_file` (absolute). A `[DEFAULT]` section adds more.
  Daemon sections see their own `job_name` and `service_name` (see `logtail`).
- Unknown keys are warnings (original configurations carry extra keys). A bad
  value, a missing required key, an unknown type, a handler not allowed in this
  `cc-role`, or a route to a missing section is an error: start-up stops with
  status 2 and every problem is listed, one per line, as `file:section:key: ...`.

## Interpolation

Values may refer to other values; references are resolved when read:

| form | value |
|---|---|
| `%(key)s`, `${key}` | `key` of the same section, else its defaults |
| `${section:key}` | `key` of another section (a colon in the section name is fine: `${h:tailwriter:dstdir}`) |
| `%%`, `$$` | a literal `%`, `$` |

Referenced values are resolved in turn. A reference to a missing key or a loop
(`a = %(b)s`, `b = %(a)s`) is an error naming file, section and key. A `%` or
`$` followed by anything else is literal. Exception: in tailwriter's `dstmask`,
`%(hostname)s`, `%(filename)s` and `%(filepath)s` are left for the writer.

## Value types

| type | accepted |
|---|---|
| string | any text |
| integer | a whole number; some keys have a range |
| boolean | `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`, any case |
| size | bytes, with an optional unit `K`, `M`, `G`, `T` (powers of 1024) and optional `B`, any case: `64K`, `256 MB`, `1048576`, `2 GB` |
| seconds | a decimal number: `30`, `0.5`, `0.02` |
| list | comma-separated, items trimmed: `d:a, d:b` |
| file | a path; a leading `~` or `~user` expands to the home directory |
| endpoint | `tcp://HOST:PORT` (port 1..65535), `ipc://PATH`, `inproc://NAME`; `caf://HOST:PORT` where stated |
| choice | one of the listed words, exactly |

An empty value (`key =`) of an optional key means the key is unset.
)";

std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string type_cell(const option& opt) {
  std::string out = to_string(opt.type);
  if (opt.type == value_type::choice) {
    out += ": ";
    std::vector<std::string> quoted;
    for (auto c : opt.choices)
      quoted.push_back("`" + std::string(c) + "`");
    for (size_t i = 0; i < quoted.size(); ++i)
      out += (i ? ", " : "") + quoted[i];
  }
  auto range = range_text(opt);
  if (!range.empty() && opt.type != value_type::choice)
    out += ", " + range;
  if (!opt.boolean_means.empty())
    out += ", or a boolean";
  if (opt.floor > 0)
    out += std::string(opt.floor_keeps_zero ? "; other than 0, " : "; ")
           + (opt.min_value < 0 ? "a value from 0 to below " : "a value below ")
           + number_text(opt.floor) + " is raised to it";
  if (opt.allow_caf)
    out += ", caf:// too";
  return out;
}

std::string default_cell(const option& opt) {
  if (opt.required)
    return "**required**";
  if (!opt.default_note.empty())
    return std::string(opt.default_note);
  if (!opt.has_default)
    return "unset";
  if (opt.default_value.empty())
    return "unset (`\"\"`)";
  return "`" + std::string(opt.default_value) + "`";
}

std::string heading(const section_schema& s) {
  if (s.kind == "ccserver")
    return "## `[ccserver]`";
  if (s.kind == "routes")
    return "## `[routes]`";
  return std::string(s.is_daemon ? "## Daemon `" : "## Handler `")
         + std::string(s.kind) + "`";
}

// "`handler = cc.handler.proxy` or `handler = proxy`; runs in cc-role ..."
std::string selector(const section_schema& s) {
  std::string out;
  for (auto n : s.type_names)
    out += (out.empty() ? "`" : " or `") + std::string(type_key(s)) + " = "
           + std::string(n) + "`";
  if (!s.is_daemon)
    out += "; runs in cc-role " + join(s.roles, ", ") + " (or insecure)";
  return out + ".";
}

} // namespace

std::string schema_markdown() {
  std::string out = markdown_preamble;
  for (const auto& s : schemas()) {
    out += "\n" + heading(s) + "\n\n";
    if (!s.type_names.empty())
      out += selector(s) + "\n\n";
    out += std::string(s.description) + "\n";
    if (s.options.empty())
      continue;
    out += "\n| key | type | default | description |\n|---|---|---|---|\n";
    for (const auto& opt : s.options) {
      out += "| `" + std::string(opt.name) + "` | " + cell(type_cell(opt))
             + " | " + cell(default_cell(opt)) + " | "
             + (opt.extension ? "*ext.* " : "") + cell(opt.description)
             + " |\n";
    }
  }
  return out;
}

} // namespace cc::config

// -- roff (the man page) --------------------------------------------------------

namespace cc::config {

namespace {

// Backslashes as \e, a line that would start with '.' or '\'' guarded by \&,
// Markdown's backquotes dropped.
std::string roff_text(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (c == '`')
      continue;
    if (line_start && (c == '.' || c == '\''))
      out += "\\&";
    if (c == '\\')
      out += "\\e";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
    line_start = false;
  }
  return out;
}

std::string roff_minus(std::string_view text) {
  std::string out;
  for (char c : text)
    out += c == '-' ? std::string{"\\-"} : std::string(1, c);
  return out;
}

} // namespace

std::string schema_roff() {
  std::string out =
    ".SH CONFIGURATION\n"
    "INI sections: \\fB[ccserver]\\fR (required), \\fB[routes]\\fR, one \\fB[h:NAME]\\fR per "
    "handler (\\fBhandler =\\fR its type) and one \\fB[d:NAME]\\fR per daemon "
    "(\\fBmodule =\\fR its type). Keys are case-insensitive; values may refer to others "
    "as %(key)s, ${key} or ${section:key}. Sizes take K, M, G, T (powers of 1024); "
    "booleans yes/no, true/false, on/off, 1/0. \\fBccserver \\-\\-check\\fR validates a file; "
    "/usr/share/doc/ccserver/config.md has the same tables with the file format in "
    "full. Options marked (ext.) are extensions to the original CC.\n";
  for (const auto& s : schemas()) {
    std::string title;
    if (s.kind == "ccserver" || s.kind == "routes")
      title = "[" + std::string(s.kind) + "]";
    else
      title = std::string(s.is_daemon ? "daemon " : "handler ") + std::string(s.kind);
    out += ".SS " + title + "\n" + roff_text(s.description) + "\n";
    for (const auto& opt : s.options) {
      out += ".TP\n.B " + roff_minus(opt.name) + "\n";
      auto dflt = opt.required ? std::string{"required"} : "default " + default_cell(opt);
      out += roff_text("(" + type_cell(opt) + "; " + dflt + ")" +
                       (opt.extension ? " (ext.) " : " ") + std::string(opt.description)) +
             "\n";
    }
  }
  return out;
}

} // namespace cc::config
