"""Upstream failures: down, slow, killed mid-response, and misbehaving origins.
Local replies follow DESIGN.md §5 (JSON for HTTP, trailers-only for gRPC)."""

import json
import os
import signal
import subprocess
import time

from harness import (BACKS, FRONTS, RawConn, check, check_eq, curl, curl_ok, fail, free_port,
                     proxy_apis, wait_for)

GRPC = ["-H", "content-type: application/grpc", "-H", "te: trailers"]


def _grpc_frame_file(ctx):
    path = ctx.tmp("grpc-empty-message")
    with open(path, "wb") as f:
        f.write(b"\0\0\0\0\0")
    return path


def _check_json_error(r, status, what):
    check_eq(r.status, status, what + " status")
    check_eq(r.headers.get("content-type"), "application/json", what + " content-type")
    try:
        j = json.loads(r.body)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, r.body))
    check(isinstance(j, dict) and list(j) == ["error"] and j["error"],
          "%s: body is not {\"error\": ...}: %r" % (what, r.body))


def _check_grpc_reply(r, grpc_status, what):
    check_eq(r.status, 200, what + " HTTP status")
    check_eq(r.headers.get("content-type"), "application/grpc", what + " content-type")
    check_eq(r.headers.get("grpc-status"), str(grpc_status), what + " grpc-status")
    check(r.headers.get("grpc-message"), what + ": no grpc-message in %r" % r.headers)
    check_eq(r.body, b"", what + " body")


def test_upstream_down_502(ctx):
    dead = free_port()  # nothing listens there
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["dead_h1"] = {"listen_path": "/dead_h1/", "target_url": "http://127.0.0.1:%d" % dead}
    apis["dead_h2c"] = {"listen_path": "/dead_h2c/", "target_url": "h2c://127.0.0.1:%d" % dead}
    g = ctx.gateway(apis)
    frame = _grpc_frame_file(ctx)
    for front in FRONTS:
        for kind in ("h1", "h2c"):
            what = "%s->dead %s" % (front, kind)
            for _ in range(2):  # and again: nothing cached from the first failure
                _check_json_error(curl_ok(*FRONTS[front], g.url("/dead_%s/hello" % kind)),
                                  502, what)
            _check_json_error(curl_ok(*FRONTS[front], "--data-binary", "x" * 1000,
                                      g.url("/dead_%s/echo" % kind)), 502, what + " POST")
    for kind in ("h1", "h2c"):
        r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                    g.url("/dead_%s/pkg.Svc/Method" % kind))
        _check_grpc_reply(r, 14, "gRPC to dead " + kind)
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], g.url("/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), front + ": live API still served")


def test_upstream_connect_timeout_502(ctx):
    """A target that never answers the SYN: 502 after upstream_connect_timeout_ms."""
    bh = ctx.blackhole_upstream()
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["bh_h1"] = {"listen_path": "/bh_h1/", "target_url": bh.url("http")}
    apis["bh_h2c"] = {"listen_path": "/bh_h2c/", "target_url": bh.url("h2c")}
    g = ctx.gateway(apis, upstream_connect_timeout_ms=300, upstream_timeout_ms=5000)
    frame = _grpc_frame_file(ctx)
    for front in FRONTS:
        for kind in ("h1", "h2c"):
            what = "%s->blackholed %s" % (front, kind)
            start = time.monotonic()
            r = curl_ok(*FRONTS[front], g.url("/bh_%s/x" % kind), timeout=15)
            elapsed = time.monotonic() - start
            _check_json_error(r, 502, what)
            check(elapsed < 4, "%s: the 502 took %.1fs with upstream_connect_timeout_ms = 300 "
                  "(upstream_timeout_ms = 5000)" % (what, elapsed))
    r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                g.url("/bh_h2c/pkg.Svc/Method"), timeout=15)
    _check_grpc_reply(r, 14, "gRPC to a blackholed upstream")
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "live API still served")


def _timeout(ctx, back):
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), upstream_timeout_ms=300)
    frame = _grpc_frame_file(ctx)
    prefix = BACKS[back]
    for front in FRONTS:
        what = "%s->%s" % (front, back)
        start = time.monotonic()
        r = curl_ok(*FRONTS[front], g.url(prefix + "/slow?ms=2000"), timeout=15)
        elapsed = time.monotonic() - start
        _check_json_error(r, 504, what + " /slow?ms=2000")
        check(elapsed < 1.9, "%s: the 504 came after %.2fs, not after ~300 ms" % (what, elapsed))
    r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                g.url(prefix + "/slow?ms=2000"), timeout=15)
    _check_grpc_reply(r, 4, "gRPC h2->%s slow" % back)
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


def test_h1_upstream_timeout_504(ctx):
    _timeout(ctx, "h1")


def test_h2c_upstream_timeout_504(ctx):
    _timeout(ctx, "h2c")


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
        _check_json_error(curl_ok(*FRONTS[f], g.url("/v/hello")), 502,
                          f + ": next request to the dead upstream")


def test_h1_h1_backend_killed_mid_response(ctx):
    _killed_mid_response(ctx, "h1", "h1")


def test_h1_h2c_backend_killed_mid_response(ctx):
    _killed_mid_response(ctx, "h1", "h2c")


def test_h2_h1_backend_killed_mid_response(ctx):
    _killed_mid_response(ctx, "h2", "h1")


def test_h2_h2c_backend_killed_mid_response(ctx):
    _killed_mid_response(ctx, "h2", "h2c")


def test_misbehaving_http1_upstreams(ctx):
    """Origins that close, send garbage, or cut a body short: clean errors, no crash,
    and the next request to a good API is served."""

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
            _check_json_error(r, r.status, what)
        for name in ("truncated", "badchunk"):
            what = "%s->%s upstream" % (front, name)
            r = curl(*FRONTS[front], g.url("/%s/x" % name), timeout=15)
            check(r.rc != 0, "%s: a cut-short body looked complete to the client: %r"
                  % (what, r))
        r = curl_ok(*FRONTS[front], g.url("/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), front + ": good API afterwards")
