#!/usr/bin/python3
"""Soak test: a real gateway under a mix of well-behaved and abusive clients, with its
HTTP upstream killed and restarted and its configuration reloaded, for MINUTES.

    scripts/soak [MINUTES] [--build DIR] [--png PATH]

MINUTES (default 30, fractions allowed) is how long the load runs; setup and the
quiet end add some 20 s. Everything is on 127.0.0.1: ringway (2 shards, cleartext +
TLS listeners with a self-signed certificate made here by openssl, and an [admin]
listener for /metrics), ringway-test-backend behind /web/ (HTTP/1.1) and /h2c/ (h2c),
ringway-grpc-server behind /ringway.test.TestService/.

  load      h2load rounds (HTTP/1.1, h2c, TLS h2, TLS HTTP/1.1; -n per round, paced
            with --rps), curl (the same four, bodies checked), gRPC unary batches,
            server streams and bidi streams (h2c and TLS), and a server stream and a
            client stream that last the whole run;
  abuse     slowloris, an HTTP/2 PING flood that never reads, rapid reset
            (HEADERS + RST_STREAM), garbage bytes (cleartext, after the h2 preface, on
            the TLS port) and idle connections (abusers.py);
  chaos     the backend SIGKILLed and restarted on its port every min(60 s, T/4); the
            INI rewritten (a spare API's listen_path) and SIGHUP every min(180 s, T/3),
            each reload checked to be applied;
  samples   every second the gateway's VmRSS and open descriptors (for the trend
            check and the plot); every 10 s (5 s under 5 minutes) a table row adding
            /metrics (connections, requests in flight, upstream errors, local replies)
            and the drivers' counts.

It fails (exit 1, each reason printed) when: the gateway died, or did not exit 0 on
SIGTERM at the end, or printed a sanitizer report; RSS or descriptors trend upward
after warm-up (trend_problems() defines it); descriptors are not back to their
starting level once every client is gone; a request was lost, or a well-behaved client
got an unexpected answer (ledger.py defines both); a reload was not applied; a fixture
could not be restarted. The last line is the verdict.
"""

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)

from harness import (ADMIN_SECRET, Gateway, GatewayStartError, _sanitizer_report,  # noqa: E402
                     free_port, make_ini, port_accepts, read_file, require_program, rss_kib)
import abusers  # noqa: E402
import drivers  # noqa: E402
from ledger import Ledger, Windows  # noqa: E402

MIB = 1024
HEADER_TIMEOUT_MS = 5000  # request_header_timeout_ms and handshake_timeout_ms
GRACE_S = 2.5  # after a restart: the gateway's reconnect backoff (max 1 s here) + retries
DOWN_S = 1.0  # how long the backend stays dead (less for short runs)

# ---------------------------------------------------------------------------
# Processes


class Fixture:
    """A program that prints "listening on HOST:PORT" once it accepts connections
    (ringway-test-backend, ringway-grpc-server); restartable on the same port."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = argv
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.proc = None
        self.port = 0

    def start(self, timeout=10.0):
        """Starts on self.port (0: any); retries while the port is not yet free."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            with open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(
                    self.argv + ["--listen", "127.0.0.1:%d" % self.port],
                    stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
            line = b""
            fd = self.proc.stdout.fileno()
            while b"\n" not in line and time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    line += chunk
            m = re.search(rb"listening on \S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
            last = read_file(self.stderr_path)[-500:]
            self.kill()
            time.sleep(0.1)
        raise RuntimeError("%s did not start on port %d: %s" % (self.name, self.port, last))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()


def make_cert(workdir):
    """A self-signed ECDSA certificate for 127.0.0.1 (the clients trust it as a CA)."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    p = subprocess.run([require_program("openssl"), "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                        "-subj", "/O=Ringway soak/CN=gw.test", "-keyout", key, "-out", cert,
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:gw.test"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl req -x509 failed: %s" % p.stdout.decode(errors="replace"))
    return cert, key


# ---------------------------------------------------------------------------
# The gateway's configuration and /metrics


def gateway_ini(ports, backend_port, grpc_port, cert, key, reload_number):
    apis = {
        "web": {"listen_path": "/web/", "strip_listen_path": True,
                "target_url": "http://127.0.0.1:%d" % backend_port},
        "h2c": {"listen_path": "/h2c/", "strip_listen_path": True,
                "target_url": "h2c://127.0.0.1:%d" % backend_port},
        "grpc": {"listen_path": drivers.SERVICE_PREFIX,
                 "target_url": "h2c://127.0.0.1:%d" % grpc_port},
        # The harmless change each reload makes: no client uses this API.
        "spare": {"listen_path": "/spare-%d/" % reload_number,
                  "target_url": "http://127.0.0.1:%d" % backend_port},
    }
    sections = {
        "admin": {"listen": "127.0.0.1:%d" % ports["admin"], "secret": ADMIN_SECRET},
        "tls": {"cert_file": cert, "key_file": key, "handshake_timeout_ms": HEADER_TIMEOUT_MS},
    }
    return make_ini(ports["plain"], apis, sections,
                    tls_listen="127.0.0.1:%d" % ports["tls"], shards=2, pin_shards=False,
                    drain_timeout_ms=5000, request_header_timeout_ms=HEADER_TIMEOUT_MS,
                    idle_timeout_ms=15000, upstream_timeout_ms=10000,
                    upstream_reconnect_backoff_max_ms=1000) + "; soak reload %d\n" % reload_number


METRIC_RE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(admin_port):
    """{metric name: sum over its series} from /metrics, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port,
                                    timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if m and not line.startswith("#"):
            try:
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(3))
            except ValueError:
                pass
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Sampling


