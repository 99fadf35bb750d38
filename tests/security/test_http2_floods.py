"""HTTP/2 floods and misbehaviour (SECURITY.md §7 rows 1-8, 33): each abuse is
answered with a bounded cost and ends the connection the way Envoy and nghttp2 do,
while the gateway keeps serving everyone else.

Raw frames come from h2_frames (python3-hpack for header blocks). Common pass checks
("SAFE"): the gateway is alive, a canary request on a fresh connection succeeds, its
RSS grew less than a stated bound, and the named counter moved."""

import os
import socket
import struct
import sys
import time

from harness import (RssSampler, admin_section, check, check_eq, curl, fail, free_port,
                     metric, proxy_apis, scrape)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # h2_frames
from h2_frames import (  # noqa: E402
    CANCEL, DATA, ENHANCE_YOUR_CALM, INITIAL_WINDOW_SIZE, MAX_WINDOW, PREFACE,
    SETTINGS_TIMEOUT, H2Conn, continuation, data, headers, ping, priority, request_fields,
    rst_stream, settings, window_update)


def connect(port, rcvbuf=None):
    """A connection that has sent the preface and SETTINGS and waits for nothing; it
    reads only when asked to (so it can play a client that never reads)."""
    c = H2Conn(port, handshake=False, rcvbuf=rcvbuf)
    c.send(PREFACE + settings())
    return c


def block(c, path, method="GET"):
    return c.encode(request_fields(method, path))


def request(c, sid, path):
    """HEADERS with a complete GET request (END_STREAM)."""
    return headers(sid, block(c, path))


def gateway(ctx, **keys):
    """Backend, gateway (proxy_setup's APIs plus an admin listener), admin port."""
    admin = free_port()
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b), sections=admin_section(admin), **keys)
    return b, g, admin


def canary(g):
    r = curl("--http2-prior-knowledge", g.url("/h2c/hello"), timeout=10)
    check(r.status == 200 and r.body == b"hello\n", "canary on a fresh connection: %r" % (r,))
    r = curl("--http1.1", g.url("/h1/hello"), timeout=10)
    check(r.status == 200 and r.body == b"hello\n", "HTTP/1.1 canary: %r" % (r,))


def expect_calm(conn, what):
    goaway = conn.wait_goaway(5)
    if goaway is None:
        fail("%s: no GOAWAY within 5 s" % what)
    check_eq(goaway[1], ENHANCE_YOUR_CALM, "%s: GOAWAY error code" % what)
    check(conn.wait_eof(5), "%s: connection not closed after GOAWAY" % what)


def calm_count(admin):
    samples, _ = scrape(admin)
    return metric(samples, "ringway_http2_connections_ended_total", reason="enhance_your_calm")


def test_rapid_reset_flood(ctx):
    """Row 1: rapid reset — HEADERS + RST_STREAM pairs. Past the misbehaviour budget
    the connection gets GOAWAY(ENHANCE_YOUR_CALM); few requests reach the upstream;
    SAFE."""
    b, g, admin = gateway(ctx, http2_max_glitches=100, http2_glitch_refill_per_s=10)
    before = curl(b.url() + "/stats").json()["requests"]
    c = connect(g.port)
    batch = b"".join(request(c, sid, "/h2c/slow?ms=200") + rst_stream(sid, CANCEL)
                     for sid in range(1, 2 * 2000, 2))
    c.try_send(batch, time.monotonic() + 5)
    expect_calm(c, "rapid reset")
    c.close()
    time.sleep(0.3)
    after = curl(b.url() + "/stats").json()["requests"]
    # The budget is 100 resets; the gateway may have started some of them upstream
    # before each reset arrived (they are cancelled), but never the 2000.
    check(after - before <= 150, "upstream saw %d requests of 2000 reset ones" % (after - before))
    check(calm_count(admin) >= 1, "enhance_your_calm not counted")
    canary(g)


