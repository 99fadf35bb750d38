"""Oversized request bodies (max_request_body_bytes): a content-length over the cap
gets 413 before anything goes upstream; a body without one (HTTP/1.1 chunked, HTTP/2
without content-length, a gRPC stream) that grows past the cap while it is forwarded
gets 413 if no response has started, else the response is aborted; the upstream
request is cancelled either way. gRPC clients get RESOURCE_EXHAUSTED (8). Exactly the
cap passes, one byte more does not."""

import json
import socket
import threading
import time

from harness import (MiniH2, access_log, fnv1a64, RawConn, admin_section, check, check_eq, free_port, metric,
                     proxy_apis, scrape)

LIMIT = 1000
BOUND_S = 10
TOO_LARGE = {"error": "request body larger than max_request_body_bytes"}
GRPC_HEADERS = [("content-type", "application/grpc"), ("te", "trailers")]


def _sink_ok(body):
    """What the backend's /sink answers for |body|."""
    return b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body))


def _chunked(*sizes):
    out = b""
    for n in sizes:
        out += b"%x\r\n" % n + b"c" * n + b"\r\n"
    return out + b"0\r\n\r\n"


def test_h1_content_length_over_cap_is_refused_before_upstream(ctx):
    """Row 16: HTTP/1.1 content-length exactly the cap is forwarded (the upstream
    counts 1000 bytes); cap + 1 gets 413 with the JSON reason and the upstream sees
    no request at all; counted as a request_body_too_large local reply."""
    up = ctx.capture_upstream()
    admin = free_port()
    apis = {"cap": {"listen_path": "/cap/", "strip_listen_path": True, "target_url": up.url()}}
    g = ctx.gateway(apis, sections=admin_section(admin), max_request_body_bytes=LIMIT)
    with RawConn(g.port, timeout=BOUND_S) as c:
        r = c.request("POST", "/cap/x", body=b"a" * LIMIT)
    check_eq((r.status, r.json()["body_bytes"]), (200, LIMIT), "exactly the cap")
    with RawConn(g.port, timeout=BOUND_S) as c:
        r = c.request("POST", "/cap/x", body=b"a" * (LIMIT + 1))
    check_eq((r.status, r.json()), (413, TOO_LARGE), "the cap + 1")
    time.sleep(0.2)  # anything forwarded would have reached the capture by now
    check_eq(len(up.requests), 1, "requests the upstream saw")
    samples, _ = scrape(admin)
    check_eq(metric(samples, "ringway_local_replies_total", cause="request_body_too_large",
                    flag="TL"), 1.0, "request_body_too_large local replies")


