"""TLS: the downstream listener (tls_listen, [tls], SNI, ALPN, session tickets across
shards, handshake limits), mutual TLS auth per API, and TLS to upstreams (https://
targets over HTTP/1.1 and HTTP/2, verification, upstream client certificates).

Peers: curl, openssl s_client, h2load, Python's ssl module, the gRPC C++ fixtures with
their --tls-* options (tests/fixtures/README.md), and nghttpx as a TLS origin in front
of ringway-test-backend. Certificates come from tls_certs.py (generated once per run).
"""

import json
import os
import re
import socket
import ssl
import subprocess
import time

from harness import (START_TIMEOUT_S, GatewayStartError, check, check_eq, curl, fail,
                     free_port, make_ini, pattern_bytes, port_accepts, proxy_apis, read_file,
                     require_program, wait_for)
import test_grpc as tg
from tls_certs import pki

SERVICE = tg.SERVICE
OK, CANCELLED, DEADLINE_EXCEEDED, PERMISSION_DENIED, UNAVAILABLE, UNAUTHENTICATED = (
    0, 1, 4, 7, 14, 16)
KIB, MIB = 1 << 10, 1 << 20
HANDSHAKE_RE = re.compile(r"tls handshake shard=(\d+) resumed=([01]) alpn=(\S*)")

# ---------------------------------------------------------------------------
# Gateway with a TLS listener


def _ini_section(name, keys):
    lines = ["", "[%s]" % name]
    lines += ["%s = %s" % (k, "true" if v is True else "false" if v is False else v)
              for k, v in keys.items() if v is not None]
    return "\n".join(lines) + "\n"


def tls_ini(port, tls_port, apis, tls_keys, sni=None, **gateway_keys):
    """make_ini's text plus tls_listen, [tls] and one [tls.NAME] per entry of |sni|
    (NAME -> keys)."""
    text = make_ini(port, apis, tls_listen="127.0.0.1:%d" % tls_port, **gateway_keys)
    text += _ini_section("tls", tls_keys)
    for name, keys in (sni or {}).items():
        text += _ini_section("tls." + name, keys)
    return text


def tls_gateway(ctx, apis, tls=None, sni=None, cert="server-rsa", **gateway_keys):
    """A gateway with a cleartext listener (g.port) and a TLS listener (g.tls_port);
    [tls] has |cert|'s cert_file/key_file plus |tls|."""
    p = pki(ctx)
    tls_keys = {"cert_file": p.cert(cert), "key_file": p.key(cert)}
    tls_keys.update(tls or {})
    last = None
    for _ in range(3):
        port, tls_port = free_port(), free_port()
        if port == tls_port:
            continue
        text = tls_ini(port, tls_port, apis, tls_keys, sni, **gateway_keys)
        try:
            g = ctx.gateway_from_text(text, port)
        except GatewayStartError as e:
            last = e
            if "in use" not in str(e) and "not accepting" not in str(e):
                raise
            continue
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_accepts(tls_port, timeout=0.2):
            if not g.alive() or time.monotonic() > deadline:
                fail("the TLS listener 127.0.0.1:%d is not accepting (gateway %s); stderr:\n%s"
                     % (tls_port, "alive" if g.alive() else "exited", g.stderr_text()[-2000:]))
            time.sleep(0.02)
        g.tls_port = tls_port
        return g
    raise last or GatewayStartError("no two distinct free ports")


def surl(g, path=""):
    return "https://127.0.0.1:%d%s" % (g.tls_port, path)


def tcurl(ctx, *args, **kwargs):
    """curl trusting the test CA."""
    return curl("--cacert", pki(ctx).cert("ca"), *args, **kwargs)


def tcurl_ok(ctx, *args, **kwargs):
    r = tcurl(ctx, *args, **kwargs)
    if r.rc != 0:
        fail("curl %s exited %d: %s" % (" ".join(map(str, args)), r.rc, r.stderr.strip()))
    return r


def client_cert_args(ctx, name):
    p = pki(ctx)
    return ["--cert", p.cert(name), "--key", p.key(name)] if name else []


def handshakes(g):
    """[(shard, resumed, alpn)] from the gateway's debug log, in order."""
    return [(int(s), r == "1", a) for s, r, a in HANDSHAKE_RE.findall(g.stderr_text())]


def wait_handshakes(g, count, what):
    """Waits until |count| handshake lines are logged; returns them all."""
    return wait_for(lambda: (lambda h: h if len(h) >= count else None)(handshakes(g)),
                    5.0, what="%s (handshake log line %d; stderr tail: %r)"
                    % (what, count, g.stderr_text()[-600:]))


def json_error(r, status, what):
    check_eq(r.status, status, "%s: HTTP status (body %r)" % (what, r.body[:200]))
    check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")
    try:
        j = json.loads(r.body)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, r.body[:200]))
    check(isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"],
          "%s: body is not {\"error\": \"...\"}: %r" % (what, r.body[:200]))


# ---------------------------------------------------------------------------
# openssl s_client


