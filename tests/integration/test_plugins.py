"""Rich plugins (Tyk's coprocess protocol over gRPC) end to end: every hook type
against ringway-plugin-server (tests/fixtures/plugin_server.cc, gRPC C++, modelled on
Tyk's test dispatcher), the return-override matrix, custom auth (its per-shard cache,
the key store, revocation through the key API), config_data and spec, request and
response bodies (20 MiB allowed, over the limit refused), max_in_flight, hooks on every
gRPC call shape (streams keep streaming), unix sockets, reloads and config checks.

Real processes throughout: the gateway, ringway-plugin-server, ringway-test-backend
(/inspect shows what reached the upstream), the gRPC fixtures, curl. (A plugin that is
down, slow, broken or killed: tests/security/test_plugin_failures.py.)
"""

import json
import os
import signal
import threading
import time

import test_grpc as tg
from harness import (RawConn, check, check_eq, curl_ok, fail, free_port, make_ini, metric,
                     scrape, wait_for)
from test_auth import auth_gateway, request
from test_plugin_python import PluginProcess

MIDDLEWARE_ERROR = "Middleware error"
FRONTS = {"h1": ["--http1.1"], "h2": ["--http2-prior-knowledge"]}
INTERNAL, PERMISSION_DENIED, UNAVAILABLE, UNAUTHENTICATED = 13, 7, 14, 16


def plugin_server(ctx, port=0, unix_path=None):
    """ringway-plugin-server on 127.0.0.1 (a free port, or |port|) or a unix socket;
    its .url is what [coprocess] coprocess_grpc_server takes."""
    listen = "unix://" + unix_path if unix_path else "127.0.0.1:%d" % port
    return PluginProcess(ctx, "ringway-plugin-server",
                         [tg._fixture(ctx, "ringway-plugin-server"), "--listen", listen])


def coprocess(target, **keys):
    section = {"coprocess_grpc_server": target, "timeout_ms": 2000}
    section.update(keys)
    return section


def plugin_gateway(ctx, apis, target, store=False, **coprocess_keys):
    """A gateway with [coprocess] -> |target| and |apis|; with |store| also an admin
    listener and a key store (custom auth needs it): g.keys, g.admin."""
    sections = {"coprocess": coprocess(target, **coprocess_keys)}
    if store:
        return auth_gateway(ctx, apis, extra_sections=sections)
    admin = free_port()
    sections["admin"] = {"listen": "127.0.0.1:%d" % admin, "secret": "s3cret"}
    g = ctx.gateway(apis, sections=sections)
    g.admin = admin
    return g


def keyless(backend, listen_path, **keys):
    api = {"listen_path": listen_path, "strip_listen_path": True, "target_url": backend.url(),
           "use_keyless": True}
    api.update(keys)
    return api


def custom_auth(backend, listen_path, auth_check, **keys):
    """An API at |listen_path| -> |backend| authenticated by the |auth_check| hook."""
    return keyless(backend, listen_path, use_keyless=False, enable_coprocess_auth=True,
                   auth_check=auth_check, **keys)


def plugin_metric(g, name, **labels):
    samples, _ = scrape(g.admin)
    return metric(samples, name, **labels)


def backend_requests(b):
    return curl_ok(b.url() + "/stats").json()["requests"]


def json_error(r, status, message, what):
    check_eq(r.status, status, "%s: status (body %r)" % (what, r.body[:300]))
    check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")
    try:
        body = json.loads(r.body)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, r.body[:300]))
    check_eq(body, {"error": message}, what + ": body")


# ---------------------------------------------------------------------------
# Request hooks


