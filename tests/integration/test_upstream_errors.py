"""Upstream connect timeouts. Local replies follow DESIGN.md §5 (JSON for HTTP,
trailers-only for gRPC). (Upstreams that are down, slow, die or misbehave are attacks:
tests/security/test_upstream_failures.py.)"""

import time

from harness import (FRONTS, GRPC_CURL_ARGS as GRPC, check, check_eq, check_grpc_local_reply,
                     check_json_error, curl_ok, grpc_empty_frame_file, proxy_apis)


def test_upstream_connect_timeout_502(ctx):
    """A target that never answers the SYN: 502 after upstream_connect_timeout_ms."""
    bh = ctx.blackhole_upstream()
    b = ctx.backend()
    apis = proxy_apis(b)
    apis["bh_h1"] = {"listen_path": "/bh_h1/", "target_url": bh.url("http")}
    apis["bh_h2c"] = {"listen_path": "/bh_h2c/", "target_url": bh.url("h2c")}
    g = ctx.gateway(apis, upstream_connect_timeout_ms=300, upstream_timeout_ms=5000)
    frame = grpc_empty_frame_file(ctx)
    for front in FRONTS:
        for kind in ("h1", "h2c"):
            what = "%s->blackholed %s" % (front, kind)
            start = time.monotonic()
            r = curl_ok(*FRONTS[front], g.url("/bh_%s/x" % kind), timeout=15)
            elapsed = time.monotonic() - start
            check_json_error(r, 502, what)
            check(elapsed < 4, "%s: the 502 took %.1fs with upstream_connect_timeout_ms = 300 "
                  "(upstream_timeout_ms = 5000)" % (what, elapsed))
    r = curl_ok("--http2-prior-knowledge", *GRPC, "--data-binary", "@" + frame,
                g.url("/bh_h2c/pkg.Svc/Method"), timeout=15)
    check_grpc_local_reply(r, 14, "gRPC to a blackholed upstream")
    r = curl_ok("--http1.1", g.url("/h1/hello"))
    check_eq((r.status, r.body), (200, b"hello\n"), "live API still served")


