"""HTTP/2 server conformance with raw frames: h2spec's server cases (SECURITY.md §8),
reproduced against the gateway (h2c, prior knowledge) in front of the test backend.

One test function per h2spec section; each case in it is a function registered with
@case("ID", "title") that gets a fresh connection. A section's test runs all its cases
and fails naming every failing case ("6.9.1/2 ...: expected GOAWAY(...), got ...").
Outcomes follow §8's notation: "conn X" = GOAWAY(X) or TCP close, "stream X" =
RST_STREAM(X) or GOAWAY(X) or close; the first GOAWAY or RST_STREAM decides (one with
another code fails even if a close follows, which h2spec would accept). Every case
reads with a short deadline (CASE_TIMEOUT_S) so the suite stays fast.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # h2_frames

import h2_frames as h2  # noqa: E402
from h2_frames import (  # noqa: E402
    ACK, CANCEL, COMPRESSION_ERROR, DATA, FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR, GOAWAY, HEADER_TABLE_SIZE, HEADERS, INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS, MAX_FRAME_SIZE, MAX_WINDOW, NO_ERROR, PING, PRIORITY,
    PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM, SETTINGS, STREAM_CLOSED, WINDOW_UPDATE,
    ENABLE_PUSH, H2Conn, continuation, data, frame, goaway, headers, hpack_indexed,
    hpack_literal, hpack_size_update, ping, priority, push_promise, request_fields,
    rst_stream, settings, window_update)
from harness import TestFailure, fail, proxy_setup  # noqa: E402

CASE_TIMEOUT_S = 1.5  # per read; doubled under ASan
HELLO = "/h1/hello"
SLOW = "/h1/slow?ms=1000"  # keeps a stream half-closed (remote) for a while
ECHO = "/h1/echo"
BYTES = "/h1/bytes?n=100"
UNKNOWN_TYPE = 0x16
PAYLOAD = b"h2spec\x00\x01"

CASES = {}  # section -> [(case id, title, function(session))]


def case(case_id, title):
    def register(fn):
        CASES.setdefault(case_id.rsplit("/", 1)[0], []).append((case_id, title, fn))
        return fn
    return register


class Session:
    """What a case gets: connections to the gateway, closed after the case."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self._conns = []

    def conn(self, settings_pairs=(), handshake=True):
        c = H2Conn(self.port, settings_pairs, handshake=handshake, timeout=self.timeout)
        self._conns.append(c)
        return c

    def close(self):
        for c in self._conns:
            c.close()


def run_sections(ctx, *sections, **gateway_keys):
    """Runs every case of |sections| against one gateway; fails listing the failures."""
    b, g = proxy_setup(ctx, **gateway_keys)
    timeout = CASE_TIMEOUT_S * (2 if ctx.asan else 1)
    failures, n = [], 0
    for section in sections:
        for case_id, title, fn in CASES[section]:
            n += 1
            s = Session(g.port, timeout)
            try:
                fn(s)
            except TestFailure as e:
                failures.append("%s (%s): %s" % (case_id, title, e))
            except OSError as e:
                failures.append("%s (%s): socket error %r" % (case_id, title, e))
            finally:
                s.close()
            if not g.alive():
                fail("%s (%s): the gateway died (status %s); stderr tail:\n%s"
                     % (case_id, title, g.proc.returncode, g.stderr_text()[-1500:]))
    # The gateway still serves a fresh connection after all that.
    s = Session(g.port, timeout)
    try:
        c = s.conn()
        c.expect_response(c.request(path=HELLO))
    except TestFailure as e:
        failures.append("canary request after the cases: %s" % e)
    finally:
        s.close()
    if failures:
        ids = ", ".join(f.split(" ", 1)[0] for f in failures)
        fail("%d of %d h2spec cases failed: %s\n%s" % (len(failures), n, ids,
                                                        "\n".join(failures)))


def post_open(c, path=ECHO, extra=()):
    """A POST whose body has not started: the stream stays open."""
    return c.request("POST", path, extra=extra, end_stream=False)


def expect_ignored(c, payload=PAYLOAD):
    """The connection goes on as if nothing happened: a PING is answered."""
    c.send(ping(payload))
    c.expect_ping_ack(payload)


def expect_ping_ack_or_clean_close(c, payload=PAYLOAD):
    """After the client's GOAWAY: the PING answered, or the connection closed without
    an error code."""
    def decide(f):
        if f.type == PING and f.flags & ACK and f.payload == payload:
            return True
        if f.type in (GOAWAY, RST_STREAM) and f.error_code != NO_ERROR:
            return False
        return None
    end, _, outcome = c.scan(decide)
    if end not in ("pass", "closed"):
        fail("expected the PING answered or a clean close, got %s" % outcome)


def expect_no_more_data(c, sid, seconds=0.2):
    """No DATA on |sid| for |seconds| (the window is used up)."""
    for f in c.frames(seconds):
        if f.type == DATA and f.sid == sid and f.data:
            raise TestFailure("DATA beyond the flow-control window: %r" % f)


def split3(block):
    """A header block in three non-empty fragments."""
    a, b = len(block) // 3, 2 * len(block) // 3
    return block[:a], block[a:b], block[b:]


def big_block(c, n=3):
    """A request header block long enough to split."""
    return c.encode(request_fields("GET", HELLO, extra=[("x-pad%d" % i, "v" * 20)
                                                        for i in range(n)]))


DUMMY = hpack_literal("x-dummy", "1")  # not indexed: leaves the decoder's table alone


# ---------------------------------------------------------------------------
# http2 3.5: connection preface


