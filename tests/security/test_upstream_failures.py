"""Upstream failures (SECURITY.md §7 rows 25–30): an upstream that refuses the
connection, dies before or in the middle of a response, refuses streams or sends
GOAWAY, is slower than the deadline, or misbehaves at the protocol level. Each gets a
local reply per DESIGN.md §5 (JSON for HTTP, trailers-only for gRPC) or a reset that
cannot be mistaken for a complete response; unprocessed streams are retried once; the
gateway serves other APIs and streams throughout."""

import os
import signal
import socket
import subprocess
import sys
import time

from harness import (BACKS, FRONTS, GRPC_CURL_ARGS as GRPC, LocalOrigin, MiniH2, RawConn,
                     TestFailure, check, check_eq, check_grpc_local_reply, check_json_error, curl,
                     curl_ok, fail, free_port, grpc_empty_frame_file, proxy_apis, wait_for)

from test_grpc import (DEADLINE_EXCEEDED, SERVICE, UNAVAILABLE, BackgroundClient, _grpc_frame,
                       _pb_field, _short, cancel_state, client, grpc_setup, ok)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_frames as hf  # noqa: E402


def test_upstream_refuses_connection_502(ctx):
    """Row 25: nothing listens on the target port: 502 JSON (DESIGN.md §5: refused is 502)
    for HTTP/1.1 and h2c targets from both fronts, again on a second try; gRPC gets
    trailers-only grpc-status 14; live APIs keep serving."""
    dead = free_port()  # nothing listens there
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["dead_h1"] = {"listen_path": "/dead_h1/", "target_url": "http://127.0.0.1:%d" % dead}
    apis["dead_h2c"] = {"listen_path": "/dead_h2c/", "target_url": "h2c://127.0.0.1:%d" % dead}
    g = ctx.gateway(apis)
    frame = grpc_empty_frame_file(ctx)
    for front in FRONTS:
        for kind in ("h1", "h2c"):
            what = "%s->dead %s" % (front, kind)
            for _ in range(2):  # and again: nothing cached from the first failure
                check_json_error(curl_ok(*FRONTS[front], g.url("/dead_%s/hello" % kind)),
                                  502, what)
            check_json_error(curl_ok(*FRONTS[front], "--data-binary", "x" * 1000,
                                      g.url("/dead_%s/echo" % kind)), 502, what + " POST")
    for kind in ("h1", "h2c"):
        r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                    g.url("/dead_%s/pkg.Svc/Method" % kind))
        check_grpc_local_reply(r, 14, "gRPC to dead " + kind)
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], g.url("/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), front + ": live API still served")


def _killed_mid_response(ctx, front, back):
    victim = ctx.backend()
    healthy = ctx.backend()
    apis = {
        "victim": {"listen_path": "/v/", "strip_listen_path": True,
                   "target_url": victim.url("http" if back == "h1" else "h2c")},
        "healthy": {"listen_path": "/ok/", "strip_listen_path": True,
                    "target_url": healthy.url("http" if back == "h1" else "h2c")},
    }
    g = ctx.gateway(apis)
    total = 100000000
    out = ctx.tmp("download")
    cmd = ["curl", "-sS", "--max-time", "30", "--limit-rate", "2M", "-o", out,
           "-w", "%{http_code}"] + FRONTS[front] + [g.url("/v/bytes?n=%d" % total)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 10,
                 what="the first body bytes")
        victim.kill(signal.SIGKILL)
        try:
            stdout, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            fail("the client did not notice the upstream's death within 20s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    got = os.path.getsize(out)
    stderr = stderr.decode(errors="replace").strip()
    what = "%s->%s" % (front, back)
    ctx.note("%s: curl exit %d after %d bytes: %s" % (what, proc.returncode, got, stderr))
    check_eq(stdout, b"200", what + " response status before the failure")
    check(got < total, "%s: got all %d bytes although the upstream died" % (what, got))
    if front == "h1":
        # The connection closes before content-length bytes: 18 (partial file) or 56
        # (connection reset).
        check(proc.returncode in (18, 56), "%s: curl exit %d, want 18 or 56 (truncated): %s"
              % (what, proc.returncode, stderr))
    else:
        # The stream is reset: 92 (HTTP/2 stream error).
        check(proc.returncode == 92, "%s: curl exit %d, want 92 (stream reset): %s"
              % (what, proc.returncode, stderr))
    check(g.alive(), "the gateway died")
    for f in FRONTS:
        r = curl_ok(*FRONTS[f], g.url("/ok/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), f + ": next request to a live API")
        check_json_error(curl_ok(*FRONTS[f], g.url("/v/hello")), 502,
                          f + ": next request to the dead upstream")


def test_upstream_dies_mid_body_h1_h1(ctx):
    """Row 27: the upstream is killed in the middle of a 100 MB body: HTTP/1.1 clients see
    the connection close before content-length, HTTP/2 clients a stream reset — never a
    complete-looking response; the dead upstream then gets 502."""
    _killed_mid_response(ctx, "h1", "h1")


def test_upstream_dies_mid_body_h1_h2c(ctx):
    """Row 27: the upstream is killed in the middle of a 100 MB body: HTTP/1.1 clients see
    the connection close before content-length, HTTP/2 clients a stream reset — never a
    complete-looking response; the dead upstream then gets 502."""
    _killed_mid_response(ctx, "h1", "h2c")


def test_upstream_dies_mid_body_h2_h1(ctx):
    """Row 27: the upstream is killed in the middle of a 100 MB body: HTTP/1.1 clients see
    the connection close before content-length, HTTP/2 clients a stream reset — never a
    complete-looking response; the dead upstream then gets 502."""
    _killed_mid_response(ctx, "h2", "h1")


def test_upstream_dies_mid_body_h2_h2c(ctx):
    """Row 27: the upstream is killed in the middle of a 100 MB body: HTTP/1.1 clients see
    the connection close before content-length, HTTP/2 clients a stream reset — never a
    complete-looking response; the dead upstream then gets 502."""
    _killed_mid_response(ctx, "h2", "h2c")


def test_upstream_misbehaving_http1_origins(ctx):
    """Row 26: HTTP/1.1 origins that close at once or send garbage get 502/503 JSON
    (and, rows 27 and 30, a body cut short or a bad chunk is never a complete-looking
    response; a 200 KB response head is a 502); no crash; a good API serves next."""

    def close_at_once(conn):
        pass

    def garbage(conn):
        conn.sendall(b"this is not HTTP\r\n\r\n")

    def truncated(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)

    def huge_head(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nx-big: " + b"h" * 200000 + b"\r\n\r\nok")

    def bad_chunk(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\nzz\r\n")

    b = ctx.backend()
    apis = proxy_apis(b)
    ups = {}
    for name, fn in (("close", close_at_once), ("garbage", garbage), ("truncated", truncated),
                     ("hugehead", huge_head), ("badchunk", bad_chunk)):
        ups[name] = ctx.scripted_upstream(fn)
        apis[name] = {"listen_path": "/%s/" % name, "target_url": ups[name].url()}
    g = ctx.gateway(apis)
    for front in FRONTS:
        for name in ("close", "garbage", "hugehead"):
            what = "%s->%s upstream" % (front, name)
            r = curl(*FRONTS[front], g.url("/%s/x" % name), timeout=15)
            check_eq(r.rc, 0, what + " curl exit (%s)" % r.stderr.strip())
            check(r.status in (502, 503), "%s: status %r, want 502/503" % (what, r.status))
            check_json_error(r, r.status, what)
        for name in ("truncated", "badchunk"):
            what = "%s->%s upstream" % (front, name)
            r = curl(*FRONTS[front], g.url("/%s/x" % name), timeout=15)
            check(r.rc != 0, "%s: a cut-short body looked complete to the client: %r"
                  % (what, r))
        r = curl_ok(*FRONTS[front], g.url("/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), front + ": good API afterwards")


def _timeout(ctx, back):
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), upstream_timeout_ms=300)
    frame = grpc_empty_frame_file(ctx)
    prefix = BACKS[back]
    for front in FRONTS:
        what = "%s->%s" % (front, back)
        start = time.monotonic()
        r = curl_ok(*FRONTS[front], g.url(prefix + "/slow?ms=2000"), timeout=15)
        elapsed = time.monotonic() - start
        check_json_error(r, 504, what + " /slow?ms=2000")
        check(elapsed < 1.9, "%s: the 504 came after %.2fs, not after ~300 ms" % (what, elapsed))
    r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                g.url(prefix + "/slow?ms=2000"), timeout=15)
    check_grpc_local_reply(r, 4, "gRPC h2->%s slow" % back)
    # On one keep-alive connection: a 504, then requests that keep it busy until after
    # the late answer to the first would have come; each gets its own response.
    # (Back to back, no pause: see test_timers for what a pause does.)
    with RawConn(g.port) as c:
        r = c.request("GET", prefix + "/slow?ms=1000")
        check_eq(r.status, 504, "raw 504")
        for i in range(6):
            r = c.request("GET", prefix + "/slow?ms=200&i=%d" % i)
            check_eq((r.status, r.body), (200, b"slow\n"), "slow request %d after a 504" % i)
        r = c.request("GET", prefix + "/inspect?i=x")
        check_eq((r.status, r.json()["path"]), (200, "/inspect?i=x"), "inspect after a 504")
    # Headers in time, body later: the timeout is for the response head.
    r = curl_ok("--http1.1", g.url(prefix + "/slow?ms=700&body=1"), timeout=15)
    check_eq((r.status, r.body), (200, b"slow\n"), "head in time, body after 700 ms")
    r = curl_ok("--http2-prior-knowledge", g.url(prefix + "/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "served afterwards")


def test_slow_upstream_h1_504(ctx):
    """Row 29: an HTTP/1.1 upstream slower than upstream_timeout_ms = 300: 504 JSON, gRPC
    grpc-status 4, the connection serves on."""
    _timeout(ctx, "h1")


def test_slow_upstream_h2c_504(ctx):
    """Row 29: an h2c upstream slower than upstream_timeout_ms = 300: 504 JSON, gRPC grpc-
    status 4, the connection serves on."""
    _timeout(ctx, "h2c")


# ---------------------------------------------------------------------------
# A deterministic GOAWAY (no NGINX): a tiny HTTP/2 origin


H2_DATA, H2_HEADERS, H2_SETTINGS, H2_PING, H2_GOAWAY = 0, 1, 4, 6, 7


def _h2_frame(ftype, flags, stream_id, payload=b""):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream_id.to_bytes(4, "big")
            + payload)


class GoawayAfterUpstream(LocalOrigin):
    """A cleartext HTTP/2 (prior knowledge) origin that behaves as NGINX with
    keepalive_requests = |per_connection|: on each connection it answers the first
    |per_connection| streams (200, body ORIGIN_BODY), sends GOAWAY(NO_ERROR) with
    the last of them as last-stream-id as soon as that one's HEADERS arrive, and
    ignores every later stream. It closes the connection once the peer does, or
    after |linger_s|.

    .log holds (connection number, stream id, "answered" or "ignored")."""

    ORIGIN_BODY = b"h2 origin ok\n"

    def __init__(self, per_connection, linger_s=2.0):
        self.per_connection = per_connection
        self.linger_s = linger_s
        self.log = []
        super().__init__()

    def url(self):
        return "h2c://127.0.0.1:%d" % self.port

    def _serve(self, conn, number):
        conn.settimeout(0.1)
        deadline = time.monotonic() + 30
        buf = b""
        preface = False
        answered = 0
        goaway_at = None
        # SETTINGS: MAX_CONCURRENT_STREAMS 100 (as NGINX's 128: more than the test uses).
        out = _h2_frame(H2_SETTINGS, 0, 0, (3).to_bytes(2, "big") + (100).to_bytes(4, "big"))
        conn.sendall(out)
        while not self._stop.is_set() and time.monotonic() < deadline:
            if goaway_at is not None and time.monotonic() > goaway_at + self.linger_s:
                return  # lingered long enough
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return  # the gateway closed
            buf += chunk
            if not preface:
                if len(buf) < 24:
                    continue
                if buf[:24] != b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n":
                    return
                buf = buf[24:]
                preface = True
            out = b""
            while len(buf) >= 9:
                length = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, flags = buf[3], buf[4]
                sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload = buf[9:9 + length]
                buf = buf[9 + length:]
                if ftype == H2_SETTINGS and not flags & 1:
                    out += _h2_frame(H2_SETTINGS, 1, 0)
                elif ftype == H2_PING and not flags & 1:
                    out += _h2_frame(H2_PING, 1, 0, payload)
                elif ftype == H2_HEADERS:
                    # Requests are GETs: one HEADERS frame with END_HEADERS here.
                    if answered < self.per_connection and goaway_at is None:
                        answered += 1
                        with self._lock:
                            self.log.append((number, sid, "answered"))
                        if answered == self.per_connection:
                            goaway_at = time.monotonic()
                            out += _h2_frame(H2_GOAWAY, 0, 0, sid.to_bytes(4, "big")
                                             + (0).to_bytes(4, "big"))
                        # :status 200 (static table index 8), then the body.
                        out += _h2_frame(H2_HEADERS, 0x4, sid, b"\x88")
                        out += _h2_frame(H2_DATA, 0x1, sid, self.ORIGIN_BODY)
                    else:
                        with self._lock:
                            self.log.append((number, sid, "ignored"))
            if out:
                conn.sendall(out)


def test_upstream_goaway_unprocessed_streams_resent(ctx):
    """Row 28: An h2c origin that, like NGINX with keepalive_requests 2, answers two streams
    per connection and sends GOAWAY with the second as last-stream-id. Six requests at
    once on one client connection: the four above the first GOAWAY go again on a
    second connection, the two left there on a third. All six get the origin's 200,
    and the origin answers exactly six streams (none twice)."""
    origin = GoawayAfterUpstream(per_connection=2)
    ctx._others.append(origin)  # stopped by ctx.cleanup()
    g = ctx.gateway({"goaway": {"listen_path": "/", "target_url": origin.url()}}, shards=1)
    count = 6
    with MiniH2(g.port) as c:
        sids = [c.request("GET", "/r%d" % i) for i in range(count)]
        results = [c.wait(sid, timeout=10) for sid in sids]
    got = [(st.ended, st.reset, st.data) for st in results]
    log = list(origin.log)
    ctx.note("origin: %d connections; %s" % (origin.connections, log))
    check_eq(got, [(True, None, GoawayAfterUpstream.ORIGIN_BODY)] * count,
             "the six responses (ended, reset code, body); origin log %s" % log)
    answered = [e for e in log if e[2] == "answered"]
    check_eq(len(answered), count, "streams the origin answered (log %s)" % log)
    check(origin.connections >= 3, "the origin saw %d connections, want at least 3 (two "
          "answers each)" % origin.connections)


# ---------------------------------------------------------------------------
# A scripted h2c origin (h2_frames.ScriptedH2Origin): what it does with each request
# depends on the path.


def _script(origin, conn, sid, path):
    seen = sum(1 for e in origin.events("request") if e[3] == path)
    if path == "/refuse-once":
        return hf.rst_stream(sid, hf.REFUSED_STREAM) if seen == 1 else origin.response(conn, sid)
    if path == "/refuse-always":
        return hf.rst_stream(sid, hf.REFUSED_STREAM)
    if path == "/refuse-and-goaway":  # both in one write, so in one read on the gateway
        if seen == 1:
            return hf.rst_stream(sid, hf.REFUSED_STREAM) + hf.goaway(0, hf.NO_ERROR)
        return origin.response(conn, sid)
    if path.startswith("/die-before-headers"):
        return None
    if path.startswith("/never"):
        return b""  # no answer: the gateway's deadline decides
    if path == "/ping-flood":
        return b"".join(hf.ping(i.to_bytes(8, "big")) for i in range(5000))
    if path == "/settings-flood":
        return b"".join(hf.settings((hf.ENABLE_PUSH, 0)) for _ in range(5000))
    if path == "/empty-data-flood":
        return (origin.response(conn, sid, body=b"", end=False)
                + b"".join(hf.data(sid, b"") for _ in range(5000)))
    if path == "/bad-header":
        block = hf.hpack_literal(":status", "200") + hf.hpack_literal("X-Upper", "1")
        return hf.headers(sid, block, end_stream=True)
    return origin.response(conn, sid)


def _h2_origin_gateway(ctx, **gateway_keys):
    origin = hf.ScriptedH2Origin(_script)
    ctx._others.append(origin)  # stopped by ctx.cleanup()
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["origin"] = {"listen_path": "/o/", "strip_listen_path": True, "target_url": origin.url()}
    return origin, ctx.gateway(apis, **gateway_keys)


def test_upstream_dies_before_response_headers(ctx):
    """Row 26: an h2c upstream that closes its connection as soon as a request's HEADERS
    arrive: 502 JSON over HTTP/1.1 and HTTP/2, gRPC trailers-only grpc-status 14; the
    gateway does not loop on retries (at most two attempts per request); other APIs
    serve."""
    origin, g = _h2_origin_gateway(ctx)
    frame = grpc_empty_frame_file(ctx)
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], g.url("/o/die-before-headers-%s" % front), timeout=15)
        check_json_error(r, 502, front + " request to an upstream that dies")
    r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                g.url("/o/die-before-headers-grpc"), timeout=15)
    check_grpc_local_reply(r, 14, "gRPC to an upstream that dies before headers")
    for path in ("/die-before-headers-h1", "/die-before-headers-h2", "/die-before-headers-grpc"):
        tries = sum(1 for e in origin.events("request") if e[3] == path)
        check(1 <= tries <= 2, "%s: %d attempts reached the upstream" % (path, tries))
    r = curl_ok("--http2-prior-knowledge", g.url("/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "another API afterwards")


def test_upstream_refused_stream_retried_once(ctx):
    """Row 28: an h2c upstream answers RST_STREAM(REFUSED_STREAM), upstream_max_retries =
    1: a stream refused once
    is sent again and served (200); one refused every time gets 502/503 after one
    retry (two attempts); RST_STREAM(REFUSED_STREAM) and GOAWAY(last-stream-id 0) in one read
    are retried on a new connection and served."""
    origin, g = _h2_origin_gateway(ctx, upstream_max_retries=1)
    r = curl_ok("--http2-prior-knowledge", g.url("/o/refuse-once"), timeout=15)
    check_eq((r.status, r.body), (200, b"origin ok\n"), "refused once, then served")
    r = curl_ok("--http1.1", g.url("/o/refuse-always"), timeout=15)
    check(r.status in (502, 503), "refused every time: status %r (DESIGN.md §5: 502/503)"
          % r.status)
    check_json_error(r, r.status, "refused every time")
    r = curl_ok("--http2-prior-knowledge", g.url("/o/refuse-and-goaway"), timeout=15)
    check_eq((r.status, r.body), (200, b"origin ok\n"),
             "RST_STREAM + GOAWAY in one read (origin log %s)" % origin.log)
    tries = {p: sum(1 for e in origin.events("request") if e[3] == p)
             for p in ("/refuse-once", "/refuse-always", "/refuse-and-goaway")}
    check_eq(tries, {"/refuse-once": 2, "/refuse-always": 2, "/refuse-and-goaway": 2},
             "attempts per path at the upstream (log %s)" % origin.log)
    goaway_conn = [e[0] for e in origin.events("request") if e[3] == "/refuse-and-goaway"]
    check(goaway_conn[0] != goaway_conn[1], "the retry after GOAWAY went on the same "
          "connection: %s" % origin.log)
    check(g.alive(), "the gateway died")


def test_slow_upstream_cancelled_at_deadline(ctx):
    """Row 29: a request to an h2c upstream that never answers gets 504 at
    upstream_timeout_ms = 300, and a gRPC call with grpc-timeout 200m gets
    grpc-status 4 (DEADLINE_EXCEEDED); for both, the gateway sends RST_STREAM(CANCEL)
    upstream at that moment."""
    origin, g = _h2_origin_gateway(ctx, upstream_timeout_ms=300)
    frame = grpc_empty_frame_file(ctx)
    r = curl_ok("--http2-prior-knowledge", g.url("/o/never-http"), timeout=15)
    check_json_error(r, 504, "upstream that never answers")
    r = curl_ok("--http2-prior-knowledge", *GRPC, "-H", "grpc-timeout: 200m",
                "--data-binary", "@" + frame, g.url("/o/never-grpc"), timeout=15)
    check_grpc_local_reply(r, 4, "gRPC with grpc-timeout 200m")
    for path in ("/never-http", "/never-grpc"):
        sids = [(e[0], e[2]) for e in origin.events("request") if e[3] == path]
        check_eq(len(sids), 1, path + ": attempts at the upstream")
        wait_for(lambda: [e for e in origin.events("rst") if (e[0], e[2]) == sids[0]], 3,
                 what="RST_STREAM upstream for %s (log %s)" % (path, origin.log))
        codes = [e[3] for e in origin.events("rst") if (e[0], e[2]) == sids[0]]
        check_eq(codes, [hf.CANCEL], path + ": RST_STREAM codes the upstream got")


def test_upstream_protocol_floods_and_malformed_headers(ctx):
    """Row 30: an h2c upstream that answers a request with 5000 PINGs, 5000 SETTINGS,
    or a 200 HEADERS followed by 5000 empty DATA frames, or a response with an
    upper-case header name: the gateway closes that upstream connection (for the
    malformed response RST_STREAM(PROTOCOL_ERROR) is enough), the client
    gets a 502 (or, after response headers went out, a reset stream — never a complete
    response), and a stream to another API on the same client connection is
    served."""
    origin, g = _h2_origin_gateway(ctx, upstream_timeout_ms=3000)
    problems = []
    for path in ("/ping-flood", "/settings-flood", "/bad-header", "/empty-data-flood"):
        try:
            _flood_case(g, origin, path)
        except TestFailure as e:
            problems.append(str(e))
    check(g.alive(), "the gateway died")
    check(not problems, "\n".join(problems))


def _flood_case(g, origin, path):
    before_eof = len(origin.events("eof"))
    with MiniH2(g.port) as h:
        bad = h.request("GET", "/o" + path)
        good = h.request("GET", "/h1/slow?ms=300")
        st = h.wait(good, timeout=10)
        check_eq((st.data, st.ended, st.reset), (b"slow\n", True, None),
                 path + ": the other stream on the same client connection")
        st = h.wait(bad, timeout=6)
        check(st.reset is not None or (st.ended and b'"error"' in st.data),
              "%s: the stream neither reset nor a local error reply within 6 s: data %r, "
              "ended %s" % (path, st.data[:200], st.ended))
        check(st.data != b"origin ok\n", path + ": looked like a complete response")
    r = curl(g.url("/o" + path), "--http1.1", "--max-time", "6", timeout=15)
    check(r.status in (502, None) or r.rc != 0, "%s over HTTP/1.1: status %r, curl exit %d"
          % (path, r.status, r.rc))
    if path == "/bad-header":
        # A malformed response is a stream error (RFC 9113 §8.1.1): RST_STREAM
        # (PROTOCOL_ERROR) upstream is enough; closing the connection is too.
        wait_for(lambda: len(origin.events("eof")) > before_eof or [
            e for e in origin.events("rst") if e[3] == hf.PROTOCOL_ERROR], 5,
            what="%s: RST_STREAM(PROTOCOL_ERROR) or a close upstream (log tail %s)"
            % (path, origin.log[-6:]))
        return
    wait_for(lambda: len(origin.events("eof")) > before_eof, 5,
             what="%s: the gateway closing the upstream connection (log tail %s)"
             % (path, origin.log[-6:]))


def test_upstream_http1_response_with_content_length_and_transfer_encoding(ctx):
    """Row 30: an HTTP/1.1 upstream whose response has both Content-Length and
    Transfer-Encoding: chunked (a response smuggling vector): 502, and nothing of its
    body reaches the client; other APIs serve."""
    def cl_te(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")

    up = ctx.scripted_upstream(cl_te)
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["clte"] = {"listen_path": "/clte/", "target_url": up.url()}
    g = ctx.gateway(apis)
    for front in FRONTS:
        r = curl(*FRONTS[front], g.url("/clte/x"), timeout=15)
        check_eq(r.rc, 0, front + ": curl exit (%s)" % r.stderr.strip())
        check_json_error(r, 502, front + ": CL + TE response")
        check(b"hello" not in r.body and b"smuggled" not in r.body, "body leaked: %r" % r.body)
        r = curl_ok(*FRONTS[front], g.url("/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), front + ": another API afterwards")


# ---------------------------------------------------------------------------
# gRPC calls (tests/fixtures' C++ client and server, via test_grpc's helpers)


def _sleep_request_frame(ms, test_id):
    """A length-prefixed gRPC message holding SleepRequest{ms, id}."""
    return _grpc_frame(_pb_field(1, ms) + _pb_field(2, test_id.encode()))


def test_upstream_refuses_connection_grpc_unavailable(ctx):
    """Row 25: gRPC calls (the C++ client) to an h2c target with nothing listening get
    UNAVAILABLE (14) with a grpc-message, again on a second call."""
    dead = free_port()
    g = ctx.gateway({"grpc": {"listen_path": SERVICE, "target_url": "h2c://127.0.0.1:%d" % dead}})
    for i in range(2):
        res = client(ctx, "127.0.0.1:%d" % g.port, "raw", "--expect-code", UNAVAILABLE)
        ok(res, "upstream down, call %d" % (i + 1))
        check(res["message"], "no grpc-message: %s" % _short(res))


def test_upstream_dies_mid_grpc_stream_unavailable(ctx):
    """Row 27: the gRPC server dies (SIGKILL) during a server stream, a client stream, a bidi
    stream and a unary call: every client sees UNAVAILABLE promptly, never a hang."""
    s, g, target = grpc_setup(ctx)
    calls = (
        ("server stream", BackgroundClient(ctx, target, "server_stream", "--count", 100000,
                                           "--size", 1000, "--interval-ms", 5,
                                           "--expect-code", UNAVAILABLE)),
        ("client stream", BackgroundClient(ctx, target, "client_stream", "--count", 10 ** 8,
                                           "--size", 1000, "--expect-code", UNAVAILABLE)),
        ("bidi stream", BackgroundClient(ctx, target, "bidi", "--count", 10 ** 8, "--size", 100,
                                         "--expect-code", UNAVAILABLE)),
        ("unary Sleep", BackgroundClient(ctx, target, "deadline", "--sleep-ms", 20000,
                                         "--id", "killed", "--expect-code", UNAVAILABLE)),
    )
    time.sleep(1.0)
    check(all(c.proc.poll() is None for _, c in calls),
          "a client ended before the server was killed")
    s.signal(signal.SIGKILL)
    s.wait(5)
    killed_at = time.monotonic()
    seen, wrong = [], []
    for name, c in calls:
        res = c.result(timeout=15)  # a hang fails here
        # From the kill to the call's end, as the client timed it.
        after = max(0.0, res["elapsed_ms"] / 1000.0 - (killed_at - c.started))
        moved = res.get("received", res.get("sent", res.get("pongs")))
        seen.append("%s: code %s %r after %.1fs%s" % (
            name, res["code"], res["message"], after,
            " (%d messages first)" % moved if moved is not None else ""))
        check_eq(res.get("mismatches", 0), 0, "corrupt messages in the %s" % name)
        if res["code"] != UNAVAILABLE:
            wrong.append(name)
    ctx.note("; ".join(seen))
    check(g.alive(), "the gateway died")
    check(not wrong, "expected UNAVAILABLE (14) when the upstream died; got %s"
          % "; ".join(seen))


def test_slow_upstream_grpc_deadline_exceeded(ctx):
    """Row 29: a deadline (grpc-timeout) shorter than the server's sleep: the client gets
    DEADLINE_EXCEEDED, the upstream sees the remaining time and sees the call cancelled
    within one second of the deadline."""
    s, g, target = grpc_setup(ctx)
    res = client(ctx, target, "deadline", "--sleep-ms", 5000, "--deadline-ms", 500,
                 "--id", "dl-1", "--expect-code", DEADLINE_EXCEEDED)
    ok(res, "Sleep(5000 ms) with a 500 ms deadline")
    check(res["elapsed_ms"] < 1500, "DEADLINE_EXCEEDED after %d ms (deadline 500 ms)"
          % res["elapsed_ms"])
    st = cancel_state(ctx, s, "dl-1")
    check(st["known"], "the call never reached the server: %s" % _short(st))
    check(0 < st["deadline_ms"] <= 500,
          "the server's deadline was %d ms (-1: none); the gateway must forward the "
          "remaining time as grpc-timeout" % st["deadline_ms"])
    check(st["finished"] and st["cancelled"],
          "the server did not see the call cancelled within 3 s: %s" % _short(st))
    check(st["cancelled_after_ms"] <= 1500,
          "the server saw the cancellation %d ms into the call (deadline 500 ms, limit "
          "1500 ms)" % st["cancelled_after_ms"])
    ctx.note("server saw deadline %d ms, cancelled after %d ms; client got 4 after %d ms"
             % (st["deadline_ms"], st["cancelled_after_ms"], res["elapsed_ms"]))


def test_slow_upstream_grpc_timeout_answered_by_gateway(ctx):
    """Row 29: the gateway's own DEADLINE_EXCEEDED: a call with grpc-timeout from a client that
    does not enforce it (curl), and a call without one under upstream_timeout_ms. Both
    get grpc-status 4 and the upstream call is cancelled within a second."""
    s, g, target = grpc_setup(ctx, upstream_timeout_ms=700)
    frame = ctx.tmp("sleep.grpc")
    cases = (("gw-timeout", ["-H", "grpc-timeout: 400m"], 400),
             ("gw-upstream-timeout", [], 700))
    for test_id, extra, limit_ms in cases:
        with open(frame, "wb") as f:
            f.write(_sleep_request_frame(5000, test_id))
        start = time.monotonic()
        r = curl("--http2-prior-knowledge", "-H", "content-type: application/grpc",
                 "-H", "te: trailers", *extra, "--data-binary", "@" + frame,
                 g.url(SERVICE + "Sleep"), timeout=10)
        elapsed_ms = (time.monotonic() - start) * 1000
        status = r.headers.get("grpc-status") or r.trailers.get("grpc-status")
        check_eq((r.rc, r.status, status), (0, 200, str(DEADLINE_EXCEEDED)),
                 "%s: (curl exit, HTTP status, grpc-status) [headers %r, trailers %r]"
                 % (test_id, r.headers, r.trailers))
        check(elapsed_ms < limit_ms + 1000, "%s: answered after %d ms (limit %d ms)"
              % (test_id, elapsed_ms, limit_ms))
        st = cancel_state(ctx, s, test_id)
        check(st["finished"] and st["cancelled"] and st["cancelled_after_ms"] <= limit_ms + 1000,
              "%s: the server did not see the call cancelled within 1 s of the %d ms limit: %s"
              % (test_id, limit_ms, _short(st)))
