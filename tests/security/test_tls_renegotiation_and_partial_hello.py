"""TLS renegotiation and partial ClientHellos (SECURITY.md §7 row 24): a client's
renegotiation request is refused (the connection does not renegotiate, the gateway
serves on); a connection that sends nothing, half a ClientHello or a trickled one is
closed at handshake_timeout_ms; bytes that are not TLS are answered by a close."""

import os
import ssl
import subprocess
import time

from harness import RawConn, check, check_eq, proxy_apis, wait_for
from test_tls import handshakes, surl, tcurl_ok, tls_gateway


def _client_hello(server_name="gw.test"):
    """The bytes of a real TLS ClientHello (Python's ssl over memory BIOs)."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = c.wrap_bio(inb, outb, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outb.read()
    check(len(hello) > 100 and hello[0] == 0x16, "not a ClientHello: %r" % hello[:20])
    return hello


def _time_to_close(port, send=b"", trickle=None, limit=5.0):
    """Connects, sends |send| (or |trickle|: (bytes, interval) one byte at a time) and
    returns (seconds until the gateway closed the connection or None, bytes sent)."""
    with RawConn(port, timeout=limit) as c:
        start = time.monotonic()
        sent = 0
        if send:
            c.send(send)
            sent = len(send)
        if trickle:
            data, interval = trickle
            while sent < len(data) and time.monotonic() - start < limit:
                try:
                    c.send(data[sent:sent + 1])
                except OSError:
                    break
                sent += 1
                if c.wait_eof(interval):
                    break
        if c.wait_eof(max(0.0, limit - (time.monotonic() - start))):
            return time.monotonic() - start, sent
        return None, sent


def test_tls_partial_client_hello_closed_at_handshake_timeout(ctx):
    """Row 24: handshake_timeout_ms = 300: a connection that sends nothing, half a ClientHello,
    or a ClientHello one byte every 50 ms is closed after about 300 ms; bytes that are
    not TLS are answered by a close (and a debug log line); the gateway serves normal
    handshakes all along."""
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), tls={"handshake_timeout_ms": 300}, log_level="debug")
    hello = _client_hello()
    slack = 2.5 if ctx.asan else 1.5
    cases = (("silent", {}), ("half a ClientHello", {"send": hello[:len(hello) // 2]}),
             ("ClientHello trickled at 1 byte / 50 ms", {"trickle": (hello, 0.05)}))
    for what, kw in cases:
        closed, sent = _time_to_close(g.tls_port, limit=5.0, **kw)
        check(closed is not None, "%s: connection still open after 5 s" % what)
        check(0.25 <= closed <= 0.3 + slack, "%s: closed after %.2fs (handshake_timeout_ms = 300)"
              % (what, closed))
        if "trickled" in what:
            check(sent < len(hello), "trickled ClientHello: all %d bytes went out" % sent)
        ctx.note("%s: closed after %.0f ms" % (what, closed * 1000))
    garbage = (("HTTP/1.1 request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
               ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
               ("random bytes", b"\x00\xff" + os.urandom(600)),
               ("TLS record header with a huge length", b"\x16\x03\x01\xff\xff" + b"\0" * 64))
    failed_before = g.stderr_text().count("tls handshake failed")
    for what, data in garbage:
        closed, _ = _time_to_close(g.tls_port, send=data, limit=3.0)
        check(closed is not None and closed < 0.3 + slack,
              "%s instead of a ClientHello: not closed within 3 s (%r)" % (what, closed))
        check(g.alive(), "the gateway died after %s" % what)
    wait_for(lambda: g.stderr_text().count("tls handshake failed") >= failed_before + len(garbage),
             3.0, what="a 'tls handshake failed' debug line for each of %d garbage connections "
             "(stderr tail %r)" % (len(garbage), g.stderr_text()[-600:]))
    for flag in ("--http2", "--http1.1"):
        r = tcurl_ok(ctx, flag, surl(g, "/h1/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), "curl %s afterwards" % flag)
    check_eq(handshakes(g)[-1][1:], (False, "http/1.1"), "the last handshake's log line")


def test_tls_renegotiation_request_refused(ctx):
    """Row 24: over TLS 1.2, s_client asks to renegotiate (its "R" command) after one
    request: the gateway does not renegotiate (no second handshake; the connection is
    refused with an alert or closed); it serves new connections afterwards."""
    b = ctx.backend()
    g = tls_gateway(ctx, proxy_apis(b), log_level="debug")
    before = len(handshakes(g))
    # (no -ign_eof: it turns s_client's commands off)
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % g.tls_port, "-tls1_2"]
    req = b"GET /h1/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n"
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        for data in (req, b"R\n", req):  # s_client may exit when the gateway refuses
            try:
                p.stdin.write(data)
                p.stdin.flush()
            except BrokenPipeError:
                break
            time.sleep(0.5)
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        out = p.stdout.read().decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    check("RENEGOTIATING" in out, "s_client did not try to renegotiate:\n" + out[-1500:])
    check(out.count("HTTP/1.1 200") >= 1, "the first request was not served:\n" + out[-1500:])
    check(out.count("HTTP/1.1 200") == 1 or "alert" in out.lower()
          or "no renegotiation" in out.lower(), "no refusal seen:\n" + out[-1500:])
    ctx.note("s_client after R: %r" % out[out.index("RENEGOTIATING"):][:300])
    check_eq(len(handshakes(g)) - before, 1, "handshakes logged (a renegotiation is not one)")
    check(g.alive(), "the gateway died")
    r = tcurl_ok(ctx, "--http1.1", surl(g, "/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "a new connection afterwards")