def s_client(port, *args, send=None, timeout=10):
    """openssl s_client to 127.0.0.1:|port|. With |send| (bytes) the bytes are written
    and s_client reads until the server closes (-ign_eof); otherwise it closes right
    after the handshake. Returns (exit status, stdout+stderr)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-nocommands"]
    cmd += [str(a) for a in args]
    if send is not None:
        cmd.append("-ign_eof")
    try:
        p = subprocess.run(cmd, input=send or b"", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("openssl s_client did not finish within %ss: %s" % (timeout, " ".join(cmd)))
    return p.returncode, p.stdout.decode(errors="replace")


def s_alpn(out):
    m = re.search(r"ALPN protocol: (\S+)", out)
    if m:
        return m.group(1)
    return None if "No ALPN negotiated" in out else "?"


def s_protocol(out):
    m = re.search(r"^(New|Reused), (TLSv[\d.]+)", out, re.M)
    return (m.group(1), m.group(2)) if m else (None, None)


def s_subject(out):
    m = re.search(r"^subject=(.*)$", out, re.M)
    return m.group(1).strip() if m else None


def h1_request(path, host="gw.test"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode()


# ---------------------------------------------------------------------------
# gRPC fixtures with TLS


def grpc_server(ctx, cert=None, client_ca=None):
    """ringway-grpc-server, TLS with |cert| when given (client certificates required
    and verified against |client_ca| when given). s.client_args: what a direct client
    needs to reach it."""
    p = pki(ctx)
    extra = []
    if cert:
        extra += ["--tls-cert", p.cert(cert), "--tls-key", p.key(cert)]
    if client_ca:
        extra += ["--tls-client-ca", p.cert(client_ca)]
    s = tg.GrpcServer(tg._fixture(ctx, "ringway-grpc-server"), ctx.workdir, 0, extra)
    ctx._others.append(s)  # stopped by ctx.cleanup()
    s.client_args = []
    if cert:
        s.client_args = ["--tls-ca", p.cert("upstream-self" if cert == "upstream-self" else "ca")]
    if client_ca:
        s.client_args += ["--tls-cert", p.cert("client-allowed"), "--tls-key",
                          p.key("client-allowed")]
    return s


def grpc_tls_args(ctx, cert=None):
    """ringway-grpc-client options for the gateway's TLS listener (optionally with a
    client certificate)."""
    p = pki(ctx)
    args = ["--tls-ca", p.cert("ca")]
    if cert:
        args += ["--tls-cert", p.cert(cert), "--tls-key", p.key(cert)]
    return args


def gclient(ctx, target, scenario, *args, tls=(), timeout=60):
    return tg.client(ctx, target, scenario, *(list(args) + list(tls)), timeout=timeout)


def server_state(ctx, s, test_id, wait_ms=3000):
    return tg.ok(tg.client(ctx, s.target, "cancel_state", "--id", test_id, "--wait-ms", wait_ms,
                           *s.client_args), "CancelState(%s) at the server" % test_id)


def grpc_call_shapes(ctx, s, target, tls):
    """Every call shape of test_grpc.py through the gateway at |target| (client options
    |tls|) to server |s|, with the server's view checked where it matters."""
    def c(scenario, *args, timeout=60):
        return gclient(ctx, target, scenario, *args, tls=tls, timeout=timeout)

    for size, resp in ((0, 0), (1000, 0), (100000, 0), (10, 70000)):
        res = tg.ok(c("unary", "--count", 20, "--size", size, "--response-size", resp),
                    "unary size %d reply %d" % (size, resp))
        check_eq((res["good"], res["errors"], res["wrong"]), (20, 0, 0), "unary results")
    res = tg.ok(c("unary", "--count", 1000, "--size", 100, "--concurrency", 8),
                "1000 unary calls, 8 in flight")
    check_eq(res["codes"], {"0": 1000}, "codes of 1000 unary calls")

    res = tg.ok(c("server_stream", "--count", 300, "--size", 1000), "server stream")
    check_eq((res["code"], res["received"], res["bytes"], res["mismatches"]),
             (0, 300, 300 * 1000, 0), "server stream (code, messages, bytes, mismatches)")
    res = tg.ok(c("client_stream", "--count", 300, "--size", 1000), "client stream")
    check_eq((res["code"], res["messages"], res["bytes"], res["bad_index"], res["fnv1a_match"]),
             (0, 300, 300 * 1000, 0, True), "client stream summary")
    res = tg.ok(c("bidi", "--count", 300, "--size", 100), "bidi ping-pong")
    check_eq((res["code"], res["pongs"]), (0, 300), "bidi (code, ping-pongs)")
    res = tg.ok(c("concurrent_bidi", "--concurrency", 50, "--channels", 2, "--count", 10,
                  "--size", 200, timeout=90), "50 concurrent bidi streams over 2 connections")
    check_eq((res["ok_streams"], res["failed"], res["pongs"]), (50, 0, 500),
             "concurrent bidi (streams ok, failed, ping-pongs)")

    # Status codes and trailing metadata exactly as straight from the server.
    for code in (2, 9, 16):
        for messages in (0, 2):
            args = ("--code", code, "--message", "code %d: caf\u00e9 100%%" % code,
                    "--count", messages)
            via = c("status", *args)
            direct = tg.client(ctx, s.target, "status", *(list(args) + s.client_args))
            keys = ("code", "message", "message_hex", "received", "initial", "trailing")
            check_eq(direct["code"], code, "status %d directly at the server" % code)
            check_eq({k: via[k] for k in keys}, {k: direct[k] for k in keys},
                     "status %d after %d messages: via the gateway vs direct" % (code, messages))

    res = tg.ok(c("metadata"), "EchoMetadata")
    sent = {"x-custom-one": "value one", "x-custom-two": "two: 2, ~!@#$%^&*()",
            "x-multi": "a,b", "x-custom-bin": res["sent_bin_hex"]}
    check_eq({k: res["server_saw"].get(k) for k in sent}, sent, "request metadata at the server")
    check_eq({k: res["initial"].get("echo-" + k) for k in sent}, sent, "initial metadata")
    check_eq({k: res["trailing"].get("trailer-" + k) for k in sent}, sent, "trailing metadata")

    res = tg.ok(c("large", "--size", 4 * MIB, "--count", 2, timeout=90), "4 MiB messages")
    for part in ("echo", "big_request", "big_reply"):
        check_eq((res[part]["code"], res[part]["match"]), (0, True), "4 MiB " + part)
    check_eq((res["server_stream"]["bytes"], res["client_stream"]["bytes"],
              res["client_stream"]["fnv1a_match"]), (8 * MIB, 8 * MIB, True),
             "4 MiB streams (server stream bytes, client stream bytes, fnv1a match)")

    test_id = "tls-deadline-%d" % time.monotonic_ns()
    res = tg.ok(c("deadline", "--sleep-ms", 5000, "--deadline-ms", 300, "--id", test_id,
                  "--expect-code", DEADLINE_EXCEEDED), "Sleep(5 s) with a 300 ms deadline")
    check(res["elapsed_ms"] < 1500, "deadline: answered after %d ms" % res["elapsed_ms"])
    st = server_state(ctx, s, test_id)
    check(st["known"] and st["finished"] and st["cancelled"] and 0 < st["deadline_ms"] <= 300,
          "deadline: the server did not see a <= 300 ms deadline and the cancellation: %s"
          % tg._short(st))

    for mode in ("sleep", "server_stream", "client_stream", "bidi"):
        test_id = "tls-cancel-%s-%d" % (mode, time.monotonic_ns())
        res = tg.ok(c("cancel", "--mode", mode, "--sleep-ms", 400, "--id", test_id,
                      "--size", 1000, "--expect-code", CANCELLED), "%s cancelled" % mode)
        if mode != "sleep":
            check(res["messages"] > 5, "%s: only %d messages before the cancel"
                  % (mode, res["messages"]))
        st = server_state(ctx, s, test_id)
        check(st["known"] and st["finished"] and st["cancelled"]
              and st["cancelled_after_ms"] <= 1400,
              "%s: the server did not see the cancellation within 1 s: %s" % (mode, tg._short(st)))


# ---------------------------------------------------------------------------
# nghttpx as a TLS origin in front of ringway-test-backend

NGHTTPX = "nghttpx"  # resolved (or reported missing) by require_program
NGHTTPX_LOG_FORMAT = ("$alpn|$tls_sni|$tls_protocol|$tls_client_fingerprint_sha256|"
                      "$tls_client_subject_name|$protocol_version|$method|$tls_session_reused|"
                      "$path")


class Nghttpx:
    """nghttpx (one process, one worker) terminating TLS with the test certificate
    |cert| on 127.0.0.1:<free port> and forwarding HTTP/1.1 to |backend_port|.
    entries(): its access log as dicts."""

    def __init__(self, ctx, backend_port, cert, extra=()):
        p = pki(ctx)
        ctx._others.append(self)
        self.proc = None
        self._stderr = None
        for attempt in range(3):  # the free port may be taken in between
            self.port = free_port()
            tag = "nghttpx-%d" % self.port
            self.access_log = ctx.tmp(tag + ".access")
            self.error_log = ctx.tmp(tag + ".error")
            cmd = [require_program(NGHTTPX), "--conf=/dev/null", "--single-process", "--workers=1",
                   "--frontend=127.0.0.1,%d" % self.port,
                   "--backend=127.0.0.1,%d" % backend_port, "--no-ocsp", "--no-via",
                   "--log-level=INFO", "--errorlog-file=" + self.error_log,
                   "--accesslog-file=" + self.access_log,
                   "--accesslog-format=" + NGHTTPX_LOG_FORMAT,
                   "--pid-file=" + ctx.tmp(tag + ".pid")] + list(extra) + [p.key(cert),
                                                                         p.cert(cert)]
            self._stderr = open(ctx.tmp(tag + ".stderr"), "wb")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                         stderr=self._stderr)
            deadline = time.monotonic() + START_TIMEOUT_S
            while not port_accepts(self.port, timeout=0.2):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                return
            self.stop()
            why = read_file(self.error_log)[-1000:] + read_file(ctx.tmp(tag + ".stderr"))
            if "in use" not in why or attempt == 2:
                fail("nghttpx did not start: %s" % why)

    def url(self, host="127.0.0.1"):
        return "https://%s:%d" % (host, self.port)

    def entries(self):
        out = []
        for line in read_file(self.access_log).splitlines():
            parts = line.split("|")
            if len(parts) != 9:
                continue
            keys = ("alpn", "sni", "tls", "client_fp", "client_subject", "version", "method",
                    "reused", "path")
            out.append(dict(zip(keys, parts)))
        return out

    def entry(self, marker, timeout=5.0):
        """The access-log entry of the request whose path contains |marker|."""
        def find():
            hits = [e for e in self.entries() if marker in e["path"]]
            return hits[-1] if hits else None
        return wait_for(find, timeout, what="nghttpx access-log entry for %r (log: %r)"
                        % (marker, read_file(self.access_log)[-800:]))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._stderr is not None:
            self._stderr.close()


