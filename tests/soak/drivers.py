"""The well-behaved clients of the soak: h2load rounds (HTTP/1.1, h2c, TLS h2, TLS
HTTP/1.1), curl (several protocols, body checks) and ringway-grpc-client (unary calls,
server streams, bidi ping-pongs, and two streams that last the whole run). Each runs in
its own thread in bounded rounds until the soak's end and books every round in the
Ledger (ledger.py says how requests are classified)."""

import json
import os
import subprocess
import tempfile
import time

from harness import H2loadResult, TestFailure, require_program

SERVICE_PREFIX = "/ringway.test.TestService/"


class Env:
    """What the drivers share: addresses, binaries, the ledger, stop and end time."""

    def __init__(self, plain_port, tls_port, ca_file, grpc_client, ledger, stop, end,
                 workdir):
        self.plain_port = plain_port
        self.tls_port = tls_port
        self.ca_file = ca_file
        self.grpc_client = grpc_client
        self.ledger = ledger
        self.stop = stop
        self.end = end  # time.monotonic() at which no round may still be going on
        self.workdir = workdir

    def plain(self, path):
        return "http://127.0.0.1:%d%s" % (self.plain_port, path)

    def tls(self, path):
        return "https://127.0.0.1:%d%s" % (self.tls_port, path)

    def time_for(self, seconds):
        """True when a round of |seconds| can start and end before the soak's end."""
        return not self.stop.is_set() and time.monotonic() + seconds < self.end


# ---------------------------------------------------------------------------
# h2load

H2LOAD_CLIENTS = 3
H2LOAD_RPS = 40  # per client: 120 requests/s per h2load process
H2LOAD_N = 300  # per round: ~2.5 s