def test_plugin_pre_and_post_hooks_change_the_request(ctx):
    """Pre and post hooks set and delete headers, rewrite the URL, method and query
    (to_inspect: url, PUT, added=1, drop removed), in list order, over HTTP/1.1 and
    HTTP/2; a hook that echoes the object changes nothing."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "hdr": keyless(b, "/hdr/", pre="set_headers, delete_header"),
        "rw": keyless(b, "/rw/", pre="to_inspect"),
        "post": keyless(b, "/post/", post="set_headers"),
        "echo": keyless(b, "/echo/", pre="unchanged", post="unchanged"),
    }
    g = plugin_gateway(ctx, apis, p.url)
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "-H", "X-Remove-Me: 1", "-H", "X-Keep: 2", g.url("/hdr/inspect"))
        check_eq(r.status, 200, front + " /hdr/ status")
        h = r.json()["headers"]
        check_eq((h.get("testheader"), "x-remove-me" in h, h.get("x-keep")),
                 ("testvalue", False, "2"), front + ": set, deleted and kept headers upstream")
        r = curl_ok(*flags, g.url("/rw/anything?drop=1&keep=2"))
        check_eq(r.status, 200, front + " /rw/ status (body %r)" % r.body[:200])
        j = r.json()
        check_eq((j["method"], j["path"]), ("PUT", "/inspect?keep=2&added=1"),
                 front + ": rewritten method and URL upstream")
        r = curl_ok(*flags, g.url("/post/inspect"))
        check_eq(r.json()["headers"].get("testheader"), "testvalue", front + ": post hook header")
        r = curl_ok(*flags, "-H", "X-A: b", g.url("/echo/inspect?q=1"))
        j = r.json()
        check_eq((j["path"], j["headers"].get("x-a")), ("/inspect?q=1", "b"),
                 front + ": an echoing hook changes nothing")
    check_eq(plugin_metric(g, "ringway_plugin_calls_total", hook="pre"), 8.0, "pre calls")
    check_eq(plugin_metric(g, "ringway_plugin_calls_total", hook="post"), 4.0, "post calls")


def test_plugin_request_bodies(ctx):
    """raw_body rebuilds the request body (Content-Length follows); hooks see the whole
    body, 20 MiB included, with the text form only for UTF-8; a body over
    grpc_send_max_size is 413 under on_error = deny and passed on unseen under allow."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "body": keyless(b, "/body/", pre="body"),
        "size": keyless(b, "/size/", pre="body_size"),
    }
    # A 20 MiB message each way takes seconds under ASan on a loaded 2-core machine; the
    # default 2 s deadline once ran out in CI, so this gateway gives the hook 30 s.
    g = plugin_gateway(ctx, apis, p.url, grpc_send_max_size=64 << 20,
                       grpc_recv_max_size=64 << 20, timeout_ms=30000)
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "--data-binary", "hello", g.url("/body/echo"))
        check_eq((r.status, r.body, r.headers.get("content-length")), (200, b"plugin body", "11"),
                 front + ": body from raw_body")
        r = curl_ok(*flags, g.url("/body/echo"))  # no body at all: the hook adds one
        check_eq((r.status, r.body), (200, b"plugin body"), front + ": body added to a GET")
    big = ctx.tmp("big.bin")
    with open(big, "wb") as f:
        f.write(b"x" * (20 << 20))
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "--data-binary", "@" + big, g.url("/size/inspect"), timeout=60)
        check_eq(r.status, 200, front + ": 20 MiB through the hook (body %r)" % r.body[:200])
        j = r.json()
        check_eq((j["headers"].get("x-body-bytes"), j["headers"].get("x-body-text"),
                  j["body_bytes"]), (str(20 << 20), "yes", 20 << 20),
                 front + ": a 20 MiB body seen whole by the hook and sent on")
    binary = ctx.tmp("binary.bin")
    with open(binary, "wb") as f:
        f.write(b"\xff\xfe\x00binary")
    r = curl_ok("--data-binary", "@" + binary, g.url("/size/inspect"))
    check_eq((r.json()["headers"].get("x-body-bytes"), r.json()["headers"].get("x-body-text")),
             ("9", "no"), "a non-UTF-8 body: raw_body only")
    g.stop()

    small = {"size": keyless(b, "/size/", pre="body_size")}
    two_mib = ctx.tmp("two.bin")
    with open(two_mib, "wb") as f:
        f.write(os.urandom(2 << 20))
    g = plugin_gateway(ctx, small, p.url, grpc_send_max_size=1 << 20)
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "--data-binary", "@" + two_mib, g.url("/size/inspect"))
        check_eq(r.status, 413, front + ": over grpc_send_max_size (deny)")
        check_eq(r.json()["error"], "request body is larger than the plugin message limit "
                 "(grpc_send_max_size)", front + ": 413 message")
    check_eq(plugin_metric(g, "ringway_plugin_body_too_large_total"), 2.0, "too-large count")
    g.stop()
    g = plugin_gateway(ctx, small, p.url, grpc_send_max_size=1 << 20, on_error="allow")
    r = curl_ok("--data-binary", "@" + two_mib, g.url("/size/sink"))
    check_eq(r.status, 200, "over the limit under on_error = allow")
    check(r.body.startswith(b"bytes=%d " % (2 << 20)), "the whole body went upstream: %r" % r.body)


