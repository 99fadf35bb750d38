"""gRPC end to end through the gateway over h2c (issue 3): every call shape, status
codes and metadata byte-exact, large messages, cancellation, upstream GOAWAY and
back-pressure. The peers are gRPC C++ (Debian's libgrpc++):
tests/fixtures/ringway-grpc-server and ringway-grpc-client (see tests/fixtures/README.md).
(Upstreams that are down, die or miss the deadline: tests/security/test_upstream_failures.py.)
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time

from harness import (START_TIMEOUT_S, RssSampler, _sanitizer_report, check, check_eq, curl,
                     fail, nghttp, read_file)

SERVICE = "/ringway.test.TestService/"
MIB = 1 << 20

UNAVAILABLE, UNIMPLEMENTED, DEADLINE_EXCEEDED, CANCELLED = 14, 12, 4, 1

# ---------------------------------------------------------------------------
# Fixtures: the gRPC test server and the client driver


def _fixture(ctx, name):
    """A private copy of build/tests/fixtures/NAME (a rebuild in the tree cannot swap
    it halfway through the test)."""
    cache = ctx.__dict__.setdefault("_grpc_bins", {})
    if name in cache:
        return cache[name]
    src = os.path.join(ctx.build, "tests", "fixtures", name)
    deadline = time.monotonic() + 60
    while True:
        if os.path.isfile(src):
            mtime = os.stat(src).st_mtime
            if time.time() - mtime > 1.0:
                break  # not being relinked right now
        if time.monotonic() > deadline:
            fail("%s not found (build the fixtures: ninja -C %s)" % (src, ctx.build))
        time.sleep(0.5)
    dst = ctx.tmp(name)
    shutil.copy2(src, dst)
    cache[name] = dst
    return dst


class GrpcServer:
    """ringway-grpc-server on 127.0.0.1 (a free port, or |port|)."""

    def __init__(self, binary, workdir, port=0, extra_args=()):
        self.stderr_path = os.path.join(workdir, "grpc-server-%d.stderr" % id(self))
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % port]
                                     + [str(a) for a in extra_args],
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT_S * 2
        fd = self.proc.stdout.fileno()
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                fail("ringway-grpc-server did not print 'listening on' (stderr: %s)"
                     % read_file(self.stderr_path)[-1000:])
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if chunk:
                    line += chunk
        m = re.search(rb"listening on \S+:(\d+)", line)
        if not m:
            self.stop()
            fail("unexpected ringway-grpc-server output %r" % line)
        self.port = int(m.group(1))
        self.target = "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM (then SIGKILL); fails on a sanitizer report in its stderr."""
        self.signal(signal.SIGTERM)
        if self.wait(5) is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        report = _sanitizer_report(read_file(self.stderr_path))
        if report:
            fail("sanitizer report from ringway-grpc-server:\n" + report)


def grpc_server(ctx, port=0, max_concurrent_streams=None):
    extra = [] if max_concurrent_streams is None else [
        "--max-concurrent-streams", max_concurrent_streams]
    s = GrpcServer(_fixture(ctx, "ringway-grpc-server"), ctx.workdir, port, extra)
    ctx._others.append(s)  # stopped by ctx.cleanup()
    return s


def _client_cmd(ctx, target, scenario, args):
    return ([_fixture(ctx, "ringway-grpc-client"), "--target", target, "--scenario", scenario]
            + [str(a) for a in args])


def _parse_client(cmd, rc, out, err):
    lines = [l for l in out.decode(errors="replace").splitlines() if l.startswith("{")]
    report = _sanitizer_report(err.decode(errors="replace"))
    if report:
        fail("sanitizer report from ringway-grpc-client:\n" + report)
    if rc not in (0, 1) or not lines:
        fail("ringway-grpc-client exited %s without a result: %s\nstderr: %s"
             % (rc, " ".join(cmd[1:]), err.decode(errors="replace")[-1500:]))
    try:
        res = json.loads(lines[-1])
    except ValueError:
        fail("ringway-grpc-client printed bad JSON: %r" % lines[-1][:500])
    res["rc"] = rc
    res["cmd"] = " ".join(cmd[3:])
    return res