COLUMNS = [  # (header, width, function of (row) -> value)
    ("t_s", 6), ("rss_MiB", 8), ("fds", 5), ("conns", 6), ("active", 6), ("up_conn", 7),
    ("gens", 5), ("up_reset", 8), ("up_cfail", 8), ("up_tmo", 6), ("local", 6),
    ("malformed", 9), ("tls_fail", 8), ("sent", 7), ("answered", 8), ("errors", 6),
    ("lost", 5), ("unexp", 5), ("excused", 7),
]

ROW_METRICS = {  # column -> /metrics family (summed over its series)
    "conns": "ringway_downstream_connections",
    "active": "ringway_downstream_requests_active",
    "up_conn": "ringway_upstream_connections",
    "gens": "ringway_config_generations_live",
    "up_reset": "ringway_upstream_resets_total",
    "up_cfail": "ringway_upstream_connect_failures_total",
    "up_tmo": "ringway_upstream_timeouts_total",
    "local": "ringway_local_replies_total",
    "malformed": "ringway_downstream_malformed_requests_total",
    "tls_fail": "ringway_tls_handshake_failures_total",
}


class Sampler(threading.Thread):
    def __init__(self, soak, row_interval):
        super().__init__(daemon=True)
        self.soak = soak
        self.row_interval = row_interval
        self.fine = []  # (t, rss KiB, fds) every second
        self.rows = []
        self.scrape_failures = 0

    def row(self):
        s = self.soak
        t = time.monotonic() - s.t0
        m = scrape(s.ports["admin"])
        if m is None:
            self.scrape_failures += 1
            m = {}
        r = {"t_s": "%.0f" % t, "rss_MiB": "%.1f" % ((rss_kib(s.gateway.pid) or 0) / MIB),
             "fds": fd_count(s.gateway.pid) or 0}
        for col, name in ROW_METRICS.items():
            r[col] = "%d" % m[name] if name in m else "-"
        tot = s.ledger.totals()
        r.update(sent=tot.sent, answered=tot.answered, errors=tot.errors, lost=tot.lost,
                 unexp=tot.unexpected, excused=tot.excused)
        self.rows.append(r)
        return r

    def run(self):
        s = self.soak
        next_row = 0.0
        while not s.stop.is_set():
            t = time.monotonic() - s.t0
            if not s.gateway.alive():
                s.gateway_died = True
                s.fatal("the gateway died at %.1f s (exit status %s); its stderr ends:\n%s" % (
                    t, s.gateway.proc.returncode, s.gateway.stderr_text()[-1500:]))
                return
            rss, fds = rss_kib(s.gateway.pid), fd_count(s.gateway.pid)
            if rss is not None and fds is not None:
                self.fine.append((t, rss, fds))
            if t >= next_row:
                self.row()
                next_row += self.row_interval
            s.stop.wait(1.0)


# ---------------------------------------------------------------------------
# Chaos: upstream restarts and reloads