def test_plugin_return_override_matrix(ctx):
    """Tyk's return_overrides matrix: >= 400 without override_error goes through the
    JSON error template; with override_error (or < 400) the body is sent as given;
    the plugin's headers always; the upstream is never called. gRPC clients get a
    trailers-only status (grpc-status from the HTTP code)."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "tea": keyless(b, "/tea/", pre="override"),
        "raw": keyless(b, "/raw/", pre="override_raw"),
        "rawerr": keyless(b, "/rawerr/", pre="override_error_raw"),
        "deny": keyless(b, "/deny/", pre="auth_fail"),
    }
    s = tg.grpc_server(ctx)
    apis["grpc"] = {"listen_path": tg.SERVICE, "target_url": "h2c://" + s.target,
                    "use_keyless": True, "pre": "auth_fail"}
    g = plugin_gateway(ctx, apis, p.url)
    before = backend_requests(b)
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, g.url("/tea/hello"))
        check_eq((r.status, r.body, r.headers.get("x-plugin"), r.headers.get("content-type")),
                 (418, b'{\n    "error": "I\'m a teapot"\n}', "yes", "application/json"),
                 front + ": 418 through the error template")
        r = curl_ok(*flags, g.url("/raw/hello"))
        check_eq((r.status, r.body, r.headers.get("x-foo")), (200, b"foobar", "Bar"),
                 front + ": 200 with the body as given")
        r = curl_ok(*flags, g.url("/rawerr/hello"))
        check_eq((r.status, r.body, r.headers.get("x-foo")), (401, b'{"foo": "bar"}', "Bar"),
                 front + ": 401 with override_error: the body raw")
        r = curl_ok(*flags, g.url("/deny/hello"))
        check_eq((r.status, json.loads(r.body)), (403, {"error": "not allowed"}),
                 front + ": 403 template")
    check_eq(backend_requests(b), before, "the upstream saw none of the overridden requests")
    res = tg.ok(tg.client(ctx, "127.0.0.1:%d" % g.port, "raw", "--expect-code", PERMISSION_DENIED),
                "gRPC call answered by a plugin's 403")
    check_eq(res.get("message"), "not allowed", "grpc-message")
    check_eq(plugin_metric(g, "ringway_plugin_overrides_total"), 9.0, "overrides counted")


def test_plugin_config_data_and_spec(ctx):
    """spec carries APIID (the section name), OrgID (org_id), bundle_hash (MD5 of an
    empty bundle name) and config_data as compact JSON; absent when not set."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "withdata": keyless(b, "/c/", pre="spec_headers", org_id="org7",
                            config_data='{"b": [1, 2], "a": "x"}'),
        "nodata": keyless(b, "/n/", pre="spec_headers"),
    }
    g = plugin_gateway(ctx, apis, p.url)
    h = curl_ok(g.url("/c/inspect")).json()["headers"]
    check_eq((h.get("x-api-id"), h.get("x-org-id"), h.get("x-bundle-hash"), h.get("x-config-data")),
             ("withdata", "org7", "d41d8cd98f00b204e9800998ecf8427e", '{"a":"x","b":[1,2]}'),
             "spec as the hook saw it")
    h = curl_ok(g.url("/n/inspect")).json()["headers"]
    check_eq((h.get("x-api-id"), h.get("x-config-data")), ("nodata", "-"), "no config_data")


