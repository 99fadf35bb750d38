"""HTTP/2 downstream behaviour: many streams on one connection and client stream
resets. (The stream limit and oversized headers: tests/security.)"""

import time

from harness import MiniH2, check, check_eq, proxy_setup


def test_h2_many_streams_one_connection(ctx):
    b, g = proxy_setup(ctx)
    for back in ("/h1", "/h2c"):
        r = ctx.h2load("-n", 1000, "-c", 1, "-m", 100, g.url(back + "/slow?ms=20"), timeout=60)
        check((r.succeeded, r.failed, r.errored, r.s2xx) == (1000, 0, 0, 1000),
              "%s: 1000 requests over one connection, 100 at a time:\n%s"
              % (back, r.output[-1200:]))


def test_h2_client_reset_stream(ctx):
    """A client's RST_STREAM cancels that exchange only; the connection goes on."""
    log = ctx.tmp("access.log")
    b, g = proxy_setup(ctx, access_log=log)
    with MiniH2(g.port) as h:
        slow = {back: h.request("GET", back + "/slow?ms=1000&cancel=1") for back in ("/h1", "/h2c")}
        up = h.request("POST", "/h1/echo", body=b"x" * 1000)
        time.sleep(0.2)
        for sid in slow.values():
            h.reset(sid)
        st = h.wait(up)
        check_eq((st.data, st.ended), (b"x" * 1000, True), "another stream on the connection")
        for back in ("/h1", "/h2c"):
            st = h.wait(h.request("GET", back + "/hello"))
            check_eq((st.data, st.ended), (b"hello\n", True), back + " stream after the resets")
        time.sleep(1.2)  # past the cancelled requests' upstream answers
        st = h.wait(h.request("GET", "/h2c/hello"))
        check_eq((st.data, st.ended, h.goaway), (b"hello\n", True, None),
                 "connection after the upstream answers to cancelled streams")
    check_eq(g.stop(), 0, "exit status")
    with open(log) as f:
        lines = [l.split(" ") for l in f.read().splitlines()]
    cancelled = sorted((l[5], l[6]) for l in lines if "cancel=1" in l[4])
    check_eq(cancelled, [("h1", "499"), ("h2c", "499")], "access log of the cancelled streams")
