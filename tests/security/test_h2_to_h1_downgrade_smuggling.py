"""HTTP/2 → HTTP/1.1 downgrade smuggling (SECURITY.md §7 row 12): a request over
HTTP/2 that would turn into a different or a second request once written as HTTP/1.1
to the upstream — content-length that disagrees with the DATA, connection-specific
fields (te other than trailers, transfer-encoding, connection, upgrade, keep-alive,
proxy-connection), CR, LF or NUL in a value, upper-case or empty names, a name with a
space or colon, :authority and host that disagree, missing, duplicate or misplaced
pseudo-header fields — is a stream error (RST_STREAM PROTOCOL_ERROR) or a 400; a
capture upstream shows that none of them reached it, and the connection serves on."""

import os
import sys

from harness import check, check_eq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_frames as hf  # noqa: E402

SMUGGLED = "GET /cap/smuggled HTTP/1.1\r\nhost: gw.test\r\n\r\n"


def _setup(ctx):
    up = ctx.capture_upstream()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}})
    return up, g


def _block(fields):
    """A header block of literals without indexing, exactly as given (no lower-casing,
    no validation)."""
    return b"".join(hf.hpack_literal(n, v) for n, v in fields)


def _expect_rejected(c, sid, what):
    """Stream |sid| is reset with PROTOCOL_ERROR or answered 400; a GOAWAY or a close
    (a connection error) also passes, any other status fails."""
    def decide(f):
        if f.type == hf.GOAWAY:
            return f.error_code == hf.PROTOCOL_ERROR
        if f.sid != sid:
            return None
        if f.type == hf.RST_STREAM:
            return f.error_code == hf.PROTOCOL_ERROR
        if f.headers is not None:
            return dict(f.headers).get(":status") == "400"
        return None

    end, _, outcome = c.scan(decide, timeout=3)
    check(end in ("pass", "closed"), "%s: expected RST_STREAM(PROTOCOL_ERROR) or 400, got %s"
          % (what, outcome))


def _run(ctx, cases):
    """Each case (what, fields, DATA payloads or None) on its own connection; then the
    upstream must have seen only the canary."""
    up, g = _setup(ctx)
    for what, fields, body in cases:
        with hf.H2Conn(g.port) as c:
            sid = c.new_sid()
            c.send(hf.headers(sid, _block(fields), end_stream=body is None))
            for i, chunk in enumerate(body or ()):
                c.send(hf.data(sid, chunk, end_stream=i == len(body) - 1))
            _expect_rejected(c, sid, what)
    with hf.H2Conn(g.port) as c:
        c.expect_response(c.request("GET", "/cap/canary"), "200", timeout=5)
    check_eq([q["target"] for q in up.requests], ["/canary"],
             "requests the upstream received (only the canary)")
    check(g.alive(), "the gateway died")


def _req(method="GET", path="/cap/x", extra=()):
    return hf.request_fields(method, path, extra=list(extra))


def test_h2_to_h1_downgrade_content_length_mismatch(ctx):
    """Row 12: content-length larger and smaller than the DATA sent, and two
    content-length fields that disagree."""
    _run(ctx, [
        ("content-length 10, 5 bytes of DATA", _req("POST", extra=[("content-length", "10")]),
         [b"hello"]),
        ("content-length 2, 5 bytes of DATA", _req("POST", extra=[("content-length", "2")]),
         [b"hello"]),
        ("content-length 5 then 6", _req("POST", extra=[("content-length", "5"),
                                                         ("content-length", "6")]), [b"hello"]),
        ("content-length 0 with a smuggled request as DATA",
         _req("POST", extra=[("content-length", "0")]), [SMUGGLED.encode()]),
    ])


