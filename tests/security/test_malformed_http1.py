"""Malformed HTTP/1.1 request heads and chunked bodies (SECURITY.md §7 rows 15 and
16) and invalid or conflicting Host headers (RFC 9112 §3.2): 400 and close, and for
a bad head the upstream receives nothing. Requests that are merely unusual but
valid are still served (no false positives), including heads that arrive in pieces."""

import json
import socket
import time

from harness import (RawConn, check, check_eq, proxy_setup)

FOLLOW = b"GET /cap/follow HTTP/1.1\r\nHost: gw.test\r\n\r\n"


def _capture_gateway(ctx, **api_keys):
    up = ctx.capture_upstream()
    api = {"listen_path": "/cap/", "strip_listen_path": True, "target_url": up.url()}
    api.update(api_keys)
    return up, ctx.gateway({"cap": api})


def _check_400(c, what):
    r = c.read_response(timeout=5)
    check_eq(r.status, 400, what + ": status")
    check_eq(r.headers.get("connection"), "close", what + ": connection header")
    check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")
    j = json.loads(r.body)
    check(list(j) == ["error"] and j["error"], what + ": body %r" % r.body)
    check(c.wait_eof(5), what + ": connection not closed after the 400")
    check_eq(c.buf, b"", what + ": bytes after the 400")
    return j["error"]


def _expect_400(port, pieces, what):
    """Sends |pieces| (bytes, or a list sent 50 ms apart) then a pipelined request;
    expects one 400 and the close. Returns the error text."""
    if isinstance(pieces, bytes):
        pieces = [pieces]
    with RawConn(port) as c:
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(0.05)
            c.send(piece + (FOLLOW if i == len(pieces) - 1 else b""))
        return _check_400(c, what)


def _nothing_forwarded(up, g):
    """Then a canary is the only request the upstream has seen."""
    with RawConn(g.port) as c:
        r = c.request("GET", "/cap/canary")
        check_eq(r.status, 200, "canary status")
    check_eq([req["target"] for req in up.requests], ["/canary"],
             "requests the upstream received")
    check(g.alive(), "the gateway died")


HEAD = b"GET /cap/x HTTP/1.1\r\nHost: gw.test\r\n"


def test_malformed_head_lines(ctx):
    """Row 15: obs-fold, bare CR, bare LF, NUL and other control characters, and
    whitespace before the colon, anywhere in the head: 400 and close; the upstream
    receives nothing (also not the request pipelined behind)."""
    up, g = _capture_gateway(ctx)
    cases = [
        ("obs-fold with SP", HEAD + b"X-A: a\r\n b\r\n\r\n"),
        ("obs-fold with HTAB", HEAD + b"X-A: a\r\n\tb\r\n\r\n"),
        ("obs-fold after an empty value", HEAD + b"X-A:\r\n b\r\n\r\n"),
        ("first header line folded", b"GET /cap/x HTTP/1.1\r\n Host: gw.test\r\n\r\n"),
        ("bare CR in a value", HEAD + b"X-A: a\rb\r\n\r\n"),
        ("CR CR LF", HEAD + b"X-A: a\r\r\n\r\n"),
        ("bare CR in a name", HEAD + b"X-\rA: a\r\n\r\n"),
        ("bare CR in the request line", b"GET /cap/x\r HTTP/1.1\r\nHost: gw.test\r\n\r\n"),
        ("bare CR ending the head", HEAD + b"\r\r\n"),
        ("NUL in a value", HEAD + b"X-A: a\x00b\r\n\r\n"),
        ("NUL in a name", HEAD + b"X-\x00A: b\r\n\r\n"),
        ("SOH in a value", HEAD + b"X-A: a\x01b\r\n\r\n"),
        ("ESC in a value", HEAD + b"X-A: a\x1bb\r\n\r\n"),
        ("DEL in a value", HEAD + b"X-A: a\x7fb\r\n\r\n"),
        ("NUL in the target", b"GET /cap/x\x00 HTTP/1.1\r\nHost: gw.test\r\n\r\n"),
        ("space before the colon", HEAD + b"X-A : a\r\n\r\n"),
        ("tab before the colon", HEAD + b"X-A\t: a\r\n\r\n"),
        ("space inside a name", HEAD + b"X A: a\r\n\r\n"),
        ("empty name", HEAD + b": a\r\n\r\n"),
        ("bare LF after the request line", b"GET /cap/x HTTP/1.1\nHost: gw.test\r\n\r\n"),
        ("bare LF after a header", HEAD + b"X-A: a\n\r\n"),
        ("bare LF ending the head", HEAD + b"\n"),
        ("bare LF everywhere", b"GET /cap/x HTTP/1.1\nHost: gw.test\n\n"),
    ]
    for what, data in cases:
        _expect_400(g.port, data, what)
    _nothing_forwarded(up, g)


