"""The admin listener: /hello, /metrics (parsed with the Prometheus text parser after
known traffic), the admin secret on /tyk/, and the shard mailboxes /metrics relies on."""

import json
import threading
import time

from harness import (ADMIN_SECRET, RawConn, admin_section, check, check_eq, curl, curl_ok,
                     fail, free_port, h2load, metric, nghttp, proxy_apis, scrape, wait_for)

SECRET_HEADER = "x-tyk-authorization: " + ADMIN_SECRET


def admin_gateway(ctx, apis=None, admin_keys=None, **gateway_keys):
    """A backend and a gateway with the usual h1/h2c APIs (plus |apis|) and an admin
    listener; returns (backend, gateway, admin port)."""
    b = ctx.backend()
    all_apis = proxy_apis(b)
    all_apis.update(apis or {})
    for _ in range(3):
        port = free_port()
        try:
            g = ctx.gateway(all_apis, sections=admin_section(port, **(admin_keys or {})),
                            **gateway_keys)
            break
        except Exception as e:  # noqa: BLE001 - the admin port was taken meanwhile
            if "in use" not in str(e):
                raise
    else:
        fail("no free admin port")
    wait_for(lambda: curl("http://127.0.0.1:%d/hello" % port).status == 200, 5,
             what="the admin listener")
    return b, g, port


def test_admin_hello_in_tyks_shape(ctx):
    b, g, admin = admin_gateway(ctx, shards=2)
    for front in (["--http1.1"], ["--http2-prior-knowledge"]):
        r = curl_ok(*front, "http://127.0.0.1:%d/hello" % admin)
        check_eq(r.status, 200, "status")
        check_eq(r.headers.get("content-type"), "application/json", "content-type")
        body = r.json()
        check_eq(sorted(body), ["description", "details", "status", "version"], "fields")
        check_eq(body["status"], "pass", "status field")
        check(body["version"] and isinstance(body["version"], str), "version %r" % body)
        for name in ("shards", "config"):
            d = body["details"][name]
            check_eq((d["status"], d["componentType"]), ("pass", "system"), name)
            check(d["time"].endswith("Z"), "RFC 3339 UTC time in %r" % d)
        check_eq(body["details"]["shards"]["observedValue"], 2, "shards")
        check_eq(body["details"]["config"]["observedValue"], 1, "configuration generation")
    # HEAD: the same head, no body; other methods are refused.
    with RawConn(admin) as c:
        r = c.request("HEAD", "/hello")
        check_eq((r.status, r.headers.get("content-type"), r.body),
                 (200, "application/json", b""), "HEAD /hello")
        check(int(r.headers.get("content-length")) > 100, "HEAD content-length %r" % r.headers)
        check_eq(c.request("GET", "/hello").status, 200, "GET after HEAD, same connection")
    r = curl("-X", "POST", "http://127.0.0.1:%d/hello" % admin)
    check_eq((r.status, r.headers.get("allow")), (405, "GET, HEAD"), "POST /hello")


def test_admin_is_off_without_its_section(ctx):
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b))
    # The gateway's own port does not serve the admin API either.
    r = curl_ok(g.url("/hello"))
    check_eq(r.status, 404, "/hello on the proxy port (no API matches)")
    check_eq(r.json(), {"error": "no API matches this path"}, "the proxy's own 404")


