"""Rich plugins (Tyk's coprocess protocol over gRPC) written in Python: the gateway
with a plugin on another stack than gRPC C++ — tests/integration/plugins/python_plugin.py
on Debian's python3-grpcio and python3-protobuf, its stubs generated for the test by
protoc and grpc_python_plugin from proto/coprocess. A pre hook (PyPre) changes the
upstream request's headers and query; an auth_check hook (PyAuth) lets a request in
with a session or refuses it with its own status and message.

Also the plugin-process helpers test_plugin_example.py uses (PluginProcess,
coprocess_section).
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

from harness import (START_TIMEOUT_S, _sanitizer_report, check, check_eq, curl_ok, fail,
                     read_file, require_module)

HERE = os.path.dirname(os.path.abspath(__file__))
PY_PLUGIN = os.path.join(HERE, "plugins", "python_plugin.py")

FRONTS = {"h1": ["--http1.1"], "h2": ["--http2-prior-knowledge"]}


# Tyk's error template for a return override >= 400 without override_error.
def error_body(message):
    return ('{\n    "error": "%s"\n}' % message).encode()


# ---------------------------------------------------------------------------
# Plugin processes


class PluginProcess:
    """A plugin server started with |cmd| that prints "listening on ADDRESS" (HOST:PORT
    or unix:///PATH) on stdout when it accepts calls and logs one line per call on
    stderr. Stopped (SIGTERM, then SIGKILL) by stop(), which ctx.cleanup() also calls."""

    def __init__(self, ctx, name, cmd, start_timeout=START_TIMEOUT_S):
        self.name = name
        self.stderr_path = ctx.tmp("%s-%d.stderr" % (name, id(self)))
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.exit_status = None
        ctx._others.append(self)  # stopped by ctx.cleanup() whatever happens
        line = b""
        deadline = time.monotonic() + start_timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop(check=False)
                fail("%s did not print 'listening on' within %ss (exit %s, stderr: %s)"
                     % (name, start_timeout, self.proc.returncode,
                        read_file(self.stderr_path)[-1500:]))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if chunk:
                    line += chunk
        m = re.match(rb"listening on (unix://(/\S+)|(\S+):(\d+))\n", line)
        if not m:
            self.stop(check=False)
            fail("unexpected %s output %r" % (name, line))
        if m.group(2):
            self.port = None
            self.url = m.group(1).decode()  # unix:///PATH, as [coprocess] takes it
        else:
            self.port = int(m.group(4))
            self.url = "tcp://%s:%d" % (m.group(3).decode(), self.port)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL (a plugin that dies); stop() still closes its files."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_lines(self):
        return [l for l in read_file(self.stderr_path).split("\n") if l]

    def calls(self, hook):
        """The log lines of the calls to |hook| so far."""
        return [l for l in self.log_lines() if l.startswith(hook + " (")]

    def stop(self, check=True):
        """SIGTERM, SIGKILL after 5 s; returns the exit status (negative: the signal).
        Fails on a sanitizer report in its stderr when |check|."""
        if self.exit_status is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.exit_status = self.proc.returncode
            self.proc.stdout.close()
            self._stderr.close()
            if check:
                report = _sanitizer_report(read_file(self.stderr_path))
                if report:
                    fail("sanitizer report from %s:\n%s" % (self.name, report))
        return self.exit_status

    def stop_gracefully(self):
        """Stops it and checks that SIGTERM made it exit 0."""
        status = self.stop()
        check_eq(status, 0, "%s exit status on SIGTERM (stderr tail: %s)"
                 % (self.name, read_file(self.stderr_path)[-500:]))


def coprocess_section(plugin, store=None, **keys):
    """Sections for ctx.gateway(sections=): [coprocess] pointing at |plugin|, and with
    |store| (a file path) a [store] there (custom auth keeps the plugin's sessions in
    the key store, so an API with enable_coprocess_auth needs one)."""
    section = {"coprocess_grpc_server": plugin.url, "timeout_ms": 1000, "on_error": "deny"}
    section.update(keys)
    sections = {"coprocess": section}
    if store:
        sections["store"] = {"path": store}
    return sections


def python_plugin(ctx):
    """tests/integration/plugins/python_plugin.py on a free port, its stubs generated
    into the test's directory, run by this Python (Debian's, with its packages)."""
    require_module("grpc", "python3-grpcio")
    require_module("google.protobuf", "python3-protobuf")
    for program, package in (("protoc", "protobuf-compiler"),
                             ("grpc_python_plugin", "protobuf-compiler-grpc")):
        if not shutil.which(program):
            fail("%s is not installed: install the Debian package %s (scripts/install-deps "
                 "does)" % (program, package))
    return PluginProcess(ctx, "python-plugin",
                         [sys.executable, PY_PLUGIN, "--port", 0,
                          "--stubs-dir", ctx.tmp("py-stubs")],
                         start_timeout=START_TIMEOUT_S * 4)


def get(g, front, path, *curl_args):
    return curl_ok(*FRONTS[front], *curl_args, g.url(path))


def expect_refused(r, status, message, what):
    check_eq(r.status, status, "%s: status (body %r)" % (what, r.body[:300]))
    check_eq(r.body, error_body(message), what + ": body")
    check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")


def inspected(r, what):
    """The backend's /inspect JSON of a 200 response."""
    check_eq(r.status, 200, "%s: status (body %r)" % (what, r.body[:300]))
    try:
        return json.loads(r.body)
    except ValueError:
        fail("%s: body is not the backend's JSON: %r" % (what, r.body[:300]))


