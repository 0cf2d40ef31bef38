#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.

    /usr/bin/python3 tests/fuzz/make_seeds.py [--ccserver build/ccserver]

Everything is deterministic and written afresh, except the captured frame
sets (corpus/frames/captured-*): with --ccserver, a real local ccserver tails
log files (plain with blob, gzip in base64 data, bzip2 with blob) and
forwards pub.logtail and echo.request to a ROUTER socket of this script,
which saves what arrives on the wire; without it those files are kept as
they are.

Encodings: frames and dest_path read their input with libFuzzer's
FuzzedDataProvider::ConsumeRandomLengthString, where a string ends at a
backslash followed by any byte but a backslash and "\\\\" is one backslash
(fdp_strings below); the others take the input as it is.
"""

import argparse
import bz2
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def fdp_strings(parts):
    """The byte strings `parts` as consecutive ConsumeRandomLengthString
    results: backslashes doubled, each ended by a backslash and a space."""
    out = b""
    for p in parts:
        out += p.replace(b"\\", b"\\\\") + b"\\ "
    return out


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(target, keep_prefix=None):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if keep_prefix and name.startswith(keep_prefix):
            continue
        os.unlink(os.path.join(d, name))


# -- bodies ------------------------------------------------------------------

# A pub.logtail body as the original (Python 2 json.dumps of LogtailMessage)
# writes it: ", " and ": " separators, dict hash order.
ORIGINAL_LOGTAIL = (
    b'{"comp": "", "mode": "b", "st_ino": 1311768, "hostname": "db1", '
    b'"filename": "/var/log/postgresql/postgresql-2024-05-01.log", '
    b'"req": "pub.logtail", "st_dev": 64769, "time": 1300000000.1234601, '
    b'"blob_hash": "", "op_mode": "", "data": "", "fpos": 4096}')
ORIGINAL_LOGTAIL_GZIP_DATA = (
    b'{"comp": "gzip", "mode": "b", "st_ino": 77, "hostname": "web-2", '
    b'"filename": "/var/log/pg/postgresql-Mon.log", "req": "pub.logtail.pg", '
    b'"st_dev": 2049, "time": 1300000001.5, "blob_hash": "", '
    b'"op_mode": "rotated", "data": "H4sIAAAAAAAC/8tIzcnJBwCGphA2BQAAAA==\\n", '
    b'"fpos": 0}')
ORIGINAL_LOG = (
    b'{"log_level": "INFO", "job_name": "local-classic.d:logtail", '
    b'"log_msg": "Tailing /var/log/pg/postgresql-Mon.log", '
    b'"service_type": "d:logtail", "hostname": "db1", "req": "log.info", '
    b'"log_pid": 4242, "log_line": 211, "log_function": "try_open_file", '
    b'"time": 1300000002.25, "log_time": 1300000002.2499, "blob_hash": ""}')
ORIGINAL_ECHO_REQUEST = (
    b'{"target": "central", "req": "echo.request", "hostname": "db1", '
    b'"time": 1300000003.0, "blob_hash": ""}')
ORIGINAL_ECHO_RESPONSE = (
    b'{"orig_hostname": "db1", "orig_target": "central", '
    b'"orig_time": 1300000003.0, "target": "central", '
    b'"req": "echo.response", "hostname": "central", '
    b'"time": 1300000003.01, "blob_hash": ""}')
LOGTAIL_ACK = (
    b'{"req":"logtail.ack","time":1714564800.5,"hostname":"central",'
    b'"blob_hash":"","filename":"/var/log/pg/postgresql.log","st_dev":2049,'
    b'"st_ino":77,"gen":"0123456789abcdef","fpos":1048576,"status":"ok"}')
OUR_LOGTAIL = (
    b'{"req":"pub.logtail","time":1714564800.25,"hostname":"db1",'
    b'"blob_hash":"SHA-1:3f786850e387550fdab836ed7e6dc881de23001b",'
    b'"filename":"/var/log/pg/postgresql.log","comp":"bzip2","mode":"b",'
    b'"op_mode":"classic","fpos":123456789012,"st_dev":18446744073709551615,'
    b'"st_ino":42,"data":"","ack":true,"gen":"0123456789abcdef",'
    b'"raw_size":12}')
# pub.infofile as the original's infosender writes it (generated with its
# cc/reqs.py under Python 2.7), and ours with the extensions; our
# echo.response with `acks`; an infofile.ack.
ORIGINAL_INFOFILE = (
    b'{"hostname": "db1", "comp": "none", "req": "pub.infofile", '
    b'"filename": "/var/lib/info/info.status", "mtime": 1300000000.1234567, '
    b'"blob_hash": "", "time": 1300000001.5, "data": "", "mode": "b"}')
OUR_INFOFILE = (
    b'{"req":"pub.infofile.pg","time":1714564800.25,"hostname":"db1",'
    b'"blob_hash":"","filename":"/etc/info/x","mtime":1714564799.1234567,'
    b'"comp":"gzip","mode":"b","data":"aGVsbG8K\n","ack":true,'
    b'"mtime_ns":1714564799123456789}')
INFOFILE_ACK = (
    b'{"req":"infofile.ack","time":1714564800.5,"hostname":"central",'
    b'"blob_hash":"","filename":"/etc/info/x","mtime_ns":-5,'
    b'"status":"error","reason":"No space left on device"}')
OUR_ECHO_RESPONSE = (
    b'{"req":"echo.response","time":1714564800.5,"hostname":"central",'
    b'"blob_hash":"","target":"tcp://c:1","orig_hostname":"db1",'
    b'"orig_target":"tcp://c:1","orig_time":1714564800.25,"acks":true}')


def bodies():
    reset("bodies")
    write("bodies", "original-infofile.json", ORIGINAL_INFOFILE)
    write("bodies", "our-infofile-extensions.json", OUR_INFOFILE)
    write("bodies", "infofile-ack.json", INFOFILE_ACK)
    write("bodies", "our-echo-response-acks.json", OUR_ECHO_RESPONSE)
    write("bodies", "original-logtail.json", ORIGINAL_LOGTAIL)
    write("bodies", "original-logtail-gzip-data.json", ORIGINAL_LOGTAIL_GZIP_DATA)
    write("bodies", "original-log-info.json", ORIGINAL_LOG)
    write("bodies", "original-echo-request.json", ORIGINAL_ECHO_REQUEST)
    write("bodies", "original-echo-response.json", ORIGINAL_ECHO_RESPONSE)
    write("bodies", "logtail-ack.json", LOGTAIL_ACK)
    write("bodies", "our-logtail-extensions.json", OUR_LOGTAIL)
    # Edges of the lenient readers: integral floats and decimal strings for
    # integers, null comp/op_mode, nested values to skip, escapes, extremes.
    write("bodies", "lenient-numbers.json",
          b'{"req":"pub.logtail","mode":"b","comp":null,"op_mode":null,'
          b'"hostname":"h","filename":"f","fpos":4096.0,"st_dev":"12",'
          b'"st_ino":1e3,"time":1,"extra":{"a":[1,{"b":null}]}}')
    write("bodies", "escapes.json",
          b'{"req":"log.warning","log_level":"WARNING","log_msg":'
          b'"tab\\t nl\\n quote\\" bs\\\\ nul\\u0000 \\ud83d\\ude00 \\u00e9",'
          b'"hostname":"h\\u002fx","time":-0.0,"log_time":1.7976931348623157e308}')
    write("bodies", "overflow.json",
          b'{"req":"pub.logtail","mode":"b","comp":"","hostname":"h",'
          b'"filename":"f","fpos":18446744073709551616,"time":1e400}')
    write("bodies", "ack-gap.json",
          b'{"req":"logtail.ack","filename":"f","st_dev":0,"st_ino":0,'
          b'"gen":"","fpos":0,"status":"gap"}')


# -- base64 ----------------------------------------------------------------

def base64_seeds():
    import base64
    reset("base64")
    text = b"2024-05-01 12:00:00 UTC [4242] LOG:  checkpoint starting: time\n" * 3
    write("base64", "encodestring-3-lines.txt", base64.encodebytes(text))
    write("base64", "encodestring-gzip.txt",
          base64.encodebytes(gzip.compress(text, mtime=0)))
    write("base64", "one-byte.txt", b"QQ==\n")
    write("base64", "two-bytes-crlf.txt", b"QUI=\r\n")
    write("base64", "spaces.txt", b" QU JD \t RA==\n")
    write("base64", "bad-padding.txt", b"Q===\n")
    write("base64", "bad-char.txt", b"QUJD*A==\n")
    write("base64", "binary.txt", base64.encodebytes(bytes(range(256))))


# -- gzip, bzip2, zstd -----------------------------------------------------

def zstd_compress(data):
    """The zstd CLI (Python has no zstd module): -1, size declared."""
    return subprocess.run(["zstd", "-q", "-1", "-c"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def codec_seeds():
    reset("gzip")
    reset("bzip2")
    codecs = [("gzip", "gz", lambda b: gzip.compress(b, mtime=0)),
              ("bzip2", "bz2", bz2.compress)]
    if shutil.which("zstd"):
        reset("zstd")
        codecs.append(("zstd", "zst", zstd_compress))
    text = b"".join(b"2024-05-01 12:00:%02d UTC [%d] LOG:  duration: %d.%03d ms\n"
                    % (i % 60, 4000 + i, i * 7, i % 1000) for i in range(200))
    for name, mod, comp in codecs:
        one = comp(text)
        write(name, "fragment." + mod, one)
        write(name, "small." + mod, comp(b"hello\n"))
        write(name, "empty-payload." + mod, comp(b""))
        write(name, "two-members." + mod, comp(text[:1000]) + comp(text[1000:]))
        write(name, "truncated." + mod, one[: len(one) // 2])
        write(name, "trailing-garbage." + mod, one + b"\x00garbage")
        # Just over the 1 MiB cap, and a denser bomb: both must be too_large.
        write(name, "over-cap." + mod, comp(b"\0" * ((1 << 20) + 1)))
        write(name, "bomb-8MiB." + mod, comp(b"A" * (8 << 20)))
        write(name, "exactly-cap." + mod, comp(b"x" * (1 << 20)))


# -- config ----------------------------------------------------------------

def config_seeds():
    reset("config")
    for name in ("central.ini", "local-classic.ini", "local-rotated.ini"):
        shutil.copy(os.path.join(ROOT, "conf", name),
                    os.path.join(CORPUS, "config", name))
    write("config", "interpolation.ini", b"""[DEFAULT]