def _h2load_log(path, wall_offset):
    """h2load --log-file rows: [(start, end) monotonic, status (-1: failed stream)]."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) < 3:
                    continue
                start = int(parts[0]) / 1e6 - wall_offset
                rows.append((start, start + int(parts[2]) / 1e6, int(parts[1])))
    except (OSError, ValueError):
        pass
    return rows


def h2load_driver(env, name, variants):
    """Rounds of h2load, cycling through |variants| [(label, args, urls)]."""
    h2load = require_program("h2load")
    expected = H2LOAD_N / (H2LOAD_CLIENTS * H2LOAD_RPS)
    log_path = os.path.join(env.workdir, "h2load-%s-%s.log" % (name, variants[0][0]))
    ledger = env.ledger
    i = 0
    while env.time_for(expected + 1):
        label, args, urls = variants[i % len(variants)]
        i += 1
        # -N: a connection with no activity for 10 s is given up and its requests in
        # flight counted as "timeout" (lost): the upstream answers in microseconds and
        # the gateway answers 502 at once while it is down.
        cmd = [h2load, "-n", str(H2LOAD_N), "-c", str(H2LOAD_CLIENTS), "--rps",
               str(H2LOAD_RPS), "-N", "10s", "--log-file", log_path] + args + urls
        if os.path.exists(log_path):
            os.unlink(log_path)
        t0 = time.monotonic()
        who = "%s %s" % (name, label)
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=expected + 30)
        except subprocess.TimeoutExpired:
            ledger.record(who, t0, time.monotonic(), H2LOAD_N, 0, 0, H2LOAD_N, 0, 0,
                          "h2load did not finish within %.0f s: %s"
                          % (expected + 30, " ".join(cmd[1:])))
            continue
        t1 = time.monotonic()
        out = p.stdout.decode(errors="replace")
        try:
            r = H2loadResult(p.returncode, out)
        except TestFailure:
            ledger.record(who, t0, t1, H2LOAD_N, 0, 0, H2LOAD_N, 0, 0,
                          "h2load printed no accounting (rc %d): %s"
                          % (p.returncode, out[-300:]))
            continue
        # h2load's accounting: done = streams closed; succeeded = closed with 2xx/3xx;
        # failed = everything else (non-2xx answers, streams closed with an error,
        # requests abandoned on a lost connection, never-started ones); errored = the
        # error part of failed; timeout = the part of errored that -N gave up on.
        answered = r.succeeded + r.failed - r.errored
        errors = r.errored - r.timeout
        unaccounted = max(0, r.total - r.succeeded - r.failed)
        lost = r.timeout + unaccounted
        # Each closed stream that was not 2xx/3xx is judged by its own time span;
        # the rest of "failed" (abandoned with a lost connection) by the round's.
        unexpected = excused = 0
        logged_bad = 0
        for start, end, status in _h2load_log(log_path, ledger.windows.wall_offset):
            if not 200 <= status < 400:
                logged_bad += 1
                u, e = ledger.classify(start, end, 1, True)
                unexpected += u
                excused += e
        u, e = ledger.classify(t0, t1, max(0, r.failed - r.timeout - logged_bad), True)
        unexpected += u
        excused += e
        detail = ""
        if unexpected or lost:
            detail = "%s: requests %d total, %d started, %d done, %d succeeded, %d failed, " \
                     "%d errored, %d timeout; %d 2xx %d 3xx %d 4xx %d 5xx" % (
                         label, r.total, r.started, r.done, r.succeeded, r.failed, r.errored,
                         r.timeout, r.s2xx, r.s3xx, r.s4xx, r.s5xx)
        ledger.record(who, t0, t1, r.started, answered, errors, lost, unexpected, excused,
                      detail)
        env.stop.wait(0.2)


def h2load_variants(env):
    """(cleartext variants, TLS variants) for two h2load threads."""
    plain = [env.plain(p) for p in ("/web/hello", "/h2c/hello", "/web/bytes?n=8192")]
    tls = [env.tls(p) for p in ("/web/hello", "/h2c/hello", "/h2c/bytes?n=8192")]
    return ([("h1", ["--h1", "-m", "1"], plain), ("h2c", ["-m", "4"], plain)],
            [("tls-h2", ["-m", "4"], tls), ("tls-h1", ["--h1", "-m", "1"], tls)])


# ---------------------------------------------------------------------------
# curl

CURL_FORMAT = "%{http_code} %{exitcode} %{size_download} %{http_version}\\n"
# path -> body size a 200 must have
CURL_PATHS = [("/web/hello", 6), ("/h2c/hello", 6), ("/web/bytes?n=100000", 100000),
              ("/h2c/chunked?n=20&size=1000", 20000), ("/web/status?code=204", 0),
              ("/h2c/bytes?n=300000", 300000)]
ECHO_BYTES = 65536


def _curl_modes(env):
    return [("h1", env.plain, ["--http1.1"]),
            ("h2c", env.plain, ["--http2-prior-knowledge"]),
            ("tls-h2", env.tls, ["--http2", "--cacert", env.ca_file]),
            ("tls-h1", env.tls, ["--http1.1", "--cacert", env.ca_file])]


def _curl_book(env, who, t0, t1, lines, expected_sizes, detail_prefix):
    """Books one curl invocation: |lines| are its -w lines, one per transfer."""
    answered = errors = lost = not_ok = 0
    bad = []
    for i, size in enumerate(expected_sizes):
        if i >= len(lines):
            lost += 1  # curl never reported this transfer
            bad.append("transfer %d: no result" % i)
            continue
        try:
            code, rc, got, _ = lines[i].split()
            code, rc, got = int(code), int(rc), int(got)
        except ValueError:
            lost += 1
            bad.append("transfer %d: unreadable %r" % (i, lines[i]))
            continue
        if rc == 28:  # --max-time: no (complete) answer in time
            lost += 1
            bad.append("transfer %d: timed out (status %d)" % (i, code))
        elif rc != 0:
            errors += 1
            not_ok += 1
            bad.append("transfer %d: curl exit %d (status %d)" % (i, rc, code))
        else:
            answered += 1
            if not 200 <= code < 300:
                not_ok += 1
                bad.append("transfer %d: status %d" % (i, code))
            elif size is not None and got != size:
                env.ledger.problem(who, "%s transfer %d: 200 with %d body bytes, expected %d"
                                   % (detail_prefix, i, got, size))
    unexpected, excused = env.ledger.classify(t0, t1, not_ok, True)
    env.ledger.record(who, t0, t1, len(expected_sizes), answered, errors, lost, unexpected,
                      excused, "%s: %s" % (detail_prefix, "; ".join(bad[:6])))


def curl_driver(env):
    curl = require_program("curl")
    modes = _curl_modes(env)
    body_path = os.path.join(env.workdir, "echo-body")
    body = os.urandom(ECHO_BYTES)
    with open(body_path, "wb") as f:
        f.write(body)
    i = 0
    while env.time_for(2):
        label, base, args = modes[i % len(modes)]
        i += 1
        who = "curl " + label
        # Several transfers on one connection (keep-alive / one h2 connection), except
        # h2c: curl 7.88 (Debian 12) fails every transfer that reuses a prior-knowledge
        # connection with exit 16 (curl issue 10634, fixed in 8.0), so one each.
        groups = [CURL_PATHS] if label != "h2c" else [[p] for p in CURL_PATHS]
        for group in groups:
            cmd = [curl, "-sS", "--max-time", "15", "--connect-timeout", "5", "-w",
                   CURL_FORMAT] + args
            for path, _ in group:
                cmd += ["-o", "/dev/null", base(path)]
            t0 = time.monotonic()
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, timeout=len(group) * 15 + 15)
                lines = p.stdout.decode(errors="replace").splitlines()
            except subprocess.TimeoutExpired:
                lines = []
            _curl_book(env, who, t0, time.monotonic(), lines, [s for _, s in group],
                       "GET " + ", ".join(p for p, _ in group))

        # A body both ways, compared byte for byte when the answer is 200.
        path = "/web/echo" if i % 2 else "/h2c/echo"
        with tempfile.NamedTemporaryFile(dir=env.workdir, prefix="echo-out-") as out:
            cmd = [curl, "-sS", "--max-time", "15", "--connect-timeout", "5", "-w", CURL_FORMAT,
                   "-X", "POST", "-H", "content-type: application/octet-stream",
                   "--data-binary", "@" + body_path, "-o", out.name] + args + [base(path)]
            t0 = time.monotonic()
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, timeout=30)
                lines = p.stdout.decode(errors="replace").splitlines()
            except subprocess.TimeoutExpired:
                lines = []
            t1 = time.monotonic()
            _curl_book(env, who, t0, t1, lines, [None], "POST " + path)
            if lines and lines[0].startswith("200 0 "):
                echoed = out.read()
                if echoed != body:
                    env.ledger.problem(who, "POST %s: 200 but the echoed body differs (%d of "
                                       "%d bytes)" % (path, len(echoed), len(body)))
        env.stop.wait(0.3)


# ---------------------------------------------------------------------------
# gRPC (its upstream, ringway-grpc-server, is never restarted: nothing is excused)

DEADLINE_EXCEEDED = 4


def run_grpc(env, who, target_args, scenario, args, timeout):
    """Runs one ringway-grpc-client; returns (result dict or None, seconds, text)."""
    cmd = [env.grpc_client, "--scenario", scenario] + target_args + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, t0, "did not finish within %.0f s: %s" % (timeout, " ".join(cmd[1:]))
    lines = [l for l in p.stdout.decode(errors="replace").splitlines() if l.startswith("{")]
    if not lines:
        return None, t0, "exited %d without a result: %s" % (
            p.returncode, p.stderr.decode(errors="replace")[-300:])
    try:
        res = json.loads(lines[-1])
    except ValueError:
        return None, t0, "bad JSON %r" % lines[-1][:200]
    res["rc"] = p.returncode
    return res, t0, ""


def _grpc_targets(env):
    plain = ["--target", "127.0.0.1:%d" % env.plain_port]
    tls = ["--target", "127.0.0.1:%d" % env.tls_port, "--tls-ca", env.ca_file]
    return [("h2c", plain), ("tls", tls)]


def _book_stream(env, who, t0, res, text, client_deadline):
    """A single-call scenario (a stream): one request. DEADLINE_EXCEEDED is "lost"
    when the call carried the client's own deadline (--deadline-ms): no answer in
    time; without one it is the gateway's answer."""
    t1 = time.monotonic()
    if res is None:
        env.ledger.record(who, t0, t1, 1, 0, 0, 1, 0, 0, text)
        return
    code = res.get("code", 0 if res.get("ok") else -1)
    if code == DEADLINE_EXCEEDED and client_deadline:
        env.ledger.record(who, t0, t1, 1, 0, 0, 1, 0, 0, "DEADLINE_EXCEEDED: %s"
                          % res.get("reason"))
    elif res.get("ok") and res["rc"] == 0:
        env.ledger.record(who, t0, t1, 1, 1, 0, 0, 0, 0)
    else:
        env.ledger.record(who, t0, t1, 1, 1, 0, 0, 1, 0, "code %s: %s" % (
            code, res.get("reason")))
        if res.get("mismatches"):
            env.ledger.problem(who, "%s mismatching messages" % res["mismatches"])