class Chaos(threading.Thread):
    def __init__(self, soak, duration):
        super().__init__(daemon=True)
        self.soak = soak
        tail = min(10.0, duration * 0.15)  # a quiet end: the last rounds see no chaos
        self.restart_period = min(60.0, duration / 4)
        self.reload_period = min(180.0, duration / 3)
        events = []
        t = self.restart_period
        while t < duration - tail:
            events.append((t, "restart"))
            t += self.restart_period
        t = self.reload_period / 2
        while t < duration - tail:
            events.append((t, "reload"))
            t += self.reload_period
        self.events = sorted(events)
        self.down_s = min(DOWN_S, self.restart_period / 8)
        self.restarts = []  # (killed at, back at) relative to t0
        self.reloads = []  # time relative to t0

    def run(self):
        s = self.soak
        for at, what in self.events:
            if s.stop.wait(max(0.0, s.t0 + at - time.monotonic())):
                return
            try:
                if what == "restart":
                    self.restart()
                else:
                    self.reload()
            except Exception as e:  # noqa: BLE001 - reported as the soak's failure
                s.fatal("%s at %.1f s failed: %s" % (what, time.monotonic() - s.t0, e))
                return

    def restart(self):
        s = self.soak
        t_kill = time.monotonic()
        window = s.windows.open(t_kill - 0.05)
        s.backend.kill(signal.SIGKILL)
        s.stop.wait(self.down_s)
        s.backend.start()
        t_back = time.monotonic()
        s.windows.close(window, t_back + GRACE_S)
        self.restarts.append((t_kill - s.t0, t_back - s.t0))
        s.log("upstream killed at %.1f s, back at %.1f s" % (t_kill - s.t0, t_back - s.t0))

    def reload(self):
        s = self.soak
        before = scrape(s.ports["admin"]) or {}
        generation = before.get("ringway_config_generation", 0)
        number = len(self.reloads) + 1
        with open(s.gateway.config_path, "w") as f:
            f.write(gateway_ini(s.ports, s.backend.port, s.grpc_server.port, s.cert, s.key,
                                number))
        t = time.monotonic()
        s.gateway.send_signal(signal.SIGHUP)
        deadline = t + 10
        while time.monotonic() < deadline:
            m = scrape(s.ports["admin"]) or {}
            if m.get("ringway_config_generation", 0) > generation:
                self.reloads.append(t - s.t0)
                s.log("reload %d applied at %.1f s (generation %d)" % (
                    number, t - s.t0, m["ringway_config_generation"]))
                return
            time.sleep(0.05)
        raise RuntimeError("reload %d not applied within 10 s; gateway stderr tail:\n%s"
                           % (number, s.gateway.stderr_text()[-800:]))


# ---------------------------------------------------------------------------
# Judging


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def trend_problems(fine, warm_up, end, sanitizer_build):
    """RSS and descriptors after warm-up: the samples (one a second) in [warm_up, end]
    are cut into three equal spans of time; RSS's maximum over the last span may
    exceed its maximum over the middle span by at most max(8 MiB, 10 %), and the
    median of the descriptor count likewise by at most max(16, 10 %).

    Why thirds: the load is a cycle much shorter than a third (h2load rounds of ~3 s,
    abusers cycling every few seconds, restarts every 60 s and reloads every 180 s in
    a 30-minute run, whose thirds after the 5-minute warm-up are ~8 minutes), so every
    third holds the same peaks, and a maximum over a span does not depend on where
    within the cycle a sample happened to fall, as a mean or an endpoint would. A leak
    lifts the whole curve, so the later span exceeds the earlier one by the leak's
    rate times the length of a third. The first third after warm-up is not compared:
    the allocator's pages and the connection pools are still filling. RSS is smooth
    (freed memory mostly stays with the allocator), so its maximum is stable. The
    descriptor count follows the connections open at the instant of the sample, with
    spikes of +40 for a second whenever a rapid-reset burst on the HTTP/1.1 API makes
    the gateway open upstream connections: a few such samples in a short third would
    decide its maximum or even its 90th percentile, while the median ignores them and
    a leak shifts it with the rest. The tolerances absorb allocator retention
    and the number of connections open at a peak. Short runs (under ~5 minutes) only
    catch fast leaks; descriptors are also checked exactly at the end, once every
    client has gone (see baseline_fds). A sanitizer build's RSS is not judged: ASan's
    quarantine grows up to its cap."""
    span = [(t, r, f) for t, r, f in fine if warm_up <= t <= end]
    if len(span) < 6:
        return ["too few samples after warm-up (%d) to judge the trend" % len(span)], {}
    third = (end - warm_up) / 3
    mid = [x for x in span if warm_up + third <= x[0] < warm_up + 2 * third]
    last = [x for x in span if x[0] >= warm_up + 2 * third]
    if not mid or not last:
        return ["no samples in the middle or last third"], {}
    problems = []
    info = {}
    for name, stat, idx, scale, unit, tol in (
            ("RSS max", max, 1, MIB, " MiB", lambda m: max(8 * MIB, 0.10 * m)),
            ("fds median", _median, 2, 1, "", lambda m: max(16, 0.10 * m))):
        m_mid = stat([x[idx] for x in mid])
        m_last = stat([x[idx] for x in last])
        info[name] = (m_mid / scale, m_last / scale, tol(m_mid) / scale)
        if name.startswith("RSS") and sanitizer_build:
            continue
        if m_last - m_mid > tol(m_mid):
            problems.append("%s trends upward: %.1f%s over the last third vs %.1f%s over "
                            "the middle third (tolerance %.1f%s)" % (
                                name, m_last / scale, unit, m_mid / scale, unit,
                                tol(m_mid) / scale, unit))
    return problems, info