base = /tmp/cc
[ccserver]
pidfile = %(base)s/run/%(job_name)s.pid
logfile = ${base}/log/${job_name}.log
cc-socket = tcp://127.0.0.1:22640
cc-role = remote
stats-period = 30
[routes]
pub.logtail = h:tw
echo = h:echo
log = h:log
[h:tw]
handler = cc.handler.tailwriter
dstdir = ${DEFAULT:base}/logs
dstmask = %%(hostname)s/%%(filename)s
host-subdirs = no
write-compressed = yes
compression = bzip2
compression-level = 9
buffer-bytes = 64K
[h:echo]
handler = cc.handler.echo
[h:log]
handler = cc.handler.locallogger
""")
    write("config", "forwarder-daemons.ini", b"""[ccserver]
pidfile = /tmp/cc/%(job_name)s.pid
cc-socket = tcp://127.0.0.1:22641
cc-role = local
[routes]
pub = h:proxy
job = h:jobs
[h:proxy]
handler = cc.handler.proxy
remote-cc = tcp://127.0.0.1:22642
ping = yes
ping-timeout = 2.5
queue-bytes = 8 MB
[h:jobs]
handler = cc.handler.jobmgr
daemons = d:a, d:b
[d:a]
module = cc.daemon.logtail
logdir = ~/pg_log
logmask = postgresql-*.log
compression = gzip
use-blob = no
buffer-lines = 100
[d:b]
module = cc.daemon.logtail
operation-mode = rotated
logdir = /var/log
logname = syslog
ack = no
""")
    write("config", "syntax-continuation.ini", b"""# comment
