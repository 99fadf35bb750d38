"""The request pipeline's pause, through its fault-injection filter ([api.NAME]
fault_delay_ms): a request held by a filter keeps its body within stream_buffer_bytes
and back-pressures the client, is cancelled when the client goes away, and is still
bounded by its gRPC deadline."""

import socket
import threading
import time

import test_grpc as tg
from harness import (MiniH2, RawConn, RssSampler, check, check_eq, curl_ok, fnv1a64,
                     pattern_bytes, proxy_apis)

MIB = 1024 * 1024


def backend_requests(b):
    return curl_ok("http://127.0.0.1:%d/stats" % b.port).json()["requests"]


def delayed_gateway(ctx, delay_ms, percent=100, **gateway_keys):
    b = ctx.backend()
    apis = proxy_apis(b, fault_delay_ms=delay_ms, fault_delay_percent=percent)
    g = ctx.gateway(apis, **gateway_keys)
    return b, g


def test_fault_delay_holds_requests_before_the_upstream(ctx):
    b, g = delayed_gateway(ctx, 400)
    for front in (["--http1.1"], ["--http2-prior-knowledge"]):
        for back in ("/h1", "/h2c"):
            start = time.monotonic()
            r = curl_ok(*front, g.url(back + "/hello"))
            elapsed = time.monotonic() - start
            check_eq((r.status, r.body), (200, b"hello\n"), "%s %s" % (front, back))
            check(elapsed >= 0.39, "%s %s answered after %.3fs, before the 400 ms delay"
                  % (front, back, elapsed))
            ctx.note("%s -> %s: %.0f ms" % (front[0], back, elapsed * 1000))


def test_fault_delay_percent(ctx):
    """0 % delays nothing; 50 % delays some requests and not others."""
    b, g = delayed_gateway(ctx, 200, percent=0)
    start = time.monotonic()
    for _ in range(20):
        check_eq(curl_ok(g.url("/h1/hello")).status, 200, "percent 0")
    check(time.monotonic() - start < 2.0, "percent 0 delayed requests")
    b, g = delayed_gateway(ctx, 200, percent=50, access_log=ctx.tmp("a.log"))
    with RawConn(g.port) as c:
        for _ in range(60):
            check_eq(c.request("GET", "/h1/hello").status, 200, "percent 50")
    g.stop()
    with open(ctx.tmp("a.log")) as f:
        durations = [float(line.split()[8]) for line in f]
    delayed = sum(1 for d in durations if d >= 199)
    ctx.note("%d of %d requests delayed at 50 %%" % (delayed, len(durations)))
    check(10 < delayed < 50, "%d of 60 requests delayed at 50 %%" % delayed)


def test_fault_delay_h2_upload_held_within_the_window(ctx):
    """An 8 MiB HTTP/2 upload while its request waits in the filter: the client can
    send no more than the stream window (stream_buffer_bytes) until the request goes
    on; then the whole body arrives intact, and the gateway's memory stays bounded."""
    window = 256 * 1024
    b, g = delayed_gateway(ctx, 1500, stream_buffer_bytes=window)
    body = pattern_bytes(8 * MIB)
    src = ctx.tmp("upload.bin")
    with open(src, "wb") as f:
        f.write(body)
    base = g.rss_kib()
    start = time.monotonic()
    with RssSampler(g.pid) as rss:
        r = curl_ok("--http2-prior-knowledge", "-T", src, g.url("/h2c/sink"), timeout=60)
    elapsed = time.monotonic() - start
    check_eq(r.status, 200, "status")
    check_eq(r.body, b"bytes=%d fnv1a=%016x\n" % (len(body), fnv1a64(body)), "sink reply")
    check(elapsed >= 1.5, "answered after %.2fs, before the delay" % elapsed)
    growth = rss.peak - base
    ctx.note("8 MiB h2 upload through a 1.5 s hold: %.1fs, RSS growth %d KiB" % (elapsed, growth))
    check(growth < 6 * 1024, "RSS grew by %d KiB holding an 8 MiB upload" % growth)


def test_fault_delay_h1_upload_back_pressures_the_client(ctx):
    """Over HTTP/1.1 the gateway stops reading once stream_buffer_bytes are held: the
    client's writes block (what it managed to write is bounded by the socket buffers),
    and everything flows once the request goes on."""
    b, g = delayed_gateway(ctx, 2000, stream_buffer_bytes=128 * 1024)
    total = 64 * MIB
    sent = [0]
    done = threading.Event()
    c = RawConn(g.port, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)

    def upload():
        try:
            c.send(b"POST /h1/sink HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n"
                   % total)
            chunk = b"\x00" * (256 * 1024)
            while sent[0] < total:
                n = c.sock.send(chunk[:min(len(chunk), total - sent[0])])
                sent[0] += n
        except OSError:
            pass
        finally:
            done.set()

    t = threading.Thread(target=upload, daemon=True)
    t.start()
    time.sleep(1.2)
    held = sent[0]
    ctx.note("bytes the client could write while its request waited: %d KiB" % (held // 1024))
    check(held < 16 * MIB, "the client wrote %d bytes while the request waited: no "
          "back-pressure" % held)
    check(not done.is_set(), "the upload finished while the request waited")
    check(done.wait(60), "the upload did not finish after the delay")
    r = c.read_response(timeout=30)
    c.close()
    check_eq(r.status, 200, "status")
    check(r.body.startswith(b"bytes=%d " % total), "sink reply %r" % r.body)


def test_fault_delay_client_gone_cancels_the_wait(ctx):
    """A client that goes away while its request waits: the wait is cancelled, the
    upstream never sees the request, the access log says 499 DC."""
    log = ctx.tmp("access.log")
    b, g = delayed_gateway(ctx, 800, access_log=log)
    before = backend_requests(b)
    c = RawConn(g.port)
    c.send(b"GET /h1/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    with MiniH2(g.port) as h:
        h.request("GET", "/h2c/hello")
        time.sleep(0.2)
    time.sleep(0.1)
    c.close()
    time.sleep(1.2)  # past the delay
    check_eq(backend_requests(b) - before, 0, "requests the upstream saw")
    check_eq(curl_ok(g.url("/h1/hello")).status, 200, "still serving")
    g.stop()
    with open(log) as f:
        lines = [line.split() for line in f]
    gone = sorted((l[4], l[6], l[9]) for l in lines if l[6] == "499")
    check_eq(gone, [("/h1/hello", "499", "DC"), ("/h2c/hello", "499", "DC")],
             "(path, status, flag) of the cancelled requests")


def test_fault_delay_grpc_deadline_answers_during_the_wait(ctx):
    """A gRPC call whose deadline passes while its request waits in the filter gets
    DEADLINE_EXCEEDED from the gateway at the deadline; the server never sees it."""
    s = tg.grpc_server(ctx)
    api = {"listen_path": tg.SERVICE, "target_url": "h2c://" + s.target,
           "fault_delay_ms": 3000}
    g = ctx.gateway({"grpc": api})
    target = "127.0.0.1:%d" % g.port
    res = tg.client(ctx, target, "raw", "--deadline-ms", 300, "--expect-code", 4)
    check_eq(res["code"], 4, "status code (%r)" % res)
    check(res["elapsed_ms"] < 2000, "answered after %d ms, not at the deadline"
          % res["elapsed_ms"])
    # Without a deadline the call waits out the delay and succeeds.
    res = tg.ok(tg.client(ctx, target, "unary", timeout=30), "unary through the delay")