def _norm_fp(text):
    return text.replace(":", "").strip().lower()


# ---------------------------------------------------------------------------
# 1. HTTP/1.1 and HTTP/2 over TLS with curl, RSA and ECDSA certificates


def test_tls_curl_h1_h2_rsa_and_ecdsa(ctx):
    """GET, POST (300 KiB echo) and a 3 MiB download through the TLS listener with curl
    --http1.1 and --http2, to an HTTP/1.1 and an h2c upstream: exact status, body and
    HTTP version, with an RSA and then an ECDSA server certificate (the one served is
    checked); 500 requests on one TLS connection (h2load, h2 and HTTP/1.1);
    x-forwarded-proto is https; the cleartext listener keeps working."""
    p = pki(ctx)
    b = ctx.backend()
    body_path = ctx.tmp("post-body")
    body = os.urandom(300 * KIB)
    with open(body_path, "wb") as f:
        f.write(body)
    for cert, cn in (("server-rsa", "gw.test RSA"), ("server-ec", "gw.test ECDSA")):
        g = tls_gateway(ctx, proxy_apis(b), cert=cert)
        rc, out = s_client(g.tls_port, "-CAfile", p.cert("ca"), "-noservername",
                           "-nameopt", "RFC2253")
        check_eq(s_subject(out), "CN=%s,O=Ringway Tests" % cn, "%s: certificate served" % cert)
        check("Verify return code: 0 (ok)" in out, "%s: s_client did not verify the "
              "certificate:\n%s" % (cert, out[-1500:]))
        for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
            for back in ("/h1", "/h2c"):
                what = "%s %s %s" % (cert, flag, back)
                r = tcurl_ok(ctx, flag, surl(g, back + "/hello"))
                check_eq((r.status, r.body, r.version), (200, b"hello\n", version),
                         what + " GET (status, body, HTTP version)")
                r = tcurl_ok(ctx, flag, "-H", "content-type: application/octet-stream",
                             "--data-binary", "@" + body_path, surl(g, back + "/echo"))
                check_eq((r.status, r.version), (200, version), what + " POST (status, version)")
                check(r.body == body, "%s POST: the echo differs (%d bytes back, %d sent)"
                      % (what, len(r.body), len(body)))
                r = tcurl_ok(ctx, flag, surl(g, back + "/bytes?n=%d" % (3 * MIB)))
                check_eq(r.status, 200, what + " 3 MiB download status")
                check(r.body == pattern_bytes(3 * MIB), "%s: 3 MiB download differs (%d bytes)"
                      % (what, len(r.body)))
        # Many requests on one TLS connection (HTTP/2 multiplexed; HTTP/1.1 keep-alive).
        for proto, args in (("h2", ["-m", 10]), ("h1", ["--h1"])):
            r = ctx.h2load("-n", 500, "-c", 1, *args, surl(g, "/h2c/hello"), timeout=60)
            check_eq((r.succeeded, r.failed, r.errored, r.s2xx), (500, 0, 0, 500),
                     "%s: 500 requests over one %s TLS connection\n%s"
                     % (cert, proto, r.output[-1200:]))
        # The TLS listener is announced to the upstream as https.
        for flag in ("--http1.1", "--http2"):
            r = tcurl_ok(ctx, flag, surl(g, "/h1/inspect"))
            check_eq(r.json()["headers"].get("x-forwarded-proto"), "https",
                     "%s %s: x-forwarded-proto seen by the upstream" % (cert, flag))
        # The cleartext listener still works next to it.
        r = curl(g.url("/h1/hello"))
        check_eq((r.rc, r.status, r.body), (0, 200, b"hello\n"), "cleartext listener")
        g.stop()
        check_eq(g.exit_status, 0, "gateway exit status on SIGTERM")


# ---------------------------------------------------------------------------
# 2. ALPN


# ---------------------------------------------------------------------------
# 3. gRPC over TLS to an h2c upstream


def test_tls_grpc_to_h2c_upstream(ctx):
    """gRPC C++ over TLS (verifying the gateway's certificate for 127.0.0.1) to the
    gateway, h2c to the server: every call shape, status/metadata byte-exact, 4 MiB
    messages, deadlines and cancellation. Also a unary check with an ECDSA cert."""
    s = grpc_server(ctx)
    api = {"grpc": {"listen_path": SERVICE, "target_url": "h2c://" + s.target}}
    g = tls_gateway(ctx, api)
    grpc_call_shapes(ctx, s, "127.0.0.1:%d" % g.tls_port, grpc_tls_args(ctx))
    g2 = tls_gateway(ctx, api, cert="server-ec")
    res = tg.ok(gclient(ctx, "127.0.0.1:%d" % g2.tls_port, "unary", "--count", 50, "--size", 1000,
                        tls=grpc_tls_args(ctx)), "unary over TLS with an ECDSA certificate")
    check_eq(res["good"], 50, "unary calls (ECDSA)")


test_tls_grpc_to_h2c_upstream.timeout = 240


# ---------------------------------------------------------------------------
# 4. gRPC to a TLS upstream; upstream verification


def test_tls_grpc_to_tls_upstream(ctx):
    """gRPC over TLS to the gateway and over TLS (https://, proxy_enable_http2, ALPN h2,
    upstream_ca_file) to a TLS gRPC server: every call shape."""
    p = pki(ctx)
    s = grpc_server(ctx, cert="upstream")
    g = tls_gateway(ctx, {"grpc": {
        "listen_path": SERVICE, "target_url": "https://" + s.target,
        "proxy_enable_http2": True, "upstream_ca_file": p.cert("ca")}})
    grpc_call_shapes(ctx, s, "127.0.0.1:%d" % g.tls_port, grpc_tls_args(ctx))
    # And from the cleartext (h2c) listener.
    res = tg.ok(gclient(ctx, "127.0.0.1:%d" % g.port, "unary", "--count", 50),
                "h2c client -> TLS upstream")
    check_eq(res["good"], 50, "unary calls from the cleartext listener")


test_tls_grpc_to_tls_upstream.timeout = 240


def test_tls_grpc_upstream_verification(ctx):
    """A self-signed upstream: with the system trust store (no upstream_ca_file) and
    with the wrong CA the call fails with UNAVAILABLE (14); tls_insecure_skip_verify
    makes it work. A CA-signed upstream whose certificate does not name the target
    address (127.0.0.1) fails too."""
    p = pki(ctx)
    selfsigned = grpc_server(ctx, cert="upstream-self")
    wrongname = grpc_server(ctx, cert="sni")  # CA-signed, SAN sni.test only
    cases = (
        ("self-signed, system trust store", selfsigned, {}, UNAVAILABLE),
        ("self-signed, upstream_ca_file = test CA", selfsigned,
         {"upstream_ca_file": p.cert("ca")}, UNAVAILABLE),
        ("self-signed, tls_insecure_skip_verify", selfsigned,
         {"tls_insecure_skip_verify": True}, OK),
        ("name mismatch (SAN sni.test, target 127.0.0.1)", wrongname,
         {"upstream_ca_file": p.cert("ca")}, UNAVAILABLE),
        ("name mismatch, tls_insecure_skip_verify", wrongname,
         {"tls_insecure_skip_verify": True}, OK),
    )
    for what, s, keys, code in cases:
        api = {"listen_path": SERVICE, "target_url": "https://" + s.target,
               "proxy_enable_http2": True}
        api.update(keys)
        g = tls_gateway(ctx, {"grpc": api})
        for i in range(2):
            res = gclient(ctx, "127.0.0.1:%d" % g.tls_port, "raw", "--expect-code", code,
                          tls=grpc_tls_args(ctx))
            tg.ok(res, "%s (call %d): expected code %d" % (what, i + 1, code))
            if code != OK:
                check(res["message"], "%s: no grpc-message" % what)
        check(g.alive(), "the gateway died (%s)" % what)
        g.stop()


