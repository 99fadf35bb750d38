"""Request and response bodies: chunked framing both ways, trailers,
Expect: 100-continue, and 50 MiB streams in both directions with bounded memory."""

import hashlib
import os
import socket
import time

from harness import (BACKS, FRONTS, RawConn, RssSampler, check, check_eq, curl, curl_ok, fail,
                     fnv1a64, pattern_bytes, proxy_setup)

MIB = 1024 * 1024


def _chunked(body, sizes):
    """HTTP/1.1 chunked encoding of |body| cut into the given chunk sizes (cycled)."""
    out = []
    i = k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        k += 1
        piece = body[i:i + n]
        i += n
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _h1_chunked_request_body(ctx, back):
    b, g = proxy_setup(ctx)
    body = os.urandom(300000)
    encoded = _chunked(body, [1, 7, 4096, 65536, 100000, 3])
    prefix = BACKS[back]
    with RawConn(g.port) as c:
        c.send(b"POST %s/echo HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/x-chunks\r\n\r\n" % prefix.encode())
        # Written in a few pieces so chunk headers straddle reads.
        for i in range(0, len(encoded), 50001):
            c.send(encoded[i:i + 50001])
        r = c.read_response(timeout=20)
        check_eq(r.status, 200, "status")
        check_eq(r.headers.get("content-type"), "application/x-chunks", "content-type")
        check_eq(len(r.body), len(body), "echoed length")
        check(r.body == body, "echoed body differs")

        # Same connection: a chunked body with trailers to /sink.
        c.send(b"POST %s/sink HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               % prefix.encode() + _chunked(body, [65536])[:-2] + b"x-digest: 1\r\n\r\n")
        r = c.read_response(timeout=20)
        check_eq(r.status, 200, "sink status")
        check_eq(r.body, b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body)), "sink reply")

        # And an inspect: the upstream saw the whole body.
        c.send(b"PUT %s/inspect HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n" % prefix.encode())
        r = c.read_response(timeout=20)
        j = r.json()
        check_eq((j["method"], j["body_bytes"]), ("PUT", 5), "inspect of a chunked PUT")
        check("content-length" not in j["headers"] or j["headers"]["content-length"] == "5",
              "bad content-length upstream: %r" % j["headers"])


def test_h1_h1_chunked_request_body(ctx):
    _h1_chunked_request_body(ctx, "h1")


def test_h1_h2c_chunked_request_body(ctx):
    _h1_chunked_request_body(ctx, "h2c")


def test_h2_h1_request_body_without_length(ctx):
    """An h2 request body with no content-length reaches an HTTP/1.1 upstream
    (chunked) intact."""
    b, g = proxy_setup(ctx)
    body = os.urandom(500000)
    for back in BACKS:
        r = curl_ok("--http2-prior-knowledge", "-T", "-", g.url(BACKS[back] + "/sink"),
                    input_bytes=body, timeout=30)
        check_eq((r.status, r.body), (200, b"bytes=%d fnv1a=%016x\n"
                                      % (len(body), fnv1a64(body))), "h2->%s sink" % back)
        r = curl_ok("--http2-prior-knowledge", "-T", "-", g.url(BACKS[back] + "/echo"),
                    input_bytes=body, timeout=30)
        check_eq(r.status, 200, "h2->%s echo status" % back)
        check(r.body == body, "h2->%s echo body differs (%d bytes back)" % (back, len(r.body)))


def test_chunked_response(ctx):
    """/chunked?n=100&size=1000 has no content-length upstream: 100000 bytes of the
    backend's pattern reach the client, chunked for an HTTP/1.1 client."""
    b, g = proxy_setup(ctx)
    expected = pattern_bytes(100000)
    for front in FRONTS:
        for back in BACKS:
            what = "%s->%s" % (front, back)
            r = curl_ok(*FRONTS[front], g.url(BACKS[back] + "/chunked?n=100&size=1000"))
            check_eq(r.status, 200, what + " status")
            check_eq(len(r.body), 100000, what + " length")
            check(r.body == expected, what + ": body differs from the pattern")
    for back in BACKS:
        with RawConn(g.port) as c:
            r = c.request("GET", BACKS[back] + "/chunked?n=100&size=1000", timeout=20)
            check_eq(r.status, 200, "raw h1->%s status" % back)
            check(r.chunked, "h1->%s: a response without length is not chunked: %r"
                  % (back, r.headers))
            check(r.body == expected, "raw h1->%s: body differs" % back)
            # The connection stays usable after a chunked response.
            r = c.request("GET", BACKS[back] + "/hello")
            check_eq((r.status, r.body), (200, b"hello\n"), "request after chunked response")