def test_made_you_reset(ctx):
    """Row 2: MadeYouReset — frames that oblige the server to reset a stream it was
    serving: a WINDOW_UPDATE overflow after a complete request, looped. Each reset the
    client makes us send is a glitch; the budget ends in GOAWAY(ENHANCE_YOUR_CALM).
    (nghttp2 1.52 answers the other primitives — DATA or HEADERS after END_STREAM,
    DATA beyond content-length, self-dependent PRIORITY, zero increments — with a
    connection error at once, which the conformance suite checks.) SAFE."""
    b, g, admin = gateway(ctx, http2_max_glitches=50, http2_glitch_refill_per_s=1)
    c = connect(g.port)
    c.read_for(0.2)
    out = b"".join(request(c, sid, "/h2c/slow?ms=300")
                   + window_update(sid, MAX_WINDOW) * 2
                   for sid in range(1, 2 * 200, 2))
    c.try_send(out, time.monotonic() + 5)
    expect_calm(c, "window overflow")
    samples, _ = scrape(admin)
    check(metric(samples, "ringway_http2_glitches_total") > 50,
          "the resets were not counted as glitches")
    c.close()
    canary(g)


def test_continuation_flood(ctx):
    """Row 3: CONTINUATION flood — a header block that never ends, as many
    CONTINUATION frames (nghttp2 caps them) and as empty ones (glitches). Connection
    error; RSS bounded; SAFE."""
    b, g, admin = gateway(ctx)
    rss_before = g.rss_kib()
    with RssSampler(g.pid) as rss:
        c = connect(g.port)
        hello = block(c, "/h2c/hello")
        out = headers(1, hello, end_stream=False, end_headers=False) + b"".join(
            continuation(1, b"\x40\x03abc\x03def", end_headers=False) for _ in range(20000))
        c.try_send(out, time.monotonic() + 5)
        check(c.wait_eof(5), "CONTINUATION flood: connection not closed")
        c.close()
        c = connect(g.port)
        out = headers(1, hello, end_stream=False, end_headers=False) + b"".join(
            continuation(1, b"", end_headers=False) for _ in range(5000))
        c.try_send(out, time.monotonic() + 5)
        check(c.wait_eof(5), "empty CONTINUATION flood: connection not closed")
        c.close()
    check(rss.peak - rss_before < 16 * 1024, "RSS grew %d KiB" % (rss.peak - rss_before))
    canary(g)


def test_settings_flood_and_unacknowledged_settings(ctx):
    """Row 6: a SETTINGS frame with more than 32 entries is a connection error; a flood
    of SETTINGS frames spends the budget (GOAWAY ENHANCE_YOUR_CALM); a client that
    never acknowledges our SETTINGS gets GOAWAY(SETTINGS_TIMEOUT)."""
    b, g, admin = gateway(ctx, settings_ack_timeout_ms=300, http2_max_glitches=100,
                          http2_glitch_refill_per_s=1)
    c = connect(g.port)
    c.send(settings(*[(INITIAL_WINDOW_SIZE, 65535)] * 40))
    check(c.wait_eof(5), "SETTINGS with 40 entries: connection not closed")
    c.close()

    c = connect(g.port)
    c.try_send(settings((INITIAL_WINDOW_SIZE, 65535)) * 500, time.monotonic() + 5)
    expect_calm(c, "SETTINGS flood")
    c.close()

    c = connect(g.port)
    c.ack_settings = False
    start = time.monotonic()
    goaway = c.wait_goaway(5)
    check(goaway is not None, "unacknowledged SETTINGS: no GOAWAY within 5 s")
    check_eq(goaway[1], SETTINGS_TIMEOUT, "unacknowledged SETTINGS: GOAWAY code")
    check(time.monotonic() - start >= 0.25, "GOAWAY came before settings_ack_timeout_ms")
    check(c.wait_eof(5), "unacknowledged SETTINGS: connection not closed")
    c.close()
    samples, _ = scrape(admin)
    check(metric(samples, "ringway_http2_connections_ended_total", reason="settings_timeout") >= 1,
          "settings_timeout not counted")
    canary(g)