def fd_kinds(pid):
    """{kind: count} of a process's descriptors: "socket", "anon_inode:[eventfd]",
    "pipe", or the file's path."""
    kinds = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return kinds
    for n in names:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        kind = re.sub(r":\[\d+\]$", "", target)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def baseline_fds(gateway, admin_port):
    """Descriptors not explained by open connections: the median over a few samples of
    fds - downstream connections - upstream connections, counted while nothing but
    these scrapes talks to the gateway (each scrape counts its own connection, gone
    from the descriptors by the time they are counted: the median is then exact)."""
    values = []
    time.sleep(0.5)  # connections just closed by their clients are closed here too
    for _ in range(5):
        m = scrape(admin_port) or {}
        time.sleep(0.2)
        fds = fd_count(gateway.pid)
        if fds is None or not m:
            continue
        values.append(fds - m.get("ringway_downstream_connections", 0) - m.get(
            "ringway_upstream_connections", 0))
    return sorted(values)[len(values) // 2] if values else None


# ---------------------------------------------------------------------------
# Output


def print_table(rows):
    print(" ".join(h.rjust(w) for h, w in COLUMNS))
    for r in rows:
        print(" ".join(str(r.get(h, "")).rjust(w) for h, w in COLUMNS))


def plot(fine, chaos, warm_up, end, png, title):
    dat = os.path.splitext(png)[0] + ".dat"
    with open(dat, "w") as f:
        f.write("# t_s rss_MiB fds\n")
        for t, rss, fds in fine:
            f.write("%.1f %.2f %d\n" % (t, rss / MIB, fds))
    lines = [
        "set terminal pngcairo size 1200,600 dashed",
        "set output '%s'" % png,
        "set title \"ringway soak: gateway RSS and open descriptors\\n%s\" noenhanced"
        % title.replace('"', "'"),
        "set xlabel 'seconds'",
        "set ylabel 'RSS (MiB)'",
        "set y2label 'open descriptors'",
        "set ytics nomirror",
        "set y2tics",
        "set yrange [0:*]",
        "set y2range [0:*]",
        "set key outside bottom center horizontal",
        "set grid",
    ]
    n = 1
    for killed, _ in chaos.restarts:
        lines.append("set arrow %d from %.1f, graph 0 to %.1f, graph 1 nohead front lw 2 "
                     "lc rgb '#d62728' dt 2" % (n, killed, killed))
        n += 1
    for t in chaos.reloads:
        lines.append("set arrow %d from %.1f, graph 0 to %.1f, graph 1 nohead front lw 2 "
                     "lc rgb '#1f77b4' dt 3" % (n, t, t))
        n += 1
    third = (end - warm_up) / 3
    for x in (warm_up, warm_up + third, warm_up + 2 * third):
        lines.append("set arrow %d from %.1f, graph 0 to %.1f, graph 1 nohead lc rgb '#999999'"
                     % (n, x, x))
        n += 1
    lines.append("plot '%s' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'RSS (MiB)' "
                 "axes x1y1, '' using 1:3 with lines lw 2 lc rgb '#ff7f0e' title 'fds' axes "
                 "x1y2, NaN with lines lw 2 lc rgb '#d62728' dt 2 title 'upstream killed', NaN "
                 "with lines lw 2 lc rgb '#1f77b4' dt 3 title 'reload', NaN with lines "
                 "lc rgb '#999999' title 'warm-up end, thirds'" % dat)
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot is not installed (Debian package gnuplot-nox): no plot; data in " + dat
    p = subprocess.run([gp], input="\n".join(lines).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        return "gnuplot failed: %s" % p.stdout.decode(errors="replace")[-500:]
    return None


# ---------------------------------------------------------------------------


class Soak:
    def __init__(self, args):
        self.duration = args.minutes * 60.0
        self.build = os.path.abspath(args.build)
        self.workdir = os.path.join(self.build, "soak")
        self.png = os.path.abspath(args.png) if args.png else os.path.join(self.workdir,
                                                                           "soak.png")
        self.stop = threading.Event()
        self.failures = []
        self._lock = threading.Lock()
        self.t0 = time.monotonic()
        self.windows = Windows()
        self.ledger = Ledger(self.windows, self.t0)
        self.gateway = self.backend = self.grpc_server = None
        self.gateway_died = False

    def log(self, msg):
        print("[%7.1fs] %s" % (time.monotonic() - self.t0, msg), flush=True)

    def fatal(self, reason):
        with self._lock:
            self.failures.append(reason)
        self.stop.set()

    def binary(self, rel):
        p = os.path.join(self.build, rel)
        if not os.access(p, os.X_OK):
            raise RuntimeError("%s is missing: build first (ninja -C %s)" % (p, self.build))
        return p

    def setup(self):
        if os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir)
        os.makedirs(self.workdir)
        gw_bin = self.binary("ringway")
        backend_bin = self.binary("tests/fixtures/ringway-test-backend")
        grpc_server_bin = self.binary("tests/fixtures/ringway-grpc-server")
        self.grpc_client = self.binary("tests/fixtures/ringway-grpc-client")
        with open(gw_bin, "rb") as f:
            self.sanitizer_build = b"__asan_init" in f.read()
        self.cert, self.key = make_cert(self.workdir)
        self.backend = Fixture("backend", [backend_bin, "--threads", "2", "--quiet"],
                               self.workdir)
        self.backend.start()
        self.grpc_server = Fixture("grpc-server", [grpc_server_bin], self.workdir)
        self.grpc_server.start()
        for _ in range(3):
            self.ports = {"plain": free_port(), "tls": free_port(), "admin": free_port()}
            if len(set(self.ports.values())) < 3:
                continue
            text = gateway_ini(self.ports, self.backend.port, self.grpc_server.port, self.cert,
                               self.key, 0)
            try:
                self.gateway = Gateway(gw_bin, self.workdir, text, self.ports["plain"])
                break
            except GatewayStartError as e:
                if "in use" not in str(e) and "not accepting" not in str(e):
                    raise
        if self.gateway is None:
            raise RuntimeError("the gateway did not start on free ports")
        deadline = time.monotonic() + 5
        while not (port_accepts(self.ports["tls"]) and port_accepts(self.ports["admin"])):
            if time.monotonic() > deadline or not self.gateway.alive():
                raise RuntimeError("the TLS or admin listener is not accepting; stderr:\n%s"
                                   % self.gateway.stderr_text()[-1500:])
            time.sleep(0.05)

    def run(self):
        d = self.duration
        row_interval = 10.0 if d >= 300 else 5.0
        warm_up = min(300.0, d * 0.25)
        self.setup()
        fds_start = baseline_fds(self.gateway, self.ports["admin"])
        self.kinds_start = fd_kinds(self.gateway.pid)
        self.t0 = time.monotonic()
        self.ledger.t0 = self.t0
        end = self.t0 + d
        self.log("soak for %.1f min: gateway pid %d (ports %d, TLS %d, admin %d), backend "
                 ":%d, gRPC server :%d; logs in %s" % (
                     d / 60, self.gateway.pid, self.ports["plain"], self.ports["tls"],
                     self.ports["admin"], self.backend.port, self.grpc_server.port,
                     self.workdir))
        env = drivers.Env(self.ports["plain"], self.ports["tls"], self.cert, self.grpc_client,
                          self.ledger, self.stop, end, self.workdir)
        sampler = Sampler(self, row_interval)
        chaos = Chaos(self, d)
        plain_variants, tls_variants = drivers.h2load_variants(env)
        threads = [
            threading.Thread(target=drivers.h2load_driver, args=(env, "h2load", plain_variants)),
            threading.Thread(target=drivers.h2load_driver, args=(env, "h2load", tls_variants)),
            threading.Thread(target=drivers.curl_driver, args=(env,)),
            threading.Thread(target=drivers.grpc_rounds_driver, args=(env,)),
            threading.Thread(target=drivers.grpc_long_stream, args=(env, "server_stream",
                                                                    "h2c")),
            threading.Thread(target=drivers.grpc_long_stream, args=(env, "client_stream",
                                                                    "tls")),
        ]
        abuser_stats = {}
        abuse = []
        for cls in abusers.ALL:
            stats = abuser_stats.setdefault(cls.name, {})
            a = (cls(env, stats, HEADER_TIMEOUT_MS / 1000) if cls is abusers.Slowloris
                 else cls(env, stats))
            abuse.append(threading.Thread(target=self._guard, args=(cls.name, a.run),
                                          daemon=True))
        for t in threads:
            t.daemon = True
            t.start()
        for t in abuse:
            t.start()
        sampler.start()
        chaos.start()

        self.stop.wait(max(0.0, end - time.monotonic()))
        self.stop.set()
        t_end = time.monotonic() - self.t0
        self.log("load over; waiting for the clients to finish")
        deadline = time.monotonic() + 90
        for t in threads + abuse + [chaos, sampler]:
            t.join(max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                self.failures.append("a client thread did not finish within 90 s of the end")
                break
        fds_end = None
        if self.gateway.alive():
            # Every client is gone: the gateway's connections close; then the
            # descriptors not explained by open connections must be as at the start.
            wait_until = time.monotonic() + 20
            while True:
                m = scrape(self.ports["admin"]) or {}
                conns = m.get("ringway_downstream_connections", -1)
                active = m.get("ringway_downstream_requests_active", -1)
                if 0 <= conns <= 1 and active == 0:  # 1: this scrape's own connection
                    break
                if time.monotonic() > wait_until:
                    self.failures.append(
                        "20 s after every client had gone the gateway still counts %s "
                        "client connections (1 is /metrics itself) and %s requests in "
                        "flight" % (conns, active))
                    break
                time.sleep(0.2)
            fds_end = baseline_fds(self.gateway, self.ports["admin"])
            self.kinds_end = fd_kinds(self.gateway.pid)
            sampler.row()
        self.log("stopping the gateway (SIGTERM)")
        status = self.gateway.stop(signal.SIGTERM, timeout=15, check=False)
        if not self.gateway_died:
            if self.gateway.killed:
                self.failures.append("the gateway did not exit within 15 s of SIGTERM")
            elif status != 0:
                self.failures.append("the gateway exited with status %s on SIGTERM; stderr "
                                     "tail:\n%s" % (status, self.gateway.stderr_text()[-1500:]))
        report = _sanitizer_report(self.gateway.stderr_text())
        if report:
            self.failures.append("sanitizer report in the gateway's stderr:\n" + report)
        self.backend.kill(signal.SIGTERM)
        self.grpc_server.kill(signal.SIGTERM)
        for f in (self.backend, self.grpc_server):
            report = _sanitizer_report(read_file(f.stderr_path))
            if report:
                self.failures.append("sanitizer report from %s:\n%s" % (f.name, report))
        return self.report(sampler, chaos, abuser_stats, warm_up, min(t_end, d), fds_start,
                           fds_end)

    def _guard(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - an abuser's own bug must be seen
            self.fatal("abuser %s crashed: %r" % (name, e))

    def report(self, sampler, chaos, abuser_stats, warm_up, end, fds_start, fds_end):
        print()
        print("Samples (conns..tls_fail from /metrics, summed over shards/APIs; up_* and "
              "local..tls_fail are counters; sent..excused: well-behaved requests so far):")
        print_table(sampler.rows)
        print()
        print("Well-behaved clients:")
        print("  %-28s %6s %8s %8s %6s %5s %5s %7s" % ("driver", "rounds", "sent", "answered",
                                                      "errors", "lost", "unexp", "excused"))
        for name, c in sorted(self.ledger.snapshot().items()):
            print("  %-28s %6d %8d %8d %6d %5d %5d %7d" % (name, c.rounds, c.sent, c.answered,
                                                          c.errors, c.lost, c.unexpected,
                                                          c.excused))
        print("Abusive clients:")
        for name, st in abuser_stats.items():
            print("  %-12s %s" % (name, ", ".join("%s=%s" % kv for kv in sorted(st.items()))))
        print("Chaos: %d upstream restarts (every %.1f s, down %.1f s), %d reloads (every "
              "%.1f s); /metrics scrape failures: %d" % (
                  len(chaos.restarts), chaos.restart_period, chaos.down_s, len(chaos.reloads),
                  chaos.reload_period, sampler.scrape_failures))

        failures = list(self.failures)
        if len(chaos.reloads) < sum(1 for _, w in chaos.events if w == "reload") and not \
                failures:
            failures.append("not every scheduled reload ran")
        tot = self.ledger.totals()
        if tot.lost:
            failures.append("%d requests lost (no answer, no error seen)" % tot.lost)
        if tot.unexpected:
            failures.append("%d unexpected answers/errors outside upstream-restart windows"
                            % tot.unexpected)
        if tot.sent == 0:
            failures.append("the drivers sent nothing")
        if self.ledger.problems:
            print("Problems seen by the drivers (%d; first %d):" % (
                self.ledger.problem_count, len(self.ledger.problems)))
            for p in self.ledger.problems:
                print("  " + p)
        trend, info = trend_problems(sampler.fine, warm_up, end, self.sanitizer_build)
        failures += trend
        for name, (m_mid, m_last, tol) in info.items():
            print("Trend %s: middle third %.1f, last third %.1f, tolerance %.1f%s" % (
                name, m_mid, m_last, tol, " (not judged: sanitizer build)"
                if name.startswith("RSS") and self.sanitizer_build else ""))
        if fds_start is not None and fds_end is not None:
            print("Descriptors not held by connections: %d at the start, %d at the end"
                  % (fds_start, fds_end))
            if fds_end - fds_start > 4:
                print("All descriptors by kind: %s at the start, %s at the end" % (
                    self.kinds_start, self.kinds_end))
                failures.append("descriptors leaked: %d not held by connections at the end, "
                                "%d at the start" % (fds_end, fds_start))
        fine = sampler.fine
        rss = ("RSS %.1f -> %.1f MiB (peak %.1f), fds %d -> %d (peak %d)" % (
            fine[0][1] / MIB, fine[-1][1] / MIB, max(x[1] for x in fine) / MIB, fine[0][2],
            fine[-1][2], max(x[2] for x in fine))) if fine else "no samples"
        summary = ("%.1f min, %d requests sent (%d answered, %d errors seen, %d lost, %d "
                   "unexpected, %d excused), %d upstream restarts, %d reloads, %s" % (
                       self.duration / 60, tot.sent, tot.answered, tot.errors, tot.lost,
                       tot.unexpected, tot.excused, len(chaos.restarts), len(chaos.reloads),
                       rss))
        verdict = ("soak FAILED: " + "; ".join(f.split("\n")[0] for f in failures)
                   if failures else "soak PASSED: " + summary)
        title = ("FAILED: " + failures[0].split("\n")[0][:90] if failures else
                 "PASSED: %.1f min, %d requests, 0 lost, %d upstream restarts, %d reloads" % (
                     self.duration / 60, tot.sent, len(chaos.restarts), len(chaos.reloads)))
        err = plot(fine, chaos, warm_up, end, self.png, title) if fine else "no samples"
        print()
        for f in failures:
            print("FAIL: " + f)
        print("Plot: %s" % (self.png if not err else err))
        print("Gateway stderr: %s" % self.gateway.stderr_path)
        if failures:
            print("(%s)" % summary)
        print(verdict, flush=True)
        return 1 if failures else 0

    def cleanup(self):
        self.stop.set()
        for p in (self.gateway, ):
            if p is not None and p.alive():
                p.stop(signal.SIGKILL, check=False)
        for f in (self.backend, self.grpc_server):
            if f is not None:
                f.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("minutes", nargs="?", type=float, default=30.0,
                    help="how long the load runs (default 30; fractions allowed)")
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--png", help="where to write the plot (default BUILD/soak/soak.png)")
    args = ap.parse_args()
    if not 0 < args.minutes <= 24 * 60:
        ap.error("MINUTES must be in (0, 1440]")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    soak = Soak(args)
    try:
        rc = soak.run()
    except Exception as e:  # noqa: BLE001 - a setup failure is the soak's failure
        print("FAIL: %s" % e)
        print("soak FAILED: %s" % str(e).split("\n")[0], flush=True)
        rc = 1
    finally:
        soak.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