@case("3.5/1", "client connection preface: the server's first frame is SETTINGS")
def _(s):
    c = s.conn(handshake=False)
    c.send(h2.PREFACE + settings((INITIAL_WINDOW_SIZE, 65535)))
    end, f, outcome = c.scan(lambda f: f.type == SETTINGS and not f.flags & ACK)
    if end != "pass":
        fail("expected SETTINGS (not ACK) as the first frame, got %s" % outcome)


@case("3.5/2", "invalid connection preface -> conn PROTOCOL_ERROR / close")
def _(s):
    c = s.conn(handshake=False)
    c.send(b"INVALID CONNECTION PREFACE\r\n\r\n")
    c.expect_conn_error(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# http2 4.1-4.3: frame format, size, header compression


@case("4.1/1", "frame of unknown type -> ignored")
def _(s):
    c = s.conn()
    c.send(frame(UNKNOWN_TYPE, 0, 0, b"\0" * 8))
    expect_ignored(c)


@case("4.1/2", "frame with an undefined flag -> ignored")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD, flags=0x16))  # 0x16 has no ACK bit
    c.expect_ping_ack(PAYLOAD)


@case("4.1/3", "frame with the reserved bit set -> ignored")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD, sid=0x80000000))
    c.expect_ping_ack(PAYLOAD)


@case("4.2/1", "DATA of 16384 bytes -> ok")
def _(s):
    c = s.conn()
    sid = post_open(c, "/h1/sink")
    c.send(data(sid, b"x" * 16384, end_stream=True))
    _, body, _ = c.expect_response(sid)
    if not body.startswith(b"bytes=16384 "):
        fail("upstream got %r" % body)