def client(ctx, target, scenario, *args, timeout=60):
    """Runs ringway-grpc-client to completion (bounded); returns its JSON result plus
    "rc". Checking "ok" is up to the caller."""
    cmd = _client_cmd(ctx, target, scenario, args)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("ringway-grpc-client did not finish within %ss (a hang): %s"
             % (timeout, " ".join(cmd[1:])))
    return _parse_client(cmd, p.returncode, p.stdout, p.stderr)


class BackgroundClient:
    """ringway-grpc-client running while the test does something else."""

    def __init__(self, ctx, target, scenario, *args):
        self.cmd = _client_cmd(ctx, target, scenario, args)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        ctx._others.append(self)

    def result(self, timeout):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            fail("ringway-grpc-client did not finish within %ss (a hang): %s"
                 % (timeout, " ".join(self.cmd[1:])))
        return _parse_client(self.cmd, self.proc.returncode, out, err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            pass


def ok(res, what):
    """The client's own checks passed."""
    check(res["ok"] and res["rc"] == 0,
          "%s: %s (client: %s)" % (what, res.get("reason") or "failed", _short(res)))
    return res


def _short(res):
    s = json.dumps({k: v for k, v in res.items() if k != "cmd"})
    return s if len(s) < 1200 else s[:1200] + "..."


def grpc_setup(ctx, api_keys=None, **gateway_keys):
    """A gRPC server and a gateway with API "grpc": listen_path /ringway.test.TestService/
    (not stripped) -> h2c://server, keyless. Returns (server, gateway, gateway target)."""
    s = grpc_server(ctx)
    api = {"listen_path": SERVICE, "target_url": "h2c://" + s.target, "use_keyless": True}
    api.update(api_keys or {})
    g = ctx.gateway({"grpc": api}, **gateway_keys)
    return s, g, "127.0.0.1:%d" % g.port


def cancel_state(ctx, server, test_id, wait_ms=3000):
    """What the server recorded for call |test_id| (asked directly, not via the gateway),
    waiting up to wait_ms for the call's handler to finish."""
    return ok(client(ctx, server.target, "cancel_state", "--id", test_id, "--wait-ms", wait_ms),
              "CancelState(%s) at the server" % test_id)


# ---------------------------------------------------------------------------
# Call shapes


def test_grpc_unary(ctx):
    s, g, target = grpc_setup(ctx)
    for size, resp in ((0, 0), (1, 0), (1000, 0), (100000, 0), (10, 70000)):
        res = ok(client(ctx, target, "unary", "--count", 20, "--size", size,
                        "--response-size", resp), "unary size %d reply %d" % (size, resp))
        check_eq((res["good"], res["errors"], res["wrong"]), (20, 0, 0), "unary results")


def test_grpc_server_stream_1000(ctx):
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "server_stream", "--count", 1000, "--size", 1000),
             "1000-message server stream")
    check_eq((res["code"], res["received"], res["bytes"], res["mismatches"]),
             (0, 1000, 1000 * 1000, 0), "(code, messages, bytes, mismatches)")
    res = ok(client(ctx, target, "server_stream", "--count", 0), "empty server stream")
    check_eq((res["code"], res["received"]), (0, 0), "empty stream")


def test_grpc_client_stream_1000(ctx):
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "client_stream", "--count", 1000, "--size", 1000),
             "1000-message client stream")
    check_eq((res["code"], res["messages"], res["bytes"], res["bad_index"], res["fnv1a_match"]),
             (0, 1000, 1000 * 1000, 0, True),
             "server's summary (messages, bytes, bad indices, fnv1a match)")


def test_grpc_bidi_ping_pong_1000(ctx):
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "bidi", "--count", 1000, "--size", 100), "bidi ping-pong")
    check_eq((res["code"], res["pongs"]), (0, 1000), "(code, ping-pongs)")
    ctx.note("1000 ping-pongs through the gateway in %d ms" % res["elapsed_ms"])


def test_grpc_100_concurrent_bidi_one_channel(ctx):
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "concurrent_bidi", "--concurrency", 100, "--channels", 1,
                    "--count", 50, "--size", 200, timeout=90),
             "100 concurrent bidi streams on one channel")
    check_eq((res["ok_streams"], res["failed"], res["pongs"], res["codes"]),
             (100, 0, 5000, {"0": 100}), "(streams ok, failed, ping-pongs, codes)")