def test_empty_frame_flood(ctx):
    """Row 7: empty DATA frames without END_STREAM on an open request are glitches:
    GOAWAY(ENHANCE_YOUR_CALM) after the budget; SAFE."""
    b, g, admin = gateway(ctx, http2_max_glitches=100, http2_glitch_refill_per_s=1)
    c = connect(g.port)
    c.send(headers(1, block(c, "/h2c/sink", "POST"), end_stream=False))
    c.try_send(data(1) * 1000, time.monotonic() + 5)
    expect_calm(c, "empty DATA flood")
    c.close()
    canary(g)


def test_priority_and_window_update_floods(ctx):
    """Row 8: PRIORITY frames (idle streams) and WINDOW_UPDATEs for streams that are
    not open are glitches: GOAWAY(ENHANCE_YOUR_CALM) past the budget; SAFE."""
    b, g, admin = gateway(ctx, http2_max_glitches=200, http2_glitch_refill_per_s=1)
    c = connect(g.port)
    c.try_send(b"".join(priority(sid) for sid in range(1, 2 * 1000, 2)),
               time.monotonic() + 5)
    expect_calm(c, "PRIORITY flood")
    c.close()

    c = connect(g.port)
    c.send(request(c, 1, "/h2c/hello"))
    c.read_for(0.5)  # the request completes: stream 1 is closed now
    c.try_send(window_update(1, 1) * 1000, time.monotonic() + 5)
    expect_calm(c, "WINDOW_UPDATE flood on a closed stream")
    c.close()
    check(calm_count(admin) >= 2, "enhance_your_calm not counted twice")
    canary(g)


def test_header_block_that_never_ends(ctx):
    """Row 3 / row 19 over HTTP/2: HEADERS without END_HEADERS and then silence is cut
    off after request_header_timeout_ms with GOAWAY(ENHANCE_YOUR_CALM)."""
    b, g, admin = gateway(ctx, request_header_timeout_ms=300)
    c = connect(g.port)
    c.read_for(0.2)  # SETTINGS exchanged first: nothing may interrupt a header block
    c.ack_settings = False
    c.send(headers(1, block(c, "/h2c/hello"), end_stream=False, end_headers=False))
    expect_calm(c, "unfinished header block")
    c.close()
    samples, _ = scrape(admin)
    check(metric(samples, "ringway_http2_connections_ended_total", reason="header_timeout") >= 1,
          "header_timeout not counted")
    canary(g)


def flood_without_reading(ctx, what, make_payload):
    """A client with a tiny receive buffer writes |make_payload()| repeatedly and never
    reads. The gateway stops reading it once send_queue_bytes are queued (so nghttp2's
    caps on unsent acknowledgements and resets apply) and the connection ends: by
    nghttp2's flood detection, the misbehaviour budget or send_timeout_ms, whichever
    comes first. Checks RSS stays bounded and the connection is closed."""
    b, g, admin = gateway(ctx, send_queue_bytes=65536, send_timeout_ms=1000,
                          settings_ack_timeout_ms=600000)
    rss_before = g.rss_kib()
    c = connect(g.port, rcvbuf=4096)
    deadline = time.monotonic() + 30
    with RssSampler(g.pid) as rss:
        alive = True
        while alive and time.monotonic() < deadline:
            alive = c.try_send(make_payload(c), min(deadline, time.monotonic() + 0.5))
    c.close()
    if alive:
        fail("%s: the client was still connected after 30 s" % what)
    growth = rss.peak - rss_before
    # 64 KiB queue + 64 KiB stash + nghttp2's bounded queues + receive buffers held:
    # far below 16 MiB. Without the limits this grows by hundreds of MiB.
    check(growth < 16 * 1024, "%s: RSS grew %d KiB" % (what, growth))
    samples, _ = scrape(admin)
    ended = (metric(samples, "ringway_downstream_send_timeouts_total")
             + metric(samples, "ringway_downstream_malformed_requests_total")
             + metric(samples, "ringway_http2_connections_ended_total",
                      reason="enhance_your_calm"))
    check(ended >= 1, "%s: no defence counted the connection's end" % what)
    canary(g)