@case("4.2/2", "DATA larger than SETTINGS_MAX_FRAME_SIZE -> stream FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    limit = c.server_settings.get(MAX_FRAME_SIZE, h2.DEFAULT_MAX_FRAME_SIZE)
    sid = post_open(c, "/h1/sink")
    c.send(data(sid, b"x" * (limit + 1), end_stream=True))
    c.expect_stream_error(sid, FRAME_SIZE_ERROR)


@case("4.2/3", "HEADERS larger than SETTINGS_MAX_FRAME_SIZE -> conn FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    limit = c.server_settings.get(MAX_FRAME_SIZE, h2.DEFAULT_MAX_FRAME_SIZE)
    block = c.encode(request_fields("GET", HELLO)) + hpack_literal("x-big", "a" * (limit + 100))
    c.send(headers(1, block))
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("4.3/1", "invalid header block fragment -> conn COMPRESSION_ERROR")
def _(s):
    c = s.conn()
    # Literal with incremental indexing whose value claims 13 bytes and has 9.
    block = b"\x40" + h2.hpack_string("custom-key") + b"\x0dcustom-he"
    c.send(headers(1, block))
    c.expect_conn_error(COMPRESSION_ERROR)


@case("4.3/2", "PRIORITY in the middle of a header block -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), end_headers=False),
           priority(1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("4.3/3", "HEADERS to another stream in the middle of a header block -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), end_headers=False),
           headers(3, c.encode(request_fields("GET", HELLO))))
    c.expect_conn_error(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# http2 5.1: stream states


@case("5.1/1", "idle: DATA -> stream PROTOCOL_ERROR|STREAM_CLOSED")
def _(s):
    c = s.conn()
    c.send(data(1, b"test", end_stream=True))
    c.expect_stream_error(1, PROTOCOL_ERROR, STREAM_CLOSED)


@case("5.1/2", "idle: RST_STREAM -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(rst_stream(1, CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1/3", "idle: WINDOW_UPDATE -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(window_update(1, 100))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1/4", "idle: CONTINUATION -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(continuation(1, c.encode(request_fields("GET", HELLO))))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1/5", "half-closed (remote): DATA -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("5.1/6", "half-closed (remote): HEADERS -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(headers(sid, c.encode(request_fields("GET", SLOW))))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("5.1/7", "half-closed (remote): CONTINUATION -> stream STREAM_CLOSED|PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(continuation(sid, DUMMY))
    c.expect_stream_error(sid, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1/8", "closed: DATA after our RST_STREAM -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(rst_stream(sid, CANCEL), data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("5.1/9", "closed: HEADERS after our RST_STREAM -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(rst_stream(sid, CANCEL), headers(sid, c.encode(request_fields("GET", HELLO))))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("5.1/10", "closed: CONTINUATION after our RST_STREAM -> stream STREAM_CLOSED|PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(rst_stream(sid, CANCEL), continuation(sid, DUMMY))
    c.expect_stream_error(sid, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1/11", "closed: DATA after both END_STREAMs -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = c.request("GET", HELLO)
    c.read_response(sid)
    c.send(data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("5.1/12", "closed: HEADERS after both END_STREAMs -> conn STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = c.request("GET", HELLO)
    c.read_response(sid)
    c.send(headers(sid, c.encode(request_fields("GET", HELLO))))
    c.expect_conn_error(STREAM_CLOSED)


@case("5.1/13", "closed: CONTINUATION after both END_STREAMs -> conn STREAM_CLOSED|PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = c.request("GET", HELLO)
    c.read_response(sid)
    c.send(continuation(sid, DUMMY))
    c.expect_conn_error(STREAM_CLOSED, PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# http2 5.1.1-5.5: stream ids, concurrency, dependencies, errors, extensions


@case("5.1.1/1", "even-numbered stream id -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.request("GET", HELLO, sid=2)
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1.1/2", "stream id lower than a previous one -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.request("GET", SLOW, sid=5)
    c.request("GET", SLOW, sid=3)
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1.2/1", "streams beyond SETTINGS_MAX_CONCURRENT_STREAMS "
      "-> stream PROTOCOL_ERROR|REFUSED_STREAM")
def _(s):
    c = s.conn()
    limit = c.server_settings.get(MAX_CONCURRENT_STREAMS)
    if limit is None:
        fail("the server's SETTINGS carry no MAX_CONCURRENT_STREAMS: %r" % c.server_settings)
    for _ in range(limit):
        post_open(c)
    sid = post_open(c)
    c.expect_stream_error(sid, PROTOCOL_ERROR, REFUSED_STREAM)


@case("5.3.1/1", "HEADERS depending on itself -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), priority=(1, 16, False)))
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("5.3.1/2", "PRIORITY depending on itself -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(priority(sid, dep=sid))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


@case("5.4.1/1", "invalid PING (stream 1) -> the connection is closed")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD, sid=1))
    c.expect_close()


@case("5.4.1/2", "invalid PING (stream 1) -> GOAWAY before the close")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD, sid=1))
    c.expect_goaway()


@case("5.5/1", "unknown extension frame -> ignored")
def _(s):
    c = s.conn()
    c.send(frame(0xFF, 0, 0, b"\0" * 8))
    expect_ignored(c)


@case("5.5/2", "unknown frame in the middle of a header block -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), end_headers=False),
           frame(UNKNOWN_TYPE, 0, 1, b"\0" * 8))
    c.expect_conn_error(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# http2 6.1-6.4: DATA, HEADERS, PRIORITY, RST_STREAM


@case("6.1/1", "DATA on stream 0 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(data(0, b"test", end_stream=True))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.1/2", "DATA on a stream neither open nor half-closed (local) -> stream STREAM_CLOSED")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, STREAM_CLOSED)


@case("6.1/3", "DATA with a pad length beyond the payload -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(frame(DATA, h2.PADDED | h2.END_STREAM, sid, b"\x06test"))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2/1", "HEADERS without END_HEADERS, then PRIORITY -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), end_headers=False),
           priority(1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2/2", "HEADERS to another stream while a header block is open -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", HELLO)), end_headers=False),
           headers(3, DUMMY))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2/3", "HEADERS on stream 0 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(0, c.encode(request_fields("GET", HELLO))))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2/4", "HEADERS with a pad length beyond the payload -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    block = c.encode(request_fields("GET", HELLO))
    c.send(frame(HEADERS, h2.PADDED | h2.END_HEADERS | h2.END_STREAM, 1,
                 bytes([len(block) + 1]) + block))
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("6.3/1", "PRIORITY on stream 0 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(priority(0))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.3/2", "PRIORITY of length 4 -> stream FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(frame(PRIORITY, 0, sid, b"\x80\x00\x00\x01"))
    c.expect_stream_error(sid, FRAME_SIZE_ERROR)


@case("6.4/1", "RST_STREAM on stream 0 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(rst_stream(0, CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.4/2", "RST_STREAM on an idle stream -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(rst_stream(1, CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.4/3", "RST_STREAM of length 3 -> stream FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(frame(RST_STREAM, 0, sid, b"\x00\x00\x08"))
    c.expect_stream_error(sid, FRAME_SIZE_ERROR)


# ---------------------------------------------------------------------------
# http2 6.5: SETTINGS


@case("6.5/1", "SETTINGS ACK with a payload -> conn FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    c.send(frame(SETTINGS, ACK, 0, b"\x00\x01\x00\x00\x10\x00"))
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("6.5/2", "SETTINGS on stream 1 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 65535), sid=1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5/3", "SETTINGS length not a multiple of 6 -> conn FRAME_SIZE_ERROR|PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00"))
    c.expect_conn_error(FRAME_SIZE_ERROR, PROTOCOL_ERROR)


@case("6.5.2/1", "SETTINGS_ENABLE_PUSH 2 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(settings((ENABLE_PUSH, 2)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2/2", "SETTINGS_INITIAL_WINDOW_SIZE 2^31 -> conn FLOW_CONTROL_ERROR")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 2 ** 31)))
    c.expect_conn_error(FLOW_CONTROL_ERROR)


@case("6.5.2/3", "SETTINGS_MAX_FRAME_SIZE 16383 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(settings((MAX_FRAME_SIZE, 16383)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2/4", "SETTINGS_MAX_FRAME_SIZE 2^24 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(settings((MAX_FRAME_SIZE, 2 ** 24)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2/5", "unknown SETTINGS identifier -> ignored (ACKed)")
def _(s):
    c = s.conn()
    c.send(settings((0xFF, 1)))
    c.expect_settings_ack()
    expect_ignored(c)


@case("6.5.3/1", "several INITIAL_WINDOW_SIZE values: the last one applies")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 100), (INITIAL_WINDOW_SIZE, 1)))
    c.expect_settings_ack()
    sid = c.request("GET", BYTES)
    f = c.expect_data(sid)
    if len(f.data) != 1:
        fail("expected a DATA frame of 1 byte, got %r" % f)


@case("6.5.3/2", "SETTINGS -> ACK")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 65535)))
    c.expect_settings_ack()


# ---------------------------------------------------------------------------
# http2 6.7-6.9: PING, GOAWAY, WINDOW_UPDATE


@case("6.7/1", "PING -> ACK with the same payload")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD))
    c.expect_ping_ack(PAYLOAD)


@case("6.7/2", "PING with ACK -> no reply")
def _(s):
    c = s.conn()
    c.send(ping(b"unsolic!", ack=True), ping(PAYLOAD))
    c.expect_ping_ack(PAYLOAD)  # an ACK of "unsolic!" arriving first fails


@case("6.7/3", "PING on stream 1 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD, sid=1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.7/4", "PING of length 6 -> conn FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    c.send(frame(PING, 0, 0, b"\0" * 6))
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("6.8/1", "GOAWAY on stream 1 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(goaway(0, NO_ERROR, sid=1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.9/1", "WINDOW_UPDATE of 0 on the connection -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(window_update(0, 0))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.9/2", "WINDOW_UPDATE of 0 on a stream -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(window_update(sid, 0))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


@case("6.9/3", "WINDOW_UPDATE of length 3 -> conn FRAME_SIZE_ERROR")
def _(s):
    c = s.conn()
    c.send(frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"))
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("6.9.1/1", "SETTINGS_INITIAL_WINDOW_SIZE 1 -> DATA frames of at most 1 byte")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 1)))
    c.expect_settings_ack()
    sid = c.request("GET", BYTES)
    f = c.expect_data(sid)
    if len(f.data) != 1:
        fail("expected a DATA frame of 1 byte, got %r" % f)
    expect_no_more_data(c, sid)


@case("6.9.1/2", "connection window above 2^31-1 -> GOAWAY(FLOW_CONTROL_ERROR)")
def _(s):
    c = s.conn()
    c.send(window_update(0, MAX_WINDOW))  # 65535 + 2^31-1
    c.expect_goaway(FLOW_CONTROL_ERROR)


@case("6.9.1/3", "stream window above 2^31-1 -> RST_STREAM(FLOW_CONTROL_ERROR)")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(window_update(sid, MAX_WINDOW))
    c.expect_rst(sid, FLOW_CONTROL_ERROR)


@case("6.9.2/1", "INITIAL_WINDOW_SIZE changed after HEADERS -> stream windows adjusted")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 0)))
    c.expect_settings_ack()
    sid = c.request("GET", BYTES)
    c.send(settings((INITIAL_WINDOW_SIZE, 1)))
    f = c.expect_data(sid)
    if len(f.data) != 1:
        fail("expected a DATA frame of 1 byte, got %r" % f)


@case("6.9.2/2", "SETTINGS making a stream window negative -> tracked")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 3)))
    c.expect_settings_ack()
    sid = c.request("GET", BYTES)
    got = 0
    for _ in range(3):  # up to 3 bytes, in 1 to 3 frames
        f = c.expect_data(sid)
        got += len(f.data)
        if got >= 3:
            break
    if got != 3:
        fail("expected 3 bytes within the window of 3, got %d" % got)
    c.send(settings((INITIAL_WINDOW_SIZE, 2)))  # window 0 -> -1
    c.expect_settings_ack()
    c.send(window_update(sid, 2))  # -1 -> 1
    f = c.expect_data(sid)
    if len(f.data) != 1:
        fail("window -1 + 2: expected a DATA frame of 1 byte, got %r" % f)
    expect_no_more_data(c, sid)


