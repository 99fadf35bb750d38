"""An upstream that sends its response head and then stalls mid-body: after
upstream_read_timeout_ms without a body byte the gateway cancels the upstream request
and shows the client a truncated response (HTTP/1.1: the connection closes before the
declared length; HTTP/2: RST_STREAM), never one that looks complete. A body that
keeps trickling, a client that reads slowly and gRPC streams are not cut."""

import socket
import threading
import time

from harness import (MiniH2, access_log, RawConn, admin_section, check, check_eq, free_port,
                     metric, proxy_apis, scrape)

READ_TIMEOUT_MS = 300
BOUND_S = 10  # generous: the stall is cut long before the upstream would go on


class StallingUpstream:
    """Behaviour for ctx.scripted_upstream: a head with content-length 10, 3 body
    bytes, then silence; records whether (and how soon) the gateway closes the
    connection."""

    def __init__(self):
        self.closed = threading.Event()
        self.closed_after = None

    def __call__(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                     b"content-length: 10\r\n\r\nabc")
        start = time.monotonic()
        conn.settimeout(0.2)
        while time.monotonic() - start < 30:
            try:
                if conn.recv(4096) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        else:
            return
        self.closed_after = time.monotonic() - start
        self.closed.set()


def _gateway(ctx, target_url, **keys):
    admin = free_port()
    apis = {"stall": {"listen_path": "/stall/", "strip_listen_path": True,
                      "target_url": target_url}}
    g = ctx.gateway(apis, sections=admin_section(admin),
                    upstream_read_timeout_ms=READ_TIMEOUT_MS, **keys)
    return g, admin


def test_h1_client_sees_truncation_and_upstream_is_cancelled(ctx):
    """Row 29, 27: the upstream sends a head (content-length 10) and 3 bytes, then
    stalls. The HTTP/1.1 client gets the head and the 3 bytes, then the connection
    closes (7 bytes short); the upstream connection is closed; the read timeout is
    counted."""
    stall = StallingUpstream()
    up = ctx.scripted_upstream(stall)
    g, admin = _gateway(ctx, up.url())
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"GET /stall/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head = c.read_until(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200 "), "status line %r" % head[:40])
        check(b"content-length: 10\r\n" in head.lower(), "declared length in %r" % head)
        body, eof = c.read_to_eof(BOUND_S)
    check_eq((body, eof), (b"abc", True),
             "(body, connection closed) after the upstream stalled")
    check(stall.closed.wait(BOUND_S), "the gateway did not close the stalled upstream "
          "connection within %ss" % BOUND_S)
    samples, _ = scrape(admin)
    check_eq(metric(samples, "ringway_upstream_read_timeouts_total", api="stall"), 1.0,
             "ringway_upstream_read_timeouts_total{api=stall}")


def test_h2_client_gets_rst_stream(ctx):
    """Row 29, 27: the same over HTTP/2: HEADERS (200), DATA "abc", then
    RST_STREAM(INTERNAL_ERROR) instead of END_STREAM; the upstream is closed."""
    stall = StallingUpstream()
    up = ctx.scripted_upstream(stall)
    g, admin = _gateway(ctx, up.url())
    with MiniH2(g.port) as h:
        st = h.wait(h.request("GET", "/stall/x"), timeout=BOUND_S)
        check_eq((st.status, st.data, st.ended, st.reset), (200, b"abc", False, 2),
                 "(status, data, END_STREAM, RST_STREAM code) after the upstream stalled")
    check(stall.closed.wait(BOUND_S), "the stalled upstream connection was not closed")


def test_h2c_upstream_stream_is_reset(ctx):
    """Row 29: an h2c upstream that sends its head and stalls its body (the test
    backend's /slow?body=1, 60 s) is cut after the read timeout on both protocols,
    long before the upstream would have finished."""
    b = ctx.backend()
    log = ctx.tmp("access.log")
    g = ctx.gateway(proxy_apis(b), upstream_read_timeout_ms=READ_TIMEOUT_MS, access_log=log)
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"GET /h2c/slow?ms=60000&body=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head = c.read_until(b"\r\n\r\n")
        body, eof = c.read_to_eof(BOUND_S)
    check(head.startswith(b"HTTP/1.1 200 "), "status line %r" % head[:40])
    check_eq((body, eof), (b"", True), "(body, connection closed), HTTP/1.1 client")
    with MiniH2(g.port) as h:
        st = h.wait(h.request("GET", "/h2c/slow?ms=60000&body=1"), timeout=BOUND_S)
        check_eq((st.status, st.data, st.ended, st.reset), (200, b"", False, 2),
                 "(status, data, END_STREAM, RST_STREAM code), HTTP/2 client")
        # The connection itself is fine: another request on it is answered.
        st = h.wait(h.request("GET", "/h2c/hello"), timeout=BOUND_S)
        check_eq((st.status, st.data, st.ended), (200, b"hello\n", True),
                 "a request after the reset on the same connection")
    check_eq(g.stop(), 0, "exit status")
    check_eq(access_log(log), [("/h2c/hello", 200, "-"), ("/h2c/slow?ms=60000&body=1", 200, "UT"),
                               ("/h2c/slow?ms=60000&body=1", 200, "UT")],
             "(path, status, FLAG) in the access log")


def test_trickling_body_is_not_a_stall(ctx):
    """Row 29 (no false positive): a body sent one byte every 100 ms for 1 s (well
    over upstream_read_timeout_ms in total, never that long between bytes) arrives
    whole."""
    def trickle(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
        for i in range(10):
            time.sleep(0.1)
            conn.sendall(b"0123456789"[i:i + 1])
    up = ctx.scripted_upstream(trickle)
    g, _ = _gateway(ctx, up.url())
    with RawConn(g.port, timeout=BOUND_S) as c:
        r = c.request("GET", "/stall/x")
    check_eq((r.status, r.body), (200, b"0123456789"), "(status, body) of a trickling response")


def test_slow_reading_client_is_not_an_upstream_stall(ctx):
    """Row 29 (no false positive): a client that reads nothing for 1.5 s while an
    8 MiB body waits (the upstream is paused or out of window because of it, not
    stalled) still gets the whole body, over both upstream protocols."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), upstream_read_timeout_ms=READ_TIMEOUT_MS)
    n = 8 << 20
    for back in ("/h1", "/h2c"):
        with RawConn(g.port, timeout=BOUND_S) as c:
            c.send(("GET %s/bytes?n=%d HTTP/1.1\r\nHost: gw.test\r\n\r\n" % (back, n))
                   .encode())
            time.sleep(1.5)
            r = c.read_response(timeout=BOUND_S * 3)
        check_eq((r.status, len(r.body)), (200, n), "(status, body bytes) via %s" % back)


def test_grpc_stream_keeps_its_own_rules(ctx):
    """Row 29: a gRPC call (content-type application/grpc) is not subject to the read
    timeout (its deadline governs): a body that comes 1.2 s after the head arrives."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), upstream_read_timeout_ms=READ_TIMEOUT_MS)
    with MiniH2(g.port) as h:
        sid = h.request("POST", "/h2c/slow?ms=1200&body=1",
                        headers=[("content-type", "application/grpc"), ("te", "trailers")],
                        body=b"")
        st = h.wait(sid, timeout=BOUND_S)
    check_eq((st.status, st.data, st.ended, st.reset), (200, b"slow\n", True, None),
             "(status, data, END_STREAM, reset) of a gRPC call whose body is 1.2 s late")