test_tls_grpc_upstream_verification.timeout = 120


# ---------------------------------------------------------------------------
# 5. Mutual TLS auth per API


def test_tls_client_cert_headers(ctx):
    """For a verified client certificate the upstream gets x-client-cert-sha256 (lower
    case hex) and x-client-cert-subject (RFC 2253), on mTLS and keyless APIs alike;
    values a client sends under those names never reach the upstream (HTTP/1.1,
    HTTP/2 and gRPC; no certificate, an unverified one, the cleartext listener)."""
    p = pki(ctx)
    b = ctx.backend()
    s = grpc_server(ctx)
    mtls = {"use_keyless": False, "use_mutual_tls_auth": True}
    apis = {
        "grpc": dict(mtls, listen_path=SERVICE, target_url="h2c://" + s.target),
        "mtls-h1": dict(mtls, listen_path="/mtls-h1/", strip_listen_path=True,
                        target_url=b.url("http")),
        "mtls-h2c": dict(mtls, listen_path="/mtls-h2c/", strip_listen_path=True,
                         target_url=b.url("h2c")),
        "open": {"listen_path": "/open/", "strip_listen_path": True, "target_url": b.url()},
    }
    g = tls_gateway(ctx, apis, tls={"client_ca_file": p.cert("ca")})
    spoof = ["-H", "x-client-cert-sha256: " + "0" * 64,
             "-H", "X-Client-Cert-Subject: CN=evil,O=Spoofers"]
    for cert in ("client-allowed", "client-other"):
        for flag in ("--http1.1", "--http2"):
            for api in ("/mtls-h1", "/mtls-h2c"):
                what = "%s %s %s" % (cert, flag, api)
                r = tcurl_ok(ctx, flag, *client_cert_args(ctx, cert), *spoof,
                             surl(g, api + "/inspect"))
                check_eq(r.status, 200, what + " status")
                h = r.json()["headers"]
                check_eq((h.get("x-client-cert-sha256"), h.get("x-client-cert-subject")),
                         (p.fp(cert), p.subject(cert)),
                         what + ": (x-client-cert-sha256, x-client-cert-subject) at the upstream")
    # Keyless API with a verified certificate: the headers are set there too.
    r = tcurl_ok(ctx, "--http2", *client_cert_args(ctx, "client-allowed"), *spoof,
                 surl(g, "/open/inspect"))
    h = r.json()["headers"]
    check_eq((r.status, h.get("x-client-cert-sha256"), h.get("x-client-cert-subject")),
             (200, p.fp("client-allowed"), p.subject("client-allowed")),
             "keyless API, verified certificate: (status, x-client-cert-sha256, "
             "x-client-cert-subject) at the upstream")
    # Keyless API: no certificate, or one that does not verify: nothing gets through.
    for cert in (None, "client-wrongca"):
        for flag in ("--http1.1", "--http2"):
            r = tcurl_ok(ctx, flag, *client_cert_args(ctx, cert), *spoof,
                         surl(g, "/open/inspect"))
            h = r.json()["headers"]
            check_eq((r.status, h.get("x-client-cert-sha256"), h.get("x-client-cert-subject")),
                     (200, None, None), "keyless API, %s, %s: spoofed x-client-cert-* headers"
                     % (cert or "no certificate", flag))
    r = curl(*spoof, g.url("/open/inspect"))
    h = r.json()["headers"]
    check_eq((h.get("x-client-cert-sha256"), h.get("x-client-cert-subject")), (None, None),
             "cleartext listener: spoofed x-client-cert-* headers")
    # gRPC: request metadata at the server.
    res = tg.ok(gclient(ctx, "127.0.0.1:%d" % g.tls_port, "metadata",
                        "--header", "x-client-cert-sha256=" + "f" * 64,
                        "--header", "x-client-cert-subject=CN=evil",
                        tls=grpc_tls_args(ctx, "client-allowed")), "gRPC EchoMetadata")
    saw = res["server_saw"]
    check_eq((saw.get("x-client-cert-sha256"), saw.get("x-client-cert-subject")),
             (p.fp("client-allowed"), p.subject("client-allowed")),
             "gRPC: x-client-cert-* metadata at the server")


# ---------------------------------------------------------------------------
# 6. Upstream mTLS


def test_tls_upstream_mtls(ctx):
    """Upstreams that require a client certificate: with upstream_cert_file /
    upstream_key_file the gateway presents it (gRPC server, and nghttpx whose access
    log shows the certificate's fingerprint); without them the call fails (14 / 502)."""
    p = pki(ctx)
    upstream_client = {"upstream_cert_file": p.cert("upstream-client"),
                       "upstream_key_file": p.key("upstream-client")}
    s = grpc_server(ctx, cert="upstream", client_ca="ca")
    b = ctx.backend()
    nx = Nghttpx(ctx, b.port, "upstream", extra=["--verify-client",
                                                 "--verify-client-cacert=" + p.cert("ca")])
    for with_cert in (True, False):
        grpc_api = {"listen_path": SERVICE, "target_url": "https://" + s.target,
                    "proxy_enable_http2": True, "upstream_ca_file": p.cert("ca")}
        apis = {"grpc": grpc_api}
        for name, h2 in (("h1", False), ("h2", True)):
            apis[name] = {"listen_path": "/%s/" % name, "strip_listen_path": True,
                          "target_url": nx.url(), "proxy_enable_http2": h2,
                          "upstream_ca_file": p.cert("ca")}
        if with_cert:
            for keys in apis.values():
                keys.update(upstream_client)
        g = tls_gateway(ctx, apis)
        what = "with" if with_cert else "without"
        res = gclient(ctx, "127.0.0.1:%d" % g.tls_port, "raw", "--expect-code",
                      OK if with_cert else UNAVAILABLE, tls=grpc_tls_args(ctx))
        tg.ok(res, "gRPC to a server requiring client certificates, %s upstream_cert_file"
              % what)
        for name in ("h1", "h2"):
            marker = "mtls-%s-%s-%d" % (what, name, time.monotonic_ns())
            r = tcurl(ctx, "--http2", surl(g, "/%s/inspect?m=%s" % (name, marker)))
            if with_cert:
                check_eq((r.rc, r.status), (0, 200), "%s upstream, %s client certificate "
                         "(body %r)" % (name, what, r.body[:200]))
                e = nx.entry(marker)
                check_eq((_norm_fp(e["client_fp"]), e["alpn"]),
                         (p.fp("upstream-client"), "h2" if name == "h2" else "http/1.1"),
                         "%s: (client certificate fingerprint, ALPN) seen by nghttpx" % name)
            else:
                json_error(r, 502, "%s upstream requiring a client certificate, none set"
                           % name)
        check(g.alive(), "the gateway died")
        g.stop()


test_tls_upstream_mtls.timeout = 120


# ---------------------------------------------------------------------------
# 7. HTTP to a TLS upstream (nghttpx in front of the test backend)