@case("6.9.2/3", "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 -> conn FLOW_CONTROL_ERROR")
def _(s):
    c = s.conn()
    c.send(frame(SETTINGS, 0, 0, b"\x00\x04\x80\x00\x00\x00"))
    c.expect_conn_error(FLOW_CONTROL_ERROR)


# ---------------------------------------------------------------------------
# http2 6.10: CONTINUATION


@case("6.10/1", "several CONTINUATION frames after HEADERS -> ok")
def _(s):
    c = s.conn()
    a, b, d = split3(big_block(c))
    c.send(headers(1, a, end_headers=False), continuation(1, b, end_headers=False),
           continuation(1, d))
    c.expect_response(1)


@case("6.10/2", "a frame other than CONTINUATION inside a header block -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    a, b, _ = split3(big_block(c))
    c.send(headers(1, a, end_headers=False), data(1, b"test", end_stream=True))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10/3", "CONTINUATION on stream 0 -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    a, b, _ = split3(big_block(c))
    c.send(headers(1, a, end_headers=False), continuation(0, b))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10/4", "CONTINUATION after HEADERS with END_HEADERS -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    c.send(headers(1, c.encode(request_fields("GET", SLOW))), continuation(1, DUMMY))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10/5", "CONTINUATION after CONTINUATION with END_HEADERS -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    block = c.encode(request_fields("GET", SLOW))
    half = len(block) // 2
    c.send(headers(1, block[:half], end_headers=False), continuation(1, block[half:]),
           continuation(1, DUMMY))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10/6", "CONTINUATION after DATA -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(data(sid, b"test"), continuation(sid, DUMMY))
    c.expect_conn_error(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# http2 7: error codes


@case("7/1", "GOAWAY with an unknown error code -> no special behaviour")
def _(s):
    c = s.conn()
    c.send(goaway(0, 0xFF), ping(PAYLOAD))
    expect_ping_ack_or_clean_close(c)


@case("7/2", "RST_STREAM with an unknown error code -> no special behaviour")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(rst_stream(sid, 0xFF))
    expect_ignored(c)


# ---------------------------------------------------------------------------
# http2 8.1-8.2: HTTP message exchanges


@case("8.1/1", "second HEADERS without END_STREAM -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(headers(sid, DUMMY, end_stream=False))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


def bad_request(c, fields_or_block):
    """Sends a request (END_STREAM) built from field tuples (hpack literals, any name
    or order) or a ready block; returns its stream id."""
    if isinstance(fields_or_block, bytes):
        block = fields_or_block
    else:
        block = b"".join(hpack_literal(n, v) for n, v in fields_or_block)
    sid = c.new_sid()
    c.send(headers(sid, block))
    return sid


def bad_request_case(case_id, title, fields):
    @case(case_id, title + " -> stream PROTOCOL_ERROR")
    def _(s):
        c = s.conn()
        sid = bad_request(c, fields)
        c.expect_stream_error(sid, PROTOCOL_ERROR)


M, SC, P, A = (":method", "GET"), (":scheme", "http"), (":path", HELLO), (":authority", "gw.test")

bad_request_case("8.1.2/1", "uppercase field name", [M, SC, P, A, ("X-Test", "ok")])
bad_request_case("8.1.2.1/1", "unknown pseudo-header", [M, SC, P, A, (":test", "ok")])
bad_request_case("8.1.2.1/2", "response pseudo-header in a request",
                 [M, SC, P, A, (":status", "200")])


@case("8.1.2.1/3", "pseudo-header in trailers -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(data(sid, b"test"), headers(sid, hpack_literal(":method", "POST")))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


bad_request_case("8.1.2.1/4", "pseudo-header after a regular field",
                 [M, SC, A, ("x-test", "ok"), P])
bad_request_case("8.1.2.2/1", "connection-specific field (connection)",
                 [M, SC, P, A, ("connection", "keep-alive")])
bad_request_case("8.1.2.2/2", "te other than trailers", [M, SC, P, A, ("te", "trailers, deflate")])
bad_request_case("8.1.2.3/1", "empty :path", [M, SC, (":path", ""), A])
bad_request_case("8.1.2.3/2", "no :method", [SC, P, A])
bad_request_case("8.1.2.3/3", "no :scheme", [M, P, A])
bad_request_case("8.1.2.3/4", "no :path", [M, SC, A])
bad_request_case("8.1.2.3/5", "duplicate :method", [M, M, SC, P, A])
bad_request_case("8.1.2.3/6", "duplicate :scheme", [M, SC, SC, P, A])
bad_request_case("8.1.2.3/7", "duplicate :path", [M, SC, P, P, A])


@case("8.1.2.6/1", "content-length other than the DATA length -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c, "/h1/sink", extra=[("content-length", "1")])
    c.send(data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


@case("8.1.2.6/2", "content-length other than the sum of several DATA -> stream PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = post_open(c, "/h1/sink", extra=[("content-length", "10")])
    c.send(data(sid, b"test"), data(sid, b"test", end_stream=True))
    c.expect_stream_error(sid, PROTOCOL_ERROR)


@case("8.2/1", "PUSH_PROMISE from the client -> conn PROTOCOL_ERROR")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(push_promise(sid, 2, c.encode(request_fields("GET", HELLO))))
    c.expect_conn_error(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# hpack: decoding errors, all conn COMPRESSION_ERROR. The bad representation comes
# first, while the server's dynamic table is still empty.


def hpack_error_case(case_id, title, bad, at_end=False):
    @case(case_id, title + " -> conn COMPRESSION_ERROR")
    def _(s):
        c = s.conn()
        good = b"".join(hpack_literal(n, v) for n, v in (M, SC, P, A))
        bad_bytes = bad(c) if callable(bad) else bad
        c.send(headers(1, good + bad_bytes if at_end else bad_bytes + good))
        c.expect_conn_error(COMPRESSION_ERROR)


XT = h2.hpack_string("x-test")
hpack_error_case("hpack/2.3.3/1", "indexed field with an index beyond both tables",
                 hpack_indexed(100))
hpack_error_case("hpack/2.3.3/2", "literal whose name index is beyond both tables",
                 hpack_literal(100, "x", "incremental"))
hpack_error_case("hpack/4.2/1", "dynamic table size update at the end of a block",
                 hpack_size_update(0), at_end=True)
# Huffman: 'a' is 00011; padding must be 1-bits, at most 7; EOS (30 1-bits) is invalid.
hpack_error_case("hpack/5.2/1", "Huffman padding longer than 7 bits",
                 b"\x00" + XT + b"\x82\x1f\xff")
hpack_error_case("hpack/5.2/2", "Huffman padding of zeros", b"\x00" + XT + b"\x81\x18")
hpack_error_case("hpack/5.2/3", "Huffman string containing EOS",
                 b"\x00" + XT + b"\x85\xff\xff\xff\xfc\x7f")
hpack_error_case("hpack/6.1/1", "indexed field with index 0", hpack_indexed(0))
hpack_error_case("hpack/6.3/1", "table size update above SETTINGS_HEADER_TABLE_SIZE",
                 lambda c: hpack_size_update(c.server_settings.get(HEADER_TABLE_SIZE, 4096) + 1))


# ---------------------------------------------------------------------------
# generic: things a server must accept


@case("generic/1/1", "client connection preface -> SETTINGS, then PING answered")
def _(s):
    expect_ignored(s.conn())


@case("generic/2/1", "PRIORITY on an idle stream -> accepted")
def _(s):
    c = s.conn()
    c.send(priority(1, weight=256))
    expect_ignored(c)


@case("generic/2/2", "WINDOW_UPDATE on a half-closed (remote) stream -> accepted")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 0)))  # the response waits for our window
    c.expect_settings_ack()
    sid = c.request("GET", HELLO)
    c.send(window_update(sid, 1))
    c.expect_data(sid)


@case("generic/2/3", "PRIORITY on a half-closed (remote) stream -> accepted")
def _(s):
    c = s.conn()
    c.send(settings((INITIAL_WINDOW_SIZE, 0)))
    c.expect_settings_ack()
    sid = c.request("GET", HELLO)
    c.send(priority(sid, weight=256), window_update(sid, 1))
    c.expect_data(sid)


@case("generic/2/4", "RST_STREAM on a half-closed (remote) stream -> accepted")
def _(s):
    c = s.conn()
    sid = c.request("GET", SLOW)
    c.send(rst_stream(sid, CANCEL))
    expect_ignored(c)


@case("generic/2/5", "PRIORITY on a closed stream -> accepted")
def _(s):
    c = s.conn()
    sid = c.request("GET", HELLO)
    c.read_response(sid)
    c.send(priority(sid, weight=256))
    expect_ignored(c)


def echo_case(case_id, title, frames_of):
    """A POST to /echo sent as frames_of(c, sid) must come back as b"test"."""
    @case(case_id, title + " -> ok")
    def _(s):
        c = s.conn()
        sid = post_open(c)
        c.send(*frames_of(c, sid))
        _, body, _ = c.expect_response(sid)
        if body != b"test":
            fail("expected the echo b'test', got %r" % body)


echo_case("generic/3.1/1", "one DATA frame", lambda c, sid: [data(sid, b"test", end_stream=True)])
echo_case("generic/3.1/2", "several DATA frames",
          lambda c, sid: [data(sid, b"te"), data(sid, b"s"), data(sid, b"t", end_stream=True)])
echo_case("generic/3.1/3", "DATA with padding",
          lambda c, sid: [data(sid, b"test", end_stream=True, pad=8)])


def get_case(case_id, title, frames_of):
    """A GET of /hello sent as frames_of(c, block) on stream 1 must be answered."""
    @case(case_id, title + " -> ok")
    def _(s):
        c = s.conn()
        c.send(*frames_of(c, c.encode(request_fields("GET", HELLO))))
        _, body, _ = c.expect_response(1)
        if body != b"hello\n":
            fail("expected b'hello\\n', got %r" % body)


get_case("generic/3.2/1", "HEADERS", lambda c, b: [headers(1, b)])
get_case("generic/3.2/2", "HEADERS with padding", lambda c, b: [headers(1, b, pad=8)])
get_case("generic/3.2/3", "HEADERS with priority",
         lambda c, b: [headers(1, b, priority=(0, 255, False))])
get_case("generic/3.3/1", "PRIORITY with weight 1", lambda c, b: [priority(1, weight=1),
                                                                  headers(1, b)])
get_case("generic/3.3/2", "PRIORITY with weight 256", lambda c, b: [priority(1, weight=256),
                                                                    headers(1, b)])
get_case("generic/3.3/3", "PRIORITY with a stream dependency",
         lambda c, b: [priority(3, weight=16), priority(1, dep=3), headers(1, b)])
get_case("generic/3.3/4", "PRIORITY with the exclusive flag",
         lambda c, b: [priority(3, weight=16), priority(1, dep=3, exclusive=True),
                       headers(1, b)])
get_case("generic/3.3/5", "PRIORITY on idle stream 3, then HEADERS on stream 1",
         lambda c, b: [priority(3, weight=16), headers(1, b)])


@case("generic/3.4/1", "RST_STREAM -> accepted")
def _(s):
    c = s.conn()
    sid = post_open(c)
    c.send(rst_stream(sid, CANCEL))
    expect_ignored(c)


@case("generic/3.5/1", "SETTINGS with the initial values -> ACK")
def _(s):
    c = s.conn()
    c.send(settings((HEADER_TABLE_SIZE, 4096), (ENABLE_PUSH, 1), (INITIAL_WINDOW_SIZE, 65535),
                    (MAX_FRAME_SIZE, 16384)))
    c.expect_settings_ack()


@case("generic/3.7/1", "PING -> ACK")
def _(s):
    c = s.conn()
    c.send(ping(PAYLOAD))
    c.expect_ping_ack(PAYLOAD)


@case("generic/3.8/1", "GOAWAY -> accepted (PING answered or a clean close)")
def _(s):
    c = s.conn()
    c.send(goaway(0, NO_ERROR), ping(PAYLOAD))
    expect_ping_ack_or_clean_close(c)


@case("generic/3.9/1", "WINDOW_UPDATE on the connection -> accepted")
def _(s):
    c = s.conn()
    c.send(window_update(0, 1))
    expect_ignored(c)


get_case("generic/3.9/2", "WINDOW_UPDATE on stream 1",
         lambda c, b: [headers(1, b), window_update(1, 1)])


@case("generic/3.10/1", "one CONTINUATION -> ok")
def _(s):
    c = s.conn()
    block = big_block(c)
    half = len(block) // 2
    c.send(headers(1, block[:half], end_headers=False), continuation(1, block[half:]))
    c.expect_response(1)


@case("generic/3.10/2", "several CONTINUATIONs -> ok")
def _(s):
    c = s.conn()
    a, b, d = split3(big_block(c))
    c.send(headers(1, a, end_headers=False), continuation(1, b, end_headers=False),
           continuation(1, d))
    c.expect_response(1)


get_case("generic/4/1", "GET", lambda c, b: [headers(1, b)])


@case("generic/4/2", "HEAD -> ok")
def _(s):
    c = s.conn()
    sid = c.request("HEAD", HELLO)
    _, body, _ = c.expect_response(sid)
    if body:
        fail("a HEAD response with a body %r" % body)


echo_case("generic/4/3", "POST", lambda c, sid: [data(sid, b"test", end_stream=True)])
echo_case("generic/4/4", "POST with trailers",
          lambda c, sid: [data(sid, b"test"),
                          headers(sid, c.encode([("x-trailer", "1")]), end_stream=True)])


def hpack_case(case_id, title, field, name, value, prefix=b""):
    """A GET /inspect whose block is |prefix|, the pseudo-fields (indexed or not
    indexed literals) and |field|; the upstream must see |name|: |value|."""
    @case(case_id, title + " -> ok")
    def _(s):
        c = s.conn()
        block = (prefix + hpack_indexed(2) + hpack_indexed(6)  # :method GET, :scheme http
                 + hpack_literal(4, "/h1/inspect") + hpack_literal(1, "gw.test") + field)
        c.send(headers(1, block))
        _, body, _ = c.expect_response(1)
        try:
            got = json.loads(body)["headers"].get(name)
        except (ValueError, KeyError, AttributeError):
            fail("unexpected /inspect body %r" % body[:300])
        if got != value:
            fail("upstream got %s: %r, expected %r" % (name, got, value))


hpack_case("generic/5/1", "indexed field", hpack_indexed(16), "accept-encoding", "gzip, deflate")
_N = 1
for _kind, _what in (("incremental", "with incremental indexing"),
                     ("without", "without indexing"), ("never", "never indexed")):
    for _name, _label in ((58, "indexed name"), ("x-hpack", "new name")):
        for _huff in (False, True):
            _N += 1
            hpack_case("generic/5/%d" % _N, "literal %s, %s%s" % (
                _what, _label, ", Huffman" if _huff else ""),
                hpack_literal(_name, "hpack-value", _kind, _huff),
                "user-agent" if _name == 58 else "x-hpack", "hpack-value")
hpack_case("generic/5/14", "dynamic table size update", hpack_literal("x-hpack", "v"),
           "x-hpack", "v", prefix=hpack_size_update(0))
hpack_case("generic/5/15", "two dynamic table size updates", hpack_literal("x-hpack", "v"),
           "x-hpack", "v", prefix=hpack_size_update(0) + hpack_size_update(4096))


# ---------------------------------------------------------------------------
# The tests: one per h2spec section (the runner counts these).


def test_h2spec_3_5_connection_preface(ctx):
    """Row 11: RFC 9113 §3.4 (h2spec http2/3.5) connection preface, valid and invalid."""
    run_sections(ctx, "3.5")


def test_h2spec_4_1_frame_format(ctx):
    """Row 11: RFC 9113 §4.1 (h2spec http2/4.1) unknown type, undefined flag and
    reserved bit are ignored."""
    run_sections(ctx, "4.1")


def test_h2spec_4_2_frame_size(ctx):
    """Row 11: RFC 9113 §4.2 (h2spec http2/4.2) frames up to and beyond
    SETTINGS_MAX_FRAME_SIZE."""
    run_sections(ctx, "4.2")


def test_h2spec_4_3_header_compression(ctx):
    """Row 11: RFC 9113 §4.3 (h2spec http2/4.3) invalid header blocks and frames
    interleaved into a header block."""
    run_sections(ctx, "4.3")


def test_h2spec_5_1_stream_states(ctx):
    """Row 11: RFC 9113 §5.1 (h2spec http2/5.1) frames on idle, half-closed (remote)
    and closed streams."""
    run_sections(ctx, "5.1")


def test_h2spec_5_1_1_stream_identifiers(ctx):
    """Row 11: RFC 9113 §5.1.1 (h2spec http2/5.1.1) even and decreasing stream ids."""
    run_sections(ctx, "5.1.1")


def test_h2spec_5_1_2_stream_concurrency(ctx):
    """Row 11: RFC 9113 §5.1.2 (h2spec http2/5.1.2) a stream beyond
    SETTINGS_MAX_CONCURRENT_STREAMS (4 here) is refused."""
    run_sections(ctx, "5.1.2", max_concurrent_streams=4)


def test_h2spec_5_3_1_stream_dependencies(ctx):
    """Row 11: RFC 7540 §5.3.1 (h2spec http2/5.3.1) a stream depending on itself."""
    run_sections(ctx, "5.3.1")


def test_h2spec_5_4_1_connection_error_handling(ctx):
    """Row 11: RFC 9113 §5.4.1 (h2spec http2/5.4.1) a connection error closes the
    connection, after a GOAWAY."""
    run_sections(ctx, "5.4.1")


def test_h2spec_5_5_extending_http2(ctx):
    """Row 11: RFC 9113 §5.5 (h2spec http2/5.5) unknown frames, alone and inside a
    header block."""
    run_sections(ctx, "5.5")


def test_h2spec_6_1_data(ctx):
    """Row 11: RFC 9113 §6.1 (h2spec http2/6.1) DATA on stream 0, on a closed stream,
    with a bad pad length."""
    run_sections(ctx, "6.1")


def test_h2spec_6_2_headers(ctx):
    """Row 11: RFC 9113 §6.2 (h2spec http2/6.2) HEADERS interrupted, on stream 0, with a
    bad pad length."""
    run_sections(ctx, "6.2")


def test_h2spec_6_3_priority(ctx):
    """Row 11: RFC 9113 §6.3 (h2spec http2/6.3) PRIORITY on stream 0 and of a wrong
    length."""
    run_sections(ctx, "6.3")


def test_h2spec_6_4_rst_stream(ctx):
    """Row 11: RFC 9113 §6.4 (h2spec http2/6.4) RST_STREAM on stream 0, on an idle
    stream, of a wrong length."""
    run_sections(ctx, "6.4")


def test_h2spec_6_5_settings(ctx):
    """Row 11: RFC 9113 §6.5 (h2spec http2/6.5) SETTINGS ACK with a payload, on a
    stream, of a bad length."""
    run_sections(ctx, "6.5")


def test_h2spec_6_5_2_settings_parameters(ctx):
    """Row 11: RFC 9113 §6.5.2 (h2spec http2/6.5.2) out-of-range and unknown SETTINGS
    parameters."""
    run_sections(ctx, "6.5.2")


def test_h2spec_6_5_3_settings_synchronization(ctx):
    """Row 11: RFC 9113 §6.5.3 (h2spec http2/6.5.3) values applied in order, SETTINGS
    ACKed."""
    run_sections(ctx, "6.5.3")


def test_h2spec_6_7_ping(ctx):
    """Row 11: RFC 9113 §6.7 (h2spec http2/6.7) PING answered, ACK not answered, bad
    stream and length."""
    run_sections(ctx, "6.7")


def test_h2spec_6_8_goaway(ctx):
    """Row 11: RFC 9113 §6.8 (h2spec http2/6.8) GOAWAY on a stream."""
    run_sections(ctx, "6.8")


def test_h2spec_6_9_window_update(ctx):
    """Row 11: RFC 9113 §6.9 (h2spec http2/6.9) WINDOW_UPDATE of 0 and of a wrong
    length."""
    run_sections(ctx, "6.9")


def test_h2spec_6_9_1_flow_control_window(ctx):
    """Row 11: RFC 9113 §6.9.1 (h2spec http2/6.9.1) a 1-byte window respected; windows
    above 2^31-1 rejected."""
    run_sections(ctx, "6.9.1")


def test_h2spec_6_9_2_initial_window_size(ctx):
    """Row 11: RFC 9113 §6.9.2 (h2spec http2/6.9.2) INITIAL_WINDOW_SIZE changes adjust
    open streams, negative windows, too large values."""
    run_sections(ctx, "6.9.2")


def test_h2spec_6_10_continuation(ctx):
    """Row 11: RFC 9113 §6.10 (h2spec http2/6.10) CONTINUATION sequences, valid and
    not."""
    run_sections(ctx, "6.10")


def test_h2spec_7_error_codes(ctx):
    """Row 11: RFC 9113 §7 (h2spec http2/7) unknown error codes in GOAWAY and
    RST_STREAM."""
    run_sections(ctx, "7")


def test_h2spec_8_1_request_framing(ctx):
    """Row 11: RFC 9113 §8.1 (h2spec http2/8.1) a second HEADERS without END_STREAM."""
    run_sections(ctx, "8.1")


def test_h2spec_8_1_2_field_names(ctx):
    """Row 11: RFC 9113 §8.2 (h2spec http2/8.1.2) uppercase field names."""
    run_sections(ctx, "8.1.2")


def test_h2spec_8_1_2_1_pseudo_headers(ctx):
    """Row 11: RFC 9113 §8.3 (h2spec http2/8.1.2.1) unknown, response, trailing and
    misplaced pseudo-headers."""
    run_sections(ctx, "8.1.2.1")


def test_h2spec_8_1_2_2_connection_specific_fields(ctx):
    """Row 11: RFC 9113 §8.2.2 (h2spec http2/8.1.2.2) connection and te fields."""
    run_sections(ctx, "8.1.2.2")


def test_h2spec_8_1_2_3_request_pseudo_headers(ctx):
    """Row 11: RFC 9113 §8.3.1 (h2spec http2/8.1.2.3) empty, missing and duplicate
    request pseudo-headers."""
    run_sections(ctx, "8.1.2.3")


def test_h2spec_8_1_2_6_content_length(ctx):
    """Row 11: RFC 9113 §8.1.1 (h2spec http2/8.1.2.6) content-length against the DATA
    received."""
    run_sections(ctx, "8.1.2.6")


def test_h2spec_8_2_server_push(ctx):
    """Row 11: RFC 9113 §8.4 (h2spec http2/8.2) PUSH_PROMISE sent by a client."""
    run_sections(ctx, "8.2")


def test_h2spec_hpack_decoding_errors(ctx):
    """Row 11: RFC 7541 §2.3.3, §4.2, §5.2, §6.1, §6.3 (h2spec hpack/*) bad indexes,
    misplaced or too large table size updates, bad Huffman strings."""
    run_sections(ctx, "hpack/2.3.3", "hpack/4.2", "hpack/5.2", "hpack/6.1", "hpack/6.3")


def test_h2spec_generic_streams(ctx):
    """Row 11: RFC 9113 §3.4, §5.1 (h2spec generic/1, generic/2) the preface, PRIORITY,
    WINDOW_UPDATE and RST_STREAM accepted on idle, half-closed and closed streams."""
    run_sections(ctx, "generic/1", "generic/2")


def test_h2spec_generic_frame_definitions(ctx):
    """Row 11: RFC 9113 §6 (h2spec generic/3.x) every frame type in its valid forms is
    accepted."""
    run_sections(ctx, "generic/3.1", "generic/3.2", "generic/3.3", "generic/3.4",
                 "generic/3.5", "generic/3.7", "generic/3.8", "generic/3.9", "generic/3.10")


def test_h2spec_generic_http_exchanges(ctx):
    """Row 11: RFC 9113 §8.1 (h2spec generic/4) GET, HEAD, POST, POST with trailers."""
    run_sections(ctx, "generic/4")


def test_h2spec_generic_hpack_representations(ctx):
    """Row 11: RFC 7541 §6 (h2spec generic/5) every HPACK representation, with and
    without Huffman, and table size updates, decoded as sent."""
    run_sections(ctx, "generic/5")


def test_h2spec_case_list_complete(ctx):
    """Row 11: SECURITY.md §8 - the suite holds h2spec's 95 http2, 8 hpack and 44
    generic cases, and every section is run by one of the tests above."""
    counts = {"http2": 0, "hpack": 0, "generic": 0}
    for section, cases in CASES.items():
        kind = section.split("/")[0] if "/" in section else "http2"
        counts[kind] += len(cases)
    if counts != {"http2": 95, "hpack": 8, "generic": 44}:
        fail("case counts %r, expected http2 95, hpack 8, generic 44" % counts)
    run = set()
    for name, fn in globals().items():
        if name.startswith("test_h2spec_") and callable(fn):
            run.update(k for k in fn.__code__.co_consts if isinstance(k, str) and k in CASES)
    missing = sorted(set(CASES) - run)
    if missing:
        fail("sections no test runs: %s" % ", ".join(missing))