def test_malformed_head_in_pieces(ctx):
    """Row 15: the same checks hold when the head arrives in several reads (the fold,
    the bare LF or CR in a later read than the start of the head, or straddling two
    reads), and a valid head trickled in small pieces is still served."""
    up, g = _capture_gateway(ctx)
    cases = [
        ("obs-fold in the second read", [HEAD + b"X-A: a\r\n", b" b\r\n\r\n"]),
        ("obs-fold across reads", [HEAD + b"X-A: a\r", b"\n\tb\r\n\r\n"]),
        ("bare LF in the third read", [b"GET /cap/x HTT", b"P/1.1\r\nHost: gw.test\r\n",
                                       b"X-A: b\n\r\n"]),
        ("bare CR across reads", [HEAD + b"X-A: a\r", b"b\r\n\r\n"]),
        ("space before the colon in the second read", [HEAD, b"X-A : a\r\n\r\n"]),
        ("split method, fold later", [b"GE", b"T /cap/x HTTP/1.1\r\nHost: gw.test\r\nX: 1\r\n",
                                      b" 2\r\n\r\n"]),
    ]
    for what, pieces in cases:
        _expect_400(g.port, pieces, what)
    _nothing_forwarded(up, g)
    head = HEAD + b"X-Tab: a\tb\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    with RawConn(g.port) as c:
        for i in range(0, len(head), 7):
            c.send(head[i:i + 7])
            time.sleep(0.005)
        r = c.read_response(timeout=5)
        check_eq(r.status, 200, "valid head sent 7 bytes at a time")