def test_h1_chunked_body_over_cap(ctx):
    """Row 16: HTTP/1.1 chunked bodies (no length to check up front): 500 + 500
    bytes pass, 500 + 501 get 413, through HTTP/1.1 and h2c upstreams."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), max_request_body_bytes=LIMIT)
    for back in ("/h1", "/h2c"):
        for sizes, status in (((500, 500), 200), ((500, 501), 413)):
            with RawConn(g.port, timeout=BOUND_S) as c:
                c.send(("POST %s/sink HTTP/1.1\r\nHost: gw.test\r\n"
                        "transfer-encoding: chunked\r\n\r\n" % back).encode() + _chunked(*sizes))
                r = c.read_response(timeout=BOUND_S)
            if status == 200:
                check_eq((r.status, r.body), (200, _sink_ok(b"c" * LIMIT)),
                         "%s chunked %r" % (back, sizes))
            else:
                check_eq((r.status, r.json()), (413, TOO_LARGE), "%s chunked %r" % (back, sizes))


def test_chunked_body_over_cap_cancels_upstream(ctx):
    """Row 16: the upstream already has the head and 600 bytes when the next chunk
    takes the body past the cap: the client gets 413 and the upstream connection is
    closed (the request is never complete there)."""
    closed = threading.Event()

    def wait_for_close(conn):
        conn.settimeout(0.2)
        start = time.monotonic()
        while time.monotonic() - start < 30:
            try:
                if conn.recv(4096) == b"":
                    closed.set()
                    return
            except socket.timeout:
                continue
            except OSError:
                closed.set()
                return

    up = ctx.scripted_upstream(wait_for_close)
    apis = {"cap": {"listen_path": "/cap/", "strip_listen_path": True, "target_url": up.url()}}
    g = ctx.gateway(apis, max_request_body_bytes=LIMIT)
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"POST /cap/x HTTP/1.1\r\nHost: gw.test\r\ntransfer-encoding: chunked\r\n\r\n"
               b"258\r\n" + b"c" * 600 + b"\r\n")
        time.sleep(0.3)  # the upstream connection is up and has the first chunk
        check(not closed.is_set(), "the upstream was closed before the body went over the cap")
        c.send(b"191\r\n" + b"c" * 401 + b"\r\n0\r\n\r\n")
        r = c.read_response(timeout=BOUND_S)
    check_eq((r.status, r.json()), (413, TOO_LARGE), "600 + 401 bytes")
    check(closed.wait(BOUND_S), "the upstream request was not cancelled")


def test_h2_body_over_cap(ctx):
    """Row 16: HTTP/2 with content-length (1000 passes, 1001 is refused up front) and
    without (DATA 600 + 400 passes, 600 + 401 is refused as it arrives), through both
    upstream protocols."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), max_request_body_bytes=LIMIT)
    got, want = [], []
    with MiniH2(g.port) as h:
        for back in ("/h1", "/h2c"):
            for n in (LIMIT, LIMIT + 1):
                sid = h.request("POST", back + "/sink", body=b"d" * n,
                                headers=[("content-length", str(n))])
                st = h.wait(sid, timeout=BOUND_S)
                got.append((back, "content-length", n, st.status, st.data))
                sid = h.request("POST", back + "/sink", end=False)
                h.data(sid, b"d" * 600)
                h.data(sid, b"d" * (n - 600), end=True)
                st2 = h.wait(sid, timeout=BOUND_S)
                got.append((back, "no length", n, st2.status, st2.data))
                for how in ("content-length", "no length"):
                    if n == LIMIT:
                        want.append((back, how, n, 200, _sink_ok(b"d" * LIMIT)))
                    else:
                        want.append((back, how, n, 413, json.dumps(TOO_LARGE).encode()))
    check_eq(got, want, "(upstream, framing, body bytes, status, body start)")


