#!/usr/bin/python3
"""Writes the seed corpora of the codec fuzz targets (fuzz/corpus/h{1,2}_{server,client}_fuzz/).

An input is payload (what the peer sends, from the front) + control values (read from
the back, first value last; see fuzz/codec_fuzz_support.h). Each seed is a real
exchange: valid requests or responses, HTTP/2 frames built with hyperframe/hpack,
with control values that pick how the handler answers and how input is cut.
Control values that run out read as 0 (one receive of everything, default answers).

  /usr/bin/python3 fuzz/gen_codec_seeds.py    (needs python3-hyperframe, python3-hpack)
"""

import os
import sys

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Server harness: ops (below(12)) and handler plans / actions.
RECV, TIMER, SEND, ACT, RECV_END, DRAIN, MEMORY = 0, 4, 5, 7, 9, 10, 11
REPLY_AT_HEAD, STREAM_AT_HEAD, REPLY_AT_END, STREAM_AT_END, LATER, ABORT_AT_HEAD, \
    BODILESS_AT_HEAD, LATER_PAUSED = range(8)
A_HEAD, A_DATA, A_END, A_LOCAL, A_ABORT, A_CONSUME, A_RESUME, A_WHOLE = range(8)
# Client harnesses: ops (below(11)).
C_RECV, C_TIMER, C_SEND, C_ACT, C_RECV_END, C_POOL, C_END = 0, 4, 5, 7, 8, 9, 10


def u16(n):
    return [n & 0xFF, n >> 8]


# A receive op: ("recv", n) takes n payload bytes, R the rest of them. Its size must
# be exact: control values are read from the back of the same buffer, so a receive
# of "everything" would swallow the controls after it.
R = ("recv", None)


def rv(n):
    return ("recv", n)


def seed(payload, controls):
    """Controls are listed in the order the harness reads them (receive op 0 is the
    same in all four harnesses). Unless the controls receive the whole payload
    themselves, a final receive of the rest is added."""
    out = []
    taken = 0
    for c in controls:
        if isinstance(c, tuple):
            n = len(payload) - taken if c[1] is None else min(c[1], len(payload) - taken)
            if n == 0:
                continue
            taken += n
            out += [0, *u16(n)]
        else:
            out.append(c)
    if taken < len(payload):
        out += [0, *u16(len(payload) - taken)]
    return payload + bytes(reversed(out))


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- HTTP/1.1 server --------------------------------------------------------------