# ---------------------------------------------------------------------------
# Custom auth


def test_plugin_custom_auth(ctx):
    """auth_check decides: a session plus metadata token lets the request in (the
    post_key_auth hook then sees the session, key_id included, and the key store
    keeps it under the token, visible to GET /tyk/keys); an override refuses with the
    plugin's status; a session without a token is 403 "Forbidden"; refusals send
    Tyk's AuthFailure event to DispatchEvent."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "ok": custom_auth(b, "/ok/", "auth_ok", post_key_auth="session_info", org_id="acme"),
        "fail": custom_auth(b, "/fail/", "auth_fail"),
        "notoken": custom_auth(b, "/nt/", "auth_no_token"),
    }
    g = plugin_gateway(ctx, apis, p.url, store=True, event_handler="OnAuthFailure")
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "-H", "Authorization: tok-" + front, g.url("/ok/inspect"))
        check_eq(r.status, 200, front + ": custom auth accepted (body %r)" % r.body[:200])
        h = r.json()["headers"]
        check_eq((h.get("x-has-session"), h.get("x-key-id"), h.get("x-session-rate")),
                 ("yes", "tok-" + front, "100"), front + ": the session post_key_auth saw")
        r = curl_ok(*flags, g.url("/fail/inspect"))
        check_eq((r.status, json.loads(r.body)), (403, {"error": "not allowed"}),
                 front + ": the plugin's refusal")
        r = curl_ok(*flags, "-H", "Authorization: x", g.url("/nt/inspect"))
        check_eq((r.status, json.loads(r.body)), (403, {"error": "Forbidden"}),
                 front + ": a session without a token")
    stored = g.keys.get("tok-h1")
    check_eq((stored["rate"], stored["per"], stored["org_id"]), (100, 1, "acme"),
             "the plugin's session in the key store (org_id set to the API's)")
    wait_for(lambda: plugin_metric(g, "ringway_plugin_events_sent_total") == 4.0, 5,
             what="4 AuthFailure events answered by DispatchEvent")


def test_plugin_custom_auth_cache_and_revoke(ctx):
    """With id_extractor_deadline in the future the session is cached per shard under
    the Authorization value: repeat requests do not call the plugin; DELETE
    /tyk/keys/TOKEN evicts it at once (the next request asks the plugin again);
    without a deadline the plugin is asked every time (as Tyk)."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "cached": custom_auth(b, "/c/", "auth_cached"),
        "uncached": custom_auth(b, "/u/", "auth_ok"),
    }
    g = plugin_gateway(ctx, apis, p.url, store=True)

    def calls():
        return plugin_metric(g, "ringway_plugin_calls_total", hook="auth_check")

    for _ in range(5):
        check_eq(request(g.port, "GET", "/c/hello", [("Authorization", "tok-c")]).status, 200,
                 "cached custom auth")
    check_eq(calls(), 1.0, "the plugin was asked once for five requests")
    check_eq(plugin_metric(g, "ringway_plugin_auth_cache_hits_total"), 4.0, "cache hits")
    wait_for(lambda: g.keys.call("GET", "/tyk/keys/tok-c").status == 200, 5,
             what="the session in the key store")
    g.keys.delete("tok-c")
    check_eq(request(g.port, "GET", "/c/hello", [("Authorization", "tok-c")]).status, 200,
             "after the revoke the plugin decides again")
    check_eq(calls(), 2.0, "the revoke evicted the cached session")
    for _ in range(3):
        check_eq(request(g.port, "GET", "/u/hello", [("Authorization", "tok-u")]).status, 200,
                 "uncached custom auth")
    check_eq(calls(), 5.0, "no id_extractor_deadline: asked every time")


