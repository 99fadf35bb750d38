"""HTTP/1.1 downstream behaviour: pipelining, keep-alive, HTTP/1.0, malformed requests,
over hand-written bytes on a socket. (Oversized heads, slow heads, idle connections and
h2c upgrades are attacks: tests/security.)"""

from harness import (RawConn, TestFailure, check, check_eq, curl_ok, expect_error_and_close,
                     proxy_setup)


def test_h1_pipelining(ctx):
    """Requests written in one send are answered in order, even when a later one
    (a local 404) could be answered before an earlier one (a slow upstream)."""
    b, g = proxy_setup(ctx)
    with RawConn(g.port) as c:
        c.send(b"GET /h1/slow?ms=50 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"GET /h1/slow?ms=50 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"GET /nope HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        check_eq([r1.status_line, r2.status_line, r3.status_line],
                 ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"],
                 "status lines in order")
        check_eq([r1.body, r2.body], [b"slow\n", b"slow\n"], "bodies")
        check_eq(r3.headers.get("content-type"), "application/json", "404 content-type")
        check_eq(list(r3.json()), ["error"], "404 body")

        # A longer mix, bodies included, across both upstream kinds.
        c.send(b"GET /h2c/slow?ms=50 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"POST /h1/echo HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\n\r\nabc"
               b"POST /h2c/echo HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
               b"GET /nope HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"HEAD /h1/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"GET /h1/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        got = []
        for head_request in (False, False, False, False, True, False):
            r = c.read_response(head_request=head_request)
            got.append((r.status, r.body))
        check_eq(got, [(200, b"slow\n"), (200, b"abc"), (200, b"def"),
                       (404, got[3][1]), (200, b""), (200, b"hello\n")], "pipelined mix")
        check_eq(c.buf, b"", "bytes after the last response")


def test_h1_keep_alive_reuse(ctx):
    b, g = proxy_setup(ctx)
    with RawConn(g.port) as c:
        for i in range(6):
            prefix = "/h1" if i % 2 == 0 else "/h2c"
            r = c.request("GET", prefix + "/inspect?i=%d" % i)
            check_eq(r.status, 200, "request %d status" % i)
            check(r.headers.get("connection") is None,
                  "request %d: connection header %r on a keep-alive response"
                  % (i, r.headers.get("connection")))
            check_eq(r.json()["path"], "/inspect?i=%d" % i, "request %d path" % i)
        r = c.request("POST", "/h1/echo", body=b"x" * 10000)
        check_eq((r.status, r.body), (200, b"x" * 10000), "POST on the same connection")
        # Connection: close from the client: answered, then closed.
        r = c.request("GET", "/h1/hello", headers=[("Connection", "close")])
        check_eq((r.status, r.body), (200, b"hello\n"), "last request")
        check_eq(r.headers.get("connection"), "close", "connection: close echoed")
        check(c.wait_eof(5), "connection not closed after Connection: close")


def test_h1_http10(ctx):
    b, g = proxy_setup(ctx)
    for path, body in (("/h1/hello", b"hello\n"), ("/h2c/hello", b"hello\n"),
                       ("/h1/chunked?n=3&size=5", b"abcdefghijklmno"),
                       ("/h2c/chunked?n=3&size=5", b"abcdefghijklmno")):
        with RawConn(g.port) as c:
            c.send(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
            r = c.read_response()
            check_eq(r.status, 200, path + " status")
            check(r.status_line.startswith("HTTP/1."), "status line %r" % r.status_line)
            check_eq(r.body, body, path + " body")
            check(r.headers.get("transfer-encoding") is None,
                  path + ": chunked response sent to an HTTP/1.0 client")
            if r.headers.get("content-length") is not None:
                check_eq(r.headers.get("connection"), "close", path + " connection header")
            check(c.wait_eof(5), path + ": HTTP/1.0 connection not closed")
    # The backend sees an HTTP/1.1 request with the target's Host.
    with RawConn(g.port) as c:
        c.send(b"GET /h1/inspect HTTP/1.0\r\n\r\n")
        j = c.read_response().json()
        check_eq(j["authority"], "127.0.0.1:%d" % b.port, "authority for an HTTP/1.0 request")


def test_h1_malformed_requests_400(ctx):
    """Each malformed request gets a 400 JSON reply and its connection is closed;
    another keep-alive connection is unaffected before and after."""
    b, g = proxy_setup(ctx)
    with RawConn(g.port) as keep:
        r = keep.request("GET", "/h1/hello")
        check_eq((r.status, r.body), (200, b"hello\n"), "keep-alive connection before")
        cases = [
            ("header line without colon",
             b"GET /h1/hello HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
            ("two different content-lengths",
             b"POST /h1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
             b"Content-Length: 2\r\n\r\nab"),
            ("content-length and chunked",
             b"POST /h1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("duplicate Host", b"GET /h1/hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            ("garbage request line", b"HELLO\r\n\r\n"),
            ("relative request target", b"GET h1/hello HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("space before colon", b"GET /h1/hello HTTP/1.1\r\nHost : x\r\n\r\n"),
        ]
        _run_malformed_cases(g, keep, cases)


def _run_malformed_cases(g, keep, cases):
    for what, data in cases:
        try:
            expect_error_and_close(g.port, data, 400, what)
        except TestFailure as e:
            raise TestFailure("%s: %s%s" % (what, e, "" if g.alive() else
                                            " (the gateway died: status %s)" % g.proc.poll()))
        r = keep.request("GET", "/h2c/hello")
        check_eq((r.status, r.body), (200, b"hello\n"), "keep-alive connection after '%s'" % what)


def test_h1_invalid_chunk_size_400(ctx):
    """Regression: an invalid chunk size after the head had gone to the exchange
    crashed the gateway (use after free in Exchange::on_request_error; 841aa0b)."""
    b, g = proxy_setup(ctx)
    with RawConn(g.port) as keep:
        r = keep.request("GET", "/h1/hello")
        check_eq((r.status, r.body), (200, b"hello\n"), "keep-alive connection before")
        _run_malformed_cases(g, keep, [
            ("invalid chunk size, h1 upstream",
             b"POST /h1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"zz\r\nabc\r\n0\r\n\r\n"),
            ("invalid chunk size after a chunk, h2c upstream",
             b"POST /h2c/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n-1\r\n"),
        ])


def test_h1_missing_host_400(ctx):
    b, g = proxy_setup(ctx)
    expect_error_and_close(g.port, b"GET /h1/hello HTTP/1.1\r\n\r\n", 400, "no Host")
    # HTTP/1.0 does not need one.
    with RawConn(g.port) as c:
        c.send(b"GET /h1/hello HTTP/1.0\r\n\r\n")
        check_eq(c.read_response().status, 200, "HTTP/1.0 without Host")


def test_h1_absolute_form_target(ctx):
    b, g = proxy_setup(ctx, api_keys={"preserve_host_header": True})
    with RawConn(g.port) as c:
        # (a Host naming another origin is refused: tests/security/test_malformed_http1.py)
        r = c.request("GET", "http://api.example.com/h1/inspect?a=1", host="API.example.com:80")
        check_eq(r.status, 200, "status")
        j = r.json()
        check_eq((j["path"], j["authority"]), ("/inspect?a=1", "api.example.com"),
                 "path and authority from an absolute-form target")


def test_h1_grpc_over_http1_is_refused(ctx):
    """gRPC needs HTTP/2: over HTTP/1.1 it gets a gRPC-style local reply."""
    b, g = proxy_setup(ctx)
    with RawConn(g.port) as c:
        r = c.request("POST", "/h2c/pkg.Svc/Method", body=b"\0\0\0\0\0",
                      headers=[("Content-Type", "application/grpc")])
        check_eq(r.status, 200, "status")
        check_eq(r.headers.get("content-type"), "application/grpc", "content-type")
        check_eq(r.headers.get("grpc-status"), "13", "grpc-status")
        check_eq(r.body, b"", "body")


def test_enable_http2_false(ctx):
    b, g = proxy_setup(ctx, enable_http2=False)
    r = curl_ok("--http1.1", g.url("/h2c/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "HTTP/1.1 still served")
    r = ctx.curl("--http2-prior-knowledge", g.url("/h1/hello"), timeout=10)
    check(r.rc != 0 or r.status != 200,
          "an h2 prior-knowledge request was served with enable_http2 = false: %r" % r)
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq(r.status, 200, "HTTP/1.1 after the refused h2 connection")
