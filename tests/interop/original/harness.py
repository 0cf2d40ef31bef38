#!/usr/bin/env python2
# Runs the original Python CC's own code against a real ccserver, under
# Python 2.7 with the stand-ins in shims/ for what it imports (pyzmq,
# skytools, M2Crypto, pkgloader). The original's package (cc/) is not part
# of this repository: run.sh extracts it from its git repository and puts
# it on PYTHONPATH. Everything that decides what goes on the wire or onto
# disk is the original's code, called as its server calls it:
#
#   central     a ROUTER on cc-socket of an original-style central ini whose
#               [routes] name handlers of the kinds the original central runs
#               for this use case: cc.handler.infowriter (its
#               InfoWriter.startup for the options, then
#               InfoWriter_Worker.handle_msg per message),
#               cc.handler.tailwriter (its TailWriter for the options, then
#               TailWriter_Worker.handle_msg) and cc.handler.echo (its
#               Echo.handle_msg, which answers along the route). Route
#               matching is the original server's (prefixes of the type).
#   infosender  the original's InfofileCollector: its reload() reads the
#               [d:...] section, its _work() runs once a second (as its
#               work() does) and publishes to cc-socket with a DEALER.
#
# Our code: this driver and the shims. The only departures from the
# original's processes: one worker thread per handler kind instead of
# worker-threads of them, and the tailwriter's open files are flushed after
# every message (the original flushes them on a 3 s timer) so a test can
# read the copies at once.
import logging
import os
import signal
import socket
import sys
import time

import skytools
import zmq

from cc.crypto import CryptoContext
from cc.message import CCMessage


def log_setup():
    level = os.environ.get('HARNESS_LOG', 'INFO')
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level, 20),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')


class Counters(object):
    def __init__(self):
        self.values = {}

    def __call__(self, key, increase=1):
        self.values[key] = self.values.get(key, 0) + increase


class FakeScript(object):
    """What the original's CCHandler takes from its server (ccscript)."""

    def __init__(self, local, stat_inc):
        self.xtx = CryptoContext(None)
        self.zctx = None
        self.ioloop = None
        self.local = local
        self.stat_inc = stat_inc


class NoSocket(object):
    """The tailwriter worker's channel to its master: its internal
    bookkeeping acks go nowhere here (they never leave the original
    central either)."""

    def send_multipart(self, zmsg):
        pass


def make_infowriter(name, cf, stat_inc):
    from cc.handler.infowriter import InfoWriter, InfoWriter_Worker
    master = object.__new__(InfoWriter)
    master.hname = name
    master.cf = cf
    InfoWriter.startup(master)  # its option handling, unchanged
    worker = InfoWriter_Worker(name + '.worker-0', CryptoContext(None), None,
                               None, master.wparams)
    worker.stat_inc = stat_inc
    return lambda cmsg: worker.handle_msg(cmsg)


def make_tailwriter(name, cf, script):
    from cc.handler.tailwriter import TailWriter, TailWriter_Worker

    class Master(TailWriter):
        # No inproc sockets and threads: the harness calls the worker itself.
        def init_comm(self, stype, url, cb):
            return None, url + ':0'

        def launch_workers(self):
            pass

    master = Master(name, cf, script)
    worker = TailWriter_Worker(name + '.worker-0', CryptoContext(None), None,
                               None, None, None, master.wparams)
    worker.dconn = NoSocket()
    worker.stat_inc = script.stat_inc

    def handle(cmsg):
        worker.handle_msg(cmsg)
        for fd in worker.files.values():
            fd['obj'].flush()
    return handle


def make_echo(name, cf, script):
    from cc.handler.echo import Echo
    echo = Echo(name, cf, script)
    return echo.handle_msg


def run_central(ini, seconds):
    main = skytools.Config('ccserver', ini)
    url = main.get('cc-socket')
    sock = zmq.Context().socket(zmq.XREP)
    sock.bind(url)
    stats = Counters()
    script = FakeScript(sock, stats)
    routes_cf = skytools.Config('routes', ini)
    handlers = {}
    routes = {}
    for prefix in routes_cf.cf.options('routes'):
        for hname in routes_cf.getlist(prefix):
            if hname not in handlers:
                cf = skytools.Config(hname, ini)
                kind = cf.get('handler')
                if kind in ('cc.handler.infowriter', 'infowriter'):
                    handlers[hname] = make_infowriter(hname, cf, stats)
                elif kind in ('cc.handler.tailwriter', 'tailwriter'):
                    handlers[hname] = make_tailwriter(hname, cf, script)
                elif kind in ('cc.handler.echo', 'echo'):
                    handlers[hname] = make_echo(hname, cf, script)
                else:
                    raise SystemExit('harness: handler %s not supported' % kind)
            key = () if prefix == '*' else tuple(prefix.split('.'))
            routes.setdefault(key, []).append(handlers[hname])
    log = logging.getLogger('harness.central')
    log.info('original central on %s: routes %s', url,
             ', '.join('.'.join(k) or '*' for k in routes))
    deadline = time.time() + seconds
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while time.time() < deadline:
        if not poller.poll(200):
            continue
        zmsg = sock.recv_multipart()
        # As the original's CCServer.handle_cc_recv.
        stats('count')
        try:
            cmsg = CCMessage(zmsg)
        except Exception:
            log.exception('Invalid CC message')
            stats('count.invalid')
            continue
        dst = cmsg.get_dest()
        route = tuple(dst.split('.'))
        cnt = 0
        for n in range(0, 1 + len(route)):
            for h in routes.get(route[:n], []):
                try:
                    h(cmsg)
                except Exception:
                    log.exception('crashed, dropping msg: %s', dst)
                cnt += 1
        if cnt == 0:
            log.warning('dropping msg, no route: %s', dst)
            stats('dropped')
        else:
            stats('msg.' + dst)
    log.info('stats: %r', sorted(stats.values.items()))


def run_infosender(ini, section, seconds):
    from cc.daemon.infosender import InfofileCollector
    main = skytools.Config('ccserver', ini)
    d = object.__new__(InfofileCollector)
    d.cf = skytools.Config(section, ini)
    d.cc_url = main.get('cc-socket')
    d.xtx = CryptoContext(None)
    d.logxtx = CryptoContext(None)
    d.hostname = socket.gethostname()
    d.service_name = section
    d.job_name = 'harness.' + section
    d.looping = True
    d.reload()
    d.startup()
    log = logging.getLogger('harness.infosender')
    log.info('original infosender: %s/%s -> %s', d.infodir, d.infomask, d.cc_url)
    deadline = time.time() + seconds
    try:
        # Its own work(): _work() then sleep(1), for `seconds`.
        while time.time() < deadline:
            d._work()
            time.sleep(1)
    finally:
        d.maint_timer.cancel()
        log.info('stats: %r', sorted(getattr(d, 'stats', {}).items()))
        d.close_cc()


def main():
    log_setup()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    if len(sys.argv) < 2:
        raise SystemExit('usage: harness.py central INI SECONDS | '
                         'infosender INI SECTION SECONDS')
    if sys.argv[1] == 'central':
        run_central(sys.argv[2], float(sys.argv[3]))
    elif sys.argv[1] == 'infosender':
        run_infosender(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        raise SystemExit('unknown mode %s' % sys.argv[1])


if __name__ == '__main__':
    main()