def test_grpc_body_over_cap_is_resource_exhausted(ctx):
    """Row 16: a gRPC call whose body goes over the cap (with or without
    content-length) gets a trailers-only reply with grpc-status 8
    (RESOURCE_EXHAUSTED) and the reason; exactly the cap is forwarded."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), max_request_body_bytes=LIMIT)
    with MiniH2(g.port) as h:
        sid = h.request("POST", "/h2c/sink", headers=GRPC_HEADERS, end=False)
        h.data(sid, b"g" * 600)
        h.data(sid, b"g" * 400, end=True)
        st = h.wait(sid, timeout=BOUND_S)
        check_eq((st.status, st.data), (200, _sink_ok(b"g" * LIMIT)), "gRPC body of the cap")
        for with_length in (False, True):
            extra = [("content-length", str(LIMIT + 1))] if with_length else []
            sid = h.request("POST", "/h2c/sink", headers=GRPC_HEADERS + extra, end=False)
            h.data(sid, b"g" * 600)
            h.data(sid, b"g" * 401, end=True)
            st = h.wait(sid, timeout=BOUND_S)
            fields = dict(st.headers)
            check_eq((st.status, fields.get("grpc-status"), fields.get("grpc-message"),
                      st.data, st.ended),
                     (200, "8", "request body larger than max_request_body_bytes", b"", True),
                     "(status, grpc-status, grpc-message, data, ended), content-length: %s"
                     % with_length)


def test_body_over_cap_after_response_started_aborts(ctx):
    """Row 16: the upstream (/echo) streams its response while the body arrives;
    when the body goes over the cap the response is aborted: HTTP/1.1 closes the
    connection without the last chunk, HTTP/2 gets RST_STREAM(INTERNAL_ERROR), a
    gRPC stream ends with grpc-status 8 in trailers."""
    b = ctx.backend()
    log = ctx.tmp("access.log")
    g = ctx.gateway(proxy_apis(b), max_request_body_bytes=LIMIT, access_log=log)
    for back in ("/h1", "/h2c"):
        with RawConn(g.port, timeout=BOUND_S) as c:
            c.send(("POST %s/echo HTTP/1.1\r\nHost: gw.test\r\n"
                    "transfer-encoding: chunked\r\n\r\n" % back).encode()
                   + b"258\r\n" + b"e" * 600 + b"\r\n")
            head = c.read_until(b"\r\n\r\n")
            deadline = time.monotonic() + BOUND_S
            while c.buf.count(b"e") < 600 and c._fill(deadline):
                pass  # the response is under way
            c.send(b"191\r\n" + b"e" * 401 + b"\r\n0\r\n\r\n")
            rest, eof = c.read_to_eof(BOUND_S)
        check(head.startswith(b"HTTP/1.1 200 "), "status line %r via %s" % (head[:40], back))
        # (A chunk split by the socket may bring the body to exactly the cap first.)
        check(eof and not rest.endswith(b"0\r\n\r\n") and 600 <= rest.count(b"e") <= LIMIT,
              "via %s: connection closed after at most the cap of body and no last chunk "
              "(%d bytes echoed, eof %s, ends %r)" % (back, rest.count(b"e"), eof, rest[-20:]))
    with MiniH2(g.port) as h:
        for back in ("/h1", "/h2c"):
            sid = h.request("POST", back + "/echo", end=False)
            h.data(sid, b"e" * 600)
            deadline = time.monotonic() + BOUND_S
            while len(h.streams[sid].data) < 600 and time.monotonic() < deadline:
                h._read_frames(deadline)
            h.data(sid, b"e" * 401, end=True)
            st = h.wait(sid, timeout=BOUND_S)
            check_eq((st.status, 600 <= len(st.data) <= LIMIT, st.ended, st.reset),
                     (200, True, False, 2),
                     "(status, 600..cap bytes echoed (%d), END_STREAM, RST_STREAM code) via %s"
                     % (len(st.data), back))
        sid = h.request("POST", "/h2c/echo", headers=GRPC_HEADERS, end=False)
        h.data(sid, b"e" * 600)
        deadline = time.monotonic() + BOUND_S
        while len(h.streams[sid].data) < 600 and time.monotonic() < deadline:
            h._read_frames(deadline)
        h.data(sid, b"e" * 401, end=True)
        st = h.wait(sid, timeout=BOUND_S)
        check_eq((st.status, 600 <= len(st.data) <= LIMIT, st.ended,
                  dict(st.trailers).get("grpc-status")),
                 (200, True, True, "8"),
                 "(status, 600..cap bytes echoed (%d), ended, grpc-status) of gRPC" % len(st.data))
    check_eq(g.stop(), 0, "exit status")
    check_eq(access_log(log), [("/h1/echo", 200, "TL")] * 2 + [("/h2c/echo", 200, "TL")] * 3,
             "(path, status, FLAG) in the access log")


def test_h1_expect_continue_over_cap_gets_413_without_100(ctx):
    """Row 16: a client that asks `Expect: 100-continue` for a body over the cap gets
    the 413 at once, without a 100 Continue before it (the body is not wanted), and
    the connection closes instead of reading and dropping a large body; a request
    under the cap still gets its 100 Continue."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), max_request_body_bytes=LIMIT)
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"POST /h1/sink HTTP/1.1\r\nHost: gw.test\r\ncontent-length: 1000000\r\n"
               b"expect: 100-continue\r\n\r\n")
        r = c.read_response(allow_1xx=True)
        check_eq(r.status, 413, "the final status")
        check_eq(r.headers.get("connection"), "close", "connection header of the 413")
        check(b"100 Continue" not in r.head_bytes, "a 100 Continue came first: %r" % r.head_bytes)
        check(c.wait_eof(5), "the connection was not closed after the 413")
    with RawConn(g.port, timeout=BOUND_S) as c:
        c.send(b"POST /h1/sink HTTP/1.1\r\nHost: gw.test\r\ncontent-length: 10\r\n"
               b"expect: 100-continue\r\n\r\n")
        interim = c.read_until(b"\r\n\r\n")
        check(interim.startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue: %r" % interim)
        c.send(b"0123456789")
        r = c.read_response()
        check_eq((r.status, r.body), (200, _sink_ok(b"0123456789")), "the request under the cap")
