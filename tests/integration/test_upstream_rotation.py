"""Upstream connection rotation must be invisible to clients.

An upstream ends a connection on its own schedule: NGINX sends HTTP/2 GOAWAY after
keepalive_requests streams (1000 by default) and ignores the streams the gateway sent
after that, and it closes an idle HTTP/1.1 keep-alive connection after
keepalive_timeout, which may be the very moment the gateway reuses it. A request the
upstream did not process must be sent again on another connection: every HTTP/2
stream above GOAWAY's last-stream-id or refused, and a safe request (GET, HEAD,
OPTIONS) on a reused HTTP/1.1 connection that the upstream closed without answering.
A POST whose body went out is never sent twice.

The load tests run a real NGINX (nginx_upstream.py) in the configuration that makes
the race frequent and require zero errors over 10 runs; the others use small
scripted origins in this file whose timing is exact. (A deterministic GOAWAY origin
and refused streams: tests/security/test_upstream_failures.py.)"""

import json
import socket
import threading
import time

from harness import LocalOrigin, MiniH2, RawConn, check, check_eq, curl
from nginx_upstream import NginxUpstream

RUNS = 10
REQUESTS = 20000  # per run: 0.2 to 1 s here, in a sanitizer build too


def _load_runs(ctx, g, ngx, h2load_args, what):
    """RUNS runs of h2load through gateway |g| to NGINX |ngx|; each must have every
    request succeed with a 2xx, and NGINX's own count must show each request served
    once (none lost, none processed twice). Returns the connections NGINX accepted."""
    n = REQUESTS
    before = ngx.status()
    failures = []
    for i in range(RUNS):
        r = ctx.h2load("-n", n, *h2load_args, g.url("/x"), timeout=100)
        ctx.note("%s run %d: %d succeeded, %d failed, %d errored, %d timeout; 2xx %d, 5xx %d; "
                 "%.0f req/s" % (what, i + 1, r.succeeded, r.failed, r.errored, r.timeout,
                                 r.s2xx, r.s5xx, r.req_per_s))
        if (r.succeeded, r.failed, r.errored, r.timeout, r.s2xx) != (n, 0, 0, 0, n):
            failures.append("run %d: %d of %d succeeded (%d failed, %d errored, %d timeout; "
                            "2xx %d, 4xx %d, 5xx %d)" % (i + 1, r.succeeded, n, r.failed,
                                                         r.errored, r.timeout, r.s2xx, r.s4xx,
                                                         r.s5xx))
        check(g.alive(), "%s run %d: the gateway died" % (what, i + 1))
    after = ngx.status()
    served = after.requests - before.requests - 1  # less the status request itself
    conns = after.accepts - before.accepts - 1
    ctx.note("%s: NGINX served %d requests on %d connections" % (what, served, conns))
    check(not failures, "%s (h2load -n %d %s): %d of %d runs had errors:\n%s"
          % (what, n, " ".join(map(str, h2load_args)), len(failures), RUNS, "\n".join(failures)))
    check_eq(served, RUNS * n, "%s: requests NGINX served (each exactly once)" % what)
    return conns


# ---------------------------------------------------------------------------
# HTTP/2 GOAWAY rotation (NGINX's keepalive_requests)


def _nginx_goaway_rotation(ctx, h2load_args, what):
    ngx = NginxUpstream(ctx, h2c=True)  # keepalive_requests 1000: NGINX's default
    g = ctx.gateway({"ngx": {"listen_path": "/", "target_url": ngx.url()}}, shards=2)
    conns = _load_runs(ctx, g, ngx, h2load_args, what)
    # GOAWAY after 1000 streams: at least one new connection per 1000 requests.
    check(conns >= RUNS * REQUESTS // 1000,
          "%s: NGINX saw only %d connections: it did not rotate them (keepalive_requests)"
          % (what, conns))


