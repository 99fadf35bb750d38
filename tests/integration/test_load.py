"""Load through the gateway with h2load: every request must succeed with a 2xx, and
the gateway must exit 0 on SIGTERM afterwards. Requests/s are reported as notes
(tests never assert on speed)."""

import os
import re
import signal

from harness import check, check_eq, proxy_setup


def _load(ctx, g, url, n, args, what):
    r = ctx.h2load("-n", n, *args, url, timeout=280)
    ctx.note("%s: %d requests, %.0f req/s (h2load %s)" % (what, n, r.req_per_s, " ".join(
        str(a) for a in args)))
    summary = ("total %d, succeeded %d, failed %d, errored %d, timeout %d; 2xx %d, 3xx %d, "
               "4xx %d, 5xx %d" % (r.total, r.succeeded, r.failed, r.errored, r.timeout, r.s2xx,
                                   r.s3xx, r.s4xx, r.s5xx))
    check((r.succeeded, r.failed, r.errored, r.timeout, r.s2xx) == (n, 0, 0, 0, n),
          "%s: %s\n%s" % (what, summary, r.output[-1500:]))
    check(g.alive(), what + ": the gateway died")


def _stop_cleanly(g, expected_requests):
    status = g.stop(signal.SIGTERM, timeout=15)
    check_eq(status, 0, "gateway exit status on SIGTERM after the load")
    # The gateway's own count (its last log line), so the load really went through it.
    m = re.search(r"stopped after (\d+) request", g.stderr_text())
    check(m is not None, "no 'stopped after N request(s)' line in the gateway's log")
    check(int(m.group(1)) >= expected_requests, "the gateway counted %s requests, want >= %d"
          % (m.group(1), expected_requests))


def test_h2_h2c_load(ctx):
    b, g = proxy_setup(ctx, shards=2)
    _load(ctx, g, g.url("/h2c/hello"), 100000, ["-c", 16, "-m", 16], "h2c -> h2c")
    _stop_cleanly(g, 100000)


def test_h1_h1_load(ctx):
    b, g = proxy_setup(ctx, shards=2)
    _load(ctx, g, g.url("/h1/hello"), 100000, ["--h1", "-c", 16], "h1 -> h1")
    _stop_cleanly(g, 100000)


def test_mixed_load(ctx):
    b, g = proxy_setup(ctx, shards=2)
    _load(ctx, g, g.url("/h2c/hello"), 20000, ["--h1", "-c", 16], "h1 -> h2c")
    _load(ctx, g, g.url("/h1/hello"), 20000, ["-c", 16, "-m", 16], "h2c -> h1")
    _stop_cleanly(g, 40000)


def test_post_load(ctx):
    """Request bodies under load: 4 KiB POSTs to /sink, both ways across protocols."""
    b, g = proxy_setup(ctx, shards=2)
    body = ctx.tmp("post-body")
    with open(body, "wb") as f:
        f.write(os.urandom(4096))
    _load(ctx, g, g.url("/h1/sink"), 10000, ["-c", 8, "-m", 8, "-d", body], "h2c -> h1 POST 4 KiB")
    _load(ctx, g, g.url("/h2c/sink"), 10000, ["--h1", "-c", 8, "-d", body],
          "h1 -> h2c POST 4 KiB")
    _stop_cleanly(g, 20000)


for _f in (test_h2_h2c_load, test_h1_h1_load, test_mixed_load, test_post_load):
    _f.timeout = 300  # seconds (run.py's per-test limit); ASan builds are slow
