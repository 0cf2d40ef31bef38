# A small pure-Python ZeroMQ for Python 2.7: ZMTP 3.0 over TCP with the NULL
# mechanism, the DEALER (XREQ) and ROUTER (XREP) socket types, blocking
# calls and a select-based Poller. Enough to run the original CC's infosender,
# infowriter, tailwriter and echo code unchanged against a real ccserver
# (libzmq 4.3 on the other end). Not a general replacement for pyzmq: no
# high-water marks, no reconnect after a lost peer for ROUTER, no inproc.
#
# This is our code, written from RFC 23 (ZMTP 3.0), not part of the original.

import errno
import os
import select
import socket as _socket
import struct
import time

DEALER = XREQ = 5
ROUTER = XREP = 6
POLLIN = 1
POLLOUT = 2
LINGER = 17
HWM = 1
SNDHWM = 23
RCVHWM = 24
RCVBUF = 12
SNDBUF = 11
IDENTITY = 5
TCP_KEEPALIVE = 34
TCP_KEEPALIVE_CNT = 35
TCP_KEEPALIVE_IDLE = 36
TCP_KEEPALIVE_INTVL = 37

_TYPE_NAMES = {DEALER: 'DEALER', ROUTER: 'ROUTER'}


class ZMQError(Exception):
    pass


def _greeting():
    return ('\xff' + '\x00' * 8 + '\x7f' + '\x03\x00' +
            'NULL' + '\x00' * 16 + '\x00' + '\x00' * 31)


def _command(name, body=''):
    data = chr(len(name)) + name + body
    if len(data) > 255:
        return '\x06' + struct.pack('>Q', len(data)) + data
    return '\x04' + chr(len(data)) + data


def _ready(socket_type):
    name = 'Socket-Type'
    value = _TYPE_NAMES[socket_type]
    props = chr(len(name)) + name + struct.pack('>I', len(value)) + value
    if socket_type == DEALER:
        props += chr(8) + 'Identity' + struct.pack('>I', 0)
    return _command('READY', props)