def test_tls_upstream_http(ctx):
    """https:// targets: HTTP/1.1 (ALPN http/1.1) and, with proxy_enable_http2, HTTP/2
    (ALPN h2) to nghttpx, verified with upstream_ca_file; GET, a 256 KiB POST echo and
    a 3 MiB download from both listeners. No SNI for an IP target, the host name as SNI
    for a named one (localhost)."""
    p = pki(ctx)
    b = ctx.backend()
    nx = Nghttpx(ctx, b.port, "upstream")
    apis = {}
    for name, h2 in (("tls-h1", False), ("tls-h2", True)):
        apis[name] = {"listen_path": "/%s/" % name, "strip_listen_path": True,
                      "target_url": nx.url(), "proxy_enable_http2": h2,
                      "upstream_ca_file": p.cert("ca")}
    localhost_ok = socket.getaddrinfo("localhost", nx.port, 0, socket.SOCK_STREAM)[0][4][0] \
        == "127.0.0.1"
    if localhost_ok:
        apis["tls-named"] = {"listen_path": "/tls-named/", "strip_listen_path": True,
                             "target_url": nx.url("localhost"), "upstream_ca_file": p.cert("ca")}
    else:
        ctx.note("localhost does not resolve to 127.0.0.1 first; SNI by name not checked")
    g = tls_gateway(ctx, apis)
    body_path = ctx.tmp("post-body")
    body = os.urandom(256 * KIB)
    with open(body_path, "wb") as f:
        f.write(body)
    fronts = (("cleartext h1", ["--http1.1"], g.url), ("TLS h2", ["--http2"],
                                                        lambda path: surl(g, path)))
    for name, alpn in (("tls-h1", "http/1.1"), ("tls-h2", "h2")):
        for front, flags, url in fronts:
            what = "%s via %s" % (name, front)
            marker = "%s-%s-%d" % (name, front.replace(" ", "-"), time.monotonic_ns())
            r = tcurl_ok(ctx, *flags, url("/%s/inspect?m=%s" % (name, marker)))
            check_eq(r.status, 200, what + " inspect status")
            e = nx.entry(marker)
            check_eq((e["alpn"], e["sni"]), (alpn, "-"),
                     what + ": (ALPN, SNI) of the gateway's connection at nghttpx")
            r = tcurl_ok(ctx, *flags, url("/%s/hello" % name))
            check_eq((r.status, r.body), (200, b"hello\n"), what + " GET")
            r = tcurl_ok(ctx, *flags, "--data-binary", "@" + body_path, url("/%s/echo" % name))
            check(r.status == 200 and r.body == body, "%s POST echo: status %s, %d bytes back "
                  "of %d" % (what, r.status, len(r.body), len(body)))
            r = tcurl_ok(ctx, *flags, url("/%s/bytes?n=%d" % (name, 3 * MIB)))
            check(r.status == 200 and r.body == pattern_bytes(3 * MIB),
                  "%s 3 MiB download: status %s, %d bytes" % (what, r.status, len(r.body)))
    if localhost_ok:
        marker = "named-%d" % time.monotonic_ns()
        r = tcurl_ok(ctx, surl(g, "/tls-named/inspect?m=" + marker))
        check_eq(r.status, 200, "named target status")
        check_eq(nx.entry(marker)["sni"], "localhost", "SNI for target https://localhost:PORT")


def test_tls_upstream_http_verification(ctx):
    """HTTP to TLS upstreams that must not verify: self-signed (system trust store, or
    the wrong CA) and a certificate without the target's address -> 502 JSON;
    tls_insecure_skip_verify = true -> 200. proxy_enable_http2 to an upstream that
    does not select h2 -> 502."""
    p = pki(ctx)
    b = ctx.backend()
    selfsigned = Nghttpx(ctx, b.port, "upstream-self")
    wrongname = Nghttpx(ctx, b.port, "sni")
    h1only = Nghttpx(ctx, b.port, "upstream", extra=["--npn-list=http/1.1"])
    cases = {
        "self-default": (selfsigned, {}, 502),
        "self-ca": (selfsigned, {"upstream_ca_file": p.cert("ca")}, 502),
        "self-skip": (selfsigned, {"tls_insecure_skip_verify": True}, 200),
        "name-ca": (wrongname, {"upstream_ca_file": p.cert("ca")}, 502),
        "name-skip": (wrongname, {"tls_insecure_skip_verify": True}, 200),
    }
    apis = {}
    # An upstream that only does http/1.1: fine without proxy_enable_http2; with it the
    # gateway offers only h2, gets no ALPN, and must not talk HTTP/2 anyway.
    for name, h2, status in (("h1only-h1", False, 200), ("h1only-h2", True, 502)):
        apis[name] = {"listen_path": "/%s/" % name, "strip_listen_path": True,
                      "target_url": h1only.url(), "proxy_enable_http2": h2,
                      "upstream_ca_file": p.cert("ca")}
    for name, (nx, keys, _) in cases.items():
        for h2 in (False, True):
            api = {"listen_path": "/%s-%s/" % (name, "h2" if h2 else "h1"),
                   "strip_listen_path": True, "target_url": nx.url(), "proxy_enable_http2": h2}
            api.update(keys)
            apis["%s-%s" % (name, "h2" if h2 else "h1")] = api
    g = tls_gateway(ctx, apis)
    for name, (nx, keys, status) in cases.items():
        for proto in ("h1", "h2"):
            what = "%s (%s upstream)" % (name, proto)
            r = tcurl(ctx, "--http2", surl(g, "/%s-%s/hello" % (name, proto)))
            check_eq(r.rc, 0, what + ": curl exit (%s)" % r.stderr.strip())
            if status == 200:
                check_eq((r.status, r.body), (200, b"hello\n"), what)
            else:
                json_error(r, status, what)
    r = tcurl(ctx, "--http2", surl(g, "/h1only-h1/hello"))
    check_eq((r.rc, r.status, r.body), (0, 200, b"hello\n"), "http/1.1-only upstream, HTTP/1.1")
    r = tcurl(ctx, "--http2", surl(g, "/h1only-h2/hello"))
    json_error(r, 502, "http/1.1-only upstream (no ALPN h2) with proxy_enable_http2")
    check(g.alive(), "the gateway died")


# ---------------------------------------------------------------------------
# 8. Session resumption across shards


def _resume_across_shards(ctx, g, version_flag):
    p = pki(ctx)
    sess = ctx.tmp("session%s.pem" % version_flag)
    common = [version_flag, "-CAfile", p.cert("ca"), "-alpn", "http/1.1"]
    req = h1_request("/h1/hello")
    n = len(handshakes(g))
    rc, out = s_client(g.tls_port, *common, "-sess_out", sess, send=req)
    kind, version = s_protocol(out)
    check_eq((rc, kind), (0, "New"), "%s: first connection\n%s" % (version_flag, out[-1000:]))
    check("\r\n\r\nhello\n" in out, "%s: first connection got no hello" % version_flag)
    check(os.path.exists(sess) and os.path.getsize(sess) > 0,
          "%s: s_client saved no session (no ticket received?)" % version_flag)
    hs = wait_handshakes(g, n + 1, "first handshake")
    issuer, resumed, _ = hs[n]
    check(not resumed, "%s: the first handshake was logged as resumed" % version_flag)
    shards = []
    for i in range(20):
        n = len(handshakes(g))
        rc, out = s_client(g.tls_port, *common, "-sess_in", sess, send=req)
        kind, version2 = s_protocol(out)
        check_eq((rc, kind, version2), (0, "Reused", version),
                 "%s: reconnect %d with the ticket (exit, New/Reused, version) after shards %r\n%s"
                 % (version_flag, i + 1, shards, out[-1000:]))
        check("\r\n\r\nhello\n" in out, "%s: reconnect %d got no hello" % (version_flag, i + 1))
        shard, resumed, _ = wait_handshakes(g, n + 1, "resumed handshake")[n]
        check(resumed, "%s: reconnect %d (shard %d) was not logged as resumed"
              % (version_flag, i + 1, shard))
        shards.append(shard)
        if shard != issuer:
            return "%s: ticket from shard %d resumed on shards %s" % (
                version, issuer, ",".join(map(str, shards)))
    fail("%s: 20 reconnects all landed on the ticket's shard %d; no cross-shard resumption "
         "seen" % (version_flag, issuer))


