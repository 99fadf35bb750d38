"""HTTP/2 downstream behaviour: many streams on one connection, the stream limit,
oversized headers, and client stream resets."""

import re
import time

from harness import MiniH2, check, check_eq, curl_ok, nghttp, proxy_setup

REFUSED_STREAM = 7


def test_h2_many_streams_one_connection(ctx):
    b, g = proxy_setup(ctx)
    for back in ("/h1", "/h2c"):
        r = ctx.h2load("-n", 1000, "-c", 1, "-m", 100, g.url(back + "/slow?ms=20"), timeout=60)
        check((r.succeeded, r.failed, r.errored, r.s2xx) == (1000, 0, 0, 1000),
              "%s: 1000 requests over one connection, 100 at a time:\n%s"
              % (back, r.output[-1200:]))


def test_h2_max_concurrent_streams(ctx):
    b, g = proxy_setup(ctx, max_concurrent_streams=4)
    n = nghttp(g.url("/h1/hello"))
    check(re.search(r"recv SETTINGS frame.*\n(?:\s+.*\n)*?\s+\[SETTINGS_MAX_CONCURRENT_STREAMS"
                    r"\(0x03\):4\]", n.output),
          "the server's SETTINGS do not offer MAX_CONCURRENT_STREAMS 4:\n" + n.output[-1500:])
    # Ten streams sent before the client could see that SETTINGS: each is either
    # served or refused (REFUSED_STREAM, safe to retry), never left hanging.
    with MiniH2(g.port) as h:
        sids = [h.request("GET", "/h2c/slow?ms=200") for _ in range(10)]
        outcomes = []
        for sid in sids:
            st = h.wait(sid, timeout=10)
            if st.reset is not None:
                outcomes.append(("reset", st.reset))
            else:
                outcomes.append(("done", st.data, st.ended))
        served = [o for o in outcomes if o[0] == "done"]
        check(all(o == ("done", b"slow\n", True) for o in served), "served streams: %r" % outcomes)
        check(all(o == ("reset", REFUSED_STREAM) for o in outcomes if o[0] == "reset"),
              "streams over the limit must be refused with REFUSED_STREAM: %r" % outcomes)
        check(len(served) >= 4, "fewer than 4 of 10 streams served: %r" % outcomes)
        st = h.wait(h.request("GET", "/h1/hello"))
        check_eq((st.data, st.ended), (b"hello\n", True), "a stream after the burst")
        # Now that the limit is known: rounds of exactly 4 streams are all served.
        for rnd in range(3):
            sids = [h.request("GET", "/h1/slow?ms=100&r=%d" % rnd) for _ in range(4)]
            got = [(st.data, st.ended, st.reset) for st in (h.wait(s) for s in sids)]
            check_eq(got, [(b"slow\n", True, None)] * 4, "round %d of 4 streams" % rnd)
    # (curl 7.88 --parallel and nghttp open more streams before the server's SETTINGS
    # arrive; those are refused with REFUSED_STREAM, which curl reports as exit 16
    # rather than retrying. That is the client's part.)


def test_h2_oversized_header_431(ctx):
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