; comment
[ccserver]
cc-socket: tcp://127.0.0.1:22643
cc-role = remote
pidfile = /tmp/x.pid
  continued line
[routes]
[empty]
[ccserver]
cc-role = local
""")
    write("config", "loop.ini", b"""[ccserver]
a = %(b)s
b = ${a}
pidfile = %(missing)s
cc-socket = tcp://127.0.0.1:1
""")


# -- dest_path --------------------------------------------------------------

def dest_seed(host, filename, mask=b"", reserved=b"", flags=0x06, when=0):
    """flags: 1 custom mask, 2 host-subdirs, 4 openat2, 8 raw filename too,
    16/32 extension, 64 rotated suffix (see dest_path.cpp)."""
    return (fdp_strings([host, filename, mask, reserved])
            + struct.pack(">I", when) + bytes([flags]))


def dest_path_seeds():
    reset("dest_path")
    cases = {
        "plain": dest_seed(b"db1", b"/var/log/postgresql/postgresql-Mon.log"),
        "flat": dest_seed(b"db1", b"/var/log/pg.log", flags=0x04),
        "filepath-mask": dest_seed(b"db1", b"/var/log/pg/x.log",
                                   b"%(hostname)s%(filepath)s", flags=0x0d),
        "climb-filename": dest_seed(b"db1", b"../../../etc/passwd",
                                    b"%(hostname)s/%(filepath)s", flags=0x0d),
        "climb-host": dest_seed(b"..", b"x.log", flags=0x06),
        "dot-host": dest_seed(b".", b"x.log"),
        "slash-host": dest_seed(b"../..", b"x.log"),
        "backslashes": dest_seed(b"db1", b"..\\..\\..\\etc\\shadow",
                                 b"%(filepath)s", flags=0x0f),
        "nul": dest_seed(b"db1", b"a\x00/../../b"),
        "symlink-dir": dest_seed(b"out", b"victim", flags=0x06),
        "symlink-abs": dest_seed(b"abs", b"new.log", flags=0x02),
        "symlink-file": dest_seed(b"victim", b"", b"%(hostname)s", flags=0x07),
        "symlink-dangling": dest_seed(b"dangling", b"", b"%(hostname)s",
                                      flags=0x03),
        "symlink-deep": dest_seed(b"db1", b"up/victim", b"%(hostname)s/%(filepath)s",
                                  flags=0x0f),
        "symlink-dir-walk": dest_seed(b"db2", b"x.log", flags=0x02),
        "hard-link": dest_seed(b"hard", b"", b"%(hostname)s", flags=0x07),
        "fifo": dest_seed(b"fifo", b"", b"%(hostname)s", flags=0x05),
        "existing": dest_seed(b"db1", b"old.log", flags=0x16),
        "reserved": dest_seed(b".cc-state", b"journal", reserved=b".cc-state"),
        "reserved-raw": dest_seed(b"h", b".cc-state/journal", reserved=b".cc-state",
                                  flags=0x0e),
        "long-component": dest_seed(b"db1", b"a" * 300),
        "rotated": dest_seed(b"db1", b"/var/log/syslog", flags=0x66,
                             when=1714564800),
        "rotated-far": dest_seed(b"db1", b"syslog", flags=0x66, when=0xffffffff),
        "bad-mask": dest_seed(b"db1", b"x", b"%(user)s/%", flags=0x07),
        "percent-mask": dest_seed(b"db1", b"x", b"100%%/%(hostname)s", flags=0x07),
        "trailing-slash": dest_seed(b"db1", b"dir/", b"%(filepath)s", flags=0x0f),
    }
    for name, data in cases.items():
        write("dest_path", name, data)


# -- frames -----------------------------------------------------------------

def frame_set(frames):
    return fdp_strings(frames)


def frames_synthetic():
    reset("frames", keep_prefix="captured-")
    blob = gzip.compress(b"line one\nline two\n", mtime=0)
    write("frames", "logtail-blob-routed",
          frame_set([b"\x00k\x8bEg", b"\x01cc:tailer", b"", b"pub.logtail",
                     ORIGINAL_LOGTAIL.replace(b'"comp": ""', b'"comp": "gzip"'),
                     b"", blob]))
    write("frames", "logtail-data",
          frame_set([b"", b"pub.logtail.pg", ORIGINAL_LOGTAIL_GZIP_DATA, b""]))
    write("frames", "log-info", frame_set([b"id", b"", b"log.info", ORIGINAL_LOG, b""]))
    write("frames", "echo-request",
          frame_set([b"\x00\x01\x02\x03\x04", b"", b"echo.request",
                     ORIGINAL_ECHO_REQUEST, b""]))
    write("frames", "ack", frame_set([b"\x01cc:tailer", b"", b"logtail.ack",
                                      LOGTAIL_ACK, b""]))
    write("frames", "no-delimiter", frame_set([b"pub.logtail", b"{}", b""]))
    write("frames", "too-many", frame_set([b"", b"a", b"{}", b"", b"blob", b"x"]))
    write("frames", "bad-type", frame_set([b"", b"pub..logtail", b"{}", b""]))
    write("frames", "signed-blob",
          frame_set([b"", b"pub.logtail", OUR_LOGTAIL, b"sig",
                     bz2.compress(b"hello\nworld\n")]))


def capture_frames(ccserver):
    """Real frame sets: a local ccserver tails logs and forwards to us."""
    import zmq
    ctx = zmq.Context.instance()
    sink = ctx.socket(zmq.ROUTER)
    sink.setsockopt(zmq.LINGER, 0)
    port = sink.bind_to_random_port("tcp://127.0.0.1")
    probe = ctx.socket(zmq.ROUTER)
    own = probe.bind_to_random_port("tcp://127.0.0.1")
    probe.close()
    work = tempfile.mkdtemp(prefix="cc-fuzz-capture-")
    logdirs = {}
    for name in ("plain", "gzip", "bzip2"):
        logdirs[name] = os.path.join(work, name)
        os.makedirs(logdirs[name])
        open(os.path.join(logdirs[name], "postgresql-2024-05-01.log"), "w").close()
    conf = os.path.join(work, "capture.ini")
    with open(conf, "w") as f:
        f.write(f"""[ccserver]