# ---------------------------------------------------------------------------
# Response hooks


def test_plugin_response_hook(ctx):
    """A response hook replaces status, headers and body (Content-Length follows) over
    HTTP/1.1 and HTTP/2; a response body over grpc_send_max_size is 500 under deny
    and passed through whole under allow; a reply over grpc_recv_max_size is an error."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "new": keyless(b, "/new/", response="response_newbody"),
        "hdr": keyless(b, "/hdr/", response="response_header"),
        "big": keyless(b, "/big/", response="response_big"),
    }
    g = plugin_gateway(ctx, apis, p.url, grpc_send_max_size=1 << 20,
                       grpc_recv_max_size=1 << 20)
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, g.url("/new/hello"))
        check_eq((r.status, r.body, r.headers.get("content-length"),
                  r.headers.get("x-response-hook")), (201, b"newbody", "7", "1"),
                 front + ": the response hook's status, body and header")
        r = curl_ok(*flags, g.url("/hdr/bytes?n=100000"))
        check_eq((r.status, len(r.body), r.headers.get("x-response-hook"),
                  r.headers.get("server")), (200, 100000, "1", "ringway-test-backend"),
                 front + ": header added, body and other headers kept")
        r = curl_ok(*flags, g.url("/hdr/bytes?n=2000000"))
        json_error(r, 500, MIDDLEWARE_ERROR, front + ": response over grpc_send_max_size")
        r = curl_ok(*flags, "-H", "X-Big-Bytes: 2000000", g.url("/big/hello"))
        json_error(r, 500, MIDDLEWARE_ERROR, front + ": plugin reply over grpc_recv_max_size")
    g.stop()
    g = plugin_gateway(ctx, {"hdr": keyless(b, "/hdr/", response="response_header")}, p.url,
                       grpc_send_max_size=1 << 20, on_error="allow")
    r = curl_ok(g.url("/hdr/bytes?n=2000000"))
    check_eq((r.status, len(r.body), r.headers.get("x-response-hook")), (200, 2000000, None),
             "over the limit under allow: the response passes unseen")


def test_plugin_output_that_cannot_go_on_the_wire(ctx):
    """A plugin cannot split a request or response: CR/LF in a header it sets (request
    or response) and a status no client accepts are plugin errors (500 under deny,
    unchanged under allow), never bytes on the wire. HEAD and 204 keep their framing
    through a response hook."""
    b = ctx.backend()
    p = plugin_server(ctx)
    apis = {
        "badreq": keyless(b, "/badreq/", pre="bad_header"),
        "badresp": keyless(b, "/badresp/", response="bad_header"),
        "badstatus": keyless(b, "/badstatus/", pre="bad_status"),
        "hdr": keyless(b, "/hdr/", response="response_header"),
    }
    g = plugin_gateway(ctx, apis, p.url)
    before = backend_requests(b)
    for front, flags in FRONTS.items():
        json_error(curl_ok(*flags, g.url("/badreq/inspect")), 500, MIDDLEWARE_ERROR,
                   front + ": CR/LF in a request header from a pre hook")
        json_error(curl_ok(*flags, g.url("/badstatus/inspect")), 500, MIDDLEWARE_ERROR,
                   front + ": override status 1000")
    check_eq(backend_requests(b), before, "nothing reached the upstream")
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, g.url("/badresp/hello"))
        json_error(r, 500, MIDDLEWARE_ERROR, front + ": CR/LF in a response header")
        check("injected" not in r.headers.names(), front + ": the header was not split")
        r = curl_ok(*flags, "-I", g.url("/hdr/bytes?n=1234"))  # (curl -I prints the head)
        check_eq((r.status, r.headers.get("content-length"), r.headers.get("x-response-hook")),
                 (200, "1234", "1"), front + ": HEAD through a response hook")
        r = curl_ok(*flags, g.url("/hdr/status?code=204"))
        check_eq((r.status, r.headers.get("x-response-hook"), r.body), (204, "1", b""),
                 front + ": 204 through a response hook")
    # HEAD on a keep-alive connection: no body bytes, the next response intact.
    with RawConn(g.port) as c:
        c.send(b"HEAD /hdr/bytes?n=1234 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               b"GET /hdr/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head = c.read_response(head_request=True)
        check_eq((head.status, head.headers.get("content-length"), head.body), (200, "1234", b""),
                 "HEAD on keep-alive")
        nxt = c.read_response()
        check_eq((nxt.status, nxt.body), (200, b"hello\n"), "the response after HEAD")
    g.stop()
    g = plugin_gateway(ctx, {"badreq": keyless(b, "/badreq/", pre="bad_header")}, p.url,
                       on_error="allow")
    r = curl_ok(g.url("/badreq/inspect"))
    check_eq((r.status, "x-bad" in r.json()["headers"]), (200, False),
             "under allow: passed on unchanged")


# ---------------------------------------------------------------------------
# Failures


def test_plugin_malformed_body_while_a_response_hook_waits(ctx):
    """The upstream answers before the request body is complete and a (slow) response
    hook holds the response; then the client sends a malformed chunk: the client gets
    400, the hook's late reply finds nothing (no use after free: ASan runs this), and
    the gateway serves on."""
    b = ctx.backend()
    p = plugin_server(ctx)
    g = plugin_gateway(ctx, {"slow": keyless(b, "/slow/", response="sleep")}, p.url,
                       timeout_ms=2000)
    with RawConn(g.port) as c:
        c.send(b"POST /slow/hello HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n"
               b"X-Sleep-Ms: 400\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.15)  # the upstream has answered; the hook is sleeping
        c.send(b"zz\r\nnot a chunk\r\n")
        r = c.read_response(timeout=5)
        check_eq(r.status, 400, "a malformed chunk while the response was held")
    time.sleep(0.6)  # the hook's reply arrives for a request that is gone
    check(g.alive(), "the gateway is up")
    check_eq(curl_ok(g.url("/slow/hello")).status, 200, "the next request")


def test_plugin_max_in_flight(ctx):
    """At max_in_flight calls out on a shard, further requests get 503 at once (gRPC
    14), not a queue; the refusals are counted."""
    b = ctx.backend()
    p = plugin_server(ctx)
    g = plugin_gateway(ctx, {"slow": keyless(b, "/slow/", pre="sleep")}, p.url,
                       max_in_flight=2, timeout_ms=5000)
    results = []

    def one():
        results.append(request(g.port, "GET", "/slow/hello", [("X-Sleep-Ms", "1500")],
                               timeout=20).status)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(30)
    check_eq(sorted(results), [200, 200, 503, 503, 503, 503], "statuses at max_in_flight = 2")
    check_eq(plugin_metric(g, "ringway_plugin_refused_total", hook="pre"), 4.0, "refusals")


# ---------------------------------------------------------------------------
# gRPC streams with hooks


def test_plugin_hooks_on_grpc_streams(ctx):
    """Pre, post and response hooks on a gRPC API: unary, client, server and bidi calls
    all work and keep streaming (bodies are never buffered for hooks); custom auth on
    a gRPC API reads the per-call metadata."""
    s = tg.grpc_server(ctx)
    p = plugin_server(ctx)
    apis = {
        "grpc": {"listen_path": tg.SERVICE, "target_url": "h2c://" + s.target,
                 "use_keyless": False, "enable_coprocess_auth": True,
                 "auth_check": "auth_cached", "pre": "set_headers", "post": "set_headers",
                 "response": "response_header"},
    }
    g = plugin_gateway(ctx, apis, p.url, store=True)
    target = "127.0.0.1:%d" % g.port
    h = ["--header", "authorization=grpc-token"]
    res = tg.ok(tg.client(ctx, target, "unary", "--count", 5, "--size", 100, *h), "unary")
    check_eq((res["good"], res["codes"]), (5, {"0": 5}), "unary results")
    res = tg.ok(tg.client(ctx, target, "client_stream", "--count", 200, "--size", 1000, *h),
                "client stream")
    check_eq((res["messages"], res["fnv1a_match"]), (200, True), "client stream summary")
    res = tg.ok(tg.client(ctx, target, "server_stream", "--count", 200, "--size", 1000, *h),
                "server stream")
    check_eq(res["received"], 200, "server stream messages")
    res = tg.ok(tg.client(ctx, target, "bidi", "--count", 200, "--size", 100, *h), "bidi")
    check_eq(res["pongs"], 200, "bidi ping-pongs: the stream kept streaming")
    res = tg.client(ctx, target, "raw", "--expect-code", 7)  # no token: the plugin says 403
    tg.ok(res, "gRPC without credentials")
    check_eq(plugin_metric(g, "ringway_plugin_errors_total", hook="response"), 0.0,
             "response hook errors")


# ---------------------------------------------------------------------------
# Transport and configuration


def test_plugin_over_unix_socket(ctx):
    """coprocess_grpc_server = unix:///path works (:authority localhost)."""
    b = ctx.backend()
    path = ctx.tmp("plugin.sock")
    p = plugin_server(ctx, unix_path=path)
    g = plugin_gateway(ctx, {"pre": keyless(b, "/pre/", pre="set_headers")}, p.url)
    r = curl_ok(g.url("/pre/inspect"))
    check_eq((r.status, r.json()["headers"].get("testheader")), (200, "testvalue"),
             "a pre hook over a unix socket")


