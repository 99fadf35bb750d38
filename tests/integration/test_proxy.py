"""Proxying through Ringway: both client protocols (HTTP/1.1, h2c prior knowledge)
against both upstream kinds (http:// and h2c://), header rewriting and routing.

Names follow nghttpx's TestH<front>H<back><Case>: test_<front>_<back>_<case>."""

import json
import os

from harness import (BACKS, FRONTS, RawConn, check, check_eq, curl_ok, nghttp, proxy_setup)

PROTOCOL_SEEN_BY_BACKEND = {"h1": "http/1.1", "h2c": "h2"}
CURL_VERSION = {"h1": "1.1", "h2": "2"}


def _get(ctx, front, back):
    b, g = proxy_setup(ctx)
    r = curl_ok(*FRONTS[front], g.url(BACKS[back] + "/hello"))
    check_eq(r.version, CURL_VERSION[front], "client protocol")
    check_eq(r.status, 200, "status")
    check_eq(r.body, b"hello\n", "body")
    check_eq(r.headers.get("content-type"), "text/plain", "content-type")
    check_eq(r.headers.get("content-length"), "6", "content-length")
    check_eq(r.headers.get("server"), "ringway-test-backend", "server header")

    r = curl_ok(*FRONTS[front], g.url(BACKS[back] + "/inspect?x=1&y=%20"))
    check_eq(r.status, 200, "inspect status")
    j = r.json()
    check_eq(j["method"], "GET", "method seen by backend")
    check_eq(j["path"], "/inspect?x=1&y=%20", "path seen by backend")
    check_eq(j["protocol"], PROTOCOL_SEEN_BY_BACKEND[back], "upstream protocol")
    check_eq(j["body_bytes"], 0, "body bytes seen by backend")


def test_h1_h1_get(ctx):
    _get(ctx, "h1", "h1")


def test_h1_h2c_get(ctx):
    _get(ctx, "h1", "h2c")


def test_h2_h1_get(ctx):
    _get(ctx, "h2", "h1")


def test_h2_h2c_get(ctx):
    _get(ctx, "h2", "h2c")


def _post(ctx, front, back, size=1 << 20):
    b, g = proxy_setup(ctx)
    body = os.urandom(size)
    path = ctx.tmp("body.bin")
    with open(path, "wb") as f:
        f.write(body)
    r = curl_ok(*FRONTS[front], "-H", "content-type: application/x-ringway-test",
                "--data-binary", "@" + path, g.url(BACKS[back] + "/echo"), timeout=60)
    check_eq(r.status, 200, "status")
    check_eq(r.headers.get("content-type"), "application/x-ringway-test", "content-type")
    check_eq(r.headers.get("content-length"), str(size), "content-length")
    check_eq(len(r.body), size, "echoed body length")
    check(r.body == body, "echoed body differs from the request body")

    r = curl_ok(*FRONTS[front], "--data-binary", "@" + path, g.url(BACKS[back] + "/inspect"),
                timeout=60)
    j = r.json()
    check_eq(j["method"], "POST", "method")
    check_eq(j["body_bytes"], size, "body bytes seen by backend")
    if back == "h1" or "content-length" in j["headers"]:
        check_eq(j["headers"].get("content-length"), str(size), "content-length upstream")

    # An empty POST is a complete request too.
    r = curl_ok(*FRONTS[front], "-X", "POST", "--data-binary", "", g.url(BACKS[back] + "/echo"))
    check_eq((r.status, r.body), (200, b""), "empty POST echo")


def test_h1_h1_post(ctx):
    _post(ctx, "h1", "h1")


def test_h1_h2c_post(ctx):
    _post(ctx, "h1", "h2c")


def test_h2_h1_post(ctx):
    _post(ctx, "h2", "h1")


def test_h2_h2c_post(ctx):
    _post(ctx, "h2", "h2c")


def test_status_passthrough(ctx):
    """Upstream statuses and bodies reach the client unchanged, every combination."""
    b, g = proxy_setup(ctx)
    for front in FRONTS:
        for back in BACKS:
            for code in (201, 404, 503):
                r = curl_ok(*FRONTS[front], g.url(BACKS[back] + "/status?code=%d" % code))
                what = "%s->%s /status?code=%d" % (front, back, code)
                check_eq(r.status, code, what + " status")
                check_eq(r.body, b"status %d\n" % code, what + " body")
                check_eq(r.headers.get("server"), "ringway-test-backend", what + " server")
            r = curl_ok(*FRONTS[front], g.url(BACKS[back] + "/status?code=204"))
            check_eq((r.status, r.body), (204, b""), "%s->%s 204" % (front, back))


