"""Raw HTTP/2 frames for conformance and attack tests (RFC 9113, RFC 7541).

Builders return the bytes of one frame and check nothing, so a test can send any
length, flag, stream id or reserved bit. H2Conn is a client connection over plain TCP
(prior knowledge) with the preface and SETTINGS exchange, a frame reader with a
deadline, and expect_* helpers that raise harness.TestFailure naming what arrived
instead. Header blocks come from the Debian package python3-hpack (an Encoder per
connection, so its dynamic table matches the server's decoder) or from the hpack_*
helpers below for exact representations.

    with H2Conn(port) as c:
        sid = c.request("GET", "/h1/hello")
        c.send(window_update(sid, 0))
        c.expect_stream_error(sid, PROTOCOL_ERROR)

ScriptedH2Origin is the other side: an h2c upstream whose answer to each request a
test scripts, logging the requests, RST_STREAMs and closes the gateway sends it.

Everything is bounded: every read has a deadline, every loop a frame count.
run.py puts tests/integration (harness) on sys.path, not this folder; a test module
here imports this one after

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
"""

import select
import socket
import time

from harness import LocalOrigin, TestFailure, require_module

hpack = require_module("hpack", "python3-hpack")
from hpack.huffman import HuffmanEncoder  # noqa: E402 (after the package check)
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY",
               RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE",
               PING: "PING", GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE",
               CONTINUATION: "CONTINUATION"}

# Flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113 §7)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, \
    CONNECT_ERROR, ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
               "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]

# SETTINGS identifiers (RFC 9113 §6.5.2)
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, \
    MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = range(1, 7)

DEFAULT_MAX_FRAME_SIZE = 16384
MAX_WINDOW = 2 ** 31 - 1


def error_name(code):
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else "0x%x" % code


def codes_text(codes):
    return "|".join(error_name(c) for c in codes)


# ---------------------------------------------------------------------------
# Frame builders


def frame(ftype, flags, stream_id, payload=b"", length=None):
    """One frame: 9-byte header + payload. |stream_id| goes out as given (set bit 31
    for the reserved bit); |length| overrides the header's length field."""
    n = len(payload) if length is None else length
    return (n.to_bytes(3, "big") + bytes([ftype, flags]) + stream_id.to_bytes(4, "big")
            + payload)


def _padded(payload, pad, flags):
    """(payload with the pad-length byte and |pad| zero bytes, flags | PADDED)."""
    if pad is None:
        return payload, flags
    return bytes([pad]) + payload + b"\0" * pad, flags | PADDED


def data(sid, payload=b"", end_stream=False, pad=None, flags=0):
    body, flags = _padded(payload, pad, flags | (END_STREAM if end_stream else 0))
    return frame(DATA, flags, sid, body)


def priority_fields(dep=0, weight=16, exclusive=False):
    """The 5 priority bytes: E bit + dependency, then weight - 1 (weight 1..256)."""
    return ((dep | (0x80000000 if exclusive else 0)).to_bytes(4, "big")
            + bytes([weight - 1]))


def headers(sid, block, end_stream=True, end_headers=True, pad=None, priority=None,
            flags=0):
    """HEADERS; |priority| = (dependency, weight, exclusive) sets the PRIORITY flag."""
    flags |= (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    if priority is not None:
        block = priority_fields(*priority) + block
        flags |= PRIORITY_FLAG
    body, flags = _padded(block, pad, flags)
    return frame(HEADERS, flags, sid, body)


def continuation(sid, block, end_headers=True):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)


def priority(sid, dep=0, weight=16, exclusive=False):
    return frame(PRIORITY, 0, sid, priority_fields(dep, weight, exclusive))


def rst_stream(sid, code=CANCEL):
    return frame(RST_STREAM, 0, sid, code.to_bytes(4, "big"))


