"""x-forwarded-for / x-forwarded-proto spoofing (client header spoofing; no §7 row
yet): from a client that is not in [gateway] trusted_proxies the upstream sees
exactly one x-forwarded-for with the client's address and one x-forwarded-proto
with the scheme Ringway saw, whatever the client sent (also spelled with '_');
from a trusted proxy the list is extended and the proto kept. Over HTTP/1.1 and
HTTP/2, against a capture upstream."""

import json

from harness import MiniH2, RawConn, check, check_eq

SPOOF = [("X-Forwarded-For", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8, 9.9.9.9"),
         ("X-Forwarded-Proto", "https"), ("X_Forwarded_For", "6.6.6.6"),
         ("x_forwarded_proto", "https"), ("X-Other", "kept")]


def _gateway(ctx, **gateway_keys):
    up = ctx.capture_upstream()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}}, **gateway_keys)
    return up, g


def _forwarded(headers):
    """The upstream's forwarding-related header lines, in order."""
    return [(n, v) for n, v in headers
            if n.replace("_", "-") in ("x-forwarded-for", "x-forwarded-proto", "x-other")]


def _h1(g, headers):
    with RawConn(g.port) as c:
        r = c.request("GET", "/cap/xff", headers=headers)
        check_eq(r.status, 200, "HTTP/1.1 status")
        return r.json()["headers"]


def _h2(g, headers):
    with MiniH2(g.port) as h:
        sid = h.request("GET", "/cap/xff", headers=[(n.lower(), v) for n, v in headers])
        st = h.wait(sid)
        check(st.ended and st.reset is None, "HTTP/2 stream did not complete: reset %r"
              % st.reset)
        return json.loads(st.data)["headers"]


def _check_replaced(g):
    for proto, send in (("h1", _h1), ("h2", _h2)):
        got = _forwarded(send(g, SPOOF))
        check_eq(got, [("x-other", "kept"), ("x-forwarded-for", "127.0.0.1"),
                       ("x-forwarded-proto", "http")], proto + ": forwarding headers")
        got = _forwarded(send(g, []))
        check_eq(got, [("x-forwarded-for", "127.0.0.1"), ("x-forwarded-proto", "http")],
                 proto + ": forwarding headers without client-sent ones")


def test_untrusted_client_cannot_spoof_forwarded_headers(ctx):
    """Row — (client header spoofing): with no trusted_proxies (the default) the
    client's x-forwarded-for and x-forwarded-proto lines (and their '_' spellings)
    are replaced by its real address and scheme, over HTTP/1.1 and HTTP/2."""
    up, g = _gateway(ctx)
    _check_replaced(g)
    check_eq(len(up.requests), 4, "requests the upstream received")


def test_trusted_proxies_not_matching_client(ctx):
    """Row — (client header spoofing): trusted_proxies that do not contain the client
    (another IPv4 block, an IPv6 address) change nothing: its headers are replaced."""
    up, g = _gateway(ctx, trusted_proxies="10.0.0.0/8, 127.0.0.2, ::1")
    _check_replaced(g)


def test_trusted_proxy_extends_forwarded_headers(ctx):
    """Row — (client header spoofing): a client inside trusted_proxies (127.0.0.0/8)
    is a proxy whose list is extended with its address and whose x-forwarded-proto
    is kept, over HTTP/1.1 and HTTP/2."""
    up, g = _gateway(ctx, trusted_proxies="192.0.2.0/24, 127.0.0.0/8")
    for proto, send in (("h1", _h1), ("h2", _h2)):
        got = _forwarded(send(g, [("X-Forwarded-For", "1.2.3.4"),
                                  ("X-Forwarded-Proto", "https")]))
        check_eq(got, [("x-forwarded-for", "1.2.3.4, 127.0.0.1"),
                       ("x-forwarded-proto", "https")], proto + ": forwarding headers")
        got = _forwarded(send(g, []))
        check_eq(got, [("x-forwarded-for", "127.0.0.1"), ("x-forwarded-proto", "http")],
                 proto + ": forwarding headers without client-sent ones")