def test_plugin_reload_adds_and_changes_hooks(ctx):
    """SIGHUP applies [coprocess] and hook changes without a restart: a keyless API
    gains a pre hook, then another one replaces it."""
    b = ctx.backend()
    p = plugin_server(ctx)
    g = ctx.gateway({"pre": keyless(b, "/pre/")})
    check("testheader" not in curl_ok(g.url("/pre/inspect")).json()["headers"], "no hook yet")

    def reload(apis, sections):
        with open(g.config_path, "w") as f:
            f.write(make_ini(g.port, apis, sections, shards=1, drain_timeout_ms=3000))
        g.send_signal(signal.SIGHUP)

    reload({"pre": keyless(b, "/pre/", pre="set_headers")}, {"coprocess": coprocess(p.url)})
    wait_for(lambda: curl_ok(g.url("/pre/inspect")).json()["headers"].get("testheader")
             == "testvalue", 5, what="the pre hook after the reload")
    reload({"pre": keyless(b, "/pre/", pre="spec_headers")}, {"coprocess": coprocess(p.url)})
    wait_for(lambda: curl_ok(g.url("/pre/inspect")).json()["headers"].get("x-api-id") == "pre",
             5, what="the changed hook after the second reload")
    check("testheader" not in curl_ok(g.url("/pre/inspect")).json()["headers"], "old hook gone")


def test_plugin_config_checks(ctx):
    """--check names every plugin configuration error with its line."""
    path = ctx.tmp("bad.ini")
    with open(path, "w") as f:
        f.write("[coprocess]\n"
                "coprocess_grpc_server = http://127.0.0.1:1\n"
                "on_error = ignore\n"
                "[api.a]\n"
                "listen_path = /a\n"
                "target_url = http://127.0.0.1:9\n"
                "use_keyless = true\n"
                "pre = ok, not ok\n"
                "config_data = [1]\n")
    rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
    check_eq(rc, 2, "--check exit status (stderr %r)" % err)
    for line in (path + ":2: [coprocess] coprocess_grpc_server must be tcp://host:port or "
                 "unix:///path, got 'http://127.0.0.1:1'",
                 path + ":3: [coprocess] on_error must be deny or allow, got 'ignore'",
                 path + ":8: api a: pre: 'not ok' is not a hook name (letters, digits, _ . : -)",
                 path + ":9: api a: config_data must be a JSON object ({...})"):
        check(line in err, "--check output lacks %r: %s" % (line, err))
