"""Limits at their bound: each [gateway] limit key set low, and the behaviour the
configuration documents checked when traffic reaches it."""

import os
import threading
import time

from harness import (RawConn, admin_section, check, check_eq, curl, fnv1a64, free_port, h2load,
                     metric, pattern_bytes, proxy_apis, proxy_setup, scrape)

MIB = 1024 * 1024


def _upload(port, path, body, results, index):
    try:
        with RawConn(port, timeout=60) as c:
            r = c.request("POST", path, body=body, timeout=60)
            results[index] = (r.status, r.body)
    except Exception as e:  # noqa: BLE001 - reported by the caller
        results[index] = ("error", repr(e))


def test_buffer_count_minimum_keeps_transfers_whole(ctx):
    """16 receive buffers of 1 KiB: the ring runs dry constantly (-ENOBUFS), receives
    are re-armed as buffers come back, slices held for slow peers are copied. Nothing
    may be lost or reordered."""
    b, g = proxy_setup(ctx, buffer_count=16, buffer_size=1024, stream_buffer_bytes=65536)
    body = os.urandom(8 * MIB)
    want = b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body))
    results = [None] * 4
    threads = [threading.Thread(target=_upload,
                                args=(g.port, ("/h1/sink", "/h2c/sink")[i % 2], body, results, i))
               for i in range(4)]
    for t in threads:
        t.start()
    # Downloads at the same time, through both upstream protocols.
    for back in ("h1", "h2c"):
        r = curl("--http1.1", "-s", g.url("/%s/bytes?n=%d" % (back, 4 * MIB)), timeout=60)
        check_eq(r.rc, 0, back + " download curl exit")
        check(r.body == pattern_bytes(4 * MIB), back + " download body differs")
    for t in threads:
        t.join(90)
    for i, res in enumerate(results):
        check_eq(res, (200, want), "upload %d through %s" % (i, ("h1", "h2c")[i % 2]))


def _slow_get(port, path, results, index):
    try:
        with RawConn(port, timeout=30) as c:
            r = c.request("GET", path, timeout=30)
            results[index] = (r.status, r.body)
    except Exception as e:  # noqa: BLE001
        results[index] = ("error", repr(e))