def test_response_trailers(ctx):
    """/trailers: body "body\\n" then x-trailer-one: 1 and grpc-status: 0."""
    b, g = proxy_setup(ctx)
    for back in BACKS:
        with RawConn(g.port) as c:
            c.send(b"GET %s/trailers HTTP/1.1\r\nHost: gw.test\r\nTE: trailers\r\n\r\n"
                   % BACKS[back].encode())
            r = c.read_response(timeout=10)
            what = "h1->%s" % back
            check_eq((r.status, r.body), (200, b"body\n"), what)
            check(r.chunked, what + ": trailers need a chunked response: %r" % r.headers)
            check_eq(r.trailers.get("x-trailer-one"), "1", what + " trailer x-trailer-one")
            check_eq(r.trailers.get("grpc-status"), "0", what + " trailer grpc-status")
        r = curl_ok("--http2-prior-knowledge", "-H", "te: trailers",
                    g.url(BACKS[back] + "/trailers"))
        what = "h2->%s" % back
        check_eq((r.status, r.body), (200, b"body\n"), what)
        check_eq(r.trailers.get("x-trailer-one"), "1", what + " trailer x-trailer-one")
        check_eq(r.trailers.get("grpc-status"), "0", what + " trailer grpc-status")


def test_h1_expect_100_continue(ctx):
    b, g = proxy_setup(ctx)
    body = os.urandom(100000)
    for back in BACKS:
        with RawConn(g.port) as c:
            c.send(b"POST %s/echo HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n"
                   b"Content-Length: %d\r\n\r\n" % (BACKS[back].encode(), len(body)))
            interim = c.read_until(b"\r\n\r\n", timeout=5)
            check_eq(interim, b"HTTP/1.1 100 Continue\r\n\r\n", "h1->%s interim" % back)
            c.send(body)
            r = c.read_response(timeout=20)
            check_eq(r.status, 200, "h1->%s final status" % back)
            check(r.body == body, "h1->%s: echoed body differs" % back)
            # A request without a body gets no 100 Continue.
            c.send(b"GET %s/hello HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n\r\n"
                   % BACKS[back].encode())
            r = c.read_response(timeout=10, allow_1xx=True)
            check_eq((r.status, r.body), (200, b"hello\n"), "bodiless request with Expect")
    # curl waits for the 100 itself before sending.
    path = ctx.tmp("body")
    with open(path, "wb") as f:
        f.write(body)
    r = curl_ok("--http1.1", "-H", "Expect: 100-continue", "--expect100-timeout", "10",
                "--data-binary", "@" + path, g.url("/h1/echo"))
    check_eq(r.all_heads[0][0], 100, "curl saw 100 Continue first")
    check(r.body == body, "curl: echoed body differs")


# --- 50 MiB streams with bounded memory -------------------------------------------

STREAM_BYTES = 50 * MIB
# The upload body: hashlib.shake_256(b"ringway-upload").digest(STREAM_BYTES). Its
# 64-bit FNV-1a, computed once with harness.fnv1a64 (which test_sink_hash_agrees
# checks against the backend), so the test need not spend seconds hashing:
UPLOAD_FNV1A = "5c23d0428bbc7c1e"
RSS_LIMIT_KIB = 16 * 1024
# The gateway's default configuration (receive buffers are committed at start, so the
# baseline includes them).
STREAM_GATEWAY = {}


def _warm_up(g, back):
    """Exercises the paths once so the baseline includes lazily built state."""
    warm = os.urandom(4 * MIB)
    with RawConn(g.port) as c:
        for _ in range(3):
            r = c.request("POST", BACKS[back] + "/sink", body=warm, timeout=30)
            check_eq(r.status, 200, "warm-up upload")
            r = c.request("GET", BACKS[back] + "/bytes?n=%d" % (4 * MIB), timeout=30)
            check_eq(len(r.body), 4 * MIB, "warm-up download")


def _baseline(g):
    time.sleep(0.3)
    samples = []
    for _ in range(6):
        samples.append(g.rss_kib())
        time.sleep(0.05)
    return max(samples)


def test_sink_hash_agrees(ctx):
    """harness.fnv1a64 computes what the backend's /sink computes."""
    b = ctx.backend()
    body = os.urandom(MIB)
    with RawConn(b.port) as c:
        r = c.request("POST", "/sink", body=body)
    check_eq(r.body, b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body)), "backend /sink")


