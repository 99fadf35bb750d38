"""HTTP/2 stream-limit abuse (SECURITY.md §7 row 9): streams beyond
MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM and the connection serves on;
even, reused or decreasing client stream ids are a PROTOCOL_ERROR connection error
(GOAWAY) and nothing reaches the upstream."""

import os
import re
import sys

from harness import MiniH2, check, check_eq, nghttp, proxy_setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_frames as hf  # noqa: E402

REFUSED_STREAM = 7


def test_stream_limit_exceeded_refused_stream(ctx):
    """Row 9: streams beyond max_concurrent_streams = 4 are refused with REFUSED_STREAM
    (never left hanging); rounds within the limit are served."""
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


def test_stream_limit_bad_stream_ids_protocol_error(ctx):
    """Row 9: a HEADERS on an even (server-initiated) stream id and on an id lower than
    one already opened are a PROTOCOL_ERROR connection error (a reused id:
    PROTOCOL_ERROR or STREAM_CLOSED);
    none of those requests reaches the upstream; a fresh connection is served."""
    up = ctx.capture_upstream()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}})
    # A HEADERS on a stream that already ended is STREAM_CLOSED (RFC 9113 §5.1).
    cases = (("even stream id 2", [2], [hf.PROTOCOL_ERROR]),
             ("stream id 3 reused after 3", [3, 3], [hf.PROTOCOL_ERROR, hf.STREAM_CLOSED]),
             ("stream id 3 after 5", [5, 3], [hf.PROTOCOL_ERROR]))
    for what, sids, codes in cases:
        with hf.H2Conn(g.port) as c:
            for i, sid in enumerate(sids):
                c.request("GET", "/cap/%s-%d" % (what.replace(" ", "_"), i), sid=sid)
            # The good first request of a pair may be answered before the GOAWAY.
            c.expect_conn_error(*codes, timeout=3)
    bad_targets = [q["target"] for q in up.requests if q["target"].endswith("-1")
                   or q["target"].startswith("/even")]
    check_eq(bad_targets, [], "requests on bad stream ids that reached the upstream")
    with hf.H2Conn(g.port) as c:
        c.expect_response(c.request("GET", "/cap/canary"), "200", timeout=3)
