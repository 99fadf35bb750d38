"""Helpers for Ringway's integration tests (Python 3 standard library only).

Everything here is bounded in time: every wait, loop and subprocess has a deadline,
and every process started through a Context is stopped (then killed) by
Context.cleanup(), which run.py calls in a finally block.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# How long a process gets to come up (TCP port accepting / "listening on" line).
START_TIMEOUT_S = 5.0


class TestFailure(AssertionError):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        a, e = repr(actual), repr(expected)
        if len(a) > 300:
            a = a[:300] + "...(%d chars)" % len(a)
        if len(e) > 300:
            e = e[:300] + "...(%d chars)" % len(e)
        raise TestFailure("%s: expected %s, got %s" % (what, e, a))


# ---------------------------------------------------------------------------
# Programs the tests start, and the Debian package that has each. scripts/install-deps
# installs them all; a test that finds one missing fails with this message instead of
# a traceback.

PROGRAM_PACKAGES = {
    "curl": "curl",
    "h2load": "nghttp2-client",
    "nghttp": "nghttp2-client",
    "nghttpx": "nghttp2-proxy",
    "nginx": "nginx-light",
    "openssl": "openssl",
}


def require_program(name):
    """The path of |name| (on PATH or in /usr/sbin); fails naming its package if absent."""
    path = shutil.which(name)
    if not path and os.access("/usr/sbin/" + name, os.X_OK):
        path = "/usr/sbin/" + name
    if not path:
        fail("%s is not installed: install the Debian package %s (scripts/install-deps does)"
             % (name, PROGRAM_PACKAGES.get(name, name)))
    return path


def require_module(module, package):
    """Imports a Python module from Debian's packages; fails naming the package."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        fail("Python module %s is missing: install the Debian package %s (scripts/install-deps "
             "does) and run the tests with Debian's /usr/bin/python3" % (module, package))