def test_h2_h2c_nginx_goaway_rotation_no_errors(ctx):
    """h2load -c 8 -m 16 over h2c to a gateway (shards = 2) in front of NGINX over h2c
    at its defaults: NGINX sends GOAWAY after 1000 streams on a connection and drops
    the streams above its last-stream-id; the gateway must send those again on a new
    connection. Zero errors over 10 runs of 20 000 requests."""
    _nginx_goaway_rotation(ctx, ["-c", 8, "-m", 16], "h2 -> h2c NGINX")


def test_h1_h2c_nginx_goaway_rotation_no_errors(ctx):
    """The same with HTTP/1.1 clients (h2load --h1 -c 8)."""
    _nginx_goaway_rotation(ctx, ["--h1", "-c", 8], "h1 -> h2c NGINX")


# ---------------------------------------------------------------------------
# HTTP/1.1 keep-alive connections closed by NGINX as the gateway reuses them


def _nginx_stale_keepalive(ctx, h2load_args, what):
    # NGINX closes a keep-alive connection idle for 1 ms: under load the gateway keeps
    # picking idle connections that NGINX is closing at that moment (the request goes
    # out, and the answer is a FIN or a reset). The race, made frequent.
    ngx = NginxUpstream(ctx, h2c=False, keepalive_timeout="1ms")
    g = ctx.gateway({"ngx": {"listen_path": "/", "target_url": ngx.url()}}, shards=2)
    _load_runs(ctx, g, ngx, h2load_args, what)


def test_h2_h1_nginx_stale_keepalive_no_errors(ctx):
    """h2load -c 8 -m 16 over h2c to the gateway (shards = 2) in front of NGINX over
    HTTP/1.1 with keepalive_timeout 1ms: GETs on reused connections that NGINX closed
    must be sent again on another connection. Zero errors over 10 runs."""
    _nginx_stale_keepalive(ctx, ["-c", 8, "-m", 16], "h2 -> h1 NGINX")


def test_h1_h1_nginx_stale_keepalive_no_errors(ctx):
    """The same with HTTP/1.1 clients (h2load --h1 -c 8)."""
    _nginx_stale_keepalive(ctx, ["--h1", "-c", 8], "h1 -> h1 NGINX")


for _f in (test_h2_h2c_nginx_goaway_rotation_no_errors,
           test_h1_h2c_nginx_goaway_rotation_no_errors,
           test_h2_h1_nginx_stale_keepalive_no_errors,
           test_h1_h1_nginx_stale_keepalive_no_errors):
    _f.timeout = 180  # seconds (run.py's per-test limit); 4 to 10 s here, ASan included


# ---------------------------------------------------------------------------
# A deterministic stale keep-alive connection (no NGINX)


class ClosesOnReuseUpstream(LocalOrigin):
    """An HTTP/1.1 origin whose keep-alive connections die just as they are reused:
    a request whose path starts with /drop, arriving on a connection that already
    answered a request, is read whole (head and content-length body) and the
    connection is closed without a byte of answer (a FIN), as if the origin's idle
    timer had fired just then. Any other request, and a /drop request on a fresh
    connection, gets 200 with body ORIGIN_BODY and keep-alive. With |holds|, a
    request whose path starts with /hold is answered only once |holds| of them are
    waiting (at most 5 s), so that the gateway has to open that many connections.

    .log holds (connection number, request number on it, method, path, body bytes,
    "answered" or "dropped") in arrival order."""

    ORIGIN_BODY = b"origin answer\n"

    def __init__(self, holds=0):
        self._barrier = threading.Barrier(holds, timeout=5) if holds else None
        self.log = []
        super().__init__()

    def _recv(self, conn, buf, deadline):
        """buf plus what arrived next; None on EOF, deadline or stop."""
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            return buf + chunk if chunk else None
        return None

    def _read_request(self, conn, buf, deadline):
        """(method, path, body bytes, rest of buf) or None on EOF, deadline or stop."""
        while b"\r\n\r\n" not in buf:
            buf = self._recv(conn, buf, deadline)
            if buf is None:
                return None
        i = buf.index(b"\r\n\r\n")
        lines = buf[:i].decode("latin-1").split("\r\n")
        buf = buf[i + 4:]
        method, path, _ = lines[0].split(" ", 2)
        n = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                n = int(value.strip())
        while len(buf) < n:
            buf = self._recv(conn, buf, deadline)
            if buf is None:
                return None
        return method, path, n, buf[n:]

    def _serve(self, conn, number):
        conn.settimeout(0.2)
        deadline = time.monotonic() + 30
        buf = b""
        for index in range(1, 1000):
            req = self._read_request(conn, buf, deadline)
            if req is None:
                return
            method, path, n, buf = req
            drop = index > 1 and path.startswith("/drop")
            with self._lock:
                self.log.append((number, index, method, path, n,
                                 "dropped" if drop else "answered"))
            if drop:
                return  # closed below, everything read: a FIN
            if path.startswith("/hold") and self._barrier is not None:
                try:
                    self._barrier.wait()
                except threading.BrokenBarrierError:
                    pass  # answered anyway; the test checks the connection count
            body = b"" if method == "HEAD" else self.ORIGIN_BODY
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                         b"content-length: %d\r\n\r\n" % len(self.ORIGIN_BODY) + body)


