"""HTTP/1.1 request smuggling (SECURITY.md §7 rows 13 and 14): every request whose
body framing is ambiguous (Content-Length with Transfer-Encoding, obfuscated or
repeated Transfer-Encoding, Transfer-Encoding in HTTP/1.0, malformed or repeated
Content-Length) is answered 400 and the connection closed. A capture upstream shows
that none of them, and none of the requests pipelined or hidden behind them, reached
the upstream."""

import json

from harness import (RawConn, admin_section, check, check_eq, free_port, metric, proxy_setup,
                     scrape)

SMUGGLED = b"GET /cap/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"


def _setup(ctx):
    up = ctx.capture_upstream()
    admin_port = free_port()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}},
                    sections=admin_section(admin_port))
    return up, g, admin_port


def _counters(admin_port):
    samples, _ = scrape(admin_port)
    return (metric(samples, "ringway_downstream_malformed_requests_total"),
            metric(samples, "ringway_local_replies_total", cause="bad_request", flag="DPE"))


def _expect_400_and_close(port, data, what):
    """|data| (followed by a pipelined request) gets one 400 JSON reply with
    connection: close, then EOF and nothing else."""
    with RawConn(port) as c:
        c.send(data + SMUGGLED)
        r = c.read_response(timeout=5)
        check_eq(r.status, 400, what + ": status")
        check_eq(r.headers.get("connection"), "close", what + ": connection header")
        check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")
        j = json.loads(r.body)
        check(list(j) == ["error"] and j["error"], what + ": body %r" % r.body)
        check(c.wait_eof(5), what + ": connection not closed after the 400")
        check_eq(c.buf, b"", what + ": bytes after the 400 (the pipelined request answered?)")


def _run_attacks(ctx, cases):
    """Each case is rejected; the upstream then sees only the canary sent after all of
    them (so anything forwarded earlier would be there too); the malformed counter
    and the bad_request local-reply counter grew by one per case."""
    up, g, admin_port = _setup(ctx)
    before = _counters(admin_port)
    for what, data in cases:
        _expect_400_and_close(g.port, data, what)
    with RawConn(g.port) as c:
        r = c.request("GET", "/cap/canary")
        check_eq(r.status, 200, "canary status")
    check_eq([req["target"] for req in up.requests], ["/canary"],
             "requests the upstream received")
    check_eq(up.connections, 1, "upstream connections (only the canary's)")
    after = _counters(admin_port)
    check_eq((after[0] - before[0], after[1] - before[1]), (len(cases), len(cases)),
             "malformed requests and bad_request local replies counted")
    check(g.alive(), "the gateway died")


def _post(version, headers, body):
    return (b"POST /cap/attack HTTP/%s\r\n" % version + b"".join(h + b"\r\n" for h in headers)
            + b"\r\n" + body)


HOST = b"Host: gw.test"


def test_cl_te_both_orders(ctx):
    """Row 13: CL.TE and TE.CL: Content-Length and Transfer-Encoding together, in
    either order and with a smuggled request as the body's tail, are refused."""
    smuggle_body = b"0\r\n\r\n" + SMUGGLED
    _run_attacks(ctx, [
        ("CL.TE", _post(b"1.1", [HOST, b"Content-Length: %d" % len(smuggle_body),
                                 b"Transfer-Encoding: chunked"], smuggle_body)),
        ("TE.CL", _post(b"1.1", [HOST, b"Transfer-Encoding: chunked", b"Content-Length: 4"],
                        b"5c\r\nGPOST /cap/x HTTP/1.1\r\n\r\n0\r\n\r\n")),
        ("CL 0 with TE", _post(b"1.1", [HOST, b"Content-Length: 0",
                                        b"Transfer-Encoding: chunked"], b"0\r\n\r\n")),
        ("TE with CL after other headers",
         _post(b"1.1", [b"Transfer-Encoding: chunked", HOST, b"X-A: b", b"content-length: 3"],
               b"0\r\n\r\n")),
    ])


