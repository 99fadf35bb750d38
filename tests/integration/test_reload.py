"""Configuration reload (SIGHUP, GET /tyk/reload): new requests use the new routes,
targets, listeners and certificates; connections and requests in flight finish on the
configuration they started with; a broken file changes nothing."""

import json
import os
import signal
import socket
import ssl
import threading
import time

import test_grpc as tg
from harness import (ADMIN_SECRET, RawConn, admin_section, check, check_eq, curl, curl_ok, fail,
                     free_port, h2load, make_ini, metric, port_accepts, proxy_apis, scrape,
                     wait_for)


class ReloadableGateway:
    """A gateway with an admin listener whose INI the test rewrites and reloads."""

    def __init__(self, ctx, apis, sections=None, **gateway_keys):
        self.ctx = ctx
        self.admin = free_port()
        self.sections = dict(admin_section(self.admin))
        self.sections.update(sections or {})
        self.gateway_keys = gateway_keys
        self.g = ctx.gateway(apis, sections=self.sections, **gateway_keys)
        self.port = self.g.port
        self.generation = 1
        wait_for(lambda: curl("http://127.0.0.1:%d/hello" % self.admin).status == 200, 5,
                 what="the admin listener")

    def url(self, path):
        return self.g.url(path)

    def write(self, apis, sections=None, **gateway_keys):
        keys = dict(self.gateway_keys)
        keys.update(gateway_keys)
        all_sections = dict(self.sections)
        all_sections.update(sections or {})
        with open(self.g.config_path, "w") as f:
            f.write(make_ini(self.port, apis, all_sections, **keys))

    def generation_now(self):
        r = curl("http://127.0.0.1:%d/hello" % self.admin)
        return r.json()["details"]["config"]["observedValue"] if r.status == 200 else None

    def sighup_and_wait(self):
        """SIGHUP, then waits until every shard uses the new generation."""
        self.g.send_signal(signal.SIGHUP)
        self.generation += 1
        want = self.generation

        def applied():
            s, _ = scrape(self.admin)
            return metric(s, "ringway_config_generation") == want and all(
                v == want for k, v in s.items() if k[0] == "ringway_config_generation")

        wait_for(applied, 10, interval=0.02, what="configuration generation %d" % want)

    def tyk_reload(self, block=True):
        q = "?block=true" if block else ""
        r = curl("-H", "x-tyk-authorization: " + ADMIN_SECRET,
                 "http://127.0.0.1:%d/tyk/reload%s" % (self.admin, q))
        return r


def backend_requests(b):
    """Requests backend |b| has answered (its /stats, asked directly)."""
    return curl_ok("http://127.0.0.1:%d/stats" % b.port).json()["requests"]