def _is_json_error(body):
    """The gateway's local reply body: {"error": "..."}."""
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return isinstance(j, dict) and list(j) == ["error"] and bool(j["error"])


def _stale_reuse(ctx, front):
    origin = ClosesOnReuseUpstream()
    ctx._others.append(origin)  # stopped by ctx.cleanup()
    # One shard, so one pool, in which there is never more than one idle connection:
    # each /prime request leaves the connection it used idle, and the /drop request
    # after it reuses that connection, whatever happened before.
    g = ctx.gateway({"reuse": {"listen_path": "/", "target_url": origin.url()}}, shards=1,
                    upstream_max_idle_connections=8)
    post_body = b"p" * 1000
    steps = []
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        steps += [("GET", "/prime-" + method.lower()), (method, "/drop-" + method.lower())]
    steps.append(("GET", "/after"))
    results = []
    if front == "h1":
        c = RawConn(g.port, timeout=10)  # one client connection, one request at a time
        try:
            for method, path in steps:
                body = post_body if method == "POST" else b""
                r = c.request(method, path, body=body, timeout=10)
                results.append((method, path, r.status, r.headers, r.body))
                if (r.headers.get("connection") or "").lower() == "close" or c.eof:
                    c.close()
                    c = RawConn(g.port, timeout=10)
        finally:
            c.close()
    else:
        for method, path in steps:
            if method == "HEAD":
                args = ["--http2-prior-knowledge", "-I"]
            else:
                args = ["--http2-prior-knowledge", "-X", method]
            if method == "POST":
                args += ["--data-binary", post_body.decode()]
            r = curl(*args, g.url(path), timeout=10)
            check_eq(r.rc, 0, "curl %s %s exit (%s)" % (method, path, r.stderr.strip()))
            # curl -I writes the head where the body would go: HEAD has no body.
            results.append((method, path, r.status, r.headers,
                            b"" if method == "HEAD" else r.body))
    what = "%s -> h1 origin closing reused connections" % front
    # Every step is judged, and all that went wrong is reported together.
    problems = []
    size = str(len(ClosesOnReuseUpstream.ORIGIN_BODY))
    for method, path, status, headers, body in results:
        step = "%s %s" % (method, path)
        if method == "POST":
            # Written whole, then the connection closed: it must not be sent again.
            if status != 502 or not _is_json_error(body):
                problems.append("%s: want the gateway's 502 JSON error, got %r %r"
                                % (step, status, body[:200]))
        else:
            want = b"" if method == "HEAD" else ClosesOnReuseUpstream.ORIGIN_BODY
            got = (status, headers.get("content-length"), body)
            if got != (200, size, want):
                problems.append("%s: want (200, %r, %r), got %r" % (step, size, want, got))
    log = list(origin.log)
    posts = [e for e in log if e[2] == "POST"]
    if len(posts) != 1:
        problems.append("the origin got the POST %d times, want exactly once: %s"
                        % (len(posts), posts))
    # Each safe request dropped on a reused connection went again on a new one (as
    # its first request there, so it is answered).
    n = len(post_body)
    expected = [
        (1, 1, "GET", "/prime-get", 0, "answered"), (1, 2, "GET", "/drop-get", 0, "dropped"),
        (2, 1, "GET", "/drop-get", 0, "answered"),
        (2, 2, "GET", "/prime-head", 0, "answered"), (2, 3, "HEAD", "/drop-head", 0, "dropped"),
        (3, 1, "HEAD", "/drop-head", 0, "answered"),
        (3, 2, "GET", "/prime-options", 0, "answered"),
        (3, 3, "OPTIONS", "/drop-options", 0, "dropped"),
        (4, 1, "OPTIONS", "/drop-options", 0, "answered"),
        (4, 2, "GET", "/prime-post", 0, "answered"), (4, 3, "POST", "/drop-post", n, "dropped"),
        (5, 1, "GET", "/after", 0, "answered"),
    ]
    if log != expected:
        problems.append("the origin's log (connection, request number on it, method, path, "
                        "body bytes, outcome):\n  want %s\n  got  %s" % (expected, log))
    check(not problems, "%s:\n%s" % (what, "\n".join(problems)))