def test_ping_flood_while_not_reading(ctx):
    """Row 5: PING flood from a client that does not read (small SO_RCVBUF): the
    gateway's queued output stays bounded and the connection is closed; SAFE."""
    pings = ping(b"12345678") * 4096
    flood_without_reading(ctx, "PING flood", lambda c: pings)


def test_request_flood_while_not_reading(ctx):
    """Row 5 (requests): HEADERS for unknown paths (each answered 404 by the gateway
    itself) from a client that does not read; bounded and closed; SAFE."""
    state = {"sid": 1}

    def payload(c):
        out = []
        for _ in range(512):
            out.append(request(c, state["sid"], "/nowhere/%d" % state["sid"]))
            state["sid"] += 2
        return b"".join(out)
    flood_without_reading(ctx, "request flood", payload)


def test_slow_reader_is_closed(ctx):
    """Rows 10 and 20: a client that asks for a large body with an open window and then
    stops reading (HTTP/2 and HTTP/1.1): buffered bytes stay bounded by the stream
    window and the send queue, and the connection is closed after send_timeout_ms
    without progress (counted)."""
    b, g, admin = gateway(ctx, send_queue_bytes=65536, send_timeout_ms=500,
                          settings_ack_timeout_ms=600000)
    rss_before = g.rss_kib()
    with RssSampler(g.pid) as rss:
        c = connect(g.port, rcvbuf=4096)
        c.send(window_update(0, MAX_WINDOW - 65535)
               + settings((INITIAL_WINDOW_SIZE, MAX_WINDOW))
               + request(c, 1, "/h2c/bytes?n=268435456"))
        h1 = socket.create_connection(("127.0.0.1", g.port))
        h1.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        h1.sendall(b"GET /h1/bytes?n=268435456 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        deadline = time.monotonic() + 15
        timeouts = 0
        while time.monotonic() < deadline:
            samples, _ = scrape(admin)
            timeouts = metric(samples, "ringway_downstream_send_timeouts_total")
            if timeouts >= 2:
                break
            time.sleep(0.2)
    check_eq(timeouts, 2, "connections closed for send_timeout_ms")
    growth = rss.peak - rss_before
    check(growth < 16 * 1024, "slow readers: RSS grew %d KiB" % growth)
    # (Both are closed on the gateway's side; draining what the kernel still holds
    # through a 4 KiB window would take minutes, so the test just hangs up.)
    for sock in (c.sock, h1):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    canary(g)


def test_memory_limit_refuses_new_streams(ctx):
    """Row 33: memory pressure. Clients that request large bodies and do not read make
    the shard hold buffers past max_memory_bytes: new requests get 503 (HTTP) while
    the existing ones keep their streams; once they go, memory returns and requests
    are served again."""
    b, g, admin = gateway(ctx, shards=1, max_memory_bytes=1048576, send_queue_bytes=4194304,
                          send_timeout_ms=30000)
    hogs = []
    for i in range(6):
        c = connect(g.port, rcvbuf=4096)
        # A large window so the gateway may queue as much as flow control allows.
        c.send(window_update(0, MAX_WINDOW - 65535)
               + settings((INITIAL_WINDOW_SIZE, MAX_WINDOW)))
        c.send(request(c, 1, "/h2c/bytes?n=67108864"))
        hogs.append(c)
    deadline = time.monotonic() + 10
    used = 0
    while time.monotonic() < deadline:
        samples, _ = scrape(admin)
        used = metric(samples, "ringway_memory_buffered_bytes", shard="0")
        if used > 1048576:
            break
        time.sleep(0.1)
    check(used > 1048576, "buffers never passed max_memory_bytes (%d bytes)" % used)
    r = curl("--http2-prior-knowledge", g.url("/h2c/hello"), timeout=10)
    check_eq(r.status, 503, "a new request while over max_memory_bytes")
    r = curl("--http1.1", g.url("/h1/hello"), timeout=10)
    check_eq(r.status, 503, "a new HTTP/1.1 request while over max_memory_bytes")
    samples, _ = scrape(admin)
    check(metric(samples, "ringway_memory_refused_requests_total") >= 2,
          "memory refusals not counted")
    for c in hogs:
        c.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        samples, _ = scrape(admin)
        used = metric(samples, "ringway_memory_buffered_bytes", shard="0")
        if used < 65536:
            break
        time.sleep(0.1)
    check(used < 65536, "buffers not released after the clients left (%d bytes)" % used)
    canary(g)


def test_zero_window_stream_is_reset(ctx):
    """Row 10: a client that advertises INITIAL_WINDOW_SIZE 0 and never opens the
    stream's window: the response waits at most send_timeout_ms, then the stream is
    reset (CANCEL), its buffers freed and the count kept; the connection and its other
    streams go on."""
    b, g, admin = gateway(ctx, send_timeout_ms=500)
    c = connect(g.port)
    c.send(settings((INITIAL_WINDOW_SIZE, 0)))
    c.read_for(0.2)
    c.send(request(c, 1, "/h2c/bytes?n=1048576"))
    start = time.monotonic()
    while 1 not in c.resets and time.monotonic() - start < 5:
        c.read_for(0.2)
    check(1 in c.resets, "stream 1 (no window) was not reset within 5 s")
    check_eq(c.resets[1], CANCEL, "RST_STREAM error code (CANCEL)")
    check(time.monotonic() - start >= 0.4, "reset before send_timeout_ms")
    # The connection still serves once the client gives windows again.
    c.send(settings((INITIAL_WINDOW_SIZE, 65535)))
    c.send(request(c, 3, "/h2c/hello"))
    got = c.read_for(1.0)
    check(any(f.type == DATA and f.sid == 3 and f.payload == b"hello\n" for f in got),
          "stream 3 was not answered on the same connection: %r" % (got,))
    samples, _ = scrape(admin)
    check_eq(metric(samples, "ringway_http2_stream_send_timeouts_total"), 1,
             "streams reset for send_timeout_ms")
    c.close()
    canary(g)


def test_memory_limit_counts_bytes_waiting_for_window(ctx):
    """Row 33: response bytes an HTTP/2 stream holds for a client that gives no
    flow-control window count against max_memory_bytes too: two such streams hold
    their stream_buffer_bytes each, new requests get 503 until they are reset
    (send_timeout_ms), then requests are served again."""
    b, g, admin = gateway(ctx, shards=1, max_memory_bytes=1048576, stream_buffer_bytes=1048576,
                          send_timeout_ms=3000)
    hogs = []
    for _ in range(2):
        c = connect(g.port)
        c.send(settings((INITIAL_WINDOW_SIZE, 0)))
        c.read_for(0.1)
        c.send(request(c, 1, "/h2c/bytes?n=8388608"))
        hogs.append(c)
    deadline = time.monotonic() + 5
    used = 0
    while time.monotonic() < deadline and used <= 1048576:
        samples, _ = scrape(admin)
        used = metric(samples, "ringway_memory_buffered_bytes", shard="0")
        time.sleep(0.05)
    check(used > 1048576, "bytes waiting for window not counted (%d bytes)" % used)
    r = curl("--http2-prior-knowledge", g.url("/h2c/hello"), timeout=10)
    check_eq(r.status, 503, "a new request while streams hold bytes past the limit")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and used > 65536:
        samples, _ = scrape(admin)
        used = metric(samples, "ringway_memory_buffered_bytes", shard="0")
        time.sleep(0.1)
    check(used <= 65536, "buffers not released after the streams were reset (%d)" % used)
    check_eq(metric(samples, "ringway_http2_stream_send_timeouts_total"), 2, "streams reset")
    for c in hogs:
        c.close()
    canary(g)
