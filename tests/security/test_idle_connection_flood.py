"""Idle connection floods (SECURITY.md §7 row 21, the connection-count part): the
per-shard max_connections bound closes connections beyond it right after accept, idle
connections are closed at idle_timeout_ms (silent ones at request_header_timeout_ms),
and the gateway admits new connections again once the flood is gone."""

import os
import socket
import time

from harness import (RawConn, check, check_eq, curl_ok, proxy_apis, proxy_setup,
                     read_until_closed, wait_for)
from test_tls import surl, tcurl_ok, tls_gateway


def test_idle_connection_flood_max_connections(ctx):
    """Row 21: max_connections = 2: a third connection is closed without a response, the
    admitted ones keep working, a new one is admitted after one closes."""
    b, g = proxy_setup(ctx, max_connections=2)
    # The harness's start-up probe connections count until their close is processed.
    time.sleep(0.3)
    with RawConn(g.port) as c1, RawConn(g.port) as c2:
        check_eq(c1.request("GET", "/h1/hello").status, 200, "first connection")
        check_eq(c2.request("GET", "/h1/hello").status, 200, "second connection")
        third = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        try:
            third.sendall(b"GET /h1/hello HTTP/1.1\r\nHost: x\r\n\r\n")
            third.settimeout(5)
            try:
                data = third.recv(4096)
            except ConnectionResetError:
                data = b""
            check_eq(data, b"", "a third connection is closed without a response")
        finally:
            third.close()
        # The two admitted connections keep working.
        check_eq(c1.request("GET", "/h1/hello").status, 200, "first connection after")
    # Once one is gone, a new connection is admitted again.
    deadline = time.monotonic() + 5
    while True:
        with RawConn(g.port) as c3:
            try:
                if c3.request("GET", "/h1/hello", timeout=2).status == 200:
                    break
            except Exception:  # noqa: BLE001 - the close may not be processed yet
                pass
        check(time.monotonic() < deadline, "no connection admitted after others closed")
        time.sleep(0.05)


def test_idle_connection_closed_at_idle_timeout(ctx):
    """Row 21: an idle keep-alive connection is closed at idle_timeout_ms = 500 without a
    byte; waiting on a slow upstream is not idleness."""
    b, g = proxy_setup(ctx, idle_timeout_ms=500)
    with RawConn(g.port) as c:
        r = c.request("GET", "/h1/hello")
        check_eq(r.status, 200, "first request")
        time.sleep(0.2)
        r = c.request("GET", "/h2c/hello")
        check_eq(r.status, 200, "request 200 ms later on the same connection")
        start = time.monotonic()
        check(c.wait_eof(5), "idle keep-alive connection not closed within 5s")
        elapsed = time.monotonic() - start
        check(elapsed >= 0.4, "closed after %.2fs, before idle_timeout_ms = 500" % elapsed)
        check_eq(c.buf, b"", "bytes sent on an idle close")
    # Waiting on a slow upstream is not idleness.
    with RawConn(g.port) as c:
        r = c.request("GET", "/h1/slow?ms=1200", timeout=10)
        check_eq((r.status, r.body), (200, b"slow\n"), "request slower than the idle timeout")
        r = c.request("GET", "/h1/slow?ms=1200&body=1", timeout=10)
        check_eq((r.status, r.body), (200, b"slow\n"), "body slower than the idle timeout")


def test_idle_connection_flood_silent_sockets(ctx):
    """Row 21: 120 TCP connections that never send a byte, against max_connections = 80
    and request_header_timeout_ms = 500: 40 are closed at once, the 80 admitted are
    closed without a reply at the header timeout (not kept until idle_timeout_ms); the
    gateway's fds come back to their baseline and a canary is served."""
    n, cap = 120, 80
    b, g = proxy_setup(ctx, max_connections=cap, request_header_timeout_ms=500,
                       idle_timeout_ms=60000)
    time.sleep(0.3)  # the harness's start-up probe connections are closed
    check_eq(curl_ok("--http1.1", g.url("/h1/hello")).status, 200, "canary before")
    base_fds = len(os.listdir("/proc/%d/fd" % g.pid))
    socks = [socket.create_connection(("127.0.0.1", g.port), timeout=5) for _ in range(n)]
    start = time.monotonic()
    try:
        closed, data = {}, {}
        read_until_closed(socks, start, start + 5, closed, data)
        check_eq(len(closed), n, "silent connections closed within 5 s")
        check_eq(list(data.values()), [], "bytes sent to silent connections")
        times = sorted(closed.values())
        at_once, at_timeout = times[:n - cap], times[n - cap:]
        check(max(at_once) < 0.4, "the %d connections over the cap were not closed at once: "
              "%r" % (n - cap, at_once[-5:]))
        check(min(at_timeout) >= 0.4, "admitted silent connections closed before "
              "request_header_timeout_ms = 500: %r" % at_timeout[:5])
        ctx.note("over the cap closed by %.2fs; admitted closed %.2f..%.2fs"
                 % (max(at_once), min(at_timeout), max(at_timeout)))
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: len(os.listdir("/proc/%d/fd" % g.pid)) <= base_fds, 3,
             what="the gateway's fds back to %d" % base_fds)
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "canary after the flood")


def test_idle_tls_connection_flood_closed_at_handshake_timeout(ctx):
    """Row 21: 100 TCP connections to the TLS listener that never send a ClientHello,
    with handshake_timeout_ms = 300: all are closed without a byte by the handshake
    timeout; a TLS request is served meanwhile and afterwards; the gateway's fds come
    back to their baseline."""
    n = 100
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), tls={"handshake_timeout_ms": 300})
    # Warm the upstream pool (its connection stays open) before the fd baseline.
    check_eq(tcurl_ok(ctx, "--http1.1", surl(g, "/h1/hello")).status, 200, "warm-up")
    time.sleep(0.3)  # the start-up probe connections are closed
    base_fds = len(os.listdir("/proc/%d/fd" % g.pid))
    socks = [socket.create_connection(("127.0.0.1", g.tls_port), timeout=5) for _ in range(n)]
    start = time.monotonic()
    try:
        r = tcurl_ok(ctx, "--http1.1", surl(g, "/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), "a TLS request during the flood")
        closed, data = {}, {}
        read_until_closed(socks, start, start + 5, closed, data)
        check_eq(len(closed), n, "silent TLS connections closed within 5 s")
        check_eq(list(data.values()), [], "bytes sent to silent TLS connections")
        times = sorted(closed.values())
        check(times[0] >= 0.25, "closed before handshake_timeout_ms = 300: %.2fs" % times[0])
        ctx.note("silent TLS connections closed %.2f..%.2fs" % (times[0], times[-1]))
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: len(os.listdir("/proc/%d/fd" % g.pid)) <= base_fds, 3,
             what="the gateway's fds back to %d" % base_fds)
    r = tcurl_ok(ctx, "--http2", surl(g, "/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "a TLS request after the flood")
