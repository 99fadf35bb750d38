"""A real NGINX as an upstream origin for integration tests.

    ngx = NginxUpstream(ctx, h2c=True, keepalive_requests=1000)
    g = ctx.gateway({"ngx": {"listen_path": "/", "target_url": ngx.url()}})

NGINX runs in the foreground (`daemon off;`, one worker) from a fresh folder under
ctx.workdir that holds its nginx.conf, pid file, error log and temporary folders, on a
free port of 127.0.0.1. Every path answers 200 with the fixed body BODY, except
/nginx-status (stub_status: NGINX's own count of connections and requests). The
helper registers itself with ctx._others, so ctx.cleanup() stops NGINX (SIGTERM, then
SIGKILL for the master and its workers) even when the test fails, and fails the test
when NGINX's error log shows a worker that died on a signal, an [alert] or an [emerg].
A missing NGINX fails the test naming the Debian package (nginx-light).

h2c=True listens with `http2` (cleartext HTTP/2 with prior knowledge, the gateway's
h2c:// targets); otherwise plain HTTP/1.1. keepalive_requests and keepalive_timeout are
written as given (NGINX's defaults, 1000 and 75s, when None): in NGINX 1.22 both apply
to HTTP/2 connections too (GOAWAY after keepalive_requests streams; the connection
closes after keepalive_timeout idle) and to HTTP/1.1 ones (`Connection: close` on the
last response; an idle connection closed after the timeout). keepalive_timeout takes
NGINX's time syntax ("75s", "50ms"). Standard library only.
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import check_eq, fail, free_port, port_accepts, read_file, require_program

BODY = b"nginx-ok\n"
STATUS_PATH = "/nginx-status"

# Directives for temporary files, so that NGINX writes nothing outside its folder.
# One whose module this build lacks is dropped (nginx -t names it).
_TEMP_DIRECTIVES = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
                    "uwsgi_temp_path", "scgi_temp_path")

_START_TIMEOUT_S = 5.0
_STOP_TIMEOUT_S = 5.0


def nginx_binary():
    """/usr/sbin/nginx (or nginx on PATH); fails naming the Debian package when absent."""
    return require_program("nginx")


def _children(pid):
    """PIDs whose parent is |pid| (NGINX's workers), from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(d))
    return out


class NginxStatus:
    """NGINX's stub_status: connections accepted and requests served so far."""

    def __init__(self, text):
        m = re.search(r"Active connections:\s*(\d+)\s+server accepts handled requests\s+"
                      r"(\d+)\s+(\d+)\s+(\d+)", text)
        if not m:
            fail("unexpected stub_status answer from NGINX: %r" % text[:300])
        self.active, self.accepts, self.handled, self.requests = map(int, m.groups())

    def __repr__(self):
        return "NginxStatus(active=%d, accepts=%d, requests=%d)" % (
            self.active, self.accepts, self.requests)


class NginxUpstream:
    """NGINX on 127.0.0.1:<free port> answering 200 BODY on every path."""

    def __init__(self, ctx, h2c=True, keepalive_requests=None, keepalive_timeout=None,
                 extra_http="", extra_server="", debug_log=False):
        self.binary = nginx_binary()
        self.h2c = h2c
        self.keepalive_requests = keepalive_requests
        self.keepalive_timeout = keepalive_timeout
        self.extra_http = extra_http
        self.extra_server = extra_server
        self.debug_log = debug_log
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=ctx.workdir)
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = None
        self.port = None
        self._stderr = None
        self._temp = list(_TEMP_DIRECTIVES)
        self._stopped = False
        ctx._others.append(self)  # stopped by ctx.cleanup()
        self._start()
        self._check_serves()

    # -- configuration

    def _config(self, port):
        d = self.dir
        lines = []
        if os.geteuid() == 0:
            # As root NGINX would switch its worker to `nobody`, who cannot enter the
            # test's private folder (mode 0700); the worker stays root instead.
            lines.append("user root;")
        lines += [
            "worker_processes 1;",
            "pid %s/nginx.pid;" % d,
            "error_log %s %s;" % (self.error_log, "debug" if self.debug_log else "notice"),
            "events { worker_connections 4096; }",
            "http {",
            "    access_log off;",
            "    default_type text/plain;",
        ]
        for directive in self._temp:
            sub = os.path.join(d, "tmp-" + directive.split("_temp")[0])
            lines.append("    %s %s;" % (directive, sub))
        if self.keepalive_requests is not None:
            lines.append("    keepalive_requests %d;" % self.keepalive_requests)
        if self.keepalive_timeout is not None:
            lines.append("    keepalive_timeout %s;" % self.keepalive_timeout)
        if self.extra_http:
            lines.append("    " + self.extra_http)
        lines += [
            "    server {",
            "        listen 127.0.0.1:%d%s;" % (port, " http2" if self.h2c else ""),
            "        location = %s { stub_status; }" % STATUS_PATH,
            '        location / { return 200 "%s"; }' % BODY.decode().replace("\n", "\\n"),
        ]
        if self.extra_server:
            lines.append("        " + self.extra_server)
        lines += ["    }", "}"]
        return "\n".join(lines) + "\n"

    def _write_config(self, port):
        """Writes nginx.conf for |port|; drops temp-path directives of modules this
        build lacks (bounded: one per directive). Fails on any other config error."""
        for _ in range(len(_TEMP_DIRECTIVES) + 1):
            with open(self.conf_path, "w") as f:
                f.write(self._config(port))
            try:
                p = subprocess.run(self._cmd("-t", "-q"), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   timeout=10)
            except subprocess.TimeoutExpired:
                fail("nginx -t did not finish within 10s (%s)" % self.conf_path)
            out = p.stdout.decode(errors="replace")
            if p.returncode == 0:
                return
            m = re.search(r'unknown directive "(\w+_temp_path)"', out)
            if m and m.group(1) in self._temp:
                self._temp.remove(m.group(1))
                continue
            fail("nginx -t rejected %s: %s" % (self.conf_path, out.strip()[-1500:]))
        fail("could not write an nginx.conf that nginx -t accepts (%s)" % self.conf_path)

    def _cmd(self, *extra):
        # -e: the error log before nginx.conf is read (the build's default is stderr,
        # but never a system path).
        return [self.binary, "-p", self.dir + "/", "-c", self.conf_path, "-e", self.error_log,
                "-g", "daemon off;"] + list(extra)

    # -- process

    def _start(self):
        last = ""
        for _ in range(3):  # another port when the free one was taken in between
            port = free_port()
            self._write_config(port)
            open(self.error_log, "w").close()  # this attempt's messages only
            self._stderr = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(self._cmd(), stdout=self._stderr, stderr=self._stderr,
                                         stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + _START_TIMEOUT_S
            while time.monotonic() < deadline and self.proc.poll() is None:
                if port_accepts(port, timeout=0.2):
                    self.port = port
                    return
                time.sleep(0.02)
            self._kill_all()
            last = (read_file(self.error_log) + read_file(self.stderr_path))[-1500:]
            if "Address already in use" not in last:
                break
        fail("NGINX did not accept connections within %ss (exit status %s): %s"
             % (_START_TIMEOUT_S, self.proc.returncode if self.proc else None, last.strip()))

    def _check_serves(self):
        """A GET through the configured protocol is 200 with exactly BODY."""
        proto = ["--http2-prior-knowledge"] if self.h2c else ["--http1.1"]
        r = harness.curl(*proto, "http://127.0.0.1:%d/probe" % self.port, timeout=10)
        if r.rc != 0:
            fail("NGINX on port %d: curl exit %d: %s" % (self.port, r.rc, r.stderr.strip()))
        check_eq((r.version, r.status, r.body), ("2" if self.h2c else "1.1", 200, BODY),
                 "NGINX's own answer to GET /probe (HTTP version, status, body)")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, scheme=None):
        """The gateway's target_url: h2c://127.0.0.1:P or http://127.0.0.1:P."""
        if scheme is None:
            scheme = "h2c" if self.h2c else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def status(self):
        """NGINX's stub_status, asked over a fresh connection of its protocol (the
        asking adds one connection and one request to the counts)."""
        if self.h2c:
            r = harness.curl("--http2-prior-knowledge",
                             "http://127.0.0.1:%d%s" % (self.port, STATUS_PATH), timeout=10)
            if r.rc != 0 or r.status != 200:
                fail("NGINX stub_status: curl exit %d, status %r: %s"
                     % (r.rc, r.status, r.stderr.strip()))
            return NginxStatus(r.body.decode(errors="replace"))
        data = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          % STATUS_PATH.encode())
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            fail("NGINX stub_status on port %d: %s (got %r)" % (self.port, e, data[:200]))
        return NginxStatus(data.decode(errors="replace"))

    def error_log_text(self):
        return read_file(self.error_log)

    def _kill_all(self):
        """SIGKILL to the master and its workers; waits for the master."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            workers = _children(self.proc.pid)
            for pid in [self.proc.pid] + workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self._stderr:
            self._stderr.close()
            self._stderr = None

    def stop(self):
        """SIGTERM (NGINX's fast shutdown), SIGKILL after 5s; fails the test when the
        error log shows a worker that died on a signal (a crash)."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(_STOP_TIMEOUT_S)  # the master waits for its workers
            except subprocess.TimeoutExpired:
                pass
        self._kill_all()  # what is left (nothing, after a clean stop)
        if self.proc is None:
            return  # never started (its configuration was refused: reported then)
        crashes = [l for l in self.error_log_text().splitlines()
                   if re.search(r"exited on signal|\[alert\]|\[emerg\]", l)]
        if crashes:
            fail("NGINX's error log (%s) reports: %s" % (self.error_log, "\n".join(crashes[:5])))