def test_forwarded_headers(ctx):
    """x-forwarded-for gets the client address, x-forwarded-proto is http (a client
    that is not a trusted proxy cannot set either; a trusted one's list is extended:
    tests/security/test_forwarded_header_spoofing.py), and Host/:authority becomes the
    target's."""
    b, g = proxy_setup(ctx)
    target = "127.0.0.1:%d" % b.port
    for front in FRONTS:
        for back in BACKS:
            what = "%s->%s" % (front, back)
            r = curl_ok(*FRONTS[front], "-H", "Host: client.example",
                        g.url(BACKS[back] + "/inspect"))
            j = r.json()
            h = j["headers"]
            check_eq(h.get("x-forwarded-for"), "127.0.0.1", what + " x-forwarded-for")
            check_eq(h.get("x-forwarded-proto"), "http", what + " x-forwarded-proto")
            check_eq(j["authority"], target, what + " authority")
            if back == "h1":
                check_eq(h.get("host"), target, what + " host header")
            else:
                check(h.get("host") in (None, target),
                      "%s: h2 upstream got a host header %r that differs from :authority"
                      % (what, h.get("host")))

            r = curl_ok(*FRONTS[front], "-H", "X-Forwarded-For: 1.2.3.4",
                        "-H", "X-Forwarded-Proto: https", g.url(BACKS[back] + "/inspect"))
            h = r.json()["headers"]
            check_eq(h.get("x-forwarded-for"), "127.0.0.1",
                     what + " client-sent x-forwarded-for replaced")
            check_eq(h.get("x-forwarded-proto"), "http",
                     what + " client-sent x-forwarded-proto replaced")


def test_preserve_host_header(ctx):
    b, g = proxy_setup(ctx, api_keys={"preserve_host_header": True})
    for front in FRONTS:
        for back in BACKS:
            what = "%s->%s" % (front, back)
            r = curl_ok(*FRONTS[front], "-H", "Host: api.example.com:8443",
                        g.url(BACKS[back] + "/inspect"))
            j = r.json()
            check_eq(j["authority"], "api.example.com:8443", what + " authority")
            if back == "h1":
                check_eq(j["headers"].get("host"), "api.example.com:8443", what + " host")


def test_strip_listen_path_and_base_path(ctx):
    """The path the upstream sees: listen_path stripped or not, target base path
    prepended, query kept."""
    up = ctx.capture_upstream()
    apis = {
        "strip": {"listen_path": "/s/", "strip_listen_path": True, "target_url": up.url()},
        "nostrip": {"listen_path": "/n/", "strip_listen_path": False, "target_url": up.url()},
        "base": {"listen_path": "/svc/", "strip_listen_path": True,
                 "target_url": up.url() + "/base"},
        "basekeep": {"listen_path": "/keep/", "strip_listen_path": False,
                     "target_url": up.url() + "/base"},
        "exact": {"listen_path": "/exact", "strip_listen_path": True, "target_url": up.url()},
    }
    g = ctx.gateway(apis)
    cases = [
        ("/s/x/y", "/x/y"),
        ("/s/", "/"),
        ("/s/?q=1", "/?q=1"),
        ("/n/x?q=1", "/n/x?q=1"),
        ("/svc/a/b?q=1", "/base/a/b?q=1"),
        ("/svc/", "/base/"),
        ("/keep/x", "/base/keep/x"),
        ("/exact", "/"),
        ("/exact?x=1", "/?x=1"),
        ("/exact/y", "/y"),
    ]
    for front in FRONTS:
        for path, expected in cases:
            r = curl_ok(*FRONTS[front], g.url(path))
            check_eq(r.status, 200, "%s %s status" % (front, path))
            check_eq(r.json()["target"], expected, "%s: upstream path for %s" % (front, path))
        # "/exact" is a prefix of "/exactly" but not a path-segment match.
        r = curl_ok(*FRONTS[front], g.url("/exactly"))
        check_eq(r.status, 404, "%s /exactly must not match listen_path /exact" % front)


def test_strip_listen_path_false_backend(ctx):
    """strip_listen_path = false against the real backend: /inspect reaches /inspect."""
    b = ctx.backend()
    g = ctx.gateway({"inspect": {"listen_path": "/inspect", "strip_listen_path": False,
                                 "target_url": b.url("h2c")}})
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], g.url("/inspect?q=2"))
        check_eq(r.status, 200, front + " status")
        check_eq(r.json()["path"], "/inspect?q=2", front + " path seen by backend")