def settings(*pairs, ack=False, sid=0):
    """SETTINGS with (identifier, value) pairs, or an empty ACK."""
    payload = b"".join(i.to_bytes(2, "big") + v.to_bytes(4, "big") for i, v in pairs)
    return frame(SETTINGS, ACK if ack else 0, sid, payload)


def push_promise(sid, promised, block):
    return frame(PUSH_PROMISE, END_HEADERS, sid, promised.to_bytes(4, "big") + block)


def ping(payload=b"\0" * 8, ack=False, sid=0, flags=0):
    return frame(PING, flags | (ACK if ack else 0), sid, payload)


def goaway(last_sid=0, code=NO_ERROR, debug=b"", sid=0):
    return frame(GOAWAY, 0, sid, last_sid.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def window_update(sid, increment):
    return frame(WINDOW_UPDATE, 0, sid, increment.to_bytes(4, "big"))


# ---------------------------------------------------------------------------
# HPACK representations (RFC 7541 §6), for blocks the Encoder would not produce.


def hpack_int(value, prefix_bits, first=0):
    """An integer with an N-bit prefix; |first| holds the representation's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s, huffman=False):
    raw = s.encode() if isinstance(s, str) else s
    if huffman:
        raw = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(raw)
        return hpack_int(len(raw), 7, 0x80) + raw
    return hpack_int(len(raw), 7) + raw


def hpack_indexed(index):
    """Indexed header field (§6.1)."""
    return hpack_int(index, 7, 0x80)


# (first byte's high bits, prefix bits) of each literal kind (§6.2)
_LITERALS = {"incremental": (0x40, 6), "without": (0x00, 4), "never": (0x10, 4)}


def hpack_literal(name, value, indexing="without", huffman=False):
    """Literal header field: |indexing| "incremental", "without" or "never"; |name| an
    int (index of the name) or a string (new name)."""
    high, bits = _LITERALS[indexing]
    if isinstance(name, int):
        head = hpack_int(name, bits, high)
    else:
        head = bytes([high]) + hpack_string(name, huffman)
    return head + hpack_string(value, huffman)


def hpack_size_update(size):
    """Dynamic table size update (§6.3)."""
    return hpack_int(size, 5, 0x20)


def request_fields(method="GET", path="/", authority="gw.test", scheme="http", extra=()):
    return [(":method", method), (":scheme", scheme), (":path", path),
            (":authority", authority)] + list(extra)


# ---------------------------------------------------------------------------
# Received frames


class Frame:
    def __init__(self, ftype, flags, sid, payload, reserved=False):
        self.type = ftype
        self.flags = flags
        self.sid = sid
        self.payload = payload
        self.reserved = reserved
        self.headers = None  # decoded field list of a complete HEADERS block

    @property
    def name(self):
        return FRAME_NAMES.get(self.type, "type 0x%x" % self.type)

    @property
    def error_code(self):
        """RST_STREAM's or GOAWAY's error code."""
        if self.type == RST_STREAM:
            return int.from_bytes(self.payload[:4], "big")
        if self.type == GOAWAY:
            return int.from_bytes(self.payload[4:8], "big")
        return None

    @property
    def data(self):
        """A DATA frame's payload without padding."""
        if self.flags & PADDED and self.payload:
            return self.payload[1:len(self.payload) - self.payload[0]]
        return self.payload

    def status(self):
        return dict(self.headers or ()).get(":status")

    def __repr__(self):
        flags = []
        if self.type in (DATA, HEADERS) and self.flags & END_STREAM:
            flags.append("END_STREAM")
        if self.type in (SETTINGS, PING) and self.flags & ACK:
            flags.append("ACK")
        if self.type in (HEADERS, CONTINUATION) and self.flags & END_HEADERS:
            flags.append("END_HEADERS")
        parts = ["stream %d" % self.sid] if self.sid else []
        if self.type in (RST_STREAM, GOAWAY):
            parts.append(error_name(self.error_code))
        if self.type == GOAWAY:
            parts.append("last %d" % (int.from_bytes(self.payload[:4], "big") & MAX_WINDOW))
        elif self.type == DATA:
            parts.append("%d bytes" % len(self.data))
        elif self.type == HEADERS and self.headers is not None:
            parts.append(":status %s" % self.status())
        elif self.type == PING:
            parts.append(self.payload.hex())
        return "%s(%s)" % (self.name, ", ".join(parts + flags))


class H2Conn:
    """An HTTP/2 client connection over TCP with prior knowledge.

    |settings| are sent in the first SETTINGS frame. With |handshake| the constructor
    waits for the server's SETTINGS (ACKing it) and for the ACK of ours. |timeout| is
    the default for every read. |rcvbuf| sets SO_RCVBUF before connecting. Server
    SETTINGS are ACKed whenever they arrive unless ack_settings is False; PINGs and
    DATA are not answered (flow control is the test's business)."""

    def __init__(self, port, settings_pairs=(), handshake=True, timeout=1.5,
                 host="127.0.0.1", rcvbuf=None):
        self.timeout = timeout
        if rcvbuf:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(5)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=5)
        self.buf = b""
        self.closed = False  # EOF or reset from the server
        self.ack_settings = True
        self.goaway = None  # (last stream id, error code) of the server's GOAWAY
        self.resets = {}  # stream id -> error code of the server's RST_STREAM
        self.server_settings = {}
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.next_sid = 1
        self._block = b""  # header block being collected from the server
        self.log = []  # every frame read, for failure messages
        if handshake:
            self.send(PREFACE + settings(*settings_pairs))
            self.handshake()

    # -- sending

    def send(self, *chunks):
        """Sends bytes; a connection the server already closed is not an error here
        (the expect_* helpers judge what came back)."""
        try:
            self.sock.sendall(b"".join(chunks))
        except OSError:
            pass  # reading finds the close, after any frames sent before it

    def try_send(self, data, deadline):
        """Sends |data| without blocking past |deadline|. Returns False once the
        server has closed the connection (the write failed)."""
        self.sock.setblocking(False)
        view = memoryview(data)
        try:
            while view and time.monotonic() < deadline:
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    time.sleep(0.01)
            return True
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(5)

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def encode(self, fields, huffman=True):
        return self.encoder.encode(fields, huffman=huffman)

    def request(self, method="GET", path="/h1/hello", extra=(), end_stream=True, sid=None,
                authority="gw.test"):
        """Sends one HEADERS frame with a request; returns the stream id."""
        sid = self.new_sid() if sid is None else sid
        block = self.encode(request_fields(method, path, authority, extra=extra))
        self.send(headers(sid, block, end_stream=end_stream))
        return sid

    # -- reading

    def read_frame(self, timeout=None):
        """The next frame, or None when |timeout| (default self.timeout) passes or the
        connection closes (then self.closed is True). ACKs the server's SETTINGS and
        decodes complete header blocks into frame.headers."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    raw_sid = int.from_bytes(self.buf[5:9], "big")
                    f = Frame(self.buf[3], self.buf[4], raw_sid & MAX_WINDOW,
                              self.buf[9:9 + n], bool(raw_sid >> 31))
                    self.buf = self.buf[9 + n:]
                    self._on_frame(f)
                    self.log.append(f)
                    return f
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buf += chunk

    def _on_frame(self, f):
        if f.type == SETTINGS and not f.flags & ACK:
            for i in range(0, len(f.payload) - 5, 6):
                self.server_settings[int.from_bytes(f.payload[i:i + 2], "big")] = \
                    int.from_bytes(f.payload[i + 2:i + 6], "big")
            if self.ack_settings:
                self.send(settings(ack=True))
        elif f.type == GOAWAY:
            self.goaway = (int.from_bytes(f.payload[:4], "big") & MAX_WINDOW, f.error_code)
        elif f.type == RST_STREAM:
            self.resets[f.sid] = f.error_code
        elif f.type in (HEADERS, PUSH_PROMISE, CONTINUATION):
            block = f.payload
            if f.type != CONTINUATION:
                if f.flags & PADDED:
                    block = block[1:len(block) - block[0]]
                if f.type == HEADERS and f.flags & PRIORITY_FLAG:
                    block = block[5:]
                if f.type == PUSH_PROMISE:
                    block = block[4:]
                self._block = b""
            self._block += block
            if f.flags & END_HEADERS:
                try:
                    f.headers = self.decoder.decode(self._block)
                except hpack.HPACKError as e:
                    raise TestFailure("the server sent an undecodable header block (%r): %r"
                                      % (e, f))
                self._block = b""

    def frames(self, timeout=None, limit=1000):
        """Yields frames until |timeout| passes without one, or the connection closes,
        or |limit| frames."""
        for _ in range(limit):
            f = self.read_frame(timeout)
            if f is None:
                return
            yield f

    def read_for(self, seconds, until=None):
        """The frames read within |seconds| in all, until the connection closes or
        until() is true."""
        out = []
        deadline = time.monotonic() + seconds
        while not (until and until()):
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                break
            out.append(f)
        return out

    def wait_goaway(self, timeout=5):
        """self.goaway, reading up to |timeout| seconds for it (None if none came)."""
        self.read_for(timeout, lambda: self.goaway is not None)
        return self.goaway

    def wait_eof(self, timeout=5):
        """True once the server has closed the connection, reading (and skipping)
        frames up to |timeout| seconds."""
        self.read_for(timeout)
        return self.closed

    def handshake(self):
        """Waits for the server's SETTINGS (the first frame it must send) and for the
        ACK of ours."""
        got_settings = got_ack = False
        wait = max(self.timeout, 2.0)
        deadline = time.monotonic() + wait
        while not (got_settings and got_ack):
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise TestFailure("handshake: %s after %s" % (
                    "connection closed" if self.closed else "nothing within %gs" % wait,
                    self.log))
            if f.type == SETTINGS:
                if not got_settings and f.flags & ACK:
                    raise TestFailure("handshake: the server's first frame is a SETTINGS ACK")
                got_ack |= bool(f.flags & ACK)
                got_settings = True
            elif not got_settings:
                raise TestFailure("handshake: the server's first frame is %r, not SETTINGS" % f)

    def scan(self, decide, timeout=None):
        """Reads frames until decide(frame) returns True (passed) or False (failed),
        the timeout passes or the connection closes. Returns (end, frame, outcome):
        end is "pass", "fail", "closed" or "timeout", frame the deciding one, outcome
        what arrived, for failure messages."""
        seen = []
        t = self.timeout if timeout is None else timeout
        for f in self.frames(t):
            seen.append(f)
            verdict = decide(f)
            if verdict is not None:
                return ("pass" if verdict else "fail"), f, self._describe(seen, "")
        if self.closed:
            return "closed", None, self._describe(seen, "connection closed")
        return "timeout", None, self._describe(
            seen, "nothing%s within %gs" % (" more" if seen else "", t))

    @staticmethod
    def _describe(seen, end):
        shown = [repr(f) for f in seen[-6:]]
        if len(seen) > 6:
            shown.insert(0, "...")
        return ", ".join(shown + ([end] if end else []))

    # -- expectations: each returns the deciding frame (None for a close) or raises
    # TestFailure naming what arrived instead.

    def expect_close(self, timeout=None):
        """The server closes the TCP connection (frames before that are skipped)."""
        end, _, outcome = self.scan(lambda f: None, timeout)
        if end != "closed":
            raise TestFailure("expected the connection to close, got %s" % outcome)

    def expect_goaway(self, *codes, timeout=None):
        """A GOAWAY with one of |codes| (any code if none given)."""
        end, f, outcome = self.scan(
            lambda f: (not codes or f.error_code in codes) if f.type == GOAWAY else None,
            timeout)
        if end != "pass":
            raise TestFailure("expected GOAWAY(%s), got %s" % (codes_text(codes) or "any",
                                                               outcome))
        return f

    def expect_rst(self, sid, *codes, timeout=None):
        """RST_STREAM on |sid| with one of |codes| (a GOAWAY fails)."""
        def decide(f):
            if f.type == RST_STREAM and f.sid == sid:
                return f.error_code in codes
            return False if f.type == GOAWAY else None
        end, f, outcome = self.scan(decide, timeout)
        if end != "pass":
            raise TestFailure("expected RST_STREAM(stream %d, %s), got %s"
                              % (sid, codes_text(codes), outcome))
        return f

    def expect_conn_error(self, *codes, timeout=None):
        """A connection error: GOAWAY with one of |codes|, or the connection closed.
        The first GOAWAY decides (one with another code fails even if a close
        follows); other frames before it are skipped."""
        end, f, outcome = self.scan(
            lambda f: f.error_code in codes if f.type == GOAWAY else None, timeout)
        if end not in ("pass", "closed"):
            raise TestFailure("expected GOAWAY(%s) or close, got %s" % (codes_text(codes),
                                                                        outcome))
        return f

    def expect_stream_error(self, sid, *codes, timeout=None):
        """A stream error on |sid|: RST_STREAM(sid) or GOAWAY with one of |codes|, or
        the connection closed. The first GOAWAY or RST_STREAM(sid) decides; a response
        HEADERS on |sid| fails at once."""
        def decide(f):
            if f.type == GOAWAY or (f.type == RST_STREAM and f.sid == sid):
                return f.error_code in codes
            return False if f.type == HEADERS and f.sid == sid else None
        end, f, outcome = self.scan(decide, timeout)
        if end not in ("pass", "closed"):
            raise TestFailure("expected RST_STREAM(stream %d, %s) or GOAWAY(%s) or close, "
                              "got %s" % (sid, codes_text(codes), codes_text(codes), outcome))
        return f

    def expect_ping_ack(self, payload, timeout=None):
        """A PING ACK carrying |payload|, with no other PING ACK, GOAWAY or RST_STREAM
        first."""
        def decide(f):
            if f.type == PING and f.flags & ACK:
                return f.payload == payload
            return False if f.type in (GOAWAY, RST_STREAM) else None
        end, f, outcome = self.scan(decide, timeout)
        if end != "pass":
            raise TestFailure("expected PING(%s, ACK), got %s" % (payload.hex(), outcome))
        return f

    def expect_settings_ack(self, timeout=None):
        """An empty SETTINGS ACK, with no GOAWAY or RST_STREAM first."""
        def decide(f):
            if f.type == SETTINGS and f.flags & ACK:
                return not f.payload
            return False if f.type in (GOAWAY, RST_STREAM) else None
        end, f, outcome = self.scan(decide, timeout)
        if end != "pass":
            raise TestFailure("expected SETTINGS(ACK), got %s" % outcome)
        return f

    def expect_data(self, sid, timeout=None):
        """The next DATA frame on |sid| (no RST_STREAM(sid) or GOAWAY first)."""
        def decide(f):
            if f.type == DATA and f.sid == sid:
                return True
            return False if f.type == GOAWAY or (f.type == RST_STREAM and f.sid == sid) else None
        end, f, outcome = self.scan(decide, timeout)
        if end != "pass":
            raise TestFailure("expected DATA on stream %d, got %s" % (sid, outcome))
        return f

    def read_response(self, sid, timeout=None):
        """Reads stream |sid| to its end: (response fields, body, trailer fields or
        None). Fails on RST_STREAM(sid), a GOAWAY with an error, or a close first."""
        got = {"fields": None, "body": b"", "trailers": None}

        def decide(f):
            if f.type == GOAWAY and f.error_code != NO_ERROR:
                return False
            if f.sid != sid:
                return None
            if f.type == RST_STREAM:
                return False
            if f.headers is not None:  # a complete block (HEADERS or its CONTINUATION)
                status = dict(got["fields"] or ()).get(":status", "")
                if got["fields"] is None or status.startswith("1"):  # final after 1xx
                    got["fields"] = f.headers
                else:
                    got["trailers"] = f.headers
            if f.type == DATA:
                got["body"] += f.data
            if f.type in (HEADERS, DATA) and f.flags & END_STREAM:
                return got["fields"] is not None
            return None

        end, _, outcome = self.scan(decide, timeout)
        if end != "pass":
            raise TestFailure("expected a complete response on stream %d, got %s"
                              % (sid, outcome))
        return got["fields"], got["body"], got["trailers"]

    def expect_response(self, sid, status="200", timeout=None):
        """read_response() whose :status is |status|; returns (fields, body, trailers)."""
        fields, body, trailers = self.read_response(sid, timeout)
        got = dict(fields).get(":status")
        if got != status:
            raise TestFailure("expected :status %s on stream %d, got %s (body %r)"
                              % (status, sid, got, body[:200]))
        return fields, body, trailers

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------
# A scripted h2c origin


class ScriptedH2Origin(LocalOrigin):
    """A cleartext HTTP/2 (prior knowledge) origin. For each request it calls
    |script|(origin, conn, sid, path) which returns frames to send (bytes), or None to
    close the connection at once; conn is a dict for per-connection state with an
    hpack "encoder". .log gets (connection number, event, stream id, detail): event
    "request" (detail: path), "rst" (detail: error code), "eof" (the gateway closed the
    connection)."""

    def __init__(self, script):
        self.script = script
        self.log = []
        super().__init__()

    def url(self):
        return "h2c://127.0.0.1:%d" % self.port

    def events(self, event):
        with self._lock:
            return [e for e in self.log if e[1] == event]

    def _record(self, *entry):
        with self._lock:
            self.log.append(entry)

    @staticmethod
    def response(conn, sid, status="200", body=b"origin ok\n", end=True):
        block = conn["encoder"].encode([(":status", status),
                                        ("content-length", str(len(body)))])
        out = headers(sid, block, end_stream=False)
        return out + data(sid, body, end_stream=end) if body or end else out

    def _serve(self, conn, number):
        conn.settimeout(0.1)
        state = {"encoder": hpack.Encoder(), "count": number}
        decoder = hpack.Decoder()
        conn.sendall(settings((MAX_CONCURRENT_STREAMS, 100)))
        buf, preface, block = b"", False, b""
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self._record(number, "eof", 0, None)
                return
            buf += chunk
            if not preface:
                if len(buf) < 24:
                    continue
                buf, preface = buf[24:], True
            out = b""
            while len(buf) >= 9:
                n = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + n:
                    break
                ftype, flags = buf[3], buf[4]
                sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload, buf = buf[9:9 + n], buf[9 + n:]
                if ftype == SETTINGS and not flags & ACK:
                    out += settings(ack=True)
                elif ftype == PING and not flags & ACK:
                    out += ping(payload, ack=True)
                elif ftype == RST_STREAM:
                    self._record(number, "rst", sid, int.from_bytes(payload[:4], "big"))
                elif ftype in (HEADERS, CONTINUATION):
                    if ftype == HEADERS and flags & PRIORITY_FLAG:
                        payload = payload[5:]
                    block += payload
                    if flags & END_HEADERS:
                        path = dict(decoder.decode(block)).get(":path")
                        block = b""
                        self._record(number, "request", sid, path)
                        reply = self.script(self, state, sid, path)
                        if reply is None:
                            conn.sendall(out)
                            return
                        out += reply
            if out:
                conn.sendall(out)