# ---------------------------------------------------------------------------
# Tests


def test_python_plugin_pre_hook(ctx):
    """pre = PyPre on a keyless API: the upstream gets X-Py-Plugin: yes and the query
    parameter py=1 (added to the query there is, replacing a py there is), over HTTP/1.1
    and HTTP/2; the plugin is called once per request and sees the path as the client
    sent it."""
    p = python_plugin(ctx)
    b = ctx.backend()
    apis = {"x": {"listen_path": "/x/", "strip_listen_path": True, "target_url": b.url(),
                  "pre": "PyPre"}}
    g = ctx.gateway(apis, sections=coprocess_section(p))
    expected_calls = []
    for front in FRONTS:
        for query, upstream_path in (("", "/inspect?py=1"), ("?a=b", "/inspect?a=b&py=1"),
                                     ("?py=0", "/inspect?py=1")):
            what = "%s GET /x/inspect%s" % (front, query)
            j = inspected(get(g, front, "/x/inspect" + query), what)
            check_eq(j["path"], upstream_path, what + ": path upstream")
            check_eq(j["method"], "GET", what + ": method upstream")
            check_eq(j["headers"].get("x-py-plugin"), "yes", what + ": X-Py-Plugin upstream")
            expected_calls.append("PyPre (Pre) GET /x/inspect%s: header and param added"
                                  % query)
    check_eq(p.calls("PyPre"), expected_calls, "the plugin's calls")
    g.stop()
    p.stop_gracefully()


def test_python_plugin_auth_check(ctx):
    """enable_coprocess_auth with auth_check = PyAuth: no Authorization header or a
    wrong one gets the plugin's 403 {"error": "py says no"}; "Authorization: py-secret"
    reaches the upstream (the plugin is asked every time: its session has no
    id_extractor_deadline). With pre = PyPre on the same API the pre hook runs first,
    for refused requests too."""
    p = python_plugin(ctx)
    b = ctx.backend()
    auth = {"strip_listen_path": True, "target_url": b.url(), "use_keyless": False,
            "enable_coprocess_auth": True, "auth_check": "PyAuth"}
    apis = {"py": dict(auth, listen_path="/py/"),
            "both": dict(auth, listen_path="/both/", pre="PyPre")}
    g = ctx.gateway(apis, sections=coprocess_section(p, store=ctx.tmp("keys.db")))
    auth_calls = []
    for front in FRONTS:
        for header in (None, "wrong", "Bearer py-secret", "py-secret2", "PY-SECRET"):
            args = [] if header is None else ["-H", "Authorization: " + header]
            what = "%s /py/inspect, Authorization %r" % (front, header)
            expect_refused(get(g, front, "/py/inspect", *args), 403, "py says no", what)
            auth_calls.append("PyAuth (CustomKeyCheck) GET /py/inspect: rejected")
        for n in range(3):
            what = "%s /py/inspect, Authorization: py-secret (#%d)" % (front, n + 1)
            j = inspected(get(g, front, "/py/inspect", "-H", "Authorization: py-secret"), what)
            check_eq(j["path"], "/inspect", what + ": path upstream")
            check("x-py-plugin" not in j["headers"], what + ": X-Py-Plugin without pre")
            auth_calls.append("PyAuth (CustomKeyCheck) GET /py/inspect: accepted")
    check_eq(p.calls("PyAuth"), auth_calls, "the plugin's PyAuth calls")

    # pre and auth_check on one API: pre first, whatever auth then decides.
    before = len(p.log_lines())
    expect_refused(get(g, "h1", "/both/inspect"), 403, "py says no", "/both/ without a key")
    j = inspected(get(g, "h2", "/both/inspect?a=b", "-H", "Authorization: py-secret"),
                  "/both/ with the key")
    check_eq((j["path"], j["headers"].get("x-py-plugin")), ("/inspect?a=b&py=1", "yes"),
             "/both/: path and X-Py-Plugin upstream")
    check_eq(p.log_lines()[before:],
             ["PyPre (Pre) GET /both/inspect: header and param added",
              "PyAuth (CustomKeyCheck) GET /both/inspect?py=1: rejected",
              "PyPre (Pre) GET /both/inspect?a=b: header and param added",
              "PyAuth (CustomKeyCheck) GET /both/inspect?a=b&py=1: accepted"],
             "the plugin's calls for /both/")
    g.stop()
    p.stop_gracefully()