def _upload_50mib(ctx, back):
    b, g = proxy_setup(ctx, **STREAM_GATEWAY)
    _warm_up(g, back)
    base = _baseline(g)
    body = hashlib.shake_256(b"ringway-upload").digest(STREAM_BYTES)
    start = time.monotonic()
    with RssSampler(g.pid) as rss:
        with RawConn(g.port, timeout=30) as c:
            c.send(b"POST %s/sink HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n"
                   % (BACKS[back].encode(), STREAM_BYTES))
            view = memoryview(body)
            # Paced (about 1 s or more in all) so that RSS is sampled many times.
            for i in range(0, STREAM_BYTES, 256 * 1024):
                c.send(view[i:i + 256 * 1024])
                time.sleep(0.005)
            r = c.read_response(timeout=30)
    elapsed = time.monotonic() - start
    check_eq(r.status, 200, "status")
    check_eq(r.body, ("bytes=%d fnv1a=%s\n" % (STREAM_BYTES, UPLOAD_FNV1A)).encode(),
             "sink reply")
    growth = rss.peak - base
    ctx.note("h1->%s 50 MiB upload in %.1fs: gateway RSS baseline %d KiB, peak %d KiB, "
             "growth %d KiB (%d samples)" % (back, elapsed, base, rss.peak, growth,
                                             len(rss.samples)))
    check(growth < RSS_LIMIT_KIB, "RSS grew by %d KiB (limit %d KiB) during a 50 MiB upload"
          % (growth, RSS_LIMIT_KIB))


def _download(g, path, total, read_size, pause_every, pause_s, stall_s=10):
    """Reads a content-length response slowly; returns (bytes, sha256 hex)."""
    h = hashlib.sha256()
    with RawConn(g.port, timeout=stall_s) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: gw.test\r\n\r\n" % path.encode())
        head = c.read_until(b"\r\n\r\n", timeout=10)
        check(head.startswith(b"HTTP/1.1 200 "), "bad response head %r" % head)
        check(b"content-length: %d\r\n" % total in head.lower(),
              "no content-length %d in %r" % (total, head))
        h.update(c.buf)
        got = len(c.buf)
        c.buf = b""
        c.sock.settimeout(stall_s)
        deadline = time.monotonic() + 90
        while got < total and time.monotonic() < deadline:
            try:
                chunk = c.sock.recv(min(read_size, total - got))
            except socket.timeout:
                fail("download stalled: no byte for %ss after %d of %d bytes"
                     % (stall_s, got, total))
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
            if got % pause_every < len(chunk):
                time.sleep(pause_s)
    return got, h.hexdigest()


def _download_50mib(ctx, back):
    b, g = proxy_setup(ctx, **STREAM_GATEWAY)
    _warm_up(g, back)
    base = _baseline(g)
    start = time.monotonic()
    with RssSampler(g.pid) as rss:
        # Slowly-ish: 64 KiB reads with a 10 ms pause every MiB.
        got, digest = _download(g, BACKS[back] + "/bytes?n=%d" % STREAM_BYTES, STREAM_BYTES,
                                65536, MIB, 0.01)
    elapsed = time.monotonic() - start
    check_eq(got, STREAM_BYTES, "bytes received")
    check_eq(digest, hashlib.sha256(pattern_bytes(STREAM_BYTES)).hexdigest(),
             "sha256 of the body (backend pattern)")
    growth = rss.peak - base
    ctx.note("h1->%s 50 MiB download in %.1fs: gateway RSS baseline %d KiB, peak %d KiB, "
             "growth %d KiB (%d samples)" % (back, elapsed, base, rss.peak, growth,
                                             len(rss.samples)))
    check(growth < RSS_LIMIT_KIB, "RSS grew by %d KiB (limit %d KiB) during a 50 MiB download"
          % (growth, RSS_LIMIT_KIB))


def test_h1_h1_upload_50mib_bounded_memory(ctx):
    _upload_50mib(ctx, "h1")


def test_h1_h2c_upload_50mib_bounded_memory(ctx):
    _upload_50mib(ctx, "h2c")


def test_h1_h1_download_50mib_bounded_memory(ctx):
    _download_50mib(ctx, "h1")


def test_h1_h2c_download_50mib_bounded_memory(ctx):
    _download_50mib(ctx, "h2c")


