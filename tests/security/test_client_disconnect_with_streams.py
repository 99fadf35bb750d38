"""A client that disconnects with many active streams (SECURITY.md §7 row 32): every
upstream stream it had is cancelled (one RST_STREAM(CANCEL) each, no storm), the
upstream HTTP/2 connection stays open and pooled for the next request, and the
gateway's fds return to their baseline."""

import os
import socket
import struct
import sys
import time

from harness import check_eq, curl_ok, wait_for

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_frames as hf  # noqa: E402

STREAMS = 50


def _hold(origin, conn, sid, path):
    if path.startswith("/hold"):
        return b""  # never answered: the stream stays active until cancelled
    return origin.response(conn, sid)


def test_client_disconnect_with_50_active_streams(ctx):
    """Row 32: 50 streams to an h2c upstream that holds them, then the client's socket
    is reset (SO_LINGER 0): the upstream gets exactly one RST_STREAM(CANCEL) per stream,
    on the one pooled connection, which stays open; the next request is served on that
    same connection; the gateway's fds are back to their baseline."""
    origin = hf.ScriptedH2Origin(_hold)
    ctx._others.append(origin)  # stopped by ctx.cleanup()
    g = ctx.gateway({"o": {"listen_path": "/o/", "strip_listen_path": True,
                           "target_url": origin.url()}})
    r = curl_ok("--http2-prior-knowledge", g.url("/o/warm"))
    check_eq((r.status, r.body), (200, b"origin ok\n"), "warm-up request")
    time.sleep(0.2)
    base_fds = len(os.listdir("/proc/%d/fd" % g.pid))
    c = hf.H2Conn(g.port)
    try:
        for i in range(STREAMS):
            c.request("GET", "/o/hold-%d" % i)
        wait_for(lambda: len(origin.events("request")) >= STREAMS + 1, 5,
                 what="%d held requests at the upstream (have %d)"
                 % (STREAMS, len(origin.events("request")) - 1))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()  # with SO_LINGER 0: a TCP reset, no GOAWAY, no RST_STREAM
    wait_for(lambda: len(origin.events("rst")) >= STREAMS, 5,
             what="RST_STREAM for each of %d streams (have %d)"
             % (STREAMS, len(origin.events("rst"))))
    time.sleep(0.3)  # anything more would be a storm
    held = sorted((e[0], e[2]) for e in origin.events("request") if e[3].startswith("/hold"))
    rsts = sorted((e[0], e[2]) for e in origin.events("rst"))
    check_eq(rsts, held, "RST_STREAMs the upstream got (one per held stream)")
    check_eq({e[3] for e in origin.events("rst")}, {hf.CANCEL}, "RST_STREAM error codes")
    check_eq(origin.events("eof"), [], "upstream connections the gateway closed")
    r = curl_ok("--http2-prior-knowledge", g.url("/o/after"))
    check_eq((r.status, r.body), (200, b"origin ok\n"), "a request after the disconnect")
    check_eq(origin.connections, 1, "upstream connections (the pooled one reused)")
    check_eq([e[0] for e in origin.events("request") if e[3] == "/after"], [1],
             "connection that served the request after the disconnect")
    wait_for(lambda: len(os.listdir("/proc/%d/fd" % g.pid)) <= base_fds, 3,
             what="the gateway's fds back to %d" % base_fds)
