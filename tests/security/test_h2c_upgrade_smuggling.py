"""h2c upgrade smuggling (SECURITY.md §7 row 18): an HTTP/1.1 request with
Upgrade: h2c and HTTP2-Settings is served as HTTP/1.1 (no 101), and neither those
headers nor Connection reach the upstream, so no tunnel can be opened through the
gateway."""

from harness import RawConn, check, check_eq, curl_ok, proxy_setup


def test_h2c_upgrade_request_served_as_http1(ctx):
    """Row 18: curl --http2 asks for an h2c upgrade (GET and POST, HTTP/1.1 and h2c
    upstreams): the answer is a normal 200 with the right body."""
    b, g = proxy_setup(ctx)
    for back in ("/h1", "/h2c"):
        r = curl_ok("--http2", g.url(back + "/hello"))
        check_eq((r.status, r.body), (200, b"hello\n"), back + " via curl --http2")
        r = curl_ok("--http2", "--data-binary", "payload", g.url(back + "/echo"))
        check_eq((r.status, r.body), (200, b"payload"), back + " POST via curl --http2")


def test_h2c_upgrade_headers_not_forwarded(ctx):
    """Row 18: Upgrade: h2c with HTTP2-Settings (GET, and POST with a body) is answered
    as HTTP/1.1 (200, never 101) and the upstream sees neither Upgrade, HTTP2-Settings
    nor Connection; the connection serves the next request as HTTP/1.1."""
    up = ctx.capture_upstream()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}})
    upgrade = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
               ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]
    with RawConn(g.port) as c:
        r = c.request("GET", "/cap/a", headers=upgrade)
        check_eq(r.status, 200, "GET with Upgrade: h2c (no 101, no switch)")
        r = c.request("POST", "/cap/b", headers=upgrade, body=b"payload")
        check_eq(r.status, 200, "POST with Upgrade: h2c")
        r = c.request("GET", "/cap/c")
        check_eq(r.status, 200, "an HTTP/1.1 request on the same connection afterwards")
    check_eq([q["target"] for q in up.requests], ["/a", "/b", "/c"], "upstream requests")
    check_eq(up.requests[1]["body_bytes"], 7, "the POST body reached the upstream")
    for q in up.requests:
        names = [n for n, _ in q["headers"]]
        for hop in ("upgrade", "http2-settings", "connection"):
            check(hop not in names, "%s reached the upstream on %s: %r"
                  % (hop, q["target"], q["headers"]))