def _h2_stream_50mib(ctx, back, upload):
    """The same through an HTTP/2 client (curl, rate-limited so RSS is sampled often)."""
    b, g = proxy_setup(ctx, **STREAM_GATEWAY)
    _warm_up(g, back)
    base = _baseline(g)
    args = ["--http2-prior-knowledge", "--limit-rate", "40M"]
    if upload:
        src = ctx.tmp("upload")
        with open(src, "wb") as f:
            f.write(hashlib.shake_256(b"ringway-upload").digest(STREAM_BYTES))
        args += ["-T", src, g.url(BACKS[back] + "/sink")]
    else:
        args += [g.url(BACKS[back] + "/bytes?n=%d" % STREAM_BYTES)]
    start = time.monotonic()
    with RssSampler(g.pid) as rss:
        r = curl(*args, timeout=60)
    elapsed = time.monotonic() - start
    check_eq((r.rc, r.status), (0, 200), "curl exit and status (%s)" % r.stderr.strip())
    if upload:
        check_eq(r.body, ("bytes=%d fnv1a=%s\n" % (STREAM_BYTES, UPLOAD_FNV1A)).encode(),
                 "sink reply")
    else:
        check_eq(len(r.body), STREAM_BYTES, "bytes received")
        check(r.body == pattern_bytes(STREAM_BYTES), "body differs from the pattern")
    growth = rss.peak - base
    ctx.note("h2->%s 50 MiB %s in %.1fs: gateway RSS baseline %d KiB, peak %d KiB, growth "
             "%d KiB (%d samples)" % (back, "upload" if upload else "download", elapsed, base,
                                      rss.peak, growth, len(rss.samples)))
    check(growth < RSS_LIMIT_KIB, "RSS grew by %d KiB (limit %d KiB)" % (growth, RSS_LIMIT_KIB))


def test_h2_h1_upload_50mib_bounded_memory(ctx):
    _h2_stream_50mib(ctx, "h1", upload=True)


def test_h2_h2c_upload_50mib_bounded_memory(ctx):
    _h2_stream_50mib(ctx, "h2c", upload=True)


def test_h2_h1_download_50mib_bounded_memory(ctx):
    _h2_stream_50mib(ctx, "h1", upload=False)


def test_h2_h2c_download_50mib_bounded_memory(ctx):
    _h2_stream_50mib(ctx, "h2c", upload=False)


def _slow_reader(ctx, back):
    # A small per-stream buffer (a valid setting, 16384..268435456) makes the gateway
    # apply back-pressure often.
    b, g = proxy_setup(ctx, stream_buffer_bytes=65536)
    total = 20 * MIB
    # 4 KiB reads with a 5 ms pause every 256 KiB: the gateway's sends to this client
    # complete in part, again and again.
    got, digest = _download(g, BACKS[back] + "/bytes?n=%d" % total, total, 4096, 256 * 1024,
                            0.005, stall_s=5)
    check_eq(got, total, "bytes received")
    check_eq(digest, hashlib.sha256(pattern_bytes(total)).hexdigest(), "sha256 of the body")


def test_h1_h1_slow_reader_download_completes(ctx):
    """Regression: short sends were credited short, so back-pressure never let go and
    the response stalled for good after a few MiB (fixed in 8ff2924)."""
    _slow_reader(ctx, "h1")


def test_h1_h2c_slow_reader_download_completes(ctx):
    """Regression: short sends were credited short, so back-pressure never let go and
    the response stalled for good after a few MiB (fixed in 8ff2924)."""
    _slow_reader(ctx, "h2c")


def _slow_reader_h2(ctx, back):
    b, g = proxy_setup(ctx, stream_buffer_bytes=65536)
    total = 20 * MIB
    r = curl("--http2-prior-knowledge", "--limit-rate", "8M",
             g.url(BACKS[back] + "/bytes?n=%d" % total), timeout=20)
    check_eq((r.rc, r.status, len(r.body)), (0, 200, total),
             "curl exit, status and length (curl: %s)" % r.stderr.strip())
    check(r.body == pattern_bytes(total), "body differs from the pattern")


def test_h2_h1_slow_reader_download_completes(ctx):
    """Regression: stalled with an HTTP/1.1 upstream before 8ff2924."""
    _slow_reader_h2(ctx, "h1")


def test_h2_h2c_slow_reader_download_completes(ctx):
    _slow_reader_h2(ctx, "h2c")


def test_h1_h1_large_uploads_complete(ctx):
    """Regression: about half of fast 16 MiB uploads to an HTTP/1.1 upstream stalled
    until upstream_timeout_ms and got a 504 (short sends credited short; 8ff2924)."""
    b, g = proxy_setup(ctx, upstream_timeout_ms=5000)
    body = os.urandom(16 * MIB)
    path = ctx.tmp("16m")
    with open(path, "wb") as f:
        f.write(body)
    expected = b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body))
    results = []
    for _ in range(6):
        r = curl_ok("--http1.1", "--data-binary", "@" + path, g.url("/h1/sink"), timeout=20)
        results.append(r.status)
        if r.status != 200:
            continue
        check_eq(r.body, expected, "sink reply")
    check_eq(results, [200] * 6, "statuses of six 16 MiB uploads h1->h1")