class _Conn(object):
    """One ZMTP connection: handshake, then frames."""

    def __init__(self, sock, socket_type):
        self.sock = sock
        self.inbuf = ''
        self.frames = []        # frames of the message being received
        self.ready = False
        self.peer_identity = ''
        self.sock.setblocking(1)
        self.sock.sendall(_greeting() + _ready(socket_type))
        greeting = self._read_exact(64)
        if greeting[0] != '\xff' or greeting[9] != '\x7f':
            raise ZMQError('not a ZMTP peer')
        if ord(greeting[10]) < 3:
            raise ZMQError('ZMTP version %d not supported' % ord(greeting[10]))

    def fileno(self):
        return self.sock.fileno()

    def _read_exact(self, n):
        while len(self.inbuf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ZMQError('connection closed')
            self.inbuf += chunk
        out, self.inbuf = self.inbuf[:n], self.inbuf[n:]
        return out

    def _frame_ready(self):
        """(flags, body) of a complete frame in inbuf, or None."""
        if len(self.inbuf) < 2:
            return None
        flags = ord(self.inbuf[0])
        if flags & 2:
            if len(self.inbuf) < 9:
                return None
            size = struct.unpack('>Q', self.inbuf[1:9])[0]
            head = 9
        else:
            size = ord(self.inbuf[1])
            head = 2
        if len(self.inbuf) < head + size:
            return None
        body = self.inbuf[head:head + size]
        self.inbuf = self.inbuf[head + size:]
        return flags, body

    def pump(self, block):
        """Reads what is there (waits when `block`); returns a complete
        message or None. Handles commands (READY, PING)."""
        while True:
            got = self._frame_ready()
            while got is not None:
                flags, body = got
                if flags & 4:
                    self._on_command(body)
                else:
                    self.frames.append(body)
                    if not flags & 1:
                        msg, self.frames = self.frames, []
                        return msg
                got = self._frame_ready()
            if not block:
                r, _, _ = select.select([self.sock], [], [], 0)
                if not r:
                    return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ZMQError('connection closed')
            self.inbuf += chunk

    def _on_command(self, body):
        n = ord(body[0])
        name = body[1:1 + n]
        rest = body[1 + n:]
        if name == 'READY':
            self.ready = True
            i = 0
            while i < len(rest):
                kn = ord(rest[i]); key = rest[i + 1:i + 1 + kn]; i += 1 + kn
                vn = struct.unpack('>I', rest[i:i + 4])[0]; value = rest[i + 4:i + 4 + vn]
                i += 4 + vn
                if key.lower() == 'identity':
                    self.peer_identity = value
        elif name == 'PING':
            # ttl (2 bytes), then the context to echo
            self.sock.sendall(_command('PONG', rest[2:]))
        elif name == 'ERROR':
            raise ZMQError('peer error: %r' % rest)

    def send(self, frames):
        out = []
        for i, f in enumerate(frames):
            more = 1 if i + 1 < len(frames) else 0
            if len(f) > 255:
                out.append(chr(2 | more) + struct.pack('>Q', len(f)) + f)
            else:
                out.append(chr(more) + chr(len(f)) + f)
        self.sock.sendall(''.join(out))


def _parse_tcp(url):
    if not url.startswith('tcp://'):
        raise ZMQError('only tcp:// endpoints: %s' % url)
    host, port = url[6:].rsplit(':', 1)
    if host in ('*', '0.0.0.0'):
        host = '0.0.0.0'
    return host, int(port)


class Socket(object):
    def __init__(self, socket_type):
        if socket_type not in _TYPE_NAMES:
            raise ZMQError('socket type %r not supported' % socket_type)
        self.type = socket_type
        self.listener = None
        self.conns = []
        self.by_identity = {}
        self.connect_to = None
        self.closed = False
        self.queue = []

    # -- options: accepted, not applied -------------------------------------
    def setsockopt(self, opt, value):
        pass

    def set_hwm(self, value):
        pass

    # -- endpoints -------------------------------------------------------------
    def bind(self, url):
        host, port = _parse_tcp(url)
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(16)
        self.listener = s

    def connect(self, url):
        self.connect_to = _parse_tcp(url)

    def _ensure_connected(self, deadline=None):
        if self.connect_to is None or self.conns:
            return
        while True:
            try:
                s = _socket.create_connection(self.connect_to, 2)
                s.settimeout(None)
                self._add(_Conn(s, self.type))
                return
            except (_socket.error, ZMQError):
                if deadline is not None and time.time() > deadline:
                    raise ZMQError('cannot connect to %s:%d' % self.connect_to)
                time.sleep(0.1)

    def _add(self, conn):
        self.conns.append(conn)
        if self.type == ROUTER:
            ident = '\x00' + os.urandom(4)
            conn.identity = ident
            self.by_identity[ident] = conn

    def _drop(self, conn):
        if conn in self.conns:
            self.conns.remove(conn)
        for k, v in self.by_identity.items():
            if v is conn:
                del self.by_identity[k]
        try:
            conn.sock.close()
        except _socket.error:
            pass

    def _poll_once(self, timeout):
        """Accepts and reads for at most `timeout` seconds (None: wait);
        complete messages go to self.queue. True if one is there."""
        if self.queue:
            return True
        self._ensure_connected()
        fds = list(self.conns)
        if self.listener is not None:
            fds.append(self.listener)
        # Bytes already read may hold whole messages.
        for c in list(self.conns):
            self._read_conn(c, False)
        if self.queue:
            return True
        r, _, _ = select.select(fds, [], [], timeout)
        for s in r:
            if s is self.listener:
                sock, _ = self.listener.accept()
                try:
                    self._add(_Conn(sock, self.type))
                except (ZMQError, _socket.error):
                    sock.close()
            else:
                self._read_conn(s, True)
        return bool(self.queue)

    def _read_conn(self, c, block):
        try:
            while True:
                msg = c.pump(block)
                if msg is None:
                    return
                block = False
                if self.type == ROUTER:
                    msg = [c.identity] + msg
                self.queue.append(msg)
        except (ZMQError, _socket.error):
            self._drop(c)

    # -- messages ----------------------------------------------------------------
    def send_multipart(self, frames):
        frames = [str(f) for f in frames]
        if self.type == ROUTER:
            conn = self.by_identity.get(frames[0])
            if conn is None:
                return  # unroutable: dropped, as a ROUTER does
            conn.send(frames[1:])
        else:
            self._ensure_connected(time.time() + 30)
            try:
                self.conns[0].send(frames)
            except (_socket.error, ZMQError):
                self._drop(self.conns[0])
                self._ensure_connected(time.time() + 30)
                self.conns[0].send(frames)

    def recv_multipart(self):
        while not self._poll_once(None):
            pass
        return self.queue.pop(0)

    def close(self, linger=None):
        for c in list(self.conns):
            self._drop(c)
        if self.listener is not None:
            self.listener.close()
        self.closed = True


class Context(object):
    def __init__(self, io_threads=1):
        pass

    def socket(self, socket_type):
        return Socket(socket_type)

    def term(self):
        pass

    @classmethod
    def instance(cls):
        return cls()


class Poller(object):
    def __init__(self):
        self.socks = []

    def register(self, sock, flags=POLLIN):
        self.socks.append(sock)

    def poll(self, timeout=None):
        """timeout in milliseconds, as pyzmq's."""
        deadline = None if timeout is None else time.time() + timeout / 1000.0
        while True:
            ready = [(s, POLLIN) for s in self.socks if s.queue]
            if ready:
                return ready
            left = None if deadline is None else max(0, deadline - time.time())
            for s in self.socks:
                s._poll_once(0 if len(self.socks) > 1 else left)
            ready = [(s, POLLIN) for s in self.socks if s.queue]
            if ready or (deadline is not None and time.time() >= deadline):
                return ready
            if len(self.socks) > 1:
                time.sleep(0.01)