def test_grpc_concurrent_bidi_many_channels(ctx):
    """100 concurrent streams on each of 4 connections (400 at once)."""
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "concurrent_bidi", "--concurrency", 400, "--channels", 4,
                    "--count", 20, "--size", 200, timeout=90),
             "400 concurrent bidi streams over 4 channels")
    check_eq((res["ok_streams"], res["failed"], res["pongs"], res["codes"]),
             (400, 0, 8000, {"0": 400}), "(streams ok, failed, ping-pongs, codes)")


def test_grpc_upstream_stream_limit(ctx):
    """The upstream allows 50 concurrent streams per connection; 200 bidi streams open
    at once through the gateway (100 on each of 2 client connections) all get served:
    the gateway spreads them over enough upstream connections."""
    s = grpc_server(ctx, max_concurrent_streams=50)
    g = ctx.gateway({"grpc": {"listen_path": SERVICE, "target_url": "h2c://" + s.target}})
    res = ok(client(ctx, "127.0.0.1:%d" % g.port, "concurrent_bidi", "--concurrency", 200,
                    "--channels", 2, "--count", 10, "--size", 100, timeout=90),
             "200 concurrent bidi streams, upstream limit 50 per connection")
    check_eq((res["ok_streams"], res["failed"], res["pongs"], res["codes"]),
             (200, 0, 2000, {"0": 200}), "(streams ok, failed, ping-pongs, codes)")


def test_grpc_10000_unary_one_channel(ctx):
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "unary", "--count", 10000, "--size", 100, "--concurrency", 8,
                    timeout=90), "10 000 unary calls on one channel (8 in flight)")
    check_eq((res["good"], res["errors"], res["wrong"], res["codes"]), (10000, 0, 0, {"0": 10000}),
             "(good, errors, wrong replies, codes)")
    ctx.note("10 000 unary calls in %d ms" % res["elapsed_ms"])


def test_grpc_large_messages_4mib(ctx):
    """4 MiB messages both ways: unary echo, big request only, big reply only, and two
    4 MiB messages in a server stream and in a client stream."""
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "large", "--size", 4 * MIB, "--count", 2, timeout=90),
             "4 MiB messages")
    for part in ("echo", "big_request", "big_reply"):
        check_eq((res[part]["code"], res[part]["match"]), (0, True), part)
    check_eq((res["server_stream"]["received"], res["server_stream"]["bytes"]), (2, 8 * MIB),
             "server stream of 4 MiB messages")
    check_eq((res["client_stream"]["messages"], res["client_stream"]["bytes"],
              res["client_stream"]["fnv1a_match"]), (2, 8 * MIB, True),
             "client stream of 4 MiB messages")


# ---------------------------------------------------------------------------
# Status codes, trailers and metadata: the same through the gateway as directly


def _status_message(code):
    # Needs percent-encoding on the wire (gRPC spec): non-ASCII, '%', control bytes.
    return "code %d: caf\u00e9 100%% \"quoted\"\ttab \u2713 end" % code


def test_grpc_status_codes_and_trailers(ctx):
    """grpc-status 1..16 with grpc-message and trailing metadata (incl. -bin), as a
    Trailers-Only response (Fail) and as trailers after two messages (ServerStream)."""
    s, g, target = grpc_setup(ctx)
    bad = []
    for code in range(1, 17):
        for messages in (0, 2):
            args = ("--code", code, "--message", _status_message(code), "--count", messages)
            via = client(ctx, target, "status", *args)
            direct = client(ctx, s.target, "status", *args)
            expect = {"code": code, "message": _status_message(code), "received": messages,
                      "trailing": {"x-code": str(code), "x-detail": "detail for %d" % code,
                                   "x-fail-bin": direct["sent_bin_hex"]}}
            check_eq({k: direct[k] for k in expect}, expect,
                     "directly at the server (the fixture itself), code %d" % code)
            got = {k: via[k] for k in ("code", "message", "message_hex", "received",
                                       "initial", "trailing")}
            want = {k: direct[k] for k in got}
            if got != want:
                bad.append("code %d after %d messages: via gateway %s; direct %s"
                           % (code, messages, json.dumps(got), json.dumps(want)))
    check(not bad, "%d of 32 calls differ through the gateway:\n%s"
          % (len(bad), "\n".join(bad[:6])))