def established_to(port):
    """TCP connections in ESTABLISHED state towards 127.0.0.1:|port| (any process)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    remote, state = fields[2], fields[3]
                    if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def web_api(backend, proto="h2c"):
    return {"listen_path": "/web/", "strip_listen_path": True, "target_url": backend.url(proto)}


def test_reload_under_load_keeps_streams_and_switches_target(ctx):
    """h2load over HTTP/2 and a long bidirectional gRPC stream run through a SIGHUP
    that moves both APIs to other upstreams: no request fails, the stream carries on
    to its end on its old upstream, and new requests go to the new targets — the old
    HTTP upstream gets nothing once the reload is applied everywhere."""
    a, b = ctx.backend(), ctx.backend()
    s1, s2 = tg.grpc_server(ctx), tg.grpc_server(ctx)

    def apis(web, grpc):
        return {"web": web_api(web),
                "grpc": {"listen_path": tg.SERVICE, "target_url": "h2c://" + grpc.target}}

    gw = ReloadableGateway(ctx, apis(a, s1), shards=2)
    target = "127.0.0.1:%d" % gw.port
    pongs = 400
    stream = tg.BackgroundClient(ctx, target, "bidi", "--count", pongs, "--size", 64,
                                 "--interval-ms", 10)
    result = {}
    seconds = 4

    def load():
        result["r"] = h2load("-D", seconds, "-c", "8", "-m", "8", gw.url("/web/hello"),
                             timeout=60)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(1.0)
        gw.write(apis(b, s2))
        gw.sighup_and_wait()
        time.sleep(0.1)  # requests that had started on the old generation finish
        a_after_switch = backend_requests(a)
        b_at_switch = backend_requests(b)
    finally:
        t.join(90)
    r = result.get("r")
    check(r is not None, "h2load did not finish")
    ctx.note("h2load: %d requests in %ds across the reload (%.0f req/s)"
             % (r.done, seconds, r.req_per_s))
    check(r.done > 1000, "too few requests to call it load: %d" % r.done)
    check_eq((r.failed, r.errored, r.timeout), (0, 0, 0), "failed, errored, timed-out requests")
    check_eq(r.s2xx, r.done, "2xx replies")
    res = tg.ok(stream.result(60), "the bidi stream across the reload")
    check_eq((res["code"], res["pongs"]), (0, pongs), "(status, ping-pongs) of the stream")
    # The new target took over: the old one got nothing more once the reload was in.
    check_eq(backend_requests(a), a_after_switch, "requests the old upstream got after the "
             "reload was applied")
    check(backend_requests(b) > b_at_switch + 100, "the new upstream took the load: %d"
          % backend_requests(b))
    ctx.note("old upstream: %d requests, new upstream: %d" % (a_after_switch, backend_requests(b)))
    # New gRPC calls go to the new server even once the old one is gone.
    s1.stop()
    res = tg.ok(tg.client(ctx, target, "unary"), "unary after the reload, old server stopped")
    # The old upstreams' connections close once their last request is done.
    wait_for(lambda: established_to(a.port) == 0 and established_to(s1.port) == 0, 5,
             what="the old generation's upstream connections to close")


test_reload_under_load_keeps_streams_and_switches_target.timeout = 180


def test_reload_keeps_in_flight_requests_on_their_configuration(ctx):
    """A slow request that started before the reload is answered by the upstream it
    started on; the connection it came on then takes the new route."""
    a, b = ctx.backend(), ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")})
    with RawConn(gw.port, timeout=15) as c:
        c.send(b"GET /web/slow?ms=800 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        time.sleep(0.2)
        gw.write({"web": web_api(b, "http")})
        gw.sighup_and_wait()
        r = c.read_response()
        check_eq((r.status, r.body), (200, b"slow\n"), "the slow request, finished after the reload")
        check_eq(backend_requests(a), 1, "the old upstream answered it")
        r = c.request("GET", "/web/hello")
        check_eq(r.status, 200, "the next request on the same connection")
        check_eq((backend_requests(a), backend_requests(b)), (1, 1),
                 "(old, new) upstream requests: the next one went to the new target")


def test_reload_rejects_a_broken_file_and_keeps_serving(ctx):
    a, b = ctx.backend(), ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")})
    check_eq(curl_ok(gw.url("/web/hello")).status, 200, "before")
    with open(gw.g.config_path) as f:
        good = f.read()
    broken = good.replace(a.url("http"), b.url("http")) + (
        "\n[api.bad]\nlisten_path = nope\ntarget_url = ftp://x\n[oops\n")
    with open(gw.g.config_path, "w") as f:
        f.write(broken)
    lines = broken.split("\n")
    bad_lines = [i + 1 for i, l in enumerate(lines) if l in ("listen_path = nope",
                                                               "target_url = ftp://x", "[oops")]
    gw.g.send_signal(signal.SIGHUP)
    log = wait_for(lambda: "the running configuration" in gw.g.stderr_text()
                   and gw.g.stderr_text(), 5, what="the reload to be rejected")
    for n in bad_lines:
        check("reload rejected: %s:%d: " % (gw.g.config_path, n) in log,
              "no error logged for line %d: %s" % (n, log[-2000:]))
    check_eq(gw.generation_now(), 1, "generation after a rejected reload")
    check_eq(curl_ok(gw.url("/web/hello")).status, 200, "still served")
    check_eq((backend_requests(a), backend_requests(b)), (2, 0),
             "(old, new) upstream requests: the old configuration stays")
    # The same through /tyk/reload?block=true: 500 with the problems.
    r = gw.tyk_reload(block=True)
    check_eq(r.status, 500, "blocking /tyk/reload of a broken file")
    check("%s:%d:" % (gw.g.config_path, bad_lines[0]) in r.json()["message"],
          "the reply names the first problem: %r" % r.json())
    s, _ = scrape(gw.admin)
    check_eq(metric(s, "ringway_config_reloads_total", result="rejected"), 2, "rejected reloads")
    check_eq(metric(s, "ringway_config_reloads_total", result="applied"), 0, "applied reloads")
    # Fixed: the next reload applies.
    with open(gw.g.config_path, "w") as f:
        f.write(good.replace(a.url("http"), b.url("http")))
    r = gw.tyk_reload(block=True)
    check_eq((r.status, r.json()), (200, {"status": "ok", "message": ""}), "reload of the fix")
    check_eq(curl_ok(gw.url("/web/hello")).status, 200, "served by the new target")
    check_eq(backend_requests(b), 1, "the new target's requests")


def test_tyk_reload_block_returns_once_applied(ctx):
    a, b = ctx.backend(), ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")}, shards=2)
    gw.write({"web": web_api(b, "http")})
    r = gw.tyk_reload(block=True)
    check_eq((r.status, r.json()), (200, {"status": "ok", "message": ""}), "/tyk/reload?block")
    # No polling: every shard uses the new target the moment the reply arrives.
    for _ in range(20):
        check_eq(curl_ok(gw.url("/web/hello")).status, 200, "after the reload")
    check_eq((backend_requests(a), backend_requests(b)), (0, 20), "(old, new) upstream requests")
    # Without block the reply comes at once; the reload follows.
    gw.write({"web": web_api(a, "http")})
    r = gw.tyk_reload(block=False)
    check_eq((r.status, r.json()), (200, {"status": "ok", "message": ""}), "/tyk/reload")
    wait_for(lambda: gw.generation_now() == 3, 5, what="generation 3")


def test_reload_opens_and_closes_listeners(ctx):
    a = ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")}, shards=2)
    extra = free_port()
    old = RawConn(gw.port)
    check_eq(old.request("GET", "/web/hello").status, 200, "a keep-alive connection before")
    # Add a second address.
    gw.write({"web": web_api(a, "http")}, listen="127.0.0.1:%d, 127.0.0.1:%d" % (gw.port, extra))
    gw.sighup_and_wait()
    check_eq(curl_ok("http://127.0.0.1:%d/web/hello" % extra).status, 200, "the added listener")
    # Remove the first one: it stops accepting; a request in progress on a connection
    # it accepted finishes, then that connection closes (drained).
    old.send(b"GET /web/slow?ms=500 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    time.sleep(0.1)
    gw.write({"web": web_api(a, "http")}, listen="127.0.0.1:%d" % extra)
    gw.sighup_and_wait()
    wait_for(lambda: not port_accepts(gw.port), 5, what="the removed listener to refuse")
    r = old.read_response()
    check_eq((r.status, r.headers.get("connection")), (200, "close"),
             "the request in progress on the removed listener's connection")
    check(old.wait_eof(5), "the removed listener's connection was not closed")
    old.close()
    check_eq(curl_ok("http://127.0.0.1:%d/web/hello" % extra).status, 200, "the remaining one")
    # The admin listener follows [admin] listen too.
    new_admin = free_port()
    gw.write({"web": web_api(a, "http")}, listen="127.0.0.1:%d" % extra,
             sections=admin_section(new_admin))
    gw.g.send_signal(signal.SIGHUP)
    wait_for(lambda: curl("http://127.0.0.1:%d/hello" % new_admin).status == 200, 5,
             what="the new admin address")
    wait_for(lambda: not port_accepts(gw.admin), 5, what="the old admin address to close")


def test_reload_closes_old_upstream_connections_once_idle(ctx):
    """After a reload that changes the target, the old pool's connections close as
    soon as they are idle — even while client connections from before the reload stay
    open (they take the new route for their next request)."""
    a, b = ctx.backend(), ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")}, shards=1,
                           upstream_max_idle_connections=16)
    clients = [RawConn(gw.port) for _ in range(4)]
    try:
        for c in clients:
            c.send(b"GET /web/slow?ms=300 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        time.sleep(0.1)
        check_eq(established_to(a.port), 4, "upstream connections during the slow requests")
        gw.write({"web": web_api(b, "http")})
        gw.sighup_and_wait()
        for c in clients:
            check_eq(c.read_response().status, 200, "slow request across the reload")
        wait_for(lambda: established_to(a.port) == 0, 5,
                 what="the old pool's connections to close once idle")
        for c in clients:
            check_eq(c.request("GET", "/web/hello").status, 200, "next request, same client")
        check(established_to(b.port) >= 1, "the new pool connected")
        # The retired pool itself is freed at its next check (once a second).
        wait_for(lambda: metric(scrape(gw.admin)[0], "ringway_upstream_pools", shard="0") == 1,
                 5, what="the retired pool to be freed")
    finally:
        for c in clients:
            c.close()


def test_reload_swaps_the_tls_certificate(ctx):
    from tls_certs import pki
    p = pki(ctx)
    a = ctx.backend()
    tls_port = free_port()

    def tls(cert):
        return {"tls": {"cert_file": p.cert(cert), "key_file": p.key(cert)}}

    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")}, sections=tls("server-rsa"),
                           tls_listen="127.0.0.1:%d" % tls_port)

    def connect():
        context = ssl.create_default_context(cafile=p.cert("ca"))
        context.set_alpn_protocols(["http/1.1"])
        s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
        return context.wrap_socket(s, server_hostname="gw.test")

    def common_name(sock):
        subject = dict(x[0] for x in sock.getpeercert()["subject"])
        return subject["commonName"]

    def get(sock):
        sock.sendall(b"GET /web/hello HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        data = b""
        while b"hello\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                fail("connection closed: %r" % data)
            data += chunk
        return data.split(b"\r\n", 1)[0]

    before = connect()
    check_eq(common_name(before), "gw.test RSA", "certificate before the reload")
    check_eq(get(before), b"HTTP/1.1 200 OK", "request before")
    gw.write({"web": web_api(a, "http")}, sections=tls("server-ec"),
             tls_listen="127.0.0.1:%d" % tls_port)
    gw.sighup_and_wait()
    after = connect()
    check_eq(common_name(after), "gw.test ECDSA", "certificate of a new connection")
    check_eq(get(after), b"HTTP/1.1 200 OK", "request on the new connection")
    check_eq(get(before), b"HTTP/1.1 200 OK", "the connection from before the reload")
    before.close()
    after.close()


def test_reload_reports_keys_only_a_restart_applies(ctx):
    a = ctx.backend()
    gw = ReloadableGateway(ctx, {"web": web_api(a, "http")}, shards=1)
    gw.write({"web": web_api(a, "http")}, shards=2, buffer_count=2048)
    gw.sighup_and_wait()
    log = gw.g.stderr_text()
    for key in ("[gateway] shards", "[gateway] buffer_count"):
        check("reload: %s changed; the new value applies after a restart" % key in log,
              "no warning for %s: %s" % (key, log[-1500:]))
    r = curl_ok("http://127.0.0.1:%d/hello" % gw.admin).json()
    check_eq(r["details"]["shards"]["observedValue"], 1, "shards after the reload")
    check_eq(curl_ok(gw.url("/web/hello")).status, 200, "still serving")