pidfile = {work}/%(job_name)s.pid
logfile = {work}/%(job_name)s.log
cc-socket = tcp://127.0.0.1:{own}
cc-role = local
[routes]
pub = h:forward
echo = h:forward
job = h:jobmgr
[h:forward]
handler = cc.handler.proxy
remote-cc = tcp://127.0.0.1:{port}
[h:jobmgr]
handler = cc.handler.jobmgr
daemons = d:plain, d:gzip, d:bzip2
[d:plain]
module = cc.daemon.logtail
logdir = {logdirs['plain']}
logmask = postgresql-*.log
[d:gzip]
module = cc.daemon.logtail
logdir = {logdirs['gzip']}
logmask = postgresql-*.log
compression = gzip
use-blob = no
msg-suffix = pg
[d:bzip2]
module = cc.daemon.logtail
logdir = {logdirs['bzip2']}
logmask = postgresql-*.log
compression = bzip2
operation-mode = classic
ack = no
""")
    proc = subprocess.Popen([ccserver, conf])
    try:
        time.sleep(2)
        for name, d in logdirs.items():
            with open(os.path.join(d, "postgresql-2024-05-01.log"), "a") as f:
                for i in range(40):
                    f.write(f"2024-05-01 12:00:{i:02d} UTC [{4000 + i}] LOG:  "
                            f"duration: {i * 3}.{i:03d} ms  statement: "
                            f"SELECT {i} /* {name} */\n")
        subprocess.run([ccserver, "--send", f"tcp://127.0.0.1:{own}",
                        "echo.request", '{"target":"central"}', "--no-reply"],
                       check=False, timeout=60)
        got = {}
        poller = zmq.Poller()
        poller.register(sink, zmq.POLLIN)
        deadline = time.time() + 20
        while time.time() < deadline and len(got) < 4:
            if not poller.poll(500):
                continue
            frames = sink.recv_multipart()
            delim = frames.index(b"")
            msgtype = frames[delim + 1].decode()
            body = frames[delim + 2]
            key = msgtype
            if msgtype.startswith("pub.logtail"):
                for comp in ("gzip", "bzip2"):
                    if f'"comp":"{comp}"'.encode() in body:
                        key += "-" + comp
            if key not in got:
                got[key] = frames
        if len(got) < 4:
            sys.exit(f"capture: got only {sorted(got)} from {ccserver}")
        reset("frames")
        for key, frames in got.items():
            write("frames", "captured-" + key.replace(".", "-"),
                  frame_set(frames))
        print("captured:", ", ".join(sorted(got)))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        sink.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ccserver", help="capture real frame sets with this binary")
    args = ap.parse_args()
    if args.ccserver:
        capture_frames(os.path.abspath(args.ccserver))
    frames_synthetic()
    bodies()
    base64_seeds()
    codec_seeds()
    config_seeds()
    dest_path_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))), "seeds")


if __name__ == "__main__":
    main()