def test_te_obfuscations(ctx):
    """Row 13: TE.TE: Transfer-Encoding values and lines that some parsers read as
    chunked and others do not are all refused (only a single
    "Transfer-Encoding: chunked" is accepted), with or without Content-Length."""
    chunked0 = b"0\r\n\r\n"
    obfuscated = [
        ("xchunked", [b"Transfer-Encoding: xchunked"]),
        ("chunked, identity", [b"Transfer-Encoding: chunked, identity"]),
        ("identity", [b"Transfer-Encoding: identity"]),
        ("identity, chunked", [b"Transfer-Encoding: identity, chunked"]),
        ("gzip, chunked", [b"Transfer-Encoding: gzip, chunked"]),
        (",chunked", [b"Transfer-Encoding: ,chunked"]),
        ("chunked, chunked", [b"Transfer-Encoding: chunked, chunked"]),
        ("two lines chunked", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"]),
        ("chunked then x", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: x"]),
        ("gzip then chunked", [b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"]),
        ("leading space line", [b" Transfer-Encoding: chunked"]),
        ("two spaces before the value", [b"Transfer-Encoding:  chunked"]),
        ("tab before the value", [b"Transfer-Encoding:\tchunked"]),
        ("tab after the value", [b"Transfer-Encoding: chunked\t"]),
        ("space after the value", [b"Transfer-Encoding: chunked "]),
        ("space before the colon", [b"Transfer-Encoding : chunked"]),
        ("name folded onto the next line", [b"Transfer-Encoding", b" : chunked"]),
        ("bare LF before TE", [b"X-A: b\nTransfer-Encoding: chunked"]),
        ("bare CR before TE", [b"X-A: b\rTransfer-Encoding: chunked"]),
        ("vertical tab", [b"Transfer-Encoding: \x0bchunked"]),
    ]
    cases = []
    for what, lines in obfuscated:
        cases.append(("TE " + what, _post(b"1.1", [HOST] + lines, chunked0)))
        cases.append(("TE %s + CL" % what,
                      _post(b"1.1", [HOST, b"Content-Length: 5"] + lines, chunked0)))
    _run_attacks(ctx, cases)


def test_te_in_http10(ctx):
    """Row 13: Transfer-Encoding in an HTTP/1.0 request (HTTP/1.0 has no chunked
    coding, so an HTTP/1.0 hop would read the body differently) is refused."""
    _run_attacks(ctx, [
        ("HTTP/1.0 + TE", _post(b"1.0", [b"Transfer-Encoding: chunked"], b"0\r\n\r\n")),
        ("HTTP/1.0 + Host + TE",
         _post(b"1.0", [HOST, b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n")),
        ("HTTP/1.0 + TE + CL",
         _post(b"1.0", [HOST, b"Transfer-Encoding: chunked", b"Content-Length: 5"], b"hello")),
    ])


def test_invalid_content_length(ctx):
    """Row 14: duplicate or malformed Content-Length (a list, a sign, hex, beyond
    2^63 - 1 or 2^64, empty, repeated even with the same value) is refused."""
    cases = []
    for what, lines in [
            ("5, 6", [b"Content-Length: 5, 6"]),
            ("5,5", [b"Content-Length: 5,5"]),
            ("+5", [b"Content-Length: +5"]),
            ("-1", [b"Content-Length: -1"]),
            ("0x10", [b"Content-Length: 0x10"]),
            ("5 6", [b"Content-Length: 5 6"]),
            ("2^64", [b"Content-Length: 18446744073709551616"]),
            ("2^64 - 1", [b"Content-Length: 18446744073709551615"]),
            ("2^63", [b"Content-Length: 9223372036854775808"]),
            ("empty", [b"Content-Length: "]),
            ("two lines 5 and 6", [b"Content-Length: 5", b"Content-Length: 6"]),
            ("two lines 5 and 5", [b"Content-Length: 5", b"Content-Length: 5"]),
            ("tab inside", [b"Content-Length: 5\t5"])]:
        cases.append(("CL " + what, _post(b"1.1", [HOST] + lines, b"hello")))
    _run_attacks(ctx, cases)


def test_accepted_framing_still_works(ctx):
    """Row 13 (no false positive): one "Transfer-Encoding: chunked" (any case), one
    Content-Length (with trailing OWS), and a request pipelined after them are served
    in order with the bodies the framing says."""
    b, g = proxy_setup(ctx)

    def post(headers, body):
        return (b"POST /h1/echo HTTP/1.1\r\n" + b"".join(h + b"\r\n" for h in headers)
                + b"\r\n" + body)

    with RawConn(g.port) as c:
        c.send(post([HOST, b"Transfer-Encoding: chunked"], b"5;ext=1\r\nhello\r\n0\r\n\r\n")
               + post([HOST, b"transfer-encoding: Chunked"], b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
               + post([HOST, b"Content-Length: 5 "], b"world")
               + b"GET /h1/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        got = [c.read_response(timeout=5) for _ in range(4)]
        check_eq([(r.status, r.body) for r in got],
                 [(200, b"hello"), (200, b"abc"), (200, b"world"), (200, b"hello\n")],
                 "pipelined requests (status, body)")
