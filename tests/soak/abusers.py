"""Abusive clients for the soak, each a thread in a loop bounded by the soak's stop
event and by a count, every socket operation bounded by a timeout. They book what
they did in a dict of counters (printed at the end); what they must not achieve
(the gateway dying, growing, or failing the well-behaved clients) is judged by soak.py.
"""

import random
import select
import socket
import time

from harness import MiniH2, _hpack_literal

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
frame = MiniH2._frame

MAX_CONNECTIONS = 20000  # per abuser, whatever the duration


def _connect(port, timeout=2.0, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    return s


def _close(s):
    try:
        s.close()
    except OSError:
        pass


class Abuser:
    name = "?"

    def __init__(self, env, stats):
        self.env = env
        self.stats = stats
        self.stop = env.stop

    def bump(self, key, n=1):
        self.stats[key] = self.stats.get(key, 0) + n

    def go_on(self):
        return not self.stop.is_set() and self.stats.get("connections", 0) < MAX_CONNECTIONS


class Slowloris(Abuser):
    """Request heads sent one byte at a time and never finished: the gateway must cut
    them at request_header_timeout_ms (408 or a close)."""

    name = "slowloris"
    CONNECTIONS = 8
    TICK_S = 0.25

    def __init__(self, env, stats, header_timeout_s):
        super().__init__(env, stats)
        self.overdue_s = header_timeout_s * 3 + 2

    def run(self):
        head = b"GET /web/hello HTTP/1.1\r\nHost: gw.test\r\nX-Slow: " + b"a" * 100000
        conns = {}  # socket -> [opened at, bytes sent]
        try:
            while self.go_on():
                while len(conns) < self.CONNECTIONS and self.go_on():
                    s = _connect(self.env.plain_port)
                    self.bump("connections")
                    if s is None:
                        self.bump("connect_failed")
                        break
                    conns[s] = [time.monotonic(), 0]
                readable, _, _ = select.select(list(conns), [], [], self.TICK_S)
                for s in readable:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if data.startswith(b"HTTP/1.1 408"):
                        self.bump("408")
                    elif data:
                        self.bump("other_reply")
                    self.bump("cut_by_gateway")
                    self.stats["longest_s"] = max(self.stats.get("longest_s", 0),
                                                  round(time.monotonic() - conns[s][0], 1))
                    _close(s)
                    del conns[s]
                now = time.monotonic()
                for s, st in list(conns.items()):
                    if now - st[0] > self.overdue_s:
                        self.bump("overdue")  # never cut: given up on by us
                        _close(s)
                        del conns[s]
                        continue
                    try:
                        s.send(head[st[1]:st[1] + 1])
                        st[1] += 1
                        self.bump("bytes")
                    except OSError:
                        pass  # cut: the next select sees it
        finally:
            for s in conns:
                _close(s)


class PingFlood(Abuser):
    """HTTP/2 PINGs as fast as the socket takes them, never reading the ACKs: the
    gateway must stop reading (send_queue_bytes) instead of queueing ACKs forever."""

    name = "ping_flood"
    MAX_PINGS = 400000  # per connection: 6.8 MB, beyond the socket buffers
    HOLD_S = 2.0

    def run(self):
        batch = frame(PING, 0, 0, b"soakping") * 256
        while self.go_on():
            s = _connect(self.env.plain_port, timeout=0.5, rcvbuf=4096)
            self.bump("connections")
            if s is None:
                self.bump("connect_failed")
                self.stop.wait(0.5)
                continue
            pings = 0
            try:
                s.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))
                deadline = time.monotonic() + 3.0
                while pings < self.MAX_PINGS and time.monotonic() < deadline:
                    s.sendall(batch)  # a timeout here means the gateway stopped reading
                    pings += 256
                self.bump("not_blocked")
            except socket.timeout:
                self.bump("blocked")  # back-pressure reached us: what we want
            except OSError:
                self.bump("closed_by_gateway")
            self.bump("pings", pings)
            self.stop.wait(self.HOLD_S)  # hold the connection without reading
            _close(s)
            self.stop.wait(0.5)