def h1_server():
    t = "h1_server_fuzz"
    get = b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\n\r\n"
    post = (b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n"
            b"Content-Type: text/plain\r\n\r\nhello world")
    chunked = (b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    expect = (b"PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
              b"data")
    head = b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"
    http10 = b"GET /old HTTP/1.0\r\n\r\n"
    absolute = b"GET http://example.com/abs HTTP/1.1\r\nHost: other\r\n\r\n"
    close = b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    # One receive, handler answers at once with a local reply (all defaults).
    write(t, "get", seed(get, [0]))
    write(t, "get-streamed", seed(get, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1, 0]))
    write(t, "pipelined-3", seed(get * 3, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1, 0,
                                            1, SEND, *u16(0), SEND, *u16(0)]))
    write(t, "post-body", seed(post, [0, R, REPLY_AT_END, 0]))
    write(t, "post-split", seed(post, [0, rv(10), STREAM_AT_END, 0,
                                       rv(50), R]))
    write(t, "chunked-trailers", seed(chunked, [0, R, STREAM_AT_END, 0]))
    write(t, "chunked-bytewise", seed(chunked, [0] + [rv(1)] * 40))
    write(t, "expect-continue", seed(expect, [0, R, LATER, 1, ACT, 0, A_WHOLE]))
    write(t, "head", seed(head, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1]))
    write(t, "http10", seed(http10, [0, R, STREAM_AT_HEAD, 0, 0, 0, 0]))
    write(t, "absolute-form", seed(absolute, [0]))
    write(t, "connection-close", seed(close + get, [0]))
    write(t, "later-then-timeout", seed(get, [0, R, LATER, 1, TIMER, 7,
                                             TIMER, 7, ACT, 0, A_WHOLE]))
    write(t, "paused-body", seed(post, [0, rv(30), LATER_PAUSED, 1, R,
                                        ACT, 0, A_RESUME, ACT, 0, A_WHOLE]))
    write(t, "abort", seed(get + get, [0, R, ABORT_AT_HEAD, 0]))
    write(t, "bodiless", seed(get + get, [0, R, BODILESS_AT_HEAD, 0, 2]))
    write(t, "header-timeout", seed(b"GET / HTTP/1.1\r\nHost: h\r\n", [0, R,
                                                                       TIMER, 3]))
    write(t, "idle-timeout", seed(get, [0, R, TIMER, 6, TIMER, 6]))
    write(t, "drain", seed(get + get, [0, R, LATER, 1, DRAIN, ACT, 0, A_WHOLE]))
    write(t, "memory-refused", seed(get, [0, MEMORY, R]))
    write(t, "client-gone", seed(post[:60], [0, R, LATER, 1, RECV_END, 0]))
    write(t, "slow-reader", seed(get * 2, [2, R, STREAM_AT_HEAD, 0, 0, 0, 3, 3,
                                           SEND, *u16(100), SEND, *u16(0)]))
    # Refused before any handler: 400s, 431, and an unparseable body after the head.
    write(t, "no-host", seed(b"GET / HTTP/1.1\r\n\r\n", [0]))
    write(t, "two-hosts", seed(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", [0]))
    write(t, "bad-target", seed(b"GET x HTTP/1.1\r\nHost: a\r\n\r\n", [0]))
    write(t, "grpc", seed(b"POST /s/M HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\n"
                          b"Content-Length: 0\r\n\r\n", [0]))
    write(t, "header-too-large", seed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 600 +
                                      b"\r\n\r\n", [1]))
    write(t, "bad-chunk", seed(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                               b"\r\nzz\r\n", [0, R, LATER, 1]))
    write(t, "smuggle-cl-te", seed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [0]))
    write(t, "upgrade", seed(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                             b"Upgrade: websocket\r\n\r\n\x81\x00", [0]))
    write(t, "garbage", seed(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", [0]))


# --- HTTP/2 server ----------------------------------------------------------------

def frames(*fs):
    return b"".join(f.serialize() for f in fs)


def req_headers(method=b"GET", path=b"/", extra=()):
    return [(b":method", method), (b":scheme", b"http"), (b":authority", b"example.com"),
            (b":path", path)] + list(extra)


def h2_server():
    t = "h2_server_fuzz"
    start = PREFACE + frames(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535}))
    ack = frames(SettingsFrame(0, flags=["ACK"]))

    def hdrs(enc, sid, headers, flags=("END_HEADERS",)):
        return HeadersFrame(sid, data=enc.encode(headers), flags=list(flags))

    e = Encoder()
    get = start + ack + frames(hdrs(e, 1, req_headers(), ["END_HEADERS", "END_STREAM"]))
    write(t, "get", seed(get, [0]))
    write(t, "get-streamed", seed(get, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1, 0,
                                       SEND, *u16(0)]))
    e = Encoder()
    post = start + ack + frames(
        hdrs(e, 1, req_headers(b"POST", b"/up", [(b"content-length", b"11"),
                                                 (b"content-type", b"text/plain")])),
        DataFrame(1, data=b"hello "), DataFrame(1, data=b"world", flags=["END_STREAM"]))
    write(t, "post-body", seed(post, [0, R, STREAM_AT_END, 0]))
    write(t, "post-reply-early", seed(post, [0, rv(80), REPLY_AT_HEAD, 0,
                                             R]))
    e = Encoder()
    block = e.encode(req_headers(b"GET", b"/cont", [(b"x-long", b"v" * 200)]))
    cont = start + ack + frames(
        HeadersFrame(3, data=block[:10], flags=["END_STREAM"]),
        ContinuationFrame(3, data=block[10:50]),
        ContinuationFrame(3, data=block[50:], flags=["END_HEADERS"]))
    write(t, "continuation", seed(cont, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1]))
    write(t, "continuation-timeout", seed(start + ack + frames(
        HeadersFrame(1, data=block[:10], flags=["END_STREAM"])), [0, R, TIMER, 3]))
    e = Encoder()
    trailers = start + ack + frames(
        hdrs(e, 1, req_headers(b"POST", b"/t", [(b"te", b"trailers")])),
        DataFrame(1, data=b"x" * 100),
        hdrs(e, 1, [(b"x-trailer", b"t")], ["END_HEADERS", "END_STREAM"]))
    write(t, "trailers", seed(trailers, [0, R, LATER, 1, ACT, 0, A_WHOLE]))
    e = Encoder()
    rst = start + ack + frames(hdrs(e, 1, req_headers(b"POST", b"/r")),
                               RstStreamFrame(1, error_code=8))
    write(t, "rst-stream", seed(rst, [0, R, LATER, 1]))
    e = Encoder()
    rapid = start + ack + b"".join(
        frames(hdrs(e, 2 * i + 1, req_headers()), RstStreamFrame(2 * i + 1, error_code=8))
        for i in range(12))
    write(t, "rapid-reset", seed(rapid, [32] + [R] + [LATER, 1] * 12))
    misc = start + ack + frames(
        PingFrame(0, opaque_data=b"12345678"),
        WindowUpdateFrame(0, window_increment=1000),
        PriorityFrame(1, depends_on=0, stream_weight=16),
        SettingsFrame(0, settings={SettingsFrame.MAX_FRAME_SIZE: 16384}),
        WindowUpdateFrame(1, window_increment=10))
    write(t, "ping-window-priority", seed(misc, [0]))
    e = Encoder()
    window = start + ack + frames(hdrs(e, 1, req_headers(), ["END_HEADERS", "END_STREAM"]),
                                  WindowUpdateFrame(1, window_increment=100000),
                                  WindowUpdateFrame(0, window_increment=100000))
    write(t, "window-update", seed(window, [4, rv(82), STREAM_AT_HEAD, 0, 0, 0, 3, 2,
                                            SEND, *u16(0), R]))
    e = Encoder()
    many = start + ack + b"".join(
        frames(hdrs(e, 2 * i + 1, req_headers(b"GET", b"/m%d" % i), ["END_HEADERS", "END_STREAM"]))
        for i in range(5))
    write(t, "concurrent", seed(many, [16, R] + [LATER, 1] * 5 +
                                [ACT, 0, A_WHOLE, ACT, 1, A_ABORT, ACT, 0, A_LOCAL]))
    e = Encoder()
    goaway = start + ack + frames(hdrs(e, 1, req_headers(), ["END_HEADERS", "END_STREAM"]),
                                  GoAwayFrame(0, last_stream_id=0, error_code=0))
    write(t, "goaway", seed(goaway, [0, R, LATER, 1, ACT, 0, A_WHOLE]))
    write(t, "drain", seed(get, [0, R, LATER, 1, DRAIN, ACT, 0, A_WHOLE]))
    write(t, "no-settings-ack", seed(start, [0, R, TIMER, 4]))
    e = Encoder()
    head = start + ack + frames(hdrs(e, 1, req_headers(b"HEAD", b"/h"),
                                     ["END_HEADERS", "END_STREAM"]))
    write(t, "head", seed(head, [0, R, STREAM_AT_HEAD, 0, 0, 0, 1]))
    e = Encoder()
    conflict = start + ack + frames(hdrs(e, 1, req_headers(extra=[(b"host", b"other")]),
                                         ["END_HEADERS", "END_STREAM"]))
    write(t, "host-conflict", seed(conflict, [0]))
    e = Encoder()
    big = start + ack + frames(hdrs(e, 1, req_headers(extra=[(b"x-big", b"b" * 700)]),
                                    ["END_HEADERS", "END_STREAM"]))
    write(t, "header-too-large", seed(big, [1]))
    e = Encoder()
    grpc = start + ack + frames(
        hdrs(e, 1, req_headers(b"POST", b"/pkg.S/M", [(b"content-type", b"application/grpc"),
                                                      (b"te", b"trailers")])),
        DataFrame(1, data=b"\x00\x00\x00\x00\x02hi"))
    write(t, "grpc-early-reply", seed(grpc, [0, R, REPLY_AT_HEAD, 0, TIMER, 1,
                                             TIMER, 2]))
    write(t, "bad-preface", seed(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", [0]))
    write(t, "stream-id-regression", seed(start + ack + frames(
        hdrs(Encoder(), 5, req_headers(), ["END_HEADERS", "END_STREAM"])) + frames(
        hdrs(Encoder(), 3, req_headers(), ["END_HEADERS", "END_STREAM"])), [0]))


# --- HTTP/1.1 client --------------------------------------------------------------

def h1_client():
    t = "h1_client_fuzz"
    # Request: GET (method pick 0); POST is 1, HEAD 2, PUT 3.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n")
    write(t, "get-200", seed(ok, [0]))
    write(t, "get-chunked", seed(chunked, [0]))
    write(t, "get-bytewise", seed(chunked, [0, 0] + [rv(1)] * 40))
    write(t, "keepalive-reuse", seed(ok + ok, [0, 0, rv(len(ok)), C_POOL, 0, 0,
                                               R]))
    write(t, "post-body", seed(ok, [0, 1, 2, 1, C_SEND, *u16(0), R]))
    write(t, "post-chunked", seed(ok, [0, 1, 0, 0, C_ACT, 0, 0, C_ACT, 1, 1, C_SEND, *u16(0),
                                       R]))
    write(t, "post-early-answer", seed(ok, [0, 1, 3, 0, R, C_END]))
    write(t, "head-with-length", seed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                                      [0, 2]))
    write(t, "204", seed(b"HTTP/1.1 204 No Content\r\n\r\n" + ok, [0, 0, R]))
    write(t, "304", seed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", [0]))
    write(t, "100-then-200", seed(b"HTTP/1.1 100 Continue\r\n\r\n" + ok, [0]))
    write(t, "103-then-200", seed(b"HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" + ok, [0]))
    write(t, "101", seed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", [0]))
    write(t, "close-delimited", seed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
                                     [0, 0, R, C_RECV_END, 0]))
    write(t, "http10", seed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", [0]))
    write(t, "extra-bytes", seed(ok + b"junk", [0]))
    write(t, "truncated", seed(ok[:-2], [0, 0, R, C_RECV_END, 0]))
    write(t, "malformed", seed(b"HTTP/1.1 abc\r\n\r\n", [0]))
    write(t, "header-too-large", seed(b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 600 + b"\r\n\r\n",
                                      [1]))
    write(t, "cancel", seed(ok, [0, 0, rv(20), C_ACT, 2]))
    write(t, "paused", seed(chunked, [0, 0, C_ACT, 4, R, C_ACT, 5]))
    write(t, "idle-close", seed(ok, [0, 0, R, C_POOL, 3, C_TIMER, 3]))
    write(t, "idle-timeout", seed(ok, [0, 0, R, C_TIMER, 3, C_TIMER, 4]))
    # Regressions: a 1xx with a Content-Length "body"; a POST whose body is still
    # queued when its response ends and the next request reuses the connection (the
    # old body's credits must not count as the new request's).
    write(t, "103-with-length", seed(b"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n"
                                     b"hello" + ok, [0]))
    write(t, "reuse-while-body-queued", seed(ok, [0, 1, 2, 1, R, C_POOL, 0, 0,
                                                  C_SEND, *u16(0)]))
    write(t, "unsolicited", seed(ok + ok, [0, 0, rv(len(ok)), R]))


# --- HTTP/2 client ----------------------------------------------------------------

def h2_client():
    t = "h2_client_fuzz"
    ack = frames(SettingsFrame(0, flags=["ACK"]))

    def resp(enc, sid, headers, flags=("END_HEADERS",)):
        return HeadersFrame(sid, data=enc.encode(headers), flags=list(flags))

    e = Encoder()
    ok = ack + frames(resp(e, 1, [(b":status", b"200"), (b"content-length", b"5")]),
                      DataFrame(1, data=b"hello", flags=["END_STREAM"]))
    write(t, "get-200", seed(ok, [0]))
    write(t, "get-split", seed(ok, [0, 0] + [rv(7)] * 10))
    e = Encoder()
    write(t, "head-only", seed(ack + frames(resp(e, 1, [(b":status", b"204")],
                                                 ["END_HEADERS", "END_STREAM"])), [0]))
    e = Encoder()
    write(t, "trailers", seed(ack + frames(
        resp(e, 1, [(b":status", b"200")]), DataFrame(1, data=b"x" * 300),
        resp(e, 1, [(b"grpc-status", b"0")], ["END_HEADERS", "END_STREAM"])), [0]))
    e = Encoder()
    write(t, "interim-100", seed(ack + frames(
        resp(e, 1, [(b":status", b"100")]),
        resp(e, 1, [(b":status", b"200")], ["END_HEADERS", "END_STREAM"])), [0]))
    e = Encoder()
    block = e.encode([(b":status", b"200"), (b"x-long", b"v" * 300)])
    write(t, "continuation", seed(ack + frames(
        HeadersFrame(1, data=block[:20], flags=["END_STREAM"]),
        ContinuationFrame(1, data=block[20:], flags=["END_HEADERS"])), [0]))
    write(t, "rst-stream", seed(ack + frames(RstStreamFrame(1, error_code=2)), [0]))
    write(t, "refused", seed(ack + frames(RstStreamFrame(1, error_code=7)), [0]))
    e = Encoder()
    write(t, "goaway", seed(ack + frames(
        GoAwayFrame(0, last_stream_id=0, error_code=0)), [0, 0, R, C_POOL, 0]))
    write(t, "ping-window", seed(ack + frames(
        PingFrame(0, opaque_data=b"abcdefgh"), WindowUpdateFrame(0, window_increment=5000),
        WindowUpdateFrame(1, window_increment=5000), PriorityFrame(1, depends_on=0)), [0]))
    write(t, "settings-limit", seed(frames(SettingsFrame(0, settings={
        SettingsFrame.MAX_CONCURRENT_STREAMS: 1, SettingsFrame.INITIAL_WINDOW_SIZE: 10})) + ok,
        [32, 0, 0, 1, 0, C_POOL, 0]))
    write(t, "no-settings", seed(b"", [32, 0, C_TIMER, 2]))
    e = Encoder()
    write(t, "post-flow", seed(ack + frames(
        WindowUpdateFrame(1, window_increment=100000),
        resp(e, 1, [(b":status", b"201")], ["END_HEADERS", "END_STREAM"])),
        [0, 0, 1, 3, 1, C_SEND, *u16(0), R]))
    e = Encoder()
    big = ack + frames(resp(e, 1, [(b":status", b"200"), (b"x-big", b"b" * 700)]))
    write(t, "header-too-large", seed(big, [1]))
    write(t, "cancel", seed(ok, [0, 0, rv(20), C_ACT, 0, 2]))
    write(t, "garbage", seed(b"HTTP/1.1 400 Bad Request\r\n\r\n", [0]))


def main():
    h1_server()
    h2_server()
    h1_client()
    h2_client()
    return 0


if __name__ == "__main__":
    sys.exit(main())