def test_h2_to_h1_downgrade_connection_specific_fields(ctx):
    """Row 12: te: chunked, transfer-encoding: chunked, connection, upgrade, keep-alive
    and proxy-connection (RFC 9113 §8.2.2: malformed)."""
    _run(ctx, [
        ("te: chunked", _req(extra=[("te", "chunked")]), None),
        ("te: trailers, chunked", _req(extra=[("te", "trailers, chunked")]), None),
        ("transfer-encoding: chunked", _req("POST", extra=[("transfer-encoding", "chunked")]),
         [b"0\r\n\r\n" + SMUGGLED.encode()]),
        ("connection: close", _req(extra=[("connection", "close")]), None),
        ("connection: keep-alive, x-foo", _req(extra=[("connection", "keep-alive, x-foo")]), None),
        ("upgrade: websocket", _req(extra=[("upgrade", "websocket")]), None),
        ("keep-alive: timeout=5", _req(extra=[("keep-alive", "timeout=5")]), None),
        ("proxy-connection: keep-alive", _req(extra=[("proxy-connection", "keep-alive")]), None),
    ])


def test_h2_to_h1_downgrade_crlf_nul_in_fields(ctx):
    """Row 12: CR, LF, CRLF (a header or a whole request smuggled in a value), NUL in a
    value; CR/LF/space in :path; CRLF in :method and :authority."""
    _run(ctx, [
        ("CRLF + header in a value", _req(extra=[("x-a", "b\r\nx-smuggled: 1")]), None),
        ("CRLF + request in a value", _req(extra=[("x-a", "b\r\n\r\n" + SMUGGLED)]), None),
        ("bare LF in a value", _req(extra=[("x-a", "b\nx-smuggled: 1")]), None),
        ("bare CR in a value", _req(extra=[("x-a", "b\rx-smuggled: 1")]), None),
        ("NUL in a value", _req(extra=[("x-a", "b\0c")]), None),
        ("CRLF in a name", _req(extra=[("x-a\r\nx-smuggled", "1")]), None),
        (":path with a space and HTTP/1.1", _req(path="/cap/x HTTP/1.1\r\nx-s: 1"), None),
        (":path with a space", _req(path="/cap/x y"), None),
        (":method with CRLF", _req(method="GET /cap/s HTTP/1.1\r\nx: y"), None),
        (":authority with CRLF", [(":method", "GET"), (":scheme", "http"),
                                  (":path", "/cap/x"), (":authority", "gw.test\r\nx-s: 1")],
         None),
    ])


def test_h2_to_h1_downgrade_bad_field_names(ctx):
    """Row 12: upper-case names, an empty name, a name with a space or a colon."""
    _run(ctx, [
        ("upper-case name", _req(extra=[("X-Upper", "1")]), None),
        ("upper-case Content-Length", _req("POST", extra=[("Content-Length", "5")]),
         [b"hello"]),
        ("empty name", _req(extra=[("", "v")]), None),
        ("name with a space", _req(extra=[("x a", "v")]), None),
        ("name with a colon", _req(extra=[("x:a", "v")]), None),
    ])


def test_h2_to_h1_downgrade_authority_host_and_pseudo_headers(ctx):
    """Row 12: :authority that disagrees with host; missing :method, :path or :scheme;
    duplicate :path or :method; a pseudo-header after a regular field; an unknown
    pseudo-header; a response pseudo-header (:status) in a request."""
    base = [(":method", "GET"), (":scheme", "http"), (":path", "/cap/x"),
            (":authority", "gw.test")]
    _run(ctx, [
        (":authority != host", base + [("host", "evil.test")], None),
        ("missing :method", [f for f in base if f[0] != ":method"], None),
        ("missing :path", [f for f in base if f[0] != ":path"], None),
        ("missing :scheme", [f for f in base if f[0] != ":scheme"], None),
        ("duplicate :path", base + [(":path", "/cap/other")], None),
        ("duplicate :method", [(":method", "POST")] + base, None),
        ("pseudo-header after a regular one", base[:3] + [("x-a", "1"), base[3]], None),
        ("unknown pseudo-header", base + [(":foo", "bar")], None),
        (":status in a request", base + [(":status", "200")], None),
    ])