class RapidReset(Abuser):
    """HEADERS immediately followed by RST_STREAM(CANCEL), hundreds per connection
    (CVE-2023-44487). Reads only to ACK SETTINGS and to notice GOAWAY."""

    name = "rapid_reset"
    STREAMS = 400  # per connection
    BATCH = 50

    def _drain(self, s, buf, until):
        """Reads what is there (until |until|); returns (buf, goaway seen, eof)."""
        goaway = eof = False
        while True:
            left = until - time.monotonic()
            r, _, _ = select.select([s], [], [], max(0.0, left))
            if not r:
                break
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                eof = True
                break
            buf += chunk
            while len(buf) >= 9:
                n = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + n:
                    break
                ftype, flags = buf[3], buf[4]
                buf = buf[9 + n:]
                if ftype == SETTINGS and not flags & 1:
                    s.sendall(frame(SETTINGS, 1, 0, b""))
                elif ftype == GOAWAY:
                    goaway = True
                elif ftype == RST:
                    self.bump("rst_received")
                elif ftype == HEADERS:
                    self.bump("responses_started")
            if left <= 0:
                break
        return buf, goaway, eof

    def run(self):
        n = 0
        while self.go_on():
            path = ("/h2c/hello", "/web/hello", "/h2c/slow?ms=50")[n % 3]
            n += 1
            block = b"".join(_hpack_literal(k, v) for k, v in (
                (":method", "GET"), (":scheme", "http"), (":path", path),
                (":authority", "gw.test")))
            s = _connect(self.env.plain_port, timeout=2.0)
            self.bump("connections")
            if s is None:
                self.bump("connect_failed")
                self.stop.wait(0.5)
                continue
            buf = b""
            try:
                s.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))
                sid = 1
                goaway = eof = False
                while sid < self.STREAMS * 2 and not (goaway or eof) and not self.stop.is_set():
                    out = b"".join(frame(HEADERS, 0x5, i, block)
                                   + frame(RST, 0, i, (8).to_bytes(4, "big"))
                                   for i in range(sid, sid + self.BATCH * 2, 2))
                    s.sendall(out)
                    self.bump("streams", self.BATCH)
                    sid += self.BATCH * 2
                    buf, goaway, eof = self._drain(s, buf, time.monotonic() + 0.02)
                if not (goaway or eof):
                    buf, goaway, eof = self._drain(s, buf, time.monotonic() + 1.0)
                self.bump("goaway" if goaway else "eof" if eof else "kept_open")
            except OSError:
                self.bump("closed_by_gateway")
            _close(s)
            self.stop.wait(1.0)


class Garbage(Abuser):
    """Random bytes: on the cleartext port, after the HTTP/2 preface, and on the TLS
    port (a broken handshake). The gateway must close each connection."""

    name = "garbage"
    READ_S = 6.0  # longer than request_header_timeout_ms

    def run(self):
        rng = random.Random(1)
        kinds = ("plain", "h2", "tls")
        n = 0
        while self.go_on():
            kind = kinds[n % 3]
            n += 1
            port = self.env.tls_port if kind == "tls" else self.env.plain_port
            payload = rng.randbytes(rng.randint(16, 4096))
            if kind == "h2":
                payload = PREFACE + payload
            elif kind == "plain" and payload[:1].isalpha():
                payload = b"\x01" + payload  # never a method by chance
            s = _connect(port)
            self.bump("connections")
            if s is None:
                self.bump("connect_failed")
                self.stop.wait(0.5)
                continue
            try:
                s.sendall(payload)
                deadline = time.monotonic() + self.READ_S
                closed = False
                while time.monotonic() < deadline and not self.stop.is_set():
                    r, _, _ = select.select([s], [], [], 0.2)
                    if r and not s.recv(65536):
                        closed = True
                        break
                self.bump(kind + "_closed" if closed else kind + "_left_open")
            except OSError:
                self.bump(kind + "_closed")  # reset by the gateway
            _close(s)
            self.stop.wait(0.2)


class Idle(Abuser):
    """Connections that send nothing (cleartext and TLS ports): the gateway closes them
    after request_header_timeout_ms / handshake_timeout_ms; they are opened again."""

    name = "idle"
    PLAIN, TLS = 16, 4

    def run(self):
        conns = {}  # socket -> kind
        try:
            while self.go_on():
                for kind, port, want in (("plain", self.env.plain_port, self.PLAIN),
                                         ("tls", self.env.tls_port, self.TLS)):
                    have = sum(1 for k in conns.values() if k == kind)
                    for _ in range(want - have):
                        s = _connect(port)
                        self.bump("connections")
                        if s is None:
                            self.bump("connect_failed")
                            continue
                        conns[s] = kind
                self.stats["open_now"] = len(conns)
                r, _, _ = select.select(list(conns), [], [], 0.5)
                for s in r:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.bump(conns[s] + "_closed_by_gateway")
                        _close(s)
                        del conns[s]
                    else:
                        self.bump(conns[s] + "_bytes_received")
        finally:
            for s in conns:
                _close(s)


ALL = (Slowloris, PingFlood, RapidReset, Garbage, Idle)
