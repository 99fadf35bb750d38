"""Slow body (slowloris on the request body, slowhttptest -B): a client that sends a
request head and part of its body, then goes quiet. After client_body_timeout_ms
without a body byte the gateway answers 408 (or, once the response has started,
aborts it) and cancels the upstream request. A body that keeps trickling and a gRPC
stream that pauses are not cut."""

import json
import socket
import threading
import time

from harness import (MiniH2, access_log, fnv1a64, RawConn, admin_section, check, check_eq, free_port, metric,
                     proxy_apis, scrape)

BODY_TIMEOUT_MS = 300
BOUND_S = 10  # generous upper bound for "it happened"
TIMEOUT_REPLY = {"error": "request body timed out"}


class WaitsForClose:
    """Behaviour for ctx.scripted_upstream: reads what comes (the partial body),
    never answers, and records the gateway closing the connection."""

    def __init__(self):
        self.closed = threading.Event()

    def __call__(self, conn):
        conn.settimeout(0.2)
        start = time.monotonic()
        while time.monotonic() - start < 30:
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
        else:
            return
        self.closed.set()


def test_h1_stalled_body_gets_408_and_upstream_cancelled(ctx):
    """Row 20: HTTP/1.1 POST with content-length 100, 10 bytes sent, then silence:
    408 with the JSON reason within the bound; the upstream, which had the head and
    the 10 bytes, sees its connection closed; counted in
    ringway_client_body_timeouts_total and as a request_timeout local reply."""
    up_behaviour = WaitsForClose()
    up = ctx.scripted_upstream(up_behaviour)
    admin = free_port()
    apis = {"slow": {"listen_path": "/slow/", "strip_listen_path": True,
                     "target_url": up.url()}}
    g = ctx.gateway(apis, sections=admin_section(admin), client_body_timeout_ms=BODY_TIMEOUT_MS)
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"POST /slow/upload HTTP/1.1\r\nHost: gw.test\r\ncontent-length: 100\r\n\r\n"
               + b"x" * 10)
        r = c.read_response(timeout=BOUND_S)
    check_eq((r.status, r.json()), (408, TIMEOUT_REPLY), "(status, body) for a stalled body")
    check(up_behaviour.closed.wait(BOUND_S), "the upstream request was not cancelled")
    samples, _ = scrape(admin)
    check_eq((metric(samples, "ringway_client_body_timeouts_total", api="slow"),
              metric(samples, "ringway_local_replies_total", cause="request_timeout",
                     flag="RT")),
             (1.0, 1.0), "(client body timeouts, request_timeout local replies)")


def test_h2_stalled_body_gets_408(ctx):
    """Row 20: the same over HTTP/2 (no content-length, a DATA frame of 10 bytes and
    no END_STREAM): 408 and the JSON reason. (The HTTP/2 codec holds a reply that
    comes before the end of the upload for up to request_header_timeout_ms.)"""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), client_body_timeout_ms=BODY_TIMEOUT_MS,
                    request_header_timeout_ms=500)
    with MiniH2(g.port) as h:
        for back in ("/h1", "/h2c"):
            st = h.wait(h.request("POST", back + "/sink", body=b"y" * 10, end=False),
                        timeout=BOUND_S)
            check_eq((st.status, json.loads(st.data or b"null")), (408, TIMEOUT_REPLY),
                     "(status, body) via %s" % back)


def test_stall_after_response_started_aborts(ctx):
    """Row 20: the upstream (/echo) answers as the body streams; when the body then
    stalls the response cannot be completed: HTTP/1.1 closes the connection before
    the declared length; HTTP/2 gets RST_STREAM(INTERNAL_ERROR)."""
    b = ctx.backend()
    log = ctx.tmp("access.log")
    g = ctx.gateway(proxy_apis(b), client_body_timeout_ms=BODY_TIMEOUT_MS, access_log=log)
    for back in ("/h1", "/h2c"):
        with RawConn(g.port, timeout=BOUND_S) as c:
            c.send(("POST %s/echo HTTP/1.1\r\nHost: gw.test\r\ncontent-length: 100\r\n\r\n"
                    % back).encode() + b"z" * 10)
            head = c.read_until(b"\r\n\r\n")
            body, eof = c.read_to_eof(BOUND_S)
        check(head.startswith(b"HTTP/1.1 200 "), "status line %r via %s" % (head[:40], back))
        check_eq((body, eof), (b"z" * 10, True), "(echoed body, closed) via %s" % back)
    with MiniH2(g.port) as h:
        for back in ("/h1", "/h2c"):
            st = h.wait(h.request("POST", back + "/echo", body=b"z" * 10, end=False),
                        timeout=BOUND_S)
            check_eq((st.status, st.data, st.ended, st.reset), (200, b"z" * 10, False, 2),
                     "(status, data, END_STREAM, RST_STREAM code) via %s" % back)
    check_eq(g.stop(), 0, "exit status")
    check_eq(access_log(log), [("/h1/echo", 200, "RT")] * 2 + [("/h2c/echo", 200, "RT")] * 2,
             "(path, status, FLAG) in the access log")


def test_trickling_body_is_not_a_stall(ctx):
    """Row 20 (no false positive): a body sent one byte every 100 ms for 1 s (more
    than client_body_timeout_ms in total, never that long between bytes) is
    forwarded whole, over HTTP/1.1 and HTTP/2."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), client_body_timeout_ms=BODY_TIMEOUT_MS)
    expected = b"bytes=10 fnv1a=%016x\n" % fnv1a64(b"0123456789")  # /sink's answer
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"POST /h1/sink HTTP/1.1\r\nHost: gw.test\r\ncontent-length: 10\r\n\r\n")
        for i in range(10):
            time.sleep(0.1)
            c.send(b"0123456789"[i:i + 1])
        r = c.read_response(timeout=BOUND_S)
    check_eq((r.status, r.body), (200, expected), "HTTP/1.1 trickled body")
    with MiniH2(g.port) as h:
        sid = h.request("POST", "/h2c/sink", end=False)
        for i in range(10):
            time.sleep(0.1)
            h.data(sid, b"0123456789"[i:i + 1], end=i == 9)
        st = h.wait(sid, timeout=BOUND_S)
    check_eq((st.status, st.data, st.ended), (200, expected, True),
             "HTTP/2 trickled body")


def test_paused_grpc_stream_is_not_cut(ctx):
    """Row 20: a gRPC stream (content-type application/grpc) whose client pauses
    1.2 s mid-body is not timed out (bidi streams pause legitimately; deadlines bound
    them): the whole body is echoed."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), client_body_timeout_ms=BODY_TIMEOUT_MS)
    with MiniH2(g.port) as h:
        sid = h.request("POST", "/h2c/echo", body=b"first",
                        headers=[("content-type", "application/grpc"), ("te", "trailers")],
                        end=False)
        time.sleep(1.2)
        h.data(sid, b"second", end=True)
        st = h.wait(sid, timeout=BOUND_S)
    check_eq((st.status, st.data, st.ended, st.reset), (200, b"firstsecond", True, None),
             "(status, data, END_STREAM, reset) of a gRPC stream that paused")
