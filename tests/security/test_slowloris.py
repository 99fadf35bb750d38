"""Slowloris (SECURITY.md §7 row 19): request heads sent slowly, byte by byte, on one
connection and on many at once, are answered 408 and closed at
request_header_timeout_ms; the connection cap holds meanwhile and a canary request on
a fresh connection is served."""

import os
import socket
import time

from harness import (RawConn, check, check_eq, check_json_error_reply, curl_ok, proxy_setup,
                     raw_exchange, read_until_closed, wait_for)


def test_slowloris_one_connection_408(ctx):
    """Row 19: one slow head (half a request line; a head trickled byte by byte) gets 408
    and close at request_header_timeout_ms; a silent connection is closed without a
    reply."""
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


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_slowloris_200_connections_byte_by_byte(ctx):
    """Row 19: 200 connections each trickle a request head one byte per 50 ms against
    max_connections = 150 and request_header_timeout_ms = 1000: 50 are closed at once
    without a byte (the cap holds), the 150 admitted get 408 + close at the header
    timeout, none is left open; the gateway's fds come back to their baseline and a
    canary request is served."""
    n, cap = 200, 150
    b, g = proxy_setup(ctx, max_connections=cap, request_header_timeout_ms=1000)
    time.sleep(0.3)  # the harness's start-up probe connections are closed
    check_eq(curl_ok("--http1.1", g.url("/h1/hello")).status, 200, "canary before")
    base_fds = open_fds(g.pid)
    # Never complete: 40 header lines take 2 s+ at one byte per round.
    head = b"GET /h1/hello HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: abcdefghijklmnopqrstuvwxyz\r\n" * 40
    socks = [socket.create_connection(("127.0.0.1", g.port), timeout=5) for _ in range(n)]
    got = {s: b"" for s in socks}
    closed = {}  # socket -> seconds after the start when EOF came
    start = time.monotonic()
    pos = 0
    try:
        while len(closed) < n and time.monotonic() - start < 8:
            for s in socks:
                if s not in closed:
                    try:
                        s.send(head[pos:pos + 1])
                    except OSError:
                        pass  # the gateway closed it; the read below sees that
            pos = min(pos + 1, len(head) - 1)
            read_until_closed(socks, start, time.monotonic() + 0.05, closed, got)
        check_eq(len(closed), n, "connections closed by the gateway within 8 s")
        replies = [got[s] for s in socks]
        refused = [s for s in socks if got[s] == b""]
        timed_out = [s for s in socks if got[s].startswith(b"HTTP/1.1 408 ")]
        check_eq((len(refused), len(timed_out)), (n - cap, cap),
                 "(closed without a byte, answered 408); other replies: %r"
                 % [r[:40] for r in replies if r and not r.startswith(b"HTTP/1.1 408 ")][:5])
        early = [closed[s] for s in timed_out if closed[s] < 0.9]
        check_eq(early, [], "408s before request_header_timeout_ms = 1000")
        late = max(closed[s] for s in refused)
        ctx.note("cap refusals done by %.2fs; 408s between %.2fs and %.2fs" % (
            late, min(closed[s] for s in timed_out), max(closed[s] for s in timed_out)))
    finally:
        for s in socks:
            s.close()
    check(g.alive(), "the gateway died")
    wait_for(lambda: open_fds(g.pid) <= base_fds, 3, what="the gateway's fds back to %d "
             "(now %d)" % (base_fds, open_fds(g.pid)))
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "canary after the attack")