def test_h1_h1_closed_on_reuse_safe_requests_resent_post_not(ctx):
    """An HTTP/1.1 origin closes each keep-alive connection when the second request
    arrives, without answering. Over one client connection: GET, HEAD and OPTIONS on
    a reused connection get the origin's 200 from a new connection; a POST whose body
    went out gets a 502 and reaches the origin exactly once."""
    _stale_reuse(ctx, "h1")


def test_h2_h1_closed_on_reuse_safe_requests_resent_post_not(ctx):
    """The same through HTTP/2 clients (curl, one request at a time)."""
    _stale_reuse(ctx, "h2")


def test_h2_h1_all_idle_connections_closed_get_resent(ctx):
    """Every idle connection of the pool went stale at once (as when NGINX's
    keepalive_timeout closes connections that were opened together, or with
    keepalive_timeout 1ms under load): the origin closes each of the 5 idle connections
    when it is reused. A GET must still get the origin's 200: sent again on other idle
    connections only as long as the retries last, it would meet a dead one each time
    and end as a 502; a new connection answers it."""
    idle = 5
    origin = ClosesOnReuseUpstream(holds=idle)
    ctx._others.append(origin)  # stopped by ctx.cleanup()
    g = ctx.gateway({"reuse": {"listen_path": "/", "target_url": origin.url()}}, shards=1,
                    upstream_max_idle_connections=8)
    with MiniH2(g.port) as c:
        # Five requests the origin holds until all five are there: five connections,
        # idle afterwards.
        sids = [c.request("GET", "/hold-%d" % i) for i in range(idle)]
        held = [c.wait(sid, timeout=10) for sid in sids]
        check_eq([(st.ended, st.reset, st.data) for st in held],
                 [(True, None, ClosesOnReuseUpstream.ORIGIN_BODY)] * idle,
                 "the held requests (ended, reset code, body)")
        check_eq(origin.connections, idle, "connections the gateway opened for %d requests "
                 "held at once" % idle)
        st = c.wait(c.request("GET", "/drop-get"), timeout=10)
    log = list(origin.log)
    drops = [e for e in log if e[3] == "/drop-get"]
    ctx.note("the GET met %d closing connection(s) before an answer: %s"
             % (sum(1 for e in drops if e[5] == "dropped"), drops))
    check_eq((st.ended, st.reset, st.data), (True, None, ClosesOnReuseUpstream.ORIGIN_BODY),
             "GET /drop-get with every idle connection stale (ended, reset code, body); "
             "the origin saw it as %s" % drops)
    check_eq([e[5] for e in drops].count("answered"), 1, "times the origin answered the GET")