def test_upstream_max_connections_queues_requests(ctx):
    """With one upstream connection allowed, five concurrent requests to a 200 ms
    endpoint wait their turn: all succeed, one after another (so at least 1 s)."""
    b, g = proxy_setup(ctx, upstream_max_connections=1)
    for back in ("h1", "h2c"):
        results = [None] * 5
        start = time.monotonic()
        threads = [threading.Thread(target=_slow_get,
                                    args=(g.port, "/%s/slow?ms=200" % back, results, i))
                   for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start
        check_eq(results, [(200, b"slow\n")] * 5, back + " queued requests")
        if back == "h1":
            # One HTTP/1.1 connection carries one request at a time.
            check(elapsed >= 0.95, "h1: 5 x 200 ms over one upstream connection took only "
                  "%.2fs: the bound was not applied" % elapsed)
        ctx.note("%s: 5 concurrent requests over upstream_max_connections = 1 took %.2fs"
                 % (back, elapsed))


def test_reconnect_backoff_fails_fast(ctx):
    from harness import free_port
    dead = free_port()
    apis = {"dead": {"listen_path": "/dead/", "target_url": "http://127.0.0.1:%d" % dead}}
    g = ctx.gateway(apis, upstream_reconnect_backoff_ms=5000)
    with RawConn(g.port) as c:
        r1 = c.request("GET", "/dead/x")
        check_eq(r1.status, 502, "first request: connect refused")
        check(b"connection failed" in r1.body, "first reply names the failure: %r" % r1.body)
        r2 = c.request("GET", "/dead/x")
        check_eq(r2.status, 502, "second request inside the backoff")
        check(b"backoff" in r2.body, "second reply names the backoff: %r" % r2.body)


def test_access_log_buffer_bound_drops_whole_lines(ctx):
    """A tiny access-log buffer under load: lines beyond it are dropped whole, never
    cut, and serving is unaffected."""
    log = ctx.tmp("access.log")
    b, g = proxy_setup(ctx, access_log=log, access_log_buffer_bytes=4096)
    r = h2load("-n", "20000", "-c", "8", "-m", "8", g.url("/h2c/hello"))
    check_eq((r.succeeded, r.failed), (20000, 0), "h2load through a gateway logging to a file")
    g.stop()
    with open(log, "rb") as f:
        data = f.read()
    check(data.endswith(b"\n"), "the log ends with a complete line")
    lines = data.split(b"\n")[:-1]
    check(0 < len(lines) <= 20000, "between 1 and 20000 lines, got %d" % len(lines))
    for line in lines:
        fields = line.split(b" ")
        check(len(fields) == 10 and fields[4] == b"/h2c/hello" and fields[6] == b"200"
              and fields[9] == b"-",
              "malformed access log line %r" % line)
    ctx.note("access_log_buffer_bytes = 4096: %d of 20000 lines written" % len(lines))


def _get_with_conn_id(port, path, results, index):
    try:
        with RawConn(port, timeout=30) as c:
            r = c.request("GET", path, timeout=30)
            results[index] = (r.status, r.body, r.headers.get("x-backend-conn"))
    except Exception as e:  # noqa: BLE001
        results[index] = ("error", repr(e), None)


def test_h2c_upstream_stream_limit_opens_more_connections(ctx):
    """An h2c upstream allowing 2 concurrent streams: 6 concurrent requests complete,
    spread over at least 3 upstream connections (the pool opens another connection
    when every one is at the peer's MAX_CONCURRENT_STREAMS)."""
    from harness import proxy_apis
    b = ctx.backend(extra_args=["--h2-max-streams", "2"])
    g = ctx.gateway(proxy_apis(b))
    # Warm one connection so the peer's SETTINGS (limit 2) are known.
    with RawConn(g.port) as c:
        check_eq(c.request("GET", "/h2c/hello").status, 200, "warm-up")
    results = [None] * 6
    threads = [threading.Thread(target=_get_with_conn_id,
                                args=(g.port, "/h2c/slow?ms=400", results, i)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check_eq([r[:2] for r in results], [(200, b"slow\n")] * 6, "six concurrent requests")
    conns = {r[2] for r in results}
    check(None not in conns, "backend connection ids missing: %r" % results)
    check(len(conns) >= 3, "6 concurrent streams with a limit of 2 used only %d upstream "
          "connection(s): %r" % (len(conns), sorted(conns)))
    ctx.note("6 concurrent streams, peer limit 2: %d upstream connections" % len(conns))


def test_connection_window_minimum_keeps_streams_moving(ctx):
    """connection_window_bytes at its minimum (65535) on both HTTP/2 legs: several
    multi-MiB responses share one client connection and one upstream connection and
    all complete, because the connection window is returned as bytes arrive."""
    b, g = proxy_setup(ctx, connection_window_bytes=65535)
    n = 4 * MIB
    for back in ("h1", "h2c"):
        r = h2load("-n", "8", "-c", "1", "-m", "4", g.url("/%s/bytes?n=%d" % (back, n)),
                   timeout=120)
        check_eq((r.succeeded, r.failed, r.s2xx), (8, 0, 8), back + ": 8 x 4 MiB over one h2 connection")
    with RawConn(g.port) as c:
        r = c.request("GET", "/h2c/bytes?n=%d" % n, timeout=60)
        check_eq((r.status, len(r.body)), (200, n), "h1 client through a 64 KiB-window h2c upstream")
        check(r.body == pattern_bytes(n), "body differs")


def test_block_cache_bytes_bounds_the_kept_blocks(ctx):
    """block_cache_bytes: freed 16 KiB heap blocks kept for reuse per shard. A burst of
    64 connections x 32 streams of 64 KiB responses needs many blocks at once; with the
    default bound the shard keeps more than 64 KiB of them afterwards (so the burst
    really used the cache), with block_cache_bytes = 65536 never more than 4 blocks,
    and with 0 none, while every request still succeeds."""
    b = ctx.backend()
    kept = {}
    for bound in (None, 65536, 0):
        admin = free_port()
        keys = {"shards": 1}
        if bound is not None:
            keys["block_cache_bytes"] = bound
        g = ctx.gateway(proxy_apis(b), sections=admin_section(admin), **keys)
        r = h2load("-n", 4096, "-c", 64, "-m", 32, g.url("/h2c/bytes?n=65536"), timeout=120)
        check_eq((r.succeeded, r.failed), (4096, 0), "h2load with block_cache_bytes=%r" % bound)
        samples, _ = scrape(admin)
        kept[bound] = metric(samples, "ringway_memory_block_cache_bytes", shard="0")
        ctx.note("block_cache_bytes=%r: %d bytes kept after the burst" % (bound, kept[bound]))
        g.stop()
    check(kept[None] > 65536, "the burst kept only %d bytes with the default bound" % kept[None])
    check(kept[65536] <= 65536, "%d bytes kept over block_cache_bytes = 65536" % kept[65536])
    check_eq(kept[0], 0, "bytes kept with block_cache_bytes = 0")