def test_tls_session_resumption_across_shards(ctx):
    """shards = 2, session tickets: a ticket issued by one shard resumes on the other
    (TLS 1.3 and TLS 1.2); every reconnect with it is a resumption."""
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), tls={"session_tickets": True}, shards=2,
                    log_level="debug")
    notes = [_resume_across_shards(ctx, g, flag) for flag in ("-tls1_3", "-tls1_2")]
    ctx.note("; ".join(notes))


def test_tls_resumed_sessions_get_fresh_tickets(ctx):
    """A resumed TLS 1.3 connection hands out a new ticket, so a client that uses
    each ticket once (OpenSSL's s_client -sess_out after -sess_in) resumes again and
    again, in both TLS library builds."""
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b))
    ca = pki(ctx).cert("ca")
    request = b"GET /h1/hello HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n"
    sess = [ctx.tmp("chain-%d.pem" % i) for i in range(4)]
    _, out = s_client(g.tls_port, "-CAfile", ca, "-tls1_3", "-sess_out", sess[0], send=request)
    check_eq(s_protocol(out)[0], "New", "first connection")
    for i in range(1, 4):
        _, out = s_client(g.tls_port, "-CAfile", ca, "-tls1_3", "-sess_in", sess[i - 1],
                          "-sess_out", sess[i], send=request)
        check_eq(s_protocol(out)[0], "Reused", "connection %d (ticket from connection %d)"
                 % (i, i - 1))
        check(os.path.exists(sess[i]), "connection %d got no new ticket" % i)


def test_tls_upstream_sessions_resume(ctx):
    """New connections to a TLS upstream resume the newest session it issued: with no
    idle connections kept, every request after the first opens a connection that
    nghttpx logs as resumed (HTTP/1.1 and HTTP/2 upstreams)."""
    p = pki(ctx)
    b = ctx.backend()
    nx = Nghttpx(ctx, b.port, "upstream")
    apis = {"tls-h1": {"listen_path": "/tls-h1/", "strip_listen_path": True,
                       "target_url": nx.url(), "upstream_ca_file": p.cert("ca")}}
    g = ctx.gateway(apis, upstream_max_idle_connections=0)
    seen = []
    for i in range(4):
        marker = "resume-%d-%d" % (i, time.monotonic_ns())
        r = curl(g.url("/tls-h1/inspect?m=%s" % marker))
        check_eq(r.status, 200, "request %d" % i)
        seen.append(nx.entry(marker)["reused"])
    check_eq(seen[0], ".", "the first connection is a full handshake")
    check_eq(seen[1:], ["r", "r", "r"], "later connections resume (nghttpx's view)")
    # HTTP/2: a connection that closes when idle; the next one resumes.
    g.stop()
    apis = {"tls-h2": {"listen_path": "/tls-h2/", "strip_listen_path": True,
                       "target_url": nx.url(), "proxy_enable_http2": True,
                       "upstream_ca_file": p.cert("ca")}}
    g2 = ctx.gateway(apis, idle_timeout_ms=200)
    seen = []
    for i in range(2):
        marker = "resume-h2-%d-%d" % (i, time.monotonic_ns())
        r = curl(g2.url("/tls-h2/inspect?m=%s" % marker))
        check_eq(r.status, 200, "h2 request %d" % i)
        seen.append(nx.entry(marker)["reused"])
        time.sleep(1.2)  # the idle upstream connection closes (idle_timeout_ms = 200)
    check_eq(seen, [".", "r"], "h2 upstream: (first, second connection) resumed")


# ---------------------------------------------------------------------------
# 9. SNI


def test_tls_sni_certificates(ctx):
    """[tls.NAME] sections: SNI sni.test and *.sni.test get the SNI certificate (which
    verifies for that name); other names and no SNI get the default certificate."""
    p = pki(ctx)
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), sni={"sni": {
        "server_names": "sni.test, *.sni.test", "cert_file": p.cert("sni"),
        "key_file": p.key("sni")}})
    default = p.subject("server-rsa")
    cases = (("sni.test", p.subject("sni")), ("a.sni.test", p.subject("sni")),
             ("SNI.Test", p.subject("sni")), ("gw.test", default), ("other.test", default),
             (None, default))
    for name, subject in cases:
        args = ["-CAfile", p.cert("ca"), "-nameopt", "RFC2253"]
        args += ["-servername", name] if name else ["-noservername"]
        if name and subject == p.subject("sni"):
            args += ["-verify_hostname", name.lower()]
        rc, out = s_client(g.tls_port, *args)
        check_eq((rc, s_subject(out)), (0, subject), "SNI %r: (exit, certificate subject)" % name)
        check("Verify return code: 0 (ok)" in out, "SNI %r: certificate did not verify:\n%s"
              % (name, out[-1200:]))
    r = curl("--cacert", p.cert("ca"), "--resolve", "sni.test:%d:127.0.0.1" % g.tls_port,
             "https://sni.test:%d/h1/hello" % g.tls_port)
    check_eq((r.rc, r.status, r.body), (0, 200, b"hello\n"),
             "curl to https://sni.test (verifying the SNI certificate) [%s]" % r.stderr.strip())


# ---------------------------------------------------------------------------
# 10. Handshake flood