def test_grpc_metadata_both_ways(ctx):
    """Request metadata (incl. -bin and a repeated key) reaches the server; response
    initial and trailing metadata reach the client, byte-exact."""
    s, g, target = grpc_setup(ctx)
    res = ok(client(ctx, target, "metadata"), "EchoMetadata through the gateway")
    sent = {"x-custom-one": "value one", "x-custom-two": "two: 2, ~!@#$%^&*()",
            "x-multi": "a,b", "x-custom-bin": res["sent_bin_hex"]}
    check_eq({k: res["server_saw"].get(k) for k in sent}, sent, "request metadata at the server")
    check_eq({k: res["initial"].get("echo-" + k) for k in sent}, sent,
             "initial metadata at the client (echo-*)")
    check_eq({k: res["trailing"].get("trailer-" + k) for k in sent}, sent,
             "trailing metadata at the client (trailer-*)")
    # Everything the server saw came back, in both header blocks, unchanged.
    custom = {k: v for k, v in res["server_saw"].items()
              if not k.startswith("grpc-") and k not in ("user-agent", "content-type", "te")}
    check_eq({k[5:]: v for k, v in res["initial"].items() if k.startswith("echo-")}, custom,
             "every custom header echoed as initial metadata")
    check_eq({k[8:]: v for k, v in res["trailing"].items() if k.startswith("trailer-")}, custom,
             "every custom header echoed as trailing metadata")
    added = sorted(set(res["server_saw"]) - set(sent) - {"user-agent"})
    ctx.note("request headers the server saw besides the client's: %s" % ", ".join(added))


def _pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if not v:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _pb_field(num, value):
    """A protobuf field: int -> varint, bytes -> length-delimited."""
    if isinstance(value, int):
        return _pb_varint(num << 3) + _pb_varint(value)
    return _pb_varint(num << 3 | 2) + _pb_varint(len(value)) + value


def _grpc_frame(msg):
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


def _response_shape(n):
    """The frames of the (only) response stream: [(type, END_STREAM)], runs of DATA
    frames collapsed (a proxy may split or merge DATA), and its header fields."""
    shape = []
    for direction, ftype, length, flags, sid in n.frames:
        if direction != "recv" or sid == 0 or ftype not in ("HEADERS", "DATA", "RST_STREAM"):
            continue
        item = (ftype, bool(flags & 1))
        if ftype == "DATA" and shape and shape[-1][0] == "DATA":
            shape[-1] = ("DATA", shape[-1][1] or item[1])
        else:
            shape.append(item)
    return shape, n.headers.items


def test_grpc_trailers_only_and_trailers_frames(ctx):
    """At the frame level (nghttp): a Trailers-Only error stays one HEADERS frame with
    END_STREAM, an error after messages stays HEADERS, DATA, HEADERS+END_STREAM, with
    the same header fields as straight from the server; te: trailers reaches it (gRPC
    C++ answers "Missing :te header" otherwise)."""
    s, g, target = grpc_setup(ctx)
    fail_req = (_pb_field(1, 9) + _pb_field(2, b"precondition: caf\xc3\xa9 100%")
                + _pb_field(3, _pb_field(1, b"x-k") + _pb_field(2, b"v"))
                + _pb_field(4, b"\x00\xff\r\n"))
    cases = {
        "Fail (Trailers-Only)": ("Fail", fail_req,
                                 [("HEADERS", True)]),
        "ServerStream failing after 2 messages": (
            "ServerStream", _pb_field(1, 2) + _pb_field(2, 8) + _pb_field(5, fail_req),
            [("HEADERS", False), ("DATA", False), ("HEADERS", True)]),
        "Unary OK": ("Unary", _pb_field(1, b"ping"),
                     [("HEADERS", False), ("DATA", False), ("HEADERS", True)]),
    }
    for what, (method, msg, want_shape) in cases.items():
        body = ctx.tmp("request.grpc")
        with open(body, "wb") as f:
            f.write(_grpc_frame(msg))
        results = {}
        for where, port in (("direct", s.port), ("via gateway", g.port)):
            n = nghttp("http://127.0.0.1:%d%s%s" % (port, SERVICE, method), "-d", body,
                       "-H", "content-type: application/grpc", "-H", "te: trailers",
                       timeout=10)
            check_eq(n.rc, 0, "%s %s: nghttp exit status\n%s" % (what, where, n.output[-1500:]))
            results[where] = _response_shape(n)
        check_eq(results["direct"][0], want_shape, "%s: frames straight from the server" % what)
        check_eq(results["via gateway"][0], want_shape, "%s: frames through the gateway" % what)
        check_eq(results["via gateway"][1], results["direct"][1],
                 "%s: response header fields (all blocks, in order)" % what)