def test_admin_metrics_exact_counts_after_known_traffic(ctx):
    """Known traffic over two shards, then every counter it should move, exactly, as
    the Prometheus text parser reads them. Each client is one connection (one shard),
    so per-connection counts are exact too."""
    dead = free_port()  # nothing listens there
    b, g, admin = admin_gateway(
        ctx, apis={"dead": {"listen_path": "/dead/", "target_url": "http://127.0.0.1:%d" % dead}},
        shards=2, upstream_reconnect_backoff_ms=0)
    url = g.url
    # h1: 5 × 200 and 1 × 503 from the upstream, over one HTTP/1.1 connection.
    r = curl_ok("--http1.1", *([url("/h1/hello")] * 5 + [url("/h1/status?code=503")]))
    check_eq(r.status, 503, "h1: the upstream's 503 last")
    # h2c: 3 × 200 over one HTTP/2 connection (h2load: curl 7.88 cannot reuse a
    # prior-knowledge connection).
    r = h2load("-n", 3, "-c", 1, "-m", 1, url("/h2c/hello"))
    check_eq((r.succeeded, r.s2xx), (3, 3), "h2c requests")
    # 2 × no route over one HTTP/1.1 connection.
    check_eq(curl_ok("--http1.1", url("/nope"), url("/nope/again")).status, 404, "no route")
    # 2 × upstream refused over one HTTP/2 connection.
    r = h2load("-n", 2, "-c", 1, "-m", 1, url("/dead/a"))
    check_eq((r.done, r.s5xx), (2, 2), "dead upstream: 502s")
    # Connections close asynchronously: scrape until only the scrape's own is open.
    scrapes = [0]

    def settled():
        scrapes[0] += 1
        s, _ = scrape(admin)
        open_conns = sum(v for k, v in s.items() if k[0] == "ringway_downstream_connections")
        active = sum(v for k, v in s.items() if k[0] == "ringway_downstream_requests_active")
        return s if (open_conns, active) == (1, 0) else None

    s = wait_for(settled, 5, interval=0.05, what="one open connection and no request in "
                 "progress (the scrape's own)")
    want = [
        ("ringway_requests_total", dict(api="h1", code="2xx", protocol="http1"), 5),
        ("ringway_requests_total", dict(api="h1", code="5xx", protocol="http1"), 1),
        ("ringway_requests_total", dict(api="h2c", code="2xx", protocol="http2"), 3),
        ("ringway_requests_total", dict(api="-", code="4xx", protocol="http1"), 2),
        ("ringway_requests_total", dict(api="dead", code="5xx", protocol="http2"), 2),
        ("ringway_local_replies_total", dict(cause="no_route", flag="NR"), 2),
        ("ringway_local_replies_total", dict(cause="upstream_connect_failure", flag="UF"), 2),
        ("ringway_local_replies_total", dict(cause="upstream_timeout", flag="UT"), 0),
        ("ringway_upstream_connects_total", dict(api="h1"), 1),
        ("ringway_upstream_connects_total", dict(api="h2c"), 1),
        ("ringway_upstream_connects_total", dict(api="dead"), 0),
        ("ringway_upstream_connect_failures_total", dict(api="dead"), 2),
        ("ringway_upstream_connect_failures_total", dict(api="h1"), 0),
        ("ringway_upstream_resets_total", dict(api="h1"), 0),
        ("ringway_upstream_timeouts_total", dict(api="h1"), 0),
        ("ringway_upstream_response_head_seconds_count", dict(api="h1"), 6),
        ("ringway_upstream_response_head_seconds_count", dict(api="h2c"), 3),
        ("ringway_upstream_response_head_seconds_count", dict(api="dead"), 0),
        ("ringway_upstream_response_head_seconds_bucket", dict(api="h2c", le="+Inf"), 3),
        # The harness's port probe, the wait for /hello, 4 client connections and the
        # scrapes.
        ("ringway_downstream_connections_accepted_total", {}, 2 + 4 + scrapes[0]),
        ("ringway_downstream_malformed_requests_total", {}, 0),
        ("ringway_tls_handshakes_total", {}, 0),
        ("ringway_shards", {}, 2),
        ("ringway_config_generation", {}, 1),
        ("ringway_config_reloads_total", dict(result="applied"), 0),
    ]
    for name, labels, value in want:
        check_eq(metric(s, name, **labels), value, "%s%r" % (name, labels))
    # Every request series present is one of the above (nothing counted twice).
    requests = {k: v for k, v in s.items() if k[0] == "ringway_requests_total"}
    check_eq(sum(requests.values()), 13, "sum of ringway_requests_total (%r)" % requests)
    check(metric(s, "ringway_upstream_connections", api="h1") >= 1, "h1 keep-alive connection")
    # The histogram buckets are cumulative and end at the count.
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in s.items()
                     if k[0] == "ringway_upstream_response_head_seconds_bucket"
                     and dict(k[1])["api"] == "h1")
    check_eq(len(buckets), 15, "h1 latency buckets")
    check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "cumulative %r" % buckets)
    check_eq(buckets[-1], (float("inf"), 6), "+Inf bucket")
    # The process.
    rss = metric(s, "process_resident_memory_bytes")
    check(1 << 20 < rss < 4 << 30, "process_resident_memory_bytes %r" % rss)
    check(metric(s, "process_open_fds") > 0, "process_open_fds")
    check_eq(curl_ok("http://127.0.0.1:%d/metrics" % admin).headers.get("content-type"),
             "text/plain; version=0.0.4; charset=utf-8", "content-type")