UNARY_CALLS = 100


def grpc_rounds_driver(env):
    """Unary batches, short server streams and bidi ping-pong streams, h2c and TLS."""
    targets = _grpc_targets(env)
    i = 0
    while env.time_for(3):
        kind = ("unary", "server_stream", "unary", "bidi")[i % 4]
        label, target = targets[(i // 4) % len(targets)]
        i += 1
        who = "grpc %s %s" % (kind, label)
        if kind == "unary":
            res, t0, text = run_grpc(env, who, target, "unary",
                                     ["--count", UNARY_CALLS, "--concurrency", 4, "--size", 256,
                                      "--deadline-ms", 10000], timeout=30)
            t1 = time.monotonic()
            if res is None:
                env.ledger.record(who, t0, t1, UNARY_CALLS, 0, 0, UNARY_CALLS, 0, 0, text)
            else:
                codes = {int(k): v for k, v in res.get("codes", {}).items()}
                seen = sum(codes.values())
                lost = codes.get(DEADLINE_EXCEEDED, 0) + max(0, UNARY_CALLS - seen)
                not_ok = sum(v for k, v in codes.items() if k not in (0, DEADLINE_EXCEEDED))
                env.ledger.record(who, t0, t1, UNARY_CALLS, seen - codes.get(
                    DEADLINE_EXCEEDED, 0), 0, lost, not_ok, 0,
                    "codes %s: %s" % (codes, res.get("first_error")))
                if res.get("wrong"):
                    env.ledger.problem(who, "%d replies differ from what was sent"
                                       % res["wrong"])
        elif kind == "server_stream":
            res, t0, text = run_grpc(env, who, target, "server_stream",
                                     ["--count", 100, "--size", 1024, "--interval-ms", 20,
                                      "--deadline-ms", 20000], timeout=40)
            _book_stream(env, who, t0, res, text, True)
        else:
            res, t0, text = run_grpc(env, who, target, "bidi",
                                     ["--count", 200, "--size", 512, "--deadline-ms", 20000],
                                     timeout=40)
            _book_stream(env, who, t0, res, text, True)
        env.stop.wait(0.3)


LONG_INTERVAL_MS = 100


def grpc_long_stream(env, scenario, label):
    """One stream that lasts (almost) the whole run: a message every 100 ms, across
    every upstream restart (of the other upstream) and every reload."""
    seconds = env.end - time.monotonic() - 3
    count = max(10, int(seconds * 1000 / LONG_INTERVAL_MS))
    targets = dict(_grpc_targets(env))
    who = "grpc long %s %s" % (scenario, label)
    res, t0, text = run_grpc(env, who, targets[label], scenario,
                             ["--count", count, "--size", 512, "--interval-ms",
                              LONG_INTERVAL_MS, "--id", "long-" + scenario],
                             timeout=seconds * 1.05 + 20)
    _book_stream(env, who, t0, res, text, False)
    if res is not None and scenario == "server_stream" and res.get("received") != count:
        env.ledger.problem(who, "received %s of %d messages" % (res.get("received"), count))
