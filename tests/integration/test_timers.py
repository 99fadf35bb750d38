"""Timers armed after the gateway has been waiting: a request that arrives after a
quiet period must get the full request_header_timeout_ms / upstream_timeout_ms, not
what is left of it counted from before the wait."""

import time

from harness import BACKS, MiniH2, RawConn, check, check_eq, proxy_setup


def test_h1_new_connection_after_quiet_period(ctx):
    """Regression: after the gateway had been idle for longer than
    request_header_timeout_ms, a new connection whose request arrived a moment after
    the connect was closed without a reply (timers armed from the clock read before
    the ring wait; 841aa0b)."""
    b, g = proxy_setup(ctx, request_header_timeout_ms=300)
    failures = []
    for quiet in (0.0, 1.0):
        time.sleep(quiet)
        with RawConn(g.port) as c:
            time.sleep(0.05)  # request bytes in a later loop turn than the accept
            try:
                r = c.request("GET", "/h1/hello", timeout=5)
                if (r.status, r.body) != (200, b"hello\n"):
                    failures.append("after %.1fs quiet: %r" % (quiet, r))
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append("after %.1fs quiet: %s" % (quiet, e))
    check(not failures, "; ".join(failures))


def _keepalive_gap(ctx, back):
    b, g = proxy_setup(ctx, upstream_timeout_ms=300)
    with RawConn(g.port) as c:
        got = []
        for gap in (0.0, 0.6, 1.0):
            time.sleep(gap)
            r = c.request("GET", BACKS[back] + "/hello")
            got.append((gap, r.status, r.body))
        check_eq(got, [(0.0, 200, b"hello\n"), (0.6, 200, b"hello\n"),
                       (1.0, 200, b"hello\n")],
                 "(gap before the request, status, body) on one keep-alive connection with "
                 "upstream_timeout_ms = 300")


def test_h1_h1_keepalive_request_after_gap(ctx):
    """Regression: a keep-alive request sent after a pause longer than
    upstream_timeout_ms got an immediate 504 (841aa0b)."""
    _keepalive_gap(ctx, "h1")


def test_h1_h2c_keepalive_request_after_gap(ctx):
    """Regression: as test_h1_h1_keepalive_request_after_gap."""
    _keepalive_gap(ctx, "h2c")


def test_h2_request_after_gap(ctx):
    """Regression: the same over one HTTP/2 connection."""
    b, g = proxy_setup(ctx, upstream_timeout_ms=300)
    got = []
    with MiniH2(g.port) as h:
        for gap in (0.0, 0.6):
            for back in BACKS:
                time.sleep(gap)
                st = h.wait(h.request("GET", BACKS[back] + "/hello"))
                got.append((gap, back, st.data, st.ended, st.reset))
    check_eq(got, [(0.0, "h1", b"hello\n", True, None), (0.0, "h2c", b"hello\n", True, None),
                   (0.6, "h1", b"hello\n", True, None), (0.6, "h2c", b"hello\n", True, None)],
             "(gap, upstream, body, ended, reset) on one h2 connection with "
             "upstream_timeout_ms = 300")