def test_h1_hop_by_hop_headers_not_forwarded(ctx):
    b, g = proxy_setup(ctx)
    for back in BACKS:
        r = curl_ok("--http1.1", "-H", "Connection: x-custom", "-H", "x-custom: 1",
                    "-H", "Keep-Alive: timeout=5", "-H", "Proxy-Connection: keep-alive",
                    "-H", "x-kept: yes", g.url(BACKS[back] + "/inspect"))
        h = r.json()["headers"]
        what = "h1->%s" % back
        for name in ("x-custom", "keep-alive", "proxy-connection", "te", "upgrade",
                     "transfer-encoding"):
            check(name not in h, "%s: hop-by-hop header %s reached the upstream: %r"
                  % (what, name, h))
        conn = h.get("connection")
        check(conn is None or "x-custom" not in conn.lower(),
              "%s: the client's Connection header reached the upstream: %r" % (what, conn))
        if back == "h2c":
            check(conn is None, "%s: connection header sent to an h2 upstream" % what)
        check_eq(h.get("x-kept"), "yes", what + " end-to-end header")


def test_te_trailers_reaches_h2c_upstream(ctx):
    b, g = proxy_setup(ctx)
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], "-H", "TE: trailers", g.url("/h2c/inspect"))
        check_eq(r.json()["headers"].get("te"), "trailers", front + "->h2c te")
    # An HTTP/1.1 upstream does not get the hop-by-hop TE header.
    r = curl_ok("--http1.1", "-H", "TE: trailers", g.url("/h1/inspect"))
    check_eq(r.json()["headers"].get("te"), None, "h1->h1 te")


def test_longest_listen_path_wins(ctx):
    b = ctx.backend()
    # Declared shortest first, so the order of sections cannot be what decides.
    g = ctx.gateway({
        "a": {"listen_path": "/a/", "strip_listen_path": True, "target_url": b.url("http")},
        "ab": {"listen_path": "/a/b/", "strip_listen_path": True, "target_url": b.url("h2c")},
    })
    for front in FRONTS:
        r = curl_ok(*FRONTS[front], g.url("/a/b/inspect"))
        check_eq((r.status, r.json()["protocol"], r.json()["path"]), (200, "h2", "/inspect"),
                 front + " /a/b/inspect -> api ab")
        r = curl_ok(*FRONTS[front], g.url("/a/inspect"))
        check_eq((r.status, r.json()["protocol"], r.json()["path"]),
                 (200, "http/1.1", "/inspect"), front + " /a/inspect -> api a")
        r = curl_ok(*FRONTS[front], g.url("/a/bx/inspect"))
        check_eq((r.status, r.body), (404, b"not found\n"),
                 front + " /a/bx/inspect -> api a, backend 404")


def test_hosts_matching(ctx):
    b = ctx.backend()
    g = ctx.gateway({
        "any": {"listen_path": "/", "target_url": b.url("http")},
        "host": {"listen_path": "/", "hosts": "api.example.com, www.example.com",
                 "target_url": b.url("h2c")},
        "only": {"listen_path": "/only/", "strip_listen_path": True,
                 "hosts": "only.example.com", "target_url": b.url("h2c")},
    })
    for front in FRONTS:
        for host, proto in (("api.example.com", "h2"), ("API.Example.COM:8080", "h2"),
                            ("www.example.com", "h2"), ("other.example.com", "http/1.1"),
                            ("example.com", "http/1.1")):
            r = curl_ok(*FRONTS[front], "-H", "Host: " + host, g.url("/inspect"))
            check_eq((r.status, r.json()["protocol"]), (200, proto),
                     "%s Host: %s -> protocol" % (front, host))
        r = curl_ok(*FRONTS[front], "-H", "Host: only.example.com", g.url("/only/inspect"))
        check_eq((r.status, r.json()["path"]), (200, "/inspect"), front + " only.example.com")
        # Another host: /only/ does not apply, "/" of api "any" does (backend 404).
        r = curl_ok(*FRONTS[front], "-H", "Host: nope.example.com", g.url("/only/inspect"))
        check_eq((r.status, r.body), (404, b"not found\n"), front + " other host on /only/")