def test_host_header_rules(ctx):
    """Row 15 (Host, RFC 9112 §3.2): an HTTP/1.1 request without Host, with two, with
    an invalid one, or with an absolute-form target whose authority differs from Host
    (or absent Host) is refused and nothing is forwarded; HTTP/1.0 may omit Host."""
    up, g = _capture_gateway(ctx, preserve_host_header=True)
    cases = [
        ("no Host", b"GET /cap/x HTTP/1.1\r\n\r\n"),
        ("two Hosts", b"GET /cap/x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
        ("two equal Hosts", b"GET /cap/x HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n"),
        ("empty Host", b"GET /cap/x HTTP/1.1\r\nHost: \r\n\r\n"),
        ("space in Host", b"GET /cap/x HTTP/1.1\r\nHost: a b.test\r\n\r\n"),
        ("userinfo in Host", b"GET /cap/x HTTP/1.1\r\nHost: user@a.test\r\n\r\n"),
        ("slash in Host", b"GET /cap/x HTTP/1.1\r\nHost: a.test/x\r\n\r\n"),
        ("backslash in Host", b"GET /cap/x HTTP/1.1\r\nHost: a.test\\x\r\n\r\n"),
        ("control character in Host", b"GET /cap/x HTTP/1.1\r\nHost: a\x01.test\r\n\r\n"),
        ("port too large", b"GET /cap/x HTTP/1.1\r\nHost: a.test:65536\r\n\r\n"),
        ("port not a number", b"GET /cap/x HTTP/1.1\r\nHost: a.test:8o\r\n\r\n"),
        ("empty port", b"GET /cap/x HTTP/1.1\r\nHost: a.test:\r\n\r\n"),
        ("two ports", b"GET /cap/x HTTP/1.1\r\nHost: a.test:80:80\r\n\r\n"),
        ("unclosed IPv6 literal", b"GET /cap/x HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        ("bad IPv6 literal", b"GET /cap/x HTTP/1.1\r\nHost: [a.test]\r\n\r\n"),
        ("HTTP/1.0 with an invalid Host", b"GET /cap/x HTTP/1.0\r\nHost: a b\r\n\r\n"),
        ("absolute-form, Host differs",
         b"GET http://a.test/cap/x HTTP/1.1\r\nHost: b.test\r\n\r\n"),
        ("absolute-form, Host differs in port",
         b"GET http://a.test:8080/cap/x HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        ("absolute-form without Host", b"GET http://a.test/cap/x HTTP/1.1\r\n\r\n"),
        ("absolute-form with userinfo",
         b"GET http://u@a.test/cap/x HTTP/1.1\r\nHost: u@a.test\r\n\r\n"),
        ("absolute-form with an empty authority", b"GET http:///cap/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]
    for what, data in cases:
        _expect_400(g.port, data, what)
    _nothing_forwarded(up, g)

    # Accepted: the authority forwarded (preserve_host_header) is the client's.
    accepted = [
        (b"GET /cap/ok HTTP/1.1\r\nHost: API.example.com:8080\r\n\r\n", "API.example.com:8080"),
        (b"GET /cap/ok HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "[::1]:8080"),
        (b"GET /cap/ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "127.0.0.1"),
        (b"GET /cap/ok HTTP/1.1\r\nHost:trailing-ows.test \t\r\n\r\n", "trailing-ows.test"),
        (b"GET http://a.test/cap/ok HTTP/1.1\r\nHost: A.test:80\r\n\r\n", "a.test"),
        (b"GET http://a.test:8080/cap/ok?q=1 HTTP/1.1\r\nHost: a.test:8080\r\n\r\n",
         "a.test:8080"),
        (b"GET https://a.test/cap/ok HTTP/1.1\r\nHost: a.test:443\r\n\r\n", "a.test"),
        (b"GET http://a.test/cap/ok HTTP/1.0\r\n\r\n", "a.test"),
        (b"GET /cap/ok HTTP/1.0\r\nHost: h10.test\r\n\r\n", "h10.test"),
    ]
    for data, authority in accepted:
        with RawConn(g.port) as c:
            c.send(data)
            r = c.read_response(timeout=5)
            what = repr(data.split(b"\r\n")[0:2])
            check_eq(r.status, 200, what + " status")
            got = dict(r.json()["headers"])
            check_eq(got.get("host"), authority, what + " Host forwarded")
    # HTTP/1.0 without Host: the target's authority is used upstream.
    with RawConn(g.port) as c:
        c.send(b"GET /cap/ok HTTP/1.0\r\n\r\n")
        r = c.read_response(timeout=5)
        check_eq(r.status, 200, "HTTP/1.0 without Host")
        check_eq(dict(r.json()["headers"]).get("host"), "127.0.0.1:%d" % up.port,
                 "HTTP/1.0 without Host: Host forwarded")


# /echo answers with the body it got; /sink answers only once the whole body is in,
# so a refused body can get no answer but the 400.
CHUNKED_POST = b"POST /h1/echo HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED_SINK = b"POST /h1/sink HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk_with_ext(ext, data=b"hello"):
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


def test_bad_chunk_framing(ctx):
    """Row 16: non-hex, prefixed, negative or overflowing chunk sizes, a missing CRLF
    after the data, bare LF in the framing, an empty size line: 400 and close."""
    b, g = proxy_setup(ctx)
    cases = [
        ("non-hex size", b"zz\r\nabc\r\n0\r\n\r\n"),
        ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
        ("negative size", b"-1\r\nhello\r\n0\r\n\r\n"),
        ("size overflows 64 bits", b"10000000000000000\r\nhello\r\n0\r\n\r\n"),
        ("size of 18 hex digits", b"ffffffffffffffffff\r\nhello\r\n"),
        ("missing CRLF after the data", b"5\r\nhelloX0\r\n\r\n"),
        ("data longer than the size", b"3\r\nhello\r\n0\r\n\r\n"),
        ("bare LF after the size", b"5\nhello\r\n0\r\n\r\n"),
        ("bare LF after the data", b"5\r\nhello\n0\r\n\r\n"),
        ("empty size line", b"\r\nhello\r\n0\r\n\r\n"),
        ("space before an extension", b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold in a trailer", b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"),
        ("bare CR in a trailer", b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n"),
    ]
    for what, body in cases:
        _expect_400(g.port, CHUNKED_SINK + body, what)
    check(g.alive(), "the gateway died")


def test_chunk_extension_cap(ctx):
    """Row 16: chunk extensions (";name=value" bytes of one chunk-size line) up to
    max_chunk_extension_bytes (default 256) pass; one byte more is 400 and close;
    the cap is per chunk, not per body; 0 allows none."""
    b, g = proxy_setup(ctx)
    ext_256 = b";n=" + b"v" * 253
    ext_257 = b";n=" + b"v" * 254
    check_eq(len(ext_256), 256, "test setup")
    many = b"".join(_chunk_with_ext(b";e%d=" % i + b"x" * 200) for i in range(20))
    quoted = b';q="' + b"a b" * 80 + b'"'
    for what, body, want in [
            ("256 bytes", _chunk_with_ext(ext_256) + b"0\r\n\r\n", b"hello"),
            ("256 bytes on the last chunk", _chunk_with_ext(b"") + b"0" + ext_256 + b"\r\n\r\n",
             b"hello"),
            # (llhttp 8.1 refuses a token value followed by another extension: quoted)
            ("two extensions, 256 bytes", _chunk_with_ext(b';a="' + b"1" * 98 + b'";b='
                                                          + b"2" * 150) + b"0\r\n\r\n", b"hello"),
            ("20 chunks of 200-byte extensions", many + b"0\r\n\r\n", b"hello" * 20),
            ("a quoted value", _chunk_with_ext(quoted) + b"0\r\n\r\n", b"hello")]:
        with RawConn(g.port) as c:
            c.send(CHUNKED_POST + body)
            r = c.read_response(timeout=5)
            check_eq((r.status, r.body), (200, want), what)
    for what, body in [
            ("257 bytes", _chunk_with_ext(ext_257) + b"0\r\n\r\n"),
            ("257 bytes on the last chunk", _chunk_with_ext(b"") + b"0" + ext_257 + b"\r\n\r\n"),
            ("two extensions, 257 bytes",
             _chunk_with_ext(b';a="' + b"1" * 98 + b'";b=' + b"2" * 151) + b"0\r\n\r\n"),
            ("a name of 300 bytes", _chunk_with_ext(b";" + b"n" * 300) + b"0\r\n\r\n"),
            ("64 KiB of extension", _chunk_with_ext(b";n=" + b"v" * 65536) + b"0\r\n\r\n")]:
        error = _expect_400(g.port, CHUNKED_SINK + body, what)
        check_eq(error, "malformed request body", what + ": error")
    # In pieces: the cap holds across reads.
    error = _expect_400(g.port, [CHUNKED_SINK + b"5;n=" + b"v" * 200,
                                 b"v" * 100 + b"\r\nhello\r\n"], "257+ bytes over two reads")
    check_eq(error, "malformed request body", "over two reads: error")

    b2, g0 = proxy_setup(ctx, max_chunk_extension_bytes=0)
    with RawConn(g0.port) as c:
        c.send(CHUNKED_POST + _chunk_with_ext(b"") + b"0\r\n\r\n")
        check_eq(c.read_response(timeout=5).status, 200, "no extension with the cap at 0")
    _expect_400(g0.port, CHUNKED_SINK + _chunk_with_ext(b";a") + b"0\r\n\r\n",
                "one extension with the cap at 0")


def test_truncated_chunked_body(ctx):
    """Row 16: a chunked body that stops mid-chunk and then ends (the client shuts
    down its side) gets no success response and the connection is closed."""
    b, g = proxy_setup(ctx)
    for what, body in [("mid-data", b"5\r\nhel"), ("mid-size-line", b"5\r\nhello\r\n1"),
                       ("before the last chunk", b"5\r\nhello\r\n"),
                       ("mid-trailers", b"5\r\nhello\r\n0\r\nX-T: 1\r\n")]:
        with RawConn(g.port) as c:
            c.send(CHUNKED_SINK + body)
            time.sleep(0.05)
            c.sock.shutdown(socket.SHUT_WR)
            data, eof = c.read_to_eof(timeout=5)
            check(eof, what + ": connection not closed")
            check(not data.startswith(b"HTTP/1.1 2"), what + ": a success response %r" % data[:80])
    check(g.alive(), "the gateway died")
