"""Oversized request heads (SECURITY.md §7 row 17): a long request target is 414, a
header section over max_header_bytes (one big header, many small ones, or one sent in
pieces) is 431 with connection: close over HTTP/1.1, a 431 stream reply (gRPC: status
13) over HTTP/2; the gateway keeps serving."""

import time

from harness import (RawConn, check_eq, check_json_error_reply, curl_ok, expect_error_and_close,
                     proxy_setup)


def test_oversized_request_head_h1_431(ctx):
    """Row 17: HTTP/1.1 header section over max_header_bytes = 4096: 431 and close."""
    b, g = proxy_setup(ctx, max_header_bytes=4096)
    with RawConn(g.port) as c:
        r = c.request("GET", "/h1/inspect", headers=[("X-Fits", "a" * 3000)])
        check_eq(r.status, 200, "a 3000-byte header under max_header_bytes = 4096")
        check_eq(r.json()["headers"].get("x-fits"), "a" * 3000, "header forwarded")
    expect_error_and_close(
        g.port, b"GET /h1/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
        431, "one 5000-byte header")
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(200))
    expect_error_and_close(g.port, b"GET /h1/hello HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
                           431, "200 small headers")
    # Sent in pieces, slower than the parser reads.
    with RawConn(g.port) as c:
        c.send(b"GET /h1/hello HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):
            c.send(b"X-Piece: " + b"b" * 600 + b"\r\n")
            time.sleep(0.01)
            if c.eof:
                break
        r = c.read_response(timeout=5)
        check_json_error_reply(r, 431, "header sent in pieces")
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq(r.status, 200, "a normal request afterwards")


def test_oversized_request_head_h2_431(ctx):
    """Row 17: HTTP/2 header block over max_header_bytes = 4096: a 431 reply on that stream
    (gRPC: grpc-status 13); the connection serves on."""
    b, g = proxy_setup(ctx, max_header_bytes=4096)
    r = curl_ok("--http2-prior-knowledge", "-H", "x-fits: " + "a" * 3000, g.url("/h2c/inspect"))
    check_eq((r.status, r.json()["headers"].get("x-fits")), (200, "a" * 3000), "header that fits")
    r = curl_ok("--http2-prior-knowledge", "-H", "x-big: " + "a" * 5000, g.url("/h1/hello"))
    check_eq(r.status, 431, "status")
    check_eq(r.headers.get("content-type"), "application/json", "content-type")
    frame = ctx.tmp("grpc-frame")
    with open(frame, "wb") as f:
        f.write(b"\0\0\0\0\0")
    r = curl_ok("--http2-prior-knowledge", "-H", "content-type: application/grpc",
                "-H", "x-big: " + "a" * 5000, "--data-binary", "@" + frame,
                g.url("/h2c/pkg.Svc/M"))
    check_eq((r.status, r.headers.get("grpc-status")), (200, "13"), "gRPC: grpc-status 13")
    r = curl_ok("--http2-prior-knowledge", g.url("/h2c/hello"))
    check_eq(r.status, 200, "a normal request afterwards")


def test_oversized_request_uri_414(ctx):
    """Row 17: a request target longer than the head limit is 414 URI Too Long over
    HTTP/1.1 (and close) and over HTTP/2 (a 414 on that stream); the gateway serves
    on."""
    b, g = proxy_setup(ctx, max_header_bytes=4096)
    expect_error_and_close(g.port, b"GET /h1/" + b"p" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                           414, "5000-byte request target")
    r = curl_ok("--http2-prior-knowledge", g.url("/h1/" + "p" * 5000))
    check_eq(r.status, 414, "HTTP/2: 5000-byte :path")
    r = curl_ok("--http2-prior-knowledge", g.url("/h2c/hello"))
    check_eq(r.status, 200, "a normal request afterwards")