# ---------------------------------------------------------------------------
# Deadlines and cancellation


def test_grpc_client_cancel(ctx):
    """TryCancel mid-call (RST_STREAM CANCEL from the client) reaches the server as a
    cancellation within a second, for every call shape. For a client stream the server
    must not see a clean end of stream (an END_STREAM first would make a cut-short upload
    look complete)."""
    s, g, target = grpc_setup(ctx)
    for mode in ("sleep", "server_stream", "client_stream", "bidi"):
        test_id = "cancel-" + mode
        res = client(ctx, target, "cancel", "--mode", mode, "--sleep-ms", 400, "--id", test_id,
                     "--size", 1000, "--expect-code", CANCELLED)
        ok(res, "%s cancelled after 400 ms" % mode)
        if mode != "sleep":
            check(res["messages"] > 5, "%s: only %d messages before the cancel"
                  % (mode, res["messages"]))
        st = cancel_state(ctx, s, test_id)
        check(st["known"] and st["finished"] and st["cancelled"],
              "%s: the server did not see the cancellation (within 3 s): %s" % (mode, _short(st)))
        check(st["cancelled_after_ms"] <= 1400,
              "%s: the server saw the cancellation %d ms into the call (cancel at 400 ms)"
              % (mode, st["cancelled_after_ms"]))


# ---------------------------------------------------------------------------
# Upstream failures and local replies


def test_grpc_no_route_unimplemented(ctx):
    s = grpc_server(ctx)
    g = ctx.gateway({"other": {"listen_path": "/other.Service/", "target_url": "h2c://" + s.target}})
    res = client(ctx, "127.0.0.1:%d" % g.port, "raw", "--expect-code", UNIMPLEMENTED)
    ok(res, "a method no API serves")
    check(res["message"], "no grpc-message: %s" % _short(res))


def test_grpc_over_http1_clear_error(ctx):
    """A gRPC request over HTTP/1.1 gets an error, not a broken response."""
    s, g, target = grpc_setup(ctx)
    frame = ctx.tmp("unary.grpc")
    with open(frame, "wb") as f:
        f.write(_grpc_frame(_pb_field(1, b"ping")))  # EchoRequest{payload: "ping"}
    r = curl("--http1.1", "-H", "content-type: application/grpc", "-H", "te: trailers",
             "--data-binary", "@" + frame, g.url(SERVICE + "Unary"), timeout=10)
    check_eq(r.rc, 0, "curl exit status (%s)" % r.stderr.strip())
    grpc_status = r.headers.get("grpc-status") or r.trailers.get("grpc-status")
    check((r.status or 0) >= 400 or (grpc_status not in (None, "0")),
          "gRPC over HTTP/1.1 must get an error: HTTP %s, headers %r, body %r"
          % (r.status, r.headers, r.body[:200]))
    message = r.headers.get("grpc-message") or r.trailers.get("grpc-message")
    check(message or b"error" in r.body,
          "the error says nothing (no grpc-message, no JSON error): headers %r, body %r"
          % (r.headers, r.body[:200]))
    ctx.note("gRPC over HTTP/1.1: HTTP %s, grpc-status %s, grpc-message %r, body %r"
             % (r.status, grpc_status, message, r.body[:120]))