def _check_json_error(r, status, what):
    check_eq(r.status, status, what + " status")
    check_eq(r.headers.get("content-type"), "application/json", what + " content-type")
    check_eq(r.headers.get("content-length"), str(len(r.body)), what + " content-length")
    try:
        j = json.loads(r.body)
    except ValueError:
        check(False, "%s: body is not JSON: %r" % (what, r.body))
    check(isinstance(j, dict) and list(j) == ["error"] and isinstance(j["error"], str)
          and j["error"], "%s: body is not {\"error\": \"...\"}: %r" % (what, r.body))
    return j


def test_no_route_404_json(ctx):
    b, g = proxy_setup(ctx)
    for front in FRONTS:
        for method in ("GET", "POST", "DELETE"):
            args = list(FRONTS[front]) + ["-X", method]
            if method == "POST":
                args += ["--data-binary", "abc"]
            _check_json_error(curl_ok(*args, g.url("/nope/x?y=1")), 404,
                              "%s %s /nope" % (front, method))
        r = curl_ok(*FRONTS[front], "-I", g.url("/nope"))
        check_eq(r.status, 404, front + " HEAD /nope status")
        check_eq(r.headers.get("content-type"), "application/json", front + " HEAD ctype")
        # listen_path "/h1/" does not match "/h1" itself.
        _check_json_error(curl_ok(*FRONTS[front], g.url("/h1")), 404, front + " /h1")
    with RawConn(g.port) as c:
        r = c.request("HEAD", "/nope")
        check_eq(r.status, 404, "raw HEAD /nope")
        r = c.request("GET", "/h1/hello")
        check_eq((r.status, r.body), (200, b"hello\n"), "GET after HEAD /nope")


def test_h2_grpc_no_route_is_unimplemented(ctx):
    b, g = proxy_setup(ctx)
    frame = ctx.tmp("empty-grpc-message")
    with open(frame, "wb") as f:
        f.write(b"\0\0\0\0\0")  # uncompressed, zero-length message
    for ctype in ("application/grpc", "application/grpc+proto"):
        r = curl_ok("--http2-prior-knowledge", "-H", "content-type: " + ctype,
                    "-H", "te: trailers", "--data-binary", "@" + frame,
                    g.url("/pkg.Service/Method"))
        check_eq(r.status, 200, ctype + " status")
        check_eq(r.headers.get("content-type"), "application/grpc", ctype + " content-type")
        check_eq(r.headers.get("grpc-status"), "12", ctype + " grpc-status (trailers-only)")
        check(r.headers.get("grpc-message"), "no grpc-message: %r" % r.headers)
        check_eq(r.body, b"", ctype + " body")


def _head(ctx, front, back):
    b, g = proxy_setup(ctx)
    # curl -I writes the head where the body would go, so only the head is checked.
    r = curl_ok(*FRONTS[front], "-I", g.url(BACKS[back] + "/bytes?n=1000"))
    check_eq(r.status, 200, "HEAD status")
    check_eq(r.headers.get("content-length"), "1000", "HEAD content-length")
    check_eq(r.headers.get("content-type"), "application/octet-stream", "HEAD content-type")
    if front == "h1":
        # On one keep-alive connection: no body bytes may follow the HEAD response.
        with RawConn(g.port) as c:
            r = c.request("HEAD", BACKS[back] + "/bytes?n=1000")
            check_eq((r.status, r.headers.get("content-length")), (200, "1000"), "raw HEAD")
            r = c.request("GET", BACKS[back] + "/hello")
            check_eq((r.status, r.body), (200, b"hello\n"), "GET after HEAD")
    else:
        n = nghttp(g.url(BACKS[back] + "/bytes?n=1000"), "-H", ":method: HEAD")
        check_eq(n.rc, 0, "nghttp exit status")
        check_eq(n.headers.get(":status"), "200", "HEAD :status")
        check_eq(n.headers.get("content-length"), "1000", "HEAD content-length")
        data = sum(f[2] for f in n.recv("DATA"))
        check_eq(data, 0, "DATA bytes received for HEAD")
        ends = [f for f in n.recv("HEADERS") + n.recv("DATA") if f[3] & 1]
        check(ends, "the HEAD stream never ended:\n" + n.output[-1500:])


def test_h1_h1_head(ctx):
    _head(ctx, "h1", "h1")


def test_h1_h2c_head(ctx):
    _head(ctx, "h1", "h2c")


def test_h2_h1_head(ctx):
    _head(ctx, "h2", "h1")


def test_h2_h2c_head(ctx):
    _head(ctx, "h2", "h2c")