def test_admin_metrics_count_tls_handshakes(ctx):
    from tls_certs import pki
    p = pki(ctx)
    b = ctx.backend()
    admin = free_port()
    tls_port = free_port()
    g = ctx.gateway(proxy_apis(b), tls_listen="127.0.0.1:%d" % tls_port,
                    sections=dict(admin_section(admin),
                                  tls={"cert_file": p.cert("server-ec"),
                                       "key_file": p.key("server-ec")}))
    for _ in range(3):
        r = curl_ok("--cacert", p.cert("ca"), "https://127.0.0.1:%d/h1/hello" % tls_port)
        check_eq(r.status, 200, "TLS request")
    # Cleartext to the TLS port: a failed handshake.
    curl("--max-time", "3", "http://127.0.0.1:%d/h1/hello" % tls_port)
    s, _ = scrape(admin)
    check_eq(metric(s, "ringway_tls_handshakes_total"), 3, "handshakes")
    check_eq(metric(s, "ringway_tls_handshake_failures_total"), 1, "failed handshakes")


def test_admin_secret_refused(ctx):
    b, g, admin = admin_gateway(ctx)
    base = "http://127.0.0.1:%d" % admin
    cases = [
        ("no key", []),
        ("wrong key", ["-H", "x-tyk-authorization: nope"]),
        ("key with a suffix", ["-H", SECRET_HEADER + "x"]),
        ("key cut short", ["-H", SECRET_HEADER[:-1]]),
        ("key in another header", ["-H", "authorization: " + ADMIN_SECRET]),
    ]
    for what, args in cases:
        for path in ("/tyk/reload", "/tyk/keys", "/tyk/"):
            r = curl(*args, base + path)
            check_eq(r.status, 403, "%s: %s" % (what, path))
            check_eq(r.json(), {"status": "error", "message":
                                "Attempted administrative access with invalid or missing key!"},
                     "%s: body" % what)
    # With the secret: known paths answer, unknown ones are 404 (after the check).
    check_eq(curl("-H", SECRET_HEADER, base + "/tyk/nothing-here").status, 404, "unknown path")
    r = curl("-H", SECRET_HEADER, base + "/tyk/reload")
    check_eq((r.status, r.json()), (200, {"status": "ok", "message": ""}), "GET /tyk/reload")
    check_eq(curl("-X", "DELETE", "-H", SECRET_HEADER, base + "/tyk/reload").status, 405,
             "DELETE /tyk/reload")
    check_eq(curl(base + "/nope").status, 404, "unknown path outside /tyk/")
    # The unauthenticated endpoints stay open.
    check_eq(curl(base + "/hello").status, 200, "/hello")
    check_eq(curl(base + "/metrics").status, 200, "/metrics")