def test_grpc_upstream_goaway(ctx):
    """The upstream shuts down gracefully (GOAWAY) while a call is in flight: the call
    finishes; new calls go to a new connection (a second server on the same port,
    SO_REUSEPORT as gRPC sets it)."""
    a, g, target = grpc_setup(ctx)
    inflight = BackgroundClient(ctx, target, "deadline", "--sleep-ms", 600, "--id", "inflight")
    time.sleep(0.2)
    b = grpc_server(ctx, port=a.port)
    a.signal(signal.SIGTERM)  # Shutdown(1 s): GOAWAY, in-flight calls may finish
    res = inflight.result(timeout=15)
    check_eq((res["code"], res["rc"]), (0, 0), "the in-flight call across the GOAWAY (%s)"
             % _short(res))
    check_eq(a.wait(5), 0, "first server's exit status")
    for i in range(5):
        res = client(ctx, target, "deadline", "--sleep-ms", 1, "--id", "after-%d" % i)
        check_eq(res["code"], 0, "call %d after the GOAWAY (%s)" % (i, _short(res)))
        st = cancel_state(ctx, b, "after-%d" % i)
        check(st["known"] and st["finished"], "call %d did not reach the new server" % i)


# ---------------------------------------------------------------------------
# Back-pressure


def test_grpc_slow_reader_bounded_memory(ctx):
    """A server stream of 200 x 1 MiB read slowly by the client: the gateway stops
    reading the upstream stream instead of buffering, so its RSS stays bounded, and the
    whole stream arrives."""
    s, g, target = grpc_setup(ctx, stream_buffer_bytes=MIB)
    ok(client(ctx, target, "server_stream", "--count", 8, "--size", MIB), "warm-up stream")
    time.sleep(0.3)
    base = max(g.rss_kib() for _ in range(5))
    with RssSampler(g.pid) as rss:
        res = client(ctx, target, "server_stream", "--count", 200, "--size", MIB,
                     "--read-delay-ms", 20, timeout=90)
    ok(res, "200 x 1 MiB read slowly")
    check_eq((res["received"], res["bytes"], res["mismatches"]), (200, 200 * MIB, 0),
             "(messages, bytes, mismatches)")
    growth = rss.peak - base
    ctx.note("200 MiB slow-read stream in %d ms: gateway RSS baseline %d KiB, peak %d KiB, "
             "growth %d KiB (%d samples)" % (res["elapsed_ms"], base, rss.peak, growth,
                                             len(rss.samples)))
    check(growth < 32 * 1024, "gateway RSS grew by %d KiB (limit 32 MiB) during a slowly "
          "read 200 MiB stream" % growth)


def test_grpc_stalled_stream_does_not_stall_siblings(ctx):
    """A client that stops reading a server stream of big messages holds that stream
    only: other calls sharing the gateway's upstream connection (from another client
    connection) go on at full speed, because the connection window is consumed eagerly."""
    s, g, target = grpc_setup(ctx, stream_buffer_bytes=MIB)
    stalled = BackgroundClient(ctx, target, "server_stream", "--count", 64, "--size", MIB,
                               "--read-delay-ms", 60000, "--id", "stalled")
    time.sleep(1.0)  # its windows fill up and stay full
    res = ok(client(ctx, target, "server_stream", "--count", 64, "--size", MIB, timeout=30),
             "64 x 1 MiB stream next to a stalled one")
    check_eq((res["received"], res["bytes"]), (64, 64 * MIB), "(messages, bytes)")
    res2 = ok(client(ctx, target, "unary", "--count", 200, "--size", 1000, timeout=30),
              "unary calls next to a stalled stream")
    check_eq(res2["good"], 200, "unary calls")
    check(stalled.proc.poll() is None, "the stalled client finished (it should still be "
          "waiting to read): %r" % (stalled.proc.returncode,))
    st = cancel_state(ctx, s, "stalled", wait_ms=0)
    check(st["known"] and not st["finished"] and st["messages"] < 32,
          "the server was not held back by the stalled reader: %s" % _short(st))
    ctx.note("next to a stalled stream: 64 MiB stream in %d ms, 200 unary calls in %d ms; "
             "the stalled stream's server wrote %d of 64 MiB"
             % (res["elapsed_ms"], res2["elapsed_ms"], st["messages"]))
    stalled.stop()
    # Its connection is gone: the gateway cancels the upstream stream and goes on.
    ok(client(ctx, target, "unary", "--count", 10), "unary calls after the stalled client left")