def test_tls_handshake_flood(ctx):
    """2000 new TLS connections, 200 at a time, each with one request (h2load, half
    HTTP/2 and half HTTP/1.1, shards = 2): all succeed; the gateway serves afterwards.
    (Under ASan this takes about as long as in a release build: the handshakes'
    crypto is in BoringSSL, which is not instrumented.)"""
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), shards=2)
    total = 2000
    per_round = 200
    start = time.monotonic()
    done = 0
    for i in range(total // per_round):
        proto = [] if i % 2 == 0 else ["--h1"]
        r = ctx.h2load("-n", per_round, "-c", per_round, *proto, surl(g, "/h1/hello"),
                       timeout=60)
        check_eq((r.succeeded, r.failed, r.errored, r.s2xx), (per_round, 0, 0, per_round),
                 "round %d (%s): %d connections with one request each\n%s"
                 % (i + 1, "h1" if proto else "h2", per_round, r.output[-1500:]))
        check("TLS Protocol" in r.output, "h2load did not use TLS:\n" + r.output[-800:])
        done += per_round
    elapsed = time.monotonic() - start
    ctx.note("%d TLS handshakes + requests in %.1fs (%.0f/s)" % (done, elapsed, done / elapsed))
    check(g.alive(), "the gateway died")
    r = tcurl_ok(ctx, "--http2", surl(g, "/h2c/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "a request after the flood")


test_tls_handshake_flood.timeout = 180


# (11. Handshake timeouts, garbage, min_version and mTLS with bad certificates are
# attacks: tests/security/test_tls_*.py, test_mtls_bad_certificates.py.)


# ---------------------------------------------------------------------------
# 12. --check


def _line_of(text, section, key):
    """1-based line of |key| in [section] of |text|."""
    current = None
    for i, line in enumerate(text.split("\n"), start=1):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1]
        elif current == section and s.split("=", 1)[0].strip() == key:
            return i
    raise KeyError("%s.%s not in the INI text" % (section, key))


def _section_line(text, section):
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip() == "[%s]" % section:
            return i
    raise KeyError(section)


def test_tls_check_errors(ctx):
    """--check on TLS settings: a complete, valid TLS configuration passes (also with
    paths relative to the file); a missing certificate, key, CA or SNI file, a key that
    does not match its certificate, a file that is not a certificate, a bad
    min_version, tls_listen without [tls] and the reverse, and use_mutual_tls_auth
    without client_ca_file each give exit 2 and FILE:LINE: message at the offending
    key's line (and no other line)."""
    p = pki(ctx)
    missing = ctx.tmp("does-not-exist.pem")
    backend = "http://127.0.0.1:9"

    def ini(tls=None, sni=None, api=None):
        tls_keys = {"cert_file": p.cert("server-rsa"), "key_file": p.key("server-rsa"),
                    "client_ca_file": p.cert("ca"), "min_version": "1.2",
                    "session_tickets": True, "session_ticket_rotation_s": 3600,
                    "handshake_timeout_ms": 5000}
        tls_keys.update(tls or {})
        sni_keys = {"server_names": "sni.test, *.sni.test", "cert_file": p.cert("sni"),
                    "key_file": p.key("sni")}
        sni_keys.update(sni or {})
        apis = {
            "open": {"listen_path": "/open/", "target_url": backend},
            "mtls": {"listen_path": "/mtls/", "target_url": backend, "use_keyless": False,
                     "use_mutual_tls_auth": True, "client_certificates": p.fp("client-allowed")},
            "up": {"listen_path": "/up/", "target_url": "https://127.0.0.1:9",
                   "proxy_enable_http2": True, "upstream_ca_file": p.cert("ca"),
                   "upstream_cert_file": p.cert("upstream-client"),
                   "upstream_key_file": p.key("upstream-client")},
        }
        apis["up"].update(api or {})
        return tls_ini(8080, 8443, apis, tls_keys, {"sni": sni_keys})

    def run(name, text):
        path = ctx.tmp(name + ".ini")
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
        lines = {}
        for l in err.splitlines():
            m = re.match(re.escape(path) + r":(\d+): (.+)", l)
            if m:
                lines[int(m.group(1))] = m.group(2)
        return rc, err, lines

    text = ini()
    rc, err, _ = run("valid", text)
    check_eq((rc, err), (0, ""), "--check on a valid TLS configuration")

    cases = (  # (what, ini text, acceptable lines)
        ("missing cert_file", ini(tls={"cert_file": missing}), [("tls", "cert_file")]),
        ("missing key_file", ini(tls={"key_file": missing}), [("tls", "key_file")]),
        ("key does not match the certificate", ini(tls={"key_file": p.mismatched_key}),
         [("tls", "key_file"), ("tls", "cert_file")]),
        ("cert_file is a key, not a certificate", ini(tls={"cert_file": p.key("server-rsa")}),
         [("tls", "cert_file")]),
        ("missing client_ca_file", ini(tls={"client_ca_file": missing}),
         [("tls", "client_ca_file")]),
        ("min_version = 1.1", ini(tls={"min_version": "1.1"}), [("tls", "min_version")]),
        ("missing SNI cert_file", ini(sni={"cert_file": missing}),
         [("tls.sni", "cert_file"), ("tls.sni", None)]),
        ("SNI key does not match", ini(sni={"key_file": p.mismatched_key}),
         [("tls.sni", "cert_file"), ("tls.sni", "key_file"), ("tls.sni", None)]),
        ("missing upstream_ca_file", ini(api={"upstream_ca_file": missing}),
         [("api.up", "upstream_ca_file")]),
        ("upstream key does not match", ini(api={"upstream_key_file": p.mismatched_key}),
         [("api.up", "upstream_key_file"), ("api.up", "upstream_cert_file")]),
    )
    bad = []
    for i, (what, text, where) in enumerate(cases):
        want = {(_section_line(text, s) if k is None else _line_of(text, s, k)) for s, k in where}
        rc, err, lines = run("case%d" % i, text)
        if rc != 2 or not lines or not set(lines) <= want:
            bad.append("%s: exit %d, want exit 2 and FILE:LINE: at line(s) %s; stderr: %r"
                       % (what, rc, sorted(want), err[-400:]))
    # Cross-section rules.
    gw = "[gateway]\nlisten = 127.0.0.1:8080\n%s\n[api.a]\nlisten_path = /a/\n" \
         "target_url = http://127.0.0.1:9\n%s\n"
    tls = "\n[tls]\ncert_file = %s\nkey_file = %s\n" % (p.cert("server-rsa"), p.key("server-rsa"))
    more = (
        ("tls_listen without [tls]", gw % ("tls_listen = 127.0.0.1:8443", "use_keyless = true"),
         [("gateway", "tls_listen")]),
        ("[tls] without tls_listen", gw % ("", "use_keyless = true") + tls,
         [("tls", None)]),
        ("use_mutual_tls_auth without client_ca_file",
         gw % ("tls_listen = 127.0.0.1:8443", "use_mutual_tls_auth = true") + tls,
         [("api.a", "use_mutual_tls_auth"), ("tls", None)]),
    )
    for i, (what, text, where) in enumerate(more):
        want = {(_section_line(text, s) if k is None else _line_of(text, s, k)) for s, k in where}
        rc, err, lines = run("more%d" % i, text)
        if rc != 2 or not lines or not set(lines) <= want:
            bad.append("%s: exit %d, want exit 2 and FILE:LINE: at line(s) %s; stderr: %r"
                       % (what, rc, sorted(want), err[-400:]))
    check(not bad, "%d of %d --check cases wrong:\n%s"
          % (len(bad), len(cases) + len(more), "\n".join(bad)))
    # Relative paths are relative to the file's directory.
    d = ctx.tmp("relative")
    os.makedirs(d)
    for name in ("server.pem", "server.key"):
        with open(os.path.join(d, name), "wb") as f:
            with open(p.cert("server-rsa") if name.endswith(".pem") else p.key("server-rsa"),
                      "rb") as src:
                f.write(src.read())
    path = os.path.join(d, "relative.ini")
    with open(path, "w") as f:
        f.write(gw % ("tls_listen = 127.0.0.1:8443", "use_keyless = true")
                + "\n[tls]\ncert_file = server.pem\nkey_file = server.key\n")
    rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
    check_eq((rc, err), (0, ""), "--check with cert_file/key_file relative to the file's "
             "directory (run from another directory)")
    # Started (not just checked), a bad TLS file stops it before it listens.
    path = ctx.tmp("run-bad.ini")
    with open(path, "w") as f:
        f.write(ini(tls={"key_file": p.mismatched_key}))
    rc, out, err = ctx.run_gateway_cli("--config", path)
    check_eq(rc, 2, "exit status when started with a mismatched key (stderr %r)" % err[-400:])


def test_tls_check_reports_every_tls_problem(ctx):
    """Like every other --check error, TLS problems are all reported in one run: a
    [tls] section with a key that does not match and a missing client_ca_file, plus a
    bad [tls.NAME] certificate, gives one FILE:LINE: per problem."""
    p = pki(ctx)
    text = tls_ini(8080, 8443, {"a": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9"}},
                   {"cert_file": p.cert("server-rsa"), "key_file": p.mismatched_key,
                    "client_ca_file": ctx.tmp("missing-ca.pem")},
                   {"sni": {"server_names": "sni.test", "cert_file": ctx.tmp("missing.pem"),
                            "key_file": p.key("sni")}})
    path = ctx.tmp("several.ini")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
    lines = sorted({int(m.group(1)) for m in re.finditer(re.escape(path) + r":(\d+): ", err)})
    key_or_cert = {_line_of(text, "tls", "key_file"), _line_of(text, "tls", "cert_file")}
    check_eq(rc, 2, "exit status (stderr %r)" % err)
    check(_line_of(text, "tls", "client_ca_file") in lines, "missing client_ca_file not "
          "reported: %r" % err)
    check(key_or_cert & set(lines), "the key that does not match its certificate was not "
          "reported next to the other problems: %r" % err)
    sni = {_line_of(text, "tls.sni", "cert_file"), _section_line(text, "tls.sni")}
    check(sni & set(lines), "the missing SNI certificate was not reported: %r" % err)


# ---------------------------------------------------------------------------
# Tiny records: a client sending one byte per TLS record must not make each byte pin
# a whole plaintext block (measured before the fix: +243 MB RSS for 60 000 records).


def _tiny_record_client(ctx, port, head, records, send_timeout):
    """Sends |head| then |records| one-byte TLS records; returns how many went out
    before the gateway stopped reading (send timed out)."""
    c = ssl.create_default_context(cafile=pki(ctx).cert("ca"))
    c.set_alpn_protocols(["http/1.1"])
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="gw.test")
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(head)
    s.settimeout(send_timeout)
    sent = 0
    try:
        for _ in range(records):
            s.send(b"x")  # the ssl module writes one record per call
            sent += 1
    except (socket.timeout, OSError):
        pass
    return s, sent


def test_tls_tiny_records_do_not_pin_memory(ctx):
    b = ctx.backend()
    hole = ctx.blackhole_upstream()  # connects hang: the body waits in the gateway
    apis = proxy_apis(b)
    apis["hole"] = {"listen_path": "/hole/", "target_url": "http://127.0.0.1:%d" % hole.port}
    g = tls_gateway(ctx, apis, upstream_connect_timeout_ms=20000, upstream_timeout_ms=20000)
    base = g.rss_kib()
    limit_kib = (48 if ctx.asan else 16) * 1024
    # 1. A request body in one-byte records, held while the upstream connect hangs.
    body_conn, sent = _tiny_record_client(
        ctx, g.tls_port, b"POST /hole/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000000\r\n\r\n",
        60000, 5.0)
    check(sent > 10000, "the gateway stopped reading after %d one-byte records" % sent)
    time.sleep(0.5)
    grown = g.rss_kib() - base
    check(grown < limit_kib, "RSS grew by %d KiB for %d one-byte records of body" % (grown, sent))
    # 2. Pipelined bytes in one-byte records behind a request that waits: they stay in
    # the paused connection's stash, which is bounded.
    stash_conn, stash_sent = _tiny_record_client(
        ctx, g.tls_port, b"GET /hole/y HTTP/1.1\r\nHost: gw.test\r\n\r\n", 200000, 2.0)
    time.sleep(0.5)
    grown = g.rss_kib() - base
    check(grown < limit_kib, "RSS grew by %d KiB after %d pipelined one-byte records"
          % (grown, stash_sent))
    ctx.note("%d body records + %d pipelined records: RSS +%d KiB" % (sent, stash_sent, grown))
    # The gateway still serves everyone else.
    r = tcurl_ok(ctx, surl(g, "/h1/hello"))
    check_eq(r.status, 200, "status after the tiny-record connections")
    for s in (body_conn, stash_conn):
        s.close()
    check(g.alive(), "gateway alive")


test_tls_tiny_records_do_not_pin_memory.timeout = 90


# ---------------------------------------------------------------------------
# Dynamic record sizing: small records while a connection warms up and after it
# idles, full-size records for bulk. The client below parses the TLS record headers
# of what it receives (its TLS runs over memory BIOs, so the raw stream is visible).


class RecordWatchingClient:
    """An HTTP/1.1-over-TLS client that notes (type, length) of every record it gets."""

    def __init__(self, ctx, port):
        c = ssl.create_default_context(cafile=pki(ctx).cert("ca"))
        c.set_alpn_protocols(["http/1.1"])
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = c.wrap_bio(self.inc, self.out, server_hostname="gw.test")
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.raw = bytearray()
        self.records = []  # (content type, length) as received
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._feed(self.sock.recv(65536))
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _feed(self, data):
        if not data:
            fail("the gateway closed the connection")
        self.raw.extend(data)
        pos = 0
        while len(self.raw) - pos >= 5:
            n = int.from_bytes(self.raw[pos + 3:pos + 5], "big")
            if len(self.raw) - pos < 5 + n:
                break
            self.records.append((self.raw[pos], n))
            pos += 5 + n
        del self.raw[:pos]
        self.inc.write(data)

    def get(self, path):
        """Sends GET |path| and reads the whole response (content-length); returns the
        lengths of the application-data records that carried it."""
        first = len(self.records)
        self.tls.write(b"GET %s HTTP/1.1\r\nHost: gw.test\r\n\r\n" % path.encode())
        self._flush()
        buf = b""
        need = None
        while need is None or len(buf) < need:
            try:
                while True:
                    chunk = self.tls.read(1 << 20)
                    if not chunk:
                        fail("TLS stream ended before the response did")
                    buf += chunk
            except ssl.SSLWantReadError:
                pass
            if need is None and b"\r\n\r\n" in buf:
                head = buf[:buf.index(b"\r\n\r\n")].decode("latin-1").lower()
                m = re.search(r"content-length: *(\d+)", head)
                check(m is not None, "response has a content-length: %r" % head)
                need = len(head) + 4 + int(m.group(1))
            if need is None or len(buf) < need:
                self._feed(self.sock.recv(1 << 20))
        # Application data is type 23 under TLS 1.3 (handshake messages such as new
        # session tickets travel inside it too, but are small and come first).
        return [n for t, n in self.records[first:] if t == 23]

    def close(self):
        self.sock.close()


def test_tls_record_sizes(ctx):
    b = ctx.backend()
    warmup = 65536
    g = tls_gateway(ctx, proxy_apis(b), tls={"record_warmup_bytes": warmup,
                                             "record_idle_ms": 1000})
    small_max = 1300 + 17  # payload + TLS 1.3 content type and AEAD tag
    full = 16384 + 17
    c = RecordWatchingClient(ctx, g.tls_port)
    try:
        sizes = c.get("/h1/bytes?n=400000")
        # Warm-up: every record up to about |warmup| bytes fits in one TCP segment.
        plain = 0
        i = 0
        while i < len(sizes) and plain < warmup - 2 * 1300:
            check(sizes[i] <= small_max, "record %d is %d bytes during warm-up (after %d bytes)"
                  % (i, sizes[i], plain))
            plain += sizes[i] - 17
            i += 1
        bulk = sizes[i + 2:]
        check(len(bulk) > 10, "too few records after warm-up: %r" % sizes[-20:])
        full_count = sum(1 for n in bulk if n == full)
        # Mostly full records, none larger. A few are cut short where a turn ends with
        # less than 16 KiB relayed (how the origin's writes arrive is timing: 4 of 22
        # were seen on a loaded machine), so the bound is a share, not a count.
        check(all(n <= full for n in bulk) and full_count * 4 >= len(bulk) * 3,
              "bulk records are not full size: %r" % bulk[:24])
        # Busy connection: the next response goes out in full records at once.
        again = c.get("/h1/bytes?n=100000")
        check(max(again) == full and sum(1 for n in again if n == full) >= 4,
              "a warm connection went back to small records: %r" % again[:10])
        # Idle longer than record_idle_ms: small records again.
        time.sleep(1.5)
        after_idle = c.get("/h1/bytes?n=100000")
        check(all(n <= small_max for n in after_idle[:10]),
              "after idling, the first records are not small: %r" % after_idle[:10])
        ctx.note("warm-up: %d small records, then %d of %d full-size; after idle: %r..."
                 % (i, full_count, len(bulk), after_idle[:4]))
    finally:
        c.close()
