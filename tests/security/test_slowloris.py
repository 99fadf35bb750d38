"""Slowloris (SECURITY.md §7 row 19): request heads sent slowly, byte by byte, on one
connection and on many at once, are answered 408 and closed at
request_header_timeout_ms; the connection cap holds meanwhile and a canary request on
a fresh connection is served."""

import time

from harness import (RawConn, check, check_eq, check_json_error_reply, curl_ok, proxy_setup,
                     raw_exchange)


def test_slowloris_one_connection_408(ctx):
    """Row 19: one slow head (half a request line; a head trickled byte by byte) gets 408 and close at request_header_timeout_ms; a silent connection is closed without a reply."""
    b, g = proxy_setup(ctx, request_header_timeout_ms=300)
    # Half a request line, then nothing.
    start = time.monotonic()
    with RawConn(g.port) as c:
        c.send(b"GET /h1/hel")
        r = c.read_response(timeout=5)
        check_json_error_reply(r, 408, "half a request line")
        check(c.wait_eof(5), "connection not closed after the 408")
    elapsed = time.monotonic() - start
    check(elapsed >= 0.25, "408 after %.2fs, before request_header_timeout_ms = 300" % elapsed)
    # A head trickled byte by byte must still be complete in time (no reset on progress).
    with RawConn(g.port) as c:
        head = b"GET /h1/hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
        for i in range(len(head)):
            c.send(head[i:i + 1])
            time.sleep(0.02)
            if c.wait_eof(0) or c.buf:
                break
        r = c.read_response(timeout=5)
        check_json_error_reply(r, 408, "trickled head")
    # A connection that sends nothing is closed without a reply.
    data, eof = raw_exchange(g.port, b"", read_timeout=5)
    check(eof, "a silent connection was not closed")
    check_eq(data, b"", "reply to a silent connection")
    # A complete head in time is served.
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq(r.status, 200, "a normal request")
