"""TLS downgrade (SECURITY.md §7 row 22): ClientHellos offering only TLS 1.0 or 1.1,
or TLS 1.2 with only CBC or RSA-key-exchange suites, are refused at the handshake;
min_version raises the floor; without ALPN the connection speaks HTTP/1.1 only."""

import re

from harness import check, check_eq, proxy_apis
from test_tls import (h1_request, handshakes, s_alpn, s_client, s_protocol, surl, tcurl, tcurl_ok,
                      tls_gateway, wait_handshakes)
from tls_certs import pki


def test_tls_downgrade_below_min_version_refused(ctx):
    """Row 22: min_version = 1.3 refuses a TLS 1.2-only client and accepts TLS 1.3; the default
    (1.2) accepts both."""
    p = pki(ctx)
    b = ctx.backend()
    ca = ["-CAfile", p.cert("ca")]
    g13 = tls_gateway(ctx, proxy_apis(b), tls={"min_version": "1.3"})
    rc, out = s_client(g13.tls_port, *ca, "-tls1_2")
    check(rc != 0 and s_protocol(out)[1] is None,
          "min_version = 1.3 accepted a TLS 1.2-only client (exit %d):\n%s" % (rc, out[-800:]))
    rc, out = s_client(g13.tls_port, *ca, "-tls1_3")
    check_eq((rc, s_protocol(out)), (0, ("New", "TLSv1.3")), "min_version = 1.3, TLS 1.3 client")
    r = tcurl(ctx, "--tlsv1.2", "--tls-max", "1.2", surl(g13, "/h1/hello"))
    check(r.rc != 0, "curl limited to TLS 1.2 got through to min_version = 1.3 (HTTP %s)"
          % r.status)
    r = tcurl_ok(ctx, "--tlsv1.3", surl(g13, "/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "curl TLS 1.3 to min_version = 1.3")
    g12 = tls_gateway(ctx, proxy_apis(b))
    for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(g12.tls_port, *ca, flag)
        check_eq((rc, s_protocol(out)), (0, ("New", version)), "default min_version, " + flag)


def test_tls_downgrade_no_alpn_is_http1_only(ctx):
    """Row 22: s_client offering h2 gets h2, offering http/1.1 gets http/1.1, offering nothing
    gets no ALPN and then speaks HTTP/1.1; with enable_http2 = false h2 is never
    selected. The debug log line of each handshake names the protocol."""
    p = pki(ctx)
    b = ctx.backend()
    ca = ["-CAfile", p.cert("ca")]
    g = tls_gateway(ctx, proxy_apis(b), log_level="debug")
    base = len(handshakes(g))
    rc, out = s_client(g.tls_port, *ca, "-alpn", "h2")
    check_eq((rc, s_alpn(out)), (0, "h2"), "offer h2: (exit, ALPN)\n" + out[-800:])
    check_eq(wait_handshakes(g, base + 1, "h2 handshake")[-1][2], "h2", "logged alpn (h2)")
    rc, out = s_client(g.tls_port, *ca, "-alpn", "http/1.1", send=h1_request("/h1/hello"))
    check_eq((rc, s_alpn(out)), (0, "http/1.1"), "offer http/1.1: (exit, ALPN)\n" + out[-800:])
    check(re.search(r"HTTP/1\.1 200 .*\r?\n(.*\r?\n)*\r?\nhello\n", out) is not None,
          "HTTP/1.1 over ALPN http/1.1: no 200 hello in\n" + out[-1200:])
    check_eq(wait_handshakes(g, base + 2, "http/1.1 handshake")[-1][2], "http/1.1",
             "logged alpn (http/1.1)")
    rc, out = s_client(g.tls_port, *ca, "-alpn", "h2,http/1.1")
    check_eq(s_alpn(out), "h2", "offer h2,http/1.1 (enable_http2 = true)")
    rc, out = s_client(g.tls_port, *ca, send=h1_request("/h1/hello"))
    check_eq((rc, s_alpn(out)), (0, None), "no ALPN offered: (exit, ALPN)\n" + out[-800:])
    check(re.search(r"HTTP/1\.1 200 .*\r?\n(.*\r?\n)*\r?\nhello\n", out) is not None,
          "HTTP/1.1 without ALPN: no 200 hello in\n" + out[-1200:])
    hs = wait_handshakes(g, base + 4, "no-ALPN handshake")
    check(hs[-1][2] != "h2", "a handshake without ALPN was logged as alpn=h2")

    g2 = tls_gateway(ctx, proxy_apis(b), enable_http2=False, log_level="debug")
    rc, out = s_client(g2.tls_port, *ca, "-alpn", "h2,http/1.1")
    check_eq(s_alpn(out), "http/1.1", "enable_http2 = false, offer h2,http/1.1")
    rc, out = s_client(g2.tls_port, *ca, "-alpn", "h2")
    check(s_alpn(out) != "h2", "enable_http2 = false selected h2:\n" + out[-800:])
    r = tcurl_ok(ctx, "--http2", surl(g2, "/h1/hello"))
    check_eq((r.status, r.body, r.version), (200, b"hello\n", "1.1"),
             "curl --http2 with enable_http2 = false (falls back to HTTP/1.1)")


def test_tls_downgrade_old_versions_and_weak_suites_refused(ctx):
    """Row 22: s_client limited to TLS 1.0 or TLS 1.1 (security level 0, so OpenSSL
    offers them), and TLS 1.2 limited to CBC suites (ECDHE-RSA-AES128-SHA,
    ECDHE-RSA-AES256-SHA384) or to RSA key exchange (AES128-GCM-SHA256, AES256-SHA): no
    handshake completes; TLS 1.2 with an ECDHE AEAD suite does; a request is served
    afterwards."""
    p = pki(ctx)
    b = ctx.backend()
    ca = ["-CAfile", p.cert("ca")]
    g = tls_gateway(ctx, proxy_apis(b))
    refused = (
        ("TLS 1.0", ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        ("TLS 1.1", ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        ("TLS 1.2, CBC (ECDHE-RSA-AES128-SHA)", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"]),
        ("TLS 1.2, CBC (ECDHE-RSA-AES256-SHA384)",
         ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"]),
        ("TLS 1.2, RSA key exchange (AES128-GCM-SHA256)",
         ["-tls1_2", "-cipher", "AES128-GCM-SHA256"]),
        ("TLS 1.2, RSA key exchange (AES256-SHA)", ["-tls1_2", "-cipher", "AES256-SHA"]),
    )
    for what, args in refused:
        rc, out = s_client(g.tls_port, *ca, *args)
        check(rc != 0 and s_protocol(out)[1] is None,
              "%s: handshake completed (exit %d):\n%s" % (what, rc, out[-800:]))
        # The gateway's alert (protocol_version or handshake_failure), not s_client's
        # own refusal to offer the hello.
        check(re.search(r"alert (protocol version|handshake failure)", out) is not None,
              "%s: no alert from the gateway:\n%s" % (what, out[-800:]))
    rc, out = s_client(g.tls_port, *ca, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    check_eq((rc, s_protocol(out)), (0, ("New", "TLSv1.2")), "TLS 1.2 with ECDHE AES-GCM")
    check(re.search(r"Cipher is ECDHE-RSA-AES128-GCM-SHA256", out) is not None,
          "negotiated cipher:\n" + out[-800:])
    r = tcurl_ok(ctx, "--http1.1", surl(g, "/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "a request after the refused handshakes")