def test_admin_empty_secret_refuses_everything_under_tyk(ctx):
    b, g, admin = admin_gateway(ctx, admin_keys={"secret": ""})
    base = "http://127.0.0.1:%d" % admin
    check_eq(curl("-H", "x-tyk-authorization: ", base + "/tyk/reload").status, 403,
             "empty key against an empty secret")
    check_eq(curl(base + "/tyk/reload").status, 403, "no key")
    check("secret is empty" in g.stderr_text(), "a warning at start: %r" % g.stderr_text())


def test_admin_rejects_an_oversized_body(ctx):
    b, g, admin = admin_gateway(ctx, admin_keys={"max_body_bytes": 4096})
    url = "http://127.0.0.1:%d/tyk/keys" % admin
    r = curl("-H", SECRET_HEADER, "--data-binary", "@-", url, input_bytes=b"x" * 4097)
    check_eq(r.status, 413, "a body one byte over max_body_bytes")
    r = curl("-H", SECRET_HEADER, "--data-binary", "@-", url, input_bytes=b"x" * 4096)
    check_eq(r.status, 400, "a body at max_body_bytes (read whole, then refused as JSON)")
    check("Request malformed" in r.json()["message"], "the key API's message: %r" % r.body)
    r = curl("-H", SECRET_HEADER, "--data-binary", "@-", url, input_bytes=b"x" * (8 << 20))
    check_eq(r.status, 413, "an 8 MiB body")
    check_eq(curl("http://127.0.0.1:%d/hello" % admin).status, 200, "still serving")


def test_admin_over_h2c_with_many_streams(ctx):
    b, g, admin = admin_gateway(ctx, shards=2)
    r = nghttp("http://127.0.0.1:%d/hello" % admin, "-m", "20")
    check_eq(r.rc, 0, "nghttp exit (%s)" % r.output[-500:])
    check_eq(len(r.recv("HEADERS")), 20, "20 responses on one connection")


def test_mailbox_message_handled_within_one_turn_under_load(ctx):
    """Each /metrics scrape posts a message from the shard that serves it to the other
    shard, which must handle it within one loop turn even while it is busy: the
    receivers' own measure (turns between posting and handling) stays at 1 or less."""
    b, g, admin = admin_gateway(ctx, shards=2)
    n = 400000 if not ctx.asan else 60000
    result = {}

    def load():
        result["r"] = h2load("-n", n, "-c", "8", "-m", "16", g.url("/h2c/hello"), timeout=180)

    t = threading.Thread(target=load)
    t.start()
    scrapes = 0
    turns_before = None
    try:
        while t.is_alive() and scrapes < 200:
            s, _ = scrape(admin)
            if turns_before is None:
                turns_before = {sh: metric(s, "ringway_loop_turns_total", shard=sh)
                                for sh in ("0", "1")}
            scrapes += 1
            time.sleep(0.01)
    finally:
        t.join(200)
    r = result.get("r")
    check(r is not None, "h2load did not finish")
    check_eq((r.succeeded, r.failed), (n, 0), "h2load during the scrapes")
    s, _ = scrape(admin)
    ctx.note("%d scrapes during %d requests" % (scrapes, n))
    check(scrapes >= 5, "only %d scrapes happened during the load" % scrapes)
    for sh in ("0", "1"):
        received = metric(s, "ringway_mailbox_messages_total", shard=sh)
        delay = metric(s, "ringway_mailbox_delay_turns_max", shard=sh)
        turns = metric(s, "ringway_loop_turns_total", shard=sh) - turns_before[sh]
        ctx.note("shard %s: %d messages, max delay %d turn(s), %d turns during the load"
                 % (sh, received, delay, turns))
        check(received > 0, "shard %s received no message" % sh)
        check(delay <= 1, "shard %s handled a message %d turns after it was posted" % (sh, delay))
        check(turns > 100, "shard %s was not busy (%d turns)" % (sh, turns))
        check_eq(metric(s, "ringway_mailbox_posts_refused_total", shard=sh), 0, "refused posts")


test_mailbox_message_handled_within_one_turn_under_load.timeout = 240
