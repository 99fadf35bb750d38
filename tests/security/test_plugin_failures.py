"""Plugin failures (SECURITY.md §7 row 31): a plugin (coprocess gRPC) server that is
down, slower than timeout_ms, answers a gRPC error or garbage, or is killed mid-run
fails closed (500 "Middleware error", gRPC 13; auth_check 403) within the plugin
deadline; the request goes on only under an explicit on_error = allow; failures are
counted and logged; the gateway recovers when the plugin comes back."""

import time

import test_grpc as tg
from harness import check, check_eq, curl_ok, free_port, wait_for
from test_plugins import (INTERNAL, MIDDLEWARE_ERROR, custom_auth, json_error, keyless,
                          plugin_gateway, plugin_metric, plugin_server)


def test_plugin_down_slow_or_garbage_fails_closed(ctx):
    """Row 31: plugin down, a non-OK gRPC status, a slow plugin past timeout_ms, garbage (an
    HTTP server that is not gRPC) and a reply without its request object: under
    on_error = deny 500 "Middleware error" (gRPC 13), under allow the request goes on
    unchanged; auth_check fails closed (403) either way; every failure is counted and
    logged; nothing hangs."""
    b = ctx.backend()
    p = plugin_server(ctx)
    dead = "tcp://127.0.0.1:%d" % free_port()
    garbage = "tcp://" + b.url().split("//", 1)[1]
    s = tg.grpc_server(ctx)

    def apis():
        return {
            "pre": keyless(b, "/pre/", pre="set_headers"),
            "err": keyless(b, "/err/", pre="grpc_error"),
            "slow": keyless(b, "/slow/", pre="sleep"),
            "noreq": keyless(b, "/noreq/", pre="no_request"),
            "auth": custom_auth(b, "/auth/", "auth_ok"),
            "grpc": {"listen_path": tg.SERVICE, "target_url": "h2c://" + s.target,
                     "use_keyless": True, "pre": "grpc_error"},
        }

    for on_error in ("deny", "allow"):
        g = plugin_gateway(ctx, apis(), p.url, store=True, on_error=on_error, timeout_ms=300)
        allow = on_error == "allow"
        for path in ("/err/inspect", "/noreq/inspect"):
            r = curl_ok(g.url(path))
            if path == "/noreq/inspect" or allow:
                check_eq(r.status, 200, "%s under %s (body %r)" % (path, on_error, r.body[:200]))
            else:
                json_error(r, 500, MIDDLEWARE_ERROR, "%s under deny" % path)
        t0 = time.monotonic()
        r = curl_ok("-H", "X-Sleep-Ms: 3000", g.url("/slow/inspect"))
        took = time.monotonic() - t0
        if allow:
            check_eq(r.status, 200, "slow plugin under allow")
        else:
            json_error(r, 500, MIDDLEWARE_ERROR, "slow plugin under deny")
        check(took < 2.5, "a plugin slower than timeout_ms held the request %.1fs" % took)
        check_eq(plugin_metric(g, "ringway_plugin_timeouts_total", hook="pre"), 1.0, "timeouts")
        code = 0 if allow else INTERNAL
        res = tg.client(ctx, "127.0.0.1:%d" % g.port, "raw", "--expect-code", code)
        tg.ok(res, "gRPC call with a failing pre hook under " + on_error)
        g.stop()

        # Nobody listening, and an HTTP/2 server that is not a plugin.
        for target, what in ((dead, "plugin down"), (garbage, "not a gRPC server")):
            g = plugin_gateway(ctx, apis(), target, store=True, on_error=on_error)
            r = curl_ok(g.url("/pre/inspect"))
            if allow:
                check_eq(r.status, 200, "%s under allow" % what)
                check("testheader" not in r.json()["headers"], "unchanged under allow")
            else:
                json_error(r, 500, MIDDLEWARE_ERROR, "%s under deny" % what)
            r = curl_ok("-H", "Authorization: t", g.url("/auth/inspect"))
            json_error(r, 403, "Key not authorised", "%s: auth_check fails closed (%s)"
                       % (what, on_error))
            check(plugin_metric(g, "ringway_plugin_errors_total", hook="pre") >= 1,
                  "%s: errors counted" % what)
            check("plugin pre hook set_headers failed" in g.stderr_text(),
                  "%s: the failure was logged: %s" % (what, g.stderr_text()[-500:]))
            g.stop()


def test_plugin_killed_fails_closed_then_recovers(ctx):
    """Row 31: a plugin server killed mid-run: requests fail cleanly (500) while it is gone and
    succeed again once it is back on the same port, without restarting the gateway."""
    b = ctx.backend()
    p = plugin_server(ctx)
    port = p.port
    g = plugin_gateway(ctx, {"pre": keyless(b, "/pre/", pre="set_headers")}, p.url,
                       timeout_ms=500)
    check_eq(curl_ok(g.url("/pre/inspect")).status, 200, "before the kill")
    p.kill()
    for _ in range(3):
        json_error(curl_ok(g.url("/pre/inspect")), 500, MIDDLEWARE_ERROR, "plugin gone")
    p2 = plugin_server(ctx, port=port)
    wait_for(lambda: curl_ok(g.url("/pre/inspect")).status == 200, 10,
             what="requests succeeding after the plugin came back")
    check_eq(curl_ok(g.url("/pre/inspect")).json()["headers"].get("testheader"), "testvalue",
             "the hook runs again")
    check(g.alive(), "the gateway stayed up")
    p2.stop_gracefully()
