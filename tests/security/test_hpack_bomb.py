"""HPACK bomb (SECURITY.md §7 row 4, h2o's t/80hpack-bomb.t): a 4 KiB header put in
the dynamic table once and then referenced by its one-byte index many times decodes
to megabytes from a few kilobytes on the wire. The gateway caps the *decoded* header
list (max_header_bytes): the stream gets a 431 (or is reset), nothing reaches the
upstream, and the connection and the gateway keep serving."""

import os
import sys

from harness import admin_section, check, check_eq, curl, free_port, metric, scrape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_frames as hf  # noqa: E402

BOMB_VALUE = "a" * 4000  # name + value + 32 fit the default 4096-byte dynamic table


def _setup(ctx, max_header_bytes=65536):
    up = ctx.capture_upstream()
    admin_port = free_port()
    g = ctx.gateway({"cap": {"listen_path": "/cap/", "strip_listen_path": True,
                             "target_url": up.url()}},
                    sections=admin_section(admin_port), max_header_bytes=max_header_bytes)
    return up, g, admin_port


def _too_large(admin_port):
    samples, _ = scrape(admin_port)
    return metric(samples, "ringway_local_replies_total", cause="headers_too_large", flag="TL")


def _expect_431_or_reset(c, sid, what):
    """The stream |sid| ends with :status 431 or RST_STREAM; not a GOAWAY with an error,
    not a close."""
    seen = {}

    def decide(f):
        if f.type == hf.GOAWAY:
            return False
        if f.sid != sid:
            return None
        if f.type == hf.RST_STREAM:
            seen["rst"] = f.error_code
            return True
        if f.headers is not None:
            seen["status"] = dict(f.headers).get(":status")
            return seen["status"] == "431"
        return None

    end, _, outcome = c.scan(decide, timeout=5)
    check(end == "pass", "%s: expected 431 or RST_STREAM on stream %d, got %s"
          % (what, sid, outcome))
    return seen


def test_hpack_bomb_dynamic_entry_referenced_1000_times(ctx):
    """Row 4: one HEADERS block adds a 4000-byte x-bomb to the dynamic table and then
    references it 1000 times (4 MB decoded from ~5 KB): 431 or RST_STREAM on that
    stream; then a second block references it 1000 times again. The connection serves
    a request afterwards, the headers_too_large counter moved, the upstream saw only
    the canaries."""
    up, g, admin_port = _setup(ctx)
    before = _too_large(admin_port)
    with hf.H2Conn(g.port) as c:
        fields = hf.request_fields("GET", "/cap/bomb1")
        block = b"".join(hf.hpack_literal(n, v) for n, v in fields)
        block += hf.hpack_literal("x-bomb", BOMB_VALUE, indexing="incremental")
        block += hf.hpack_indexed(62) * 1000  # 62: the newest dynamic entry
        check(len(block) < 6000, "the bomb is %d bytes on the wire" % len(block))
        sid = c.new_sid()
        c.send(hf.headers(sid, block[:16000]))
        first = _expect_431_or_reset(c, sid, "first bomb")
        # The entry stays in the table (HPACK state survives a stream error).
        sid = c.new_sid()
        block = b"".join(hf.hpack_literal(n, v) for n, v in
                         hf.request_fields("GET", "/cap/bomb2"))
        c.send(hf.headers(sid, block + hf.hpack_indexed(62) * 1000))
        second = _expect_431_or_reset(c, sid, "second bomb (table reference only)")
        ctx.note("first: %r, second: %r" % (first, second))
        sid = c.new_sid()
        c.send(hf.headers(sid, b"".join(hf.hpack_literal(n, v) for n, v in
                                        hf.request_fields("GET", "/cap/canary-same"))))
        c.expect_response(sid, "200", timeout=5)
    with hf.H2Conn(g.port) as c:
        c.expect_response(c.request("GET", "/cap/canary-fresh"), "200", timeout=5)
    check_eq([q["target"] for q in up.requests], ["/canary-same", "/canary-fresh"],
             "requests the upstream received")
    check(g.alive(), "the gateway died")
    after = _too_large(admin_port)
    check(after >= before + 2, "headers_too_large local replies: %s -> %s" % (before, after))


def test_hpack_bomb_curl_repeated_large_header(ctx):
    """Row 4: curl --http2 with 12 copies of a 4000-byte header (curl's encoder indexes
    the first and references it 11 times; ~4 KB on the wire, 48 KB decoded) against
    max_header_bytes = 16384: 431; a normal request is served after. (curl's
    libnghttp2 will not send a header list over 64 KiB, so h2o's 101 copies never
    leave curl; the raw-frame test above sends 1000.)"""
    up, g, admin_port = _setup(ctx, max_header_bytes=16384)
    before = _too_large(admin_port)
    hfile = ctx.tmp("bomb-headers")
    with open(hfile, "w") as f:
        f.write(("x-bomb: %s\n" % BOMB_VALUE) * 12)
    r = curl("--http2-prior-knowledge", "-H", "@" + hfile, g.url("/cap/bomb"), timeout=20)
    check_eq((r.rc, r.status), (0, 431), "curl exit and status (%s)" % r.stderr.strip())
    check_eq(r.headers.get("content-type"), "application/json", "431 content-type")
    r = curl("--http2-prior-knowledge", g.url("/cap/canary"))
    check_eq(r.status, 200, "canary")
    check_eq([q["target"] for q in up.requests], ["/canary"], "requests the upstream received")
    check_eq(_too_large(admin_port), before + 1, "headers_too_large local replies")