# ---------------------------------------------------------------------------
# Small utilities


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_accepts(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def fnv1a64(data, h=0xCBF29CE484222325):
    """64-bit FNV-1a, as the test backend's /sink computes it."""
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pattern_bytes(n, offset=0):
    """The backend's /bytes and /chunked body: byte i is 'a' + i % 26."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz"
    start = offset % 26
    reps = (n + start) // 26 + 1
    return (alphabet * reps)[start:start + n]


def read_file(path, default=""):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def read_until_closed(socks, start, until, closed, data):
    """Reads the sockets of |socks| not yet in |closed| until the peer has closed them
    all or time.monotonic() reaches |until|. A close is recorded in |closed| as
    {sock: seconds after |start|}; bytes read are appended to |data| {sock: bytes}
    (only sockets that got bytes appear)."""
    while True:
        open_socks = [s for s in socks if s not in closed]
        left = until - time.monotonic()
        if left <= 0 or not open_socks:
            return
        r, _, _ = select.select(open_socks, [], [], min(left, 0.1))
        for s in r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d:
                data[s] = data.get(s, b"") + d
            else:
                closed[s] = time.monotonic() - start


def rss_kib(pid):
    """VmRSS of a process in KiB, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's VmRSS every |interval| seconds in a thread."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = rss_kib(self.pid)
            if v is not None:
                self.samples.append(v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        return False

    @property
    def peak(self):
        return max(self.samples) if self.samples else 0


# ---------------------------------------------------------------------------
# Headers and responses


class Headers:
    """An ordered multi-map with case-insensitive names."""

    def __init__(self, items=None):
        self.items = [(n.lower(), v) for n, v in (items or [])]

    def add(self, name, value):
        self.items.append((name.lower(), value))

    def get(self, name, default=None):
        vals = self.get_all(name)
        return ", ".join(vals) if vals else default

    def get_all(self, name):
        name = name.lower()
        return [v for n, v in self.items if n == name]

    def __contains__(self, name):
        return any(n == name.lower() for n, _ in self.items)

    def names(self):
        return [n for n, _ in self.items]

    def __repr__(self):
        return "Headers(%r)" % self.items


def parse_header_lines(lines):
    h = Headers()
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        h.add(name.strip(), value.strip())
    return h


class CurlResult:
    """What curl saw. Unpacks as (status, headers, body)."""

    def __init__(self, rc, status, headers, body, trailers, stderr, version, all_heads):
        self.rc = rc
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.stderr = stderr
        self.version = version  # "1.1", "2", ...
        self.all_heads = all_heads  # [(status, Headers)] including 1xx

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("response body is not JSON: %r" % self.body[:300])

    def __repr__(self):
        return "CurlResult(rc=%d, status=%r, headers=%r, body=%r, stderr=%r)" % (
            self.rc, self.status, self.headers, self.body[:200], self.stderr[-300:])


def parse_curl_dump(text):
    """Parses a `curl -D` dump: response heads (1xx first) and then trailers."""
    heads = []
    trailers = Headers()
    for block in re.split(r"\r?\n\r?\n", text):
        lines = block.replace("\r", "").split("\n")
        lines = [l for l in lines if l]
        if not lines:
            continue
        m = re.match(r"HTTP/(\S+)\s+(\d{3})", lines[0])
        if m:
            heads.append((m.group(1), int(m.group(2)), parse_header_lines(lines[1:])))
        else:
            for n, v in parse_header_lines(lines).items:
                trailers.add(n, v)
    return heads, trailers


def curl(*args, timeout=30, input_bytes=None, stdin=None):
    """Runs curl with the given arguments and returns a CurlResult.

    The response head(s) go through -D and the body through -o into temporary files,
    so binary bodies survive. Pass `-o`/`-D` yourself only if you do not need them.
    """
    with tempfile.TemporaryDirectory(prefix="rw-curl-") as d:
        hdr = os.path.join(d, "h")
        out = os.path.join(d, "b")
        cmd = [require_program("curl"), "-sS", "--max-time", "%g" % timeout, "-D", hdr,
               "-o", out]
        cmd += [str(a) for a in args]
        kwargs = {}
        if input_bytes is not None:
            kwargs["input"] = input_bytes
        elif stdin is not None:
            kwargs["stdin"] = stdin
        else:
            kwargs["stdin"] = subprocess.DEVNULL
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout + 10, **kwargs)
        except subprocess.TimeoutExpired:
            fail("curl did not finish within %ss: %s" % (timeout + 10, " ".join(cmd)))
        heads, trailers = parse_curl_dump(read_file(hdr))
        try:
            with open(out, "rb") as f:
                body = f.read()
        except OSError:
            body = b""
        final = [h for h in heads if h[1] >= 200]
        if final:
            version, status, headers = final[-1]
        elif heads:
            version, status, headers = heads[-1]
        else:
            version, status, headers = None, None, Headers()
        return CurlResult(p.returncode, status, headers, body, trailers,
                          p.stderr.decode(errors="replace"), version,
                          [(s, h) for _, s, h in heads])


def curl_ok(*args, **kwargs):
    """curl that must exit 0."""
    r = curl(*args, **kwargs)
    if r.rc != 0:
        fail("curl %s exited %d: %s" % (" ".join(map(str, args)), r.rc, r.stderr.strip()))
    return r


# ---------------------------------------------------------------------------
# Raw HTTP/1.1 over a socket


class RawResponse:
    def __init__(self, version, status, reason, headers, body, trailers, head_bytes):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.head_bytes = head_bytes  # the status line and headers as received
        self.chunked = False

    @property
    def status_line(self):
        return self.head_bytes.split(b"\r\n", 1)[0].decode("latin-1")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("response body is not JSON: %r" % self.body[:300])

    def __repr__(self):
        return "RawResponse(%r, %r, body=%r)" % (self.status_line, self.headers, self.body[:200])


class ConnectionClosed(TestFailure):
    pass


class RawConn:
    """A plain TCP connection with a read buffer and bounded reads."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.default_timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline, max_bytes=1 << 20):
        """Reads once into the buffer. False on timeout; sets eof on EOF or reset."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        try:
            chunk = self.sock.recv(max_bytes)
        except ConnectionResetError:
            chunk = b""
            self.reset = True
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, marker, timeout=None):
        deadline = time.monotonic() + (timeout or self.default_timeout)
        while marker not in self.buf:
            if not self._fill(deadline):
                if self.eof:
                    raise ConnectionClosed("connection closed before %r (have %r)"
                                           % (marker, self.buf[:300]))
                fail("timed out waiting for %r (have %r)" % (marker, self.buf[:300]))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.default_timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                if self.eof:
                    raise ConnectionClosed("connection closed after %d of %d bytes"
                                           % (len(self.buf), n))
                fail("timed out after %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, timeout=None):
        """Everything until EOF or timeout; returns (bytes, eof_seen)."""
        deadline = time.monotonic() + (timeout or self.default_timeout)
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        out, self.buf = self.buf, b""
        return out, self.eof

    def wait_eof(self, timeout):
        """True when the peer closes within timeout (extra bytes are kept in buf)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        return self.eof

    def read_response(self, timeout=None, head_request=False, allow_1xx=False):
        """Reads one HTTP/1.x response (1xx responses skipped unless allow_1xx)."""
        timeout = timeout or self.default_timeout
        while True:
            head = self.read_until(b"\r\n\r\n", timeout)
            lines = head.decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/(\d\.\d) (\d{3})(?: (.*))?$", lines[0])
            if not m:
                fail("bad status line %r" % lines[0])
            version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
            headers = parse_header_lines(lines[1:])
            if 100 <= status < 200 and not allow_1xx:
                continue
            break
        resp = RawResponse(version, status, reason, headers, b"", Headers(), head)
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (headers.get("transfer-encoding") or "").lower()
        if "chunked" in te:
            resp.chunked = True
            body = []
            while True:
                line = self.read_until(b"\r\n", timeout)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                body.append(self.read_exact(size, timeout))
                check_eq(self.read_exact(2, timeout), b"\r\n", "chunk terminator")
            trailer_lines = []
            while True:
                line = self.read_until(b"\r\n", timeout)
                if line == b"\r\n":
                    break
                trailer_lines.append(line.decode("latin-1").strip())
            resp.trailers = parse_header_lines(trailer_lines)
            resp.body = b"".join(body)
        elif headers.get("content-length") is not None:
            resp.body = self.read_exact(int(headers.get("content-length")), timeout)
        else:
            data, eof = self.read_to_eof(timeout)
            check(eof, "close-delimited body did not end within %ss" % timeout)
            resp.body = data
        return resp

    def request(self, method, path, headers=None, body=b"", host="gw.test", timeout=None):
        """Sends one request (content-length framing) and reads its response."""
        lines = ["%s %s HTTP/1.1" % (method, path)]
        if host is not None:
            lines.append("Host: %s" % host)
        for n, v in (headers or []):
            lines.append("%s: %s" % (n, v))
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.read_response(timeout, head_request=(method == "HEAD"))

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


def check_json_error_reply(resp, status, what):
    """A local error reply: |status|, JSON {"error": ...}, connection: close."""
    check_eq(resp.status, status, what + " status")
    check_eq(resp.headers.get("content-type"), "application/json", what + " content-type")
    check_eq(resp.headers.get("connection"), "close", what + " connection header")
    try:
        j = json.loads(resp.body)
    except ValueError:
        check(False, "%s: body is not JSON: %r" % (what, resp.body))
    check(isinstance(j, dict) and list(j) == ["error"] and j["error"],
          "%s: body is not {\"error\": ...}: %r" % (what, resp.body))


def expect_error_and_close(port, data, status, what, eof_within=5.0):
    """|data| on a fresh connection gets check_json_error_reply(status), then EOF."""
    with RawConn(port) as c:
        c.send(data)
        r = c.read_response(timeout=5)
        check_json_error_reply(r, status, what)
        check(c.wait_eof(eof_within), "%s: connection not closed within %ss after the %d"
              % (what, eof_within, status))
        check_eq(c.buf, b"", what + ": bytes after the error reply")


GRPC_CURL_ARGS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]


def grpc_empty_frame_file(ctx):
    """A file holding one empty gRPC message (curl --data-binary @file)."""
    path = ctx.tmp("grpc-empty-message")
    with open(path, "wb") as f:
        f.write(b"\0\0\0\0\0")
    return path


def check_json_error(r, status, what):
    """A curl result that is a local JSON error reply {"error": ...} with |status|."""
    check_eq(r.status, status, what + " status")
    check_eq(r.headers.get("content-type"), "application/json", what + " content-type")
    try:
        j = json.loads(r.body)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, r.body))
    check(isinstance(j, dict) and list(j) == ["error"] and j["error"],
          "%s: body is not {\"error\": ...}: %r" % (what, r.body))


def check_grpc_local_reply(r, grpc_status, what):
    """A curl result that is a trailers-only gRPC local reply with |grpc_status|."""
    check_eq(r.status, 200, what + " HTTP status")
    check_eq(r.headers.get("content-type"), "application/grpc", what + " content-type")
    check_eq(r.headers.get("grpc-status"), str(grpc_status), what + " grpc-status")
    check(r.headers.get("grpc-message"), what + ": no grpc-message in %r" % r.headers)
    check_eq(r.body, b"", what + " body")


def raw_exchange(port, data, read_timeout=5.0):
    """Sends |data| on a fresh connection and reads until EOF or read_timeout.

    Returns (bytes_read, eof_seen)."""
    with RawConn(port, timeout=read_timeout) as c:
        c.send(data)
        return c.read_to_eof(read_timeout)


def parse_responses(data):
    """Splits raw bytes holding HTTP/1.1 responses (content-length framed or
    bodiless) into [(status_line, Headers, body)]."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            fail("incomplete response head in %r" % data[:300])
        lines = data[:i].decode("latin-1").split("\r\n")
        headers = parse_header_lines(lines[1:])
        n = int(headers.get("content-length") or 0)
        body = data[i + 4:i + 4 + n]
        out.append((lines[0], headers, body))
        data = data[i + 4 + n:]
    return out


# ---------------------------------------------------------------------------
# h2load


class H2loadResult:
    def __init__(self, rc, output):
        self.rc = rc
        self.output = output
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", output)
        if not m:
            fail("h2load output has no requests: line (rc=%d):\n%s" % (rc, output[-2000:]))
        (self.total, self.started, self.done, self.succeeded, self.failed, self.errored,
         self.timeout) = map(int, m.groups())
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
        if not m:
            fail("h2load output has no status codes: line:\n%s" % output[-2000:])
        self.s2xx, self.s3xx, self.s4xx, self.s5xx = map(int, m.groups())
        m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", output)
        self.req_per_s = float(m.group(3)) if m else 0.0


def h2load(*args, timeout=120):
    cmd = [require_program("h2load")] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("h2load did not finish within %ss: %s" % (timeout, " ".join(cmd)))
    return H2loadResult(p.returncode, p.stdout.decode(errors="replace"))


# ---------------------------------------------------------------------------
# Processes


def _sanitizer_report(text):
    """A compact excerpt of the first sanitizer report in |text|, or None."""
    hits = [(text.find(m), m) for m in SANITIZER_MARKERS if text.find(m) >= 0]
    if not hits:
        return None
    start, marker = min(hits)
    start = text.rfind("\n", 0, start) + 1
    lines = text[start:].split("\n")
    if "LeakSanitizer" in lines[0]:
        # The first leak whose stack reaches Ringway's code, and the summary.
        blocks = "\n".join(lines[1:]).split("\n\n")
        ours = [b for b in blocks if "ringway::" in b] or blocks[:1]
        stack = [l for l in ours[0].split("\n") if l.strip()][:24]
        summary = [l for l in lines if l.startswith("SUMMARY:")]
        return "\n".join([lines[0]] + stack + summary[:1])
    return "\n".join(lines[:40])


class Backend:
    """ringway-test-backend on 127.0.0.1:<free port>."""

    def __init__(self, binary, workdir, threads=2, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.stderr_path = os.path.join(workdir, "backend-%d.stderr" % id(self))
        self.proc = None
        self.port = None
        self._start(threads)

    def _start(self, threads):
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1:0", "--threads", str(threads), "--quiet"]
            + self.extra_args,
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.kill()
                fail("test backend did not print 'listening on' within %ss (stderr: %s)"
                     % (START_TIMEOUT_S, read_file(self.stderr_path)[-1000:]))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                line += chunk
        m = re.search(rb"listening on \S+:(\d+)", line)
        if not m:
            self.kill()
            fail("unexpected backend output %r" % line)
        self.port = int(m.group(1))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, scheme="http"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stop(self):
        self.kill(signal.SIGTERM)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        report = _sanitizer_report(read_file(self.stderr_path))
        if report:
            fail("sanitizer report from the test backend:\n" + report)


def format_value(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def make_ini(port, apis, sections=None, **gateway):
    """INI text: [gateway] with listen on |port| plus |gateway| keys, then any other
    |sections| ({"admin": {key: value}, ...}), then one [api.NAME] per entry of |apis|
    (an ordered dict NAME -> {key: value}); use_keyless = true is added unless an API
    sets it."""
    gw = {"listen": "127.0.0.1:%d" % port, "shards": 1, "drain_timeout_ms": 3000}
    gw.update(gateway)
    lines = ["[gateway]"]
    lines += ["%s = %s" % (k, format_value(v)) for k, v in gw.items() if v is not None]
    for name, keys in (sections or {}).items():
        lines.append("")
        lines.append("[%s]" % name)
        lines += ["%s = %s" % (k, format_value(v)) for k, v in keys.items()]
    for name, keys in apis.items():
        keys = dict(keys)
        keys.setdefault("use_keyless", True)
        lines.append("")
        lines.append("[api.%s]" % name)
        lines += ["%s = %s" % (k, format_value(v)) for k, v in keys.items()]
    return "\n".join(lines) + "\n"


class GatewayStartError(TestFailure):
    pass


class Gateway:
    """The gateway binary running on |ini_text| (which must listen on |port|).
    |preexec_fn| runs in the child before exec (resource limits, say)."""

    def __init__(self, binary, workdir, ini_text, port, extra_args=(), preexec_fn=None):
        self.binary = binary
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="gw-", dir=workdir)
        self.config_path = os.path.join(self.dir, "ringway.ini")
        with open(self.config_path, "w") as f:
            f.write(ini_text)
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen([binary, "--config", self.config_path] + list(extra_args),
                                     stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        self.exit_status = None
        self.killed = False
        self.signalled = False  # the test (not someone else) sent a signal
        self.sanitizer_reported = False
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_accepts(port, timeout=0.2):
            if self.proc.poll() is not None:
                self._close_files()
                raise GatewayStartError("gateway exited with %d at start-up: %s" % (
                    self.proc.returncode, self.stderr_text()[-2000:]))
            if time.monotonic() >= deadline:
                self.stop(signal.SIGKILL, check=False)
                raise GatewayStartError("gateway port %d not accepting within %ss: %s" % (
                    port, START_TIMEOUT_S, self.stderr_text()[-2000:]))
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def stderr_text(self):
        return read_file(self.stderr_path)

    def stdout_text(self):
        return read_file(self.stdout_path)

    def _close_files(self):
        for f in (self._stderr, self._stdout):
            try:
                f.close()
            except OSError:
                pass

    def send_signal(self, sig):
        if self.alive():
            self.signalled = True
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit status or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0, check=True):
        """Signals the gateway and waits for it; SIGKILL after |timeout|.

        Returns the exit status (negative: killed by that signal). Fails the test when
        stderr holds a sanitizer report (when |check|)."""
        if self.exit_status is None:
            if self.proc.poll() is None:
                self.signalled = True
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.killed = True
                    self.proc.kill()
                    self.proc.wait(5)
            self.exit_status = self.proc.returncode
            self._close_files()
        if check:
            self.check_sanitizers()
            if self.killed:
                fail("gateway did not exit within %ss of signal %d; killed. stderr tail:\n%s"
                     % (timeout, sig, self.stderr_text()[-1500:]))
        return self.exit_status

    def check_sanitizers(self):
        report = _sanitizer_report(self.stderr_text())
        if report and not self.sanitizer_reported:
            self.sanitizer_reported = True
            fail("sanitizer report from the gateway:\n" + report)


class LocalOrigin:
    """A listening socket on 127.0.0.1:<free port> with a thread per accepted
    connection running self._serve(conn, connection number, counted from 1), which
    subclasses write; the connection is closed when it returns. stop() closes the
    socket and joins the threads."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)

    def url(self, scheme="http"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            t = threading.Thread(target=self._run, args=(conn, number), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn, number):
        try:
            self._serve(conn, number)
        except OSError:
            pass  # the peer went away; what the test checks is what was recorded
        finally:
            conn.close()

    def _serve(self, conn, number):
        raise NotImplementedError

    def stop(self):
        self._stop.set()
        self.sock.close()
        for t in self._threads:
            t.join(2)


class CaptureUpstream(LocalOrigin):
    """A minimal HTTP/1.1 origin that records each request head it gets and answers
    200 with a JSON body {"method", "target", "headers": [[name, value], ...],
    "body_bytes"}. Keep-alive; content-length request bodies only."""

    def __init__(self):
        self.requests = []
        super().__init__()

    def _serve(self, conn, number):
        conn.settimeout(0.2)
        buf = b""
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            while b"\r\n\r\n" not in buf:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    if self._stop.is_set() or time.monotonic() > deadline:
                        return
                    continue
                if not chunk:
                    return
                buf += chunk
            i = buf.index(b"\r\n\r\n")
            lines = buf[:i].decode("latin-1").split("\r\n")
            buf = buf[i + 4:]
            method, target, _ = lines[0].split(" ", 2)
            headers = [[l.partition(":")[0].strip().lower(), l.partition(":")[2].strip()]
                       for l in lines[1:] if l]
            n = 0
            for name, value in headers:
                if name == "content-length":
                    n = int(value)
            while len(buf) < n:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buf += chunk
            buf = buf[n:]
            record = {"method": method, "target": target, "headers": headers,
                      "body_bytes": n}
            self.requests.append(record)
            body = json.dumps(record).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n" % len(body) + body)


GATEWAY_CANDIDATES = ["ringway", "src/ringway"]
BACKEND_CANDIDATES = ["tests/fixtures/ringway-test-backend"]


def find_binary(build, candidates):
    for c in candidates:
        p = os.path.join(build, c)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


class Context:
    """What each test function gets: build paths, helpers, and process tracking."""

    def __init__(self, build, workdir, bin_dir=None):
        self.build = os.path.abspath(build)
        self.workdir = workdir
        if bin_dir:  # a snapshot taken by run.py (immune to concurrent rebuilds)
            self.gateway_bin = os.path.join(bin_dir, "ringway")
            self.backend_bin = os.path.join(bin_dir, "ringway-test-backend")
        else:
            self.gateway_bin = self._find(GATEWAY_CANDIDATES)
            self.backend_bin = self._find(BACKEND_CANDIDATES)
        self._backends = []
        self._gateways = []
        self._others = []
        self.notes = []
        # Helpers, reachable as ctx.curl(...) etc.
        self.curl = curl
        self.curl_ok = curl_ok
        self.raw_exchange = raw_exchange
        self.RawConn = RawConn
        self.h2load = h2load
        self.free_port = free_port
        self.make_ini = make_ini

    def _find(self, candidates):
        p = find_binary(self.build, candidates)
        if not p:
            fail("none of %s found under %s" % (candidates, self.build))
        return p

    @property
    def asan(self):
        """True for a sanitizer build (counts may be scaled down)."""
        return "asan" in os.path.basename(self.build) or "sanitize" in self.build

    def note(self, msg):
        """A line printed under the test's result (measurements)."""
        self.notes.append(msg)

    def tmp(self, name):
        return os.path.join(self.workdir, name)

    def backend(self, threads=2, extra_args=()):
        b = Backend(self.backend_bin, self.workdir, threads, extra_args)
        self._backends.append(b)
        return b

    def capture_upstream(self):
        c = CaptureUpstream()
        self._others.append(c)
        return c

    def blackhole_upstream(self):
        u = BlackholeUpstream()
        self._others.append(u)
        return u

    def scripted_upstream(self, behaviour):
        u = ScriptedUpstream(behaviour)
        self._others.append(u)
        return u

    def gateway(self, apis, extra_args=(), sections=None, preexec_fn=None, **gateway_keys):
        """Starts the gateway on a free port with make_ini(port, apis, sections,
        **gateway_keys). Retries with another port if that one got taken in between."""
        last = None
        for _ in range(3):
            port = free_port()
            try:
                return self.gateway_from_text(make_ini(port, apis, sections, **gateway_keys),
                                              port, extra_args, preexec_fn)
            except GatewayStartError as e:
                last = e
                if "in use" not in str(e) and "not accepting" not in str(e):
                    raise
        raise last

    def gateway_from_text(self, ini_text, port, extra_args=(), preexec_fn=None):
        g = Gateway(self.gateway_bin, self.workdir, ini_text, port, extra_args, preexec_fn)
        self._gateways.append(g)
        return g

    def run_gateway_cli(self, *args, timeout=10):
        p = subprocess.run([self.gateway_bin] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def cleanup(self):
        """Stops everything; returns a list of problems found (sanitizer reports,
        gateways that did not exit 0 on SIGTERM)."""
        problems = []
        for g in self._gateways:
            stopped_by_test = g.exit_status is not None
            died = not stopped_by_test and g.proc.poll() is not None
            if not stopped_by_test and not g.signalled and "draining" in g.stderr_text():
                problems.append("the gateway got SIGTERM/SIGINT from outside the test "
                                "(someone else's kill?); results after that are void")
            try:
                status = g.stop(signal.SIGTERM, timeout=10, check=False)
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                problems.append("stopping gateway: %r" % e)
                continue
            report = _sanitizer_report(g.stderr_text())
            if report and not g.sanitizer_reported:
                problems.append("sanitizer report from the gateway:\n" + report)
            if report and status != 0:
                continue  # the sanitizer's exit status, explained by the report
            if stopped_by_test:
                continue  # the test judged the exit itself
            if died and status != 0:
                problems.append("gateway died during the test with status %s; stderr "
                                "tail:\n%s" % (status, g.stderr_text()[-1500:]))
            elif g.killed:
                problems.append("gateway ignored SIGTERM for 10s at cleanup (killed)")
            elif status != 0:
                problems.append("gateway exited with status %s on SIGTERM at cleanup; "
                                "stderr tail:\n%s" % (status, g.stderr_text()[-1500:]))
        for b in self._backends:
            try:
                b.stop()
            except TestFailure as e:
                problems.append(str(e))
            except Exception as e:  # noqa: BLE001
                problems.append("stopping backend: %r" % e)
        for o in self._others:
            try:
                o.stop()
            except Exception as e:  # noqa: BLE001
                problems.append("stopping helper: %r" % e)
        return problems


# ---------------------------------------------------------------------------
# The admin API

ADMIN_SECRET = "test-admin-secret"


def access_log(path):
    """[(path, status, FLAG)] of an access log file, sorted (the line format is in
    src/pipeline/access_log.h)."""
    out = []
    for line in read_file(path).splitlines():
        f = line.split(" ")
        check_eq(len(f), 10, "fields in access log line %r" % line)
        out.append((f[4], int(f[6]), f[9]))
    return sorted(out)


def admin_section(port, **keys):
    """An [admin] section listening on 127.0.0.1:|port| with ADMIN_SECRET."""
    section = {"listen": "127.0.0.1:%d" % port, "secret": ADMIN_SECRET}
    section.update(keys)
    return {"admin": section}


def scrape(admin_port, timeout=10):
    """GET /metrics, parsed with Debian's python3-prometheus-client: a dict
    {(sample name, ((label, value), ...) sorted): value} plus the raw text."""
    parser = require_module("prometheus_client.parser", "python3-prometheus-client")
    r = curl("http://127.0.0.1:%d/metrics" % admin_port, timeout=timeout)
    if r.rc != 0 or r.status != 200:
        fail("GET /metrics: curl exit %d, status %r, body %r" % (r.rc, r.status, r.body[:300]))
    text = r.body.decode()
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples, text


def metric(samples, name, **labels):
    """The value of one sample (0 when the series is absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0)


# ---------------------------------------------------------------------------
# The usual topology: one backend, an HTTP/1.1 API and an h2c API in front of it.

FRONTS = {"h1": ["--http1.1"], "h2": ["--http2-prior-knowledge"]}
BACKS = {"h1": "/h1", "h2c": "/h2c"}  # listen_path prefixes of proxy_setup's APIs


def proxy_apis(backend, **api_keys):
    apis = {
        "h1": {"listen_path": "/h1/", "strip_listen_path": True,
               "target_url": backend.url("http")},
        "h2c": {"listen_path": "/h2c/", "strip_listen_path": True,
                "target_url": backend.url("h2c")},
    }
    for keys in apis.values():
        keys.update(api_keys)
    return apis


def proxy_setup(ctx, api_keys=None, **gateway_keys):
    """Backend plus a gateway with APIs "h1" (/h1/ -> http://backend) and "h2c"
    (/h2c/ -> h2c://backend), both stripping their listen_path."""
    b = ctx.backend()
    g = ctx.gateway(proxy_apis(b, **(api_keys or {})), **gateway_keys)
    return b, g


# ---------------------------------------------------------------------------
# nghttp (frame-level view of an HTTP/2 exchange)


class NghttpResult:
    def __init__(self, rc, output):
        self.rc = rc
        self.output = output
        # (direction, type, length, flags, stream_id)
        self.frames = [(m.group(1), m.group(2), int(m.group(3)), int(m.group(4), 16),
                        int(m.group(5)))
                       for m in re.finditer(r"\] (send|recv) (\w+) frame <length=(\d+), "
                                            r"flags=0x([0-9a-f]+), stream_id=(\d+)>", output)]
        self.headers = Headers()  # received header fields of all streams
        for m in re.finditer(r"\] recv \(stream_id=\d+\) (:?[^:\s]+): (.*)", output):
            self.headers.add(m.group(1), m.group(2).strip())

    def recv(self, frame_type, stream_id=None):
        return [f for f in self.frames if f[0] == "recv" and f[1] == frame_type
                and (stream_id is None or f[4] == stream_id)]


def nghttp(url, *args, timeout=30):
    """nghttp -nv (no output body, verbose frames) with extra arguments."""
    cmd = ([require_program("nghttp"), "-nv", "-t", "%g" % timeout] + [str(a) for a in args]
           + [url])
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        fail("nghttp did not finish within %ss: %s" % (timeout + 10, " ".join(cmd)))
    return NghttpResult(p.returncode, p.stdout.decode(errors="replace"))


class ScriptedUpstream(LocalOrigin):
    """An HTTP/1.1 origin that reads one request head per connection and then runs
    |behaviour(conn)| (a function of the connected socket), then closes."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        super().__init__()

    def _serve(self, conn, number):
        conn.settimeout(5)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        self.behaviour(conn)


class BlackholeUpstream:
    """A port whose SYNs go unanswered: a listening socket with a full accept queue
    that is never accepted from, so connect() hangs until the caller gives up."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self._fillers = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except (BlockingIOError, OSError):
                pass
            self._fillers.append(s)
        time.sleep(0.1)

    def url(self, scheme="http"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def stop(self):
        for s in self._fillers:
            s.close()
        self.sock.close()


# ---------------------------------------------------------------------------
# A minimal HTTP/2 (prior knowledge) client for timing-sensitive cases curl cannot
# express (pauses between requests on one connection, watching GOAWAY). It encodes
# request headers as HPACK literals; response header blocks are decoded (python3-hpack)
# into H2Stream.headers (the first block) and .trailers (a later one).

H2_DATA, H2_HEADERS, H2_RST, H2_SETTINGS, H2_PING, H2_GOAWAY, H2_WINDOW, H2_CONT = (
    0, 1, 3, 4, 6, 7, 8, 9)


def _hpack_int(value, prefix_bits, first_byte=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = [first_byte | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_literal(name, value):
    name, value = name.encode(), value.encode()
    return (b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value)


class H2Stream:
    def __init__(self):
        self.data = b""
        self.header_blocks = 0
        self.ended = False
        self.reset = None  # error code of a RST_STREAM
        self.headers = []  # [(name, value)] of the first header block
        self.trailers = []  # of a later one

    @property
    def status(self):
        return next((int(v) for n, v in self.headers if n == ":status"), None)


class MiniH2:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.streams = {}
        self.goaway = None  # (last_stream_id, error_code)
        self.eof = False
        self.next_id = 1
        self._decoder = None
        self._block = None  # (stream id, header block so far) until END_HEADERS
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self._frame(H2_SETTINGS, 0, 0, b""))

    @staticmethod
    def _frame(ftype, flags, stream_id, payload):
        return (len(payload).to_bytes(3, "big") + bytes([ftype, flags])
                + stream_id.to_bytes(4, "big") + payload)

    def request(self, method, path, authority="gw.test", headers=(), body=None, end=True):
        """Sends a request; with end=False the stream stays open for data()."""
        sid = self.next_id
        self.next_id += 2
        block = b"".join(_hpack_literal(n, v) for n, v in
                         [(":method", method), (":scheme", "http"), (":path", path),
                          (":authority", authority)] + list(headers))
        flags = 0x4 | (0x1 if body is None and end else 0)
        out = self._frame(H2_HEADERS, flags, sid, block)
        if body is not None:
            out += self._frame(H2_DATA, 0x1 if end else 0, sid, body)
        self.streams[sid] = H2Stream()
        self.sock.sendall(out)
        return sid

    def data(self, sid, payload, end=False):
        """Sends one DATA frame on stream |sid| (payload up to 16384 bytes)."""
        self._send(self._frame(H2_DATA, 0x1 if end else 0, sid, payload))

    def reset(self, sid, code=8):
        """Sends RST_STREAM (default CANCEL) for |sid|."""
        self._send(self._frame(H2_RST, 0, sid, code.to_bytes(4, "big")))

    def _read_frames(self, deadline):
        while True:
            while len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + length:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload = self.buf[9:9 + length]
                self.buf = self.buf[9 + length:]
                self._on_frame(ftype, flags, sid, payload)
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the peer is gone; what was received still counts

    def _header_block(self, sid, block):
        if self._decoder is None:
            self._decoder = require_module("hpack", "python3-hpack").Decoder()
        fields = self._decoder.decode(block)  # always: keeps the dynamic table in step
        st = self.streams.get(sid)
        if st is not None:
            if st.header_blocks == 1:
                st.headers = fields
            else:
                st.trailers = fields

    def _on_frame(self, ftype, flags, sid, payload):
        st = self.streams.get(sid)
        if ftype == H2_HEADERS:
            if flags & 0x8:  # padded
                payload = payload[1:len(payload) - payload[0]]
            if flags & 0x20:  # priority
                payload = payload[5:]
            self._block = (sid, payload)
        elif ftype == H2_CONT and self._block:
            self._block = (sid, self._block[1] + payload)
        if ftype in (H2_HEADERS, H2_CONT) and flags & 0x4 and self._block:
            block, self._block = self._block[1], None
            if st is not None:
                st.header_blocks += 1
            self._header_block(sid, block)
        if ftype == H2_SETTINGS and not flags & 1:
            self._send(self._frame(H2_SETTINGS, 1, 0, b""))
        elif ftype == H2_PING and not flags & 1:
            self._send(self._frame(H2_PING, 1, 0, payload))
        elif ftype == H2_GOAWAY:
            self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                           int.from_bytes(payload[4:8], "big"))
        elif st is not None and ftype == H2_HEADERS:
            if flags & 1:
                st.ended = True
        elif st is not None and ftype == H2_DATA:
            if flags & 0x8:  # padded
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            st.data += payload
            if payload:  # keep the windows open
                inc = len(payload).to_bytes(4, "big")
                self._send(self._frame(H2_WINDOW, 0, 0, inc)
                                  + self._frame(H2_WINDOW, 0, sid, inc))
            if flags & 1:
                st.ended = True
        elif st is not None and ftype == H2_RST:
            st.reset = int.from_bytes(payload[:4], "big")

    def wait(self, sid, timeout=10.0):
        """Reads until stream |sid| ends or is reset; returns its H2Stream."""
        deadline = time.monotonic() + timeout
        st = self.streams[sid]
        while not st.ended and st.reset is None:
            if not self._read_frames(deadline):
                break
        return st

    def wait_goaway(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.goaway is None and self._read_frames(deadline):
            pass
        return self.goaway

    def wait_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._read_frames(deadline)
        return self.eof

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
