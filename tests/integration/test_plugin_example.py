"""The C++ rich-plugin example (examples/plugin-cpp, build/examples/plugin-cpp/
ringway-example-plugin) against the gateway, with the configuration its README shows:
AddGreeting (pre) sets X-Greeting from the API's config_data, CheckToken (auth_check)
accepts "Authorization: Bearer <token>" for the tokens given with --token and answers
401 {"error": "token rejected"} otherwise, StampResponse (response) adds X-Plugin:
cpp-example and leaves status and body as they were. Over TCP and a unix socket.
"""

import json
import os
import shutil
import time

from test_plugin_python import (FRONTS, PluginProcess, coprocess_section, expect_refused,
                                get, inspected)
from harness import check, check_eq, fail

EXAMPLE = os.path.join("examples", "plugin-cpp", "ringway-example-plugin")


def example_binary(ctx):
    """A private copy of the example (a rebuild in the tree cannot swap it halfway)."""
    src = os.path.join(ctx.build, EXAMPLE)
    deadline = time.monotonic() + 60
    while True:
        if os.path.isfile(src) and time.time() - os.stat(src).st_mtime > 1.0:
            break  # not being relinked right now
        if time.monotonic() > deadline:
            fail("%s not found (build it: meson compile -C %s)" % (src, ctx.build))
        time.sleep(0.5)
    dst = ctx.tmp("ringway-example-plugin")
    shutil.copy2(src, dst)
    return dst


def example_plugin(ctx, *args):
    return PluginProcess(ctx, "ringway-example-plugin", [example_binary(ctx)] + list(args))


def check_stamped(r, status, body, content_type, what):
    """A proxied response that went through StampResponse: status, body and the
    backend's headers as the upstream sent them, plus exactly one X-Plugin."""
    check_eq(r.status, status, what + ": status")
    check_eq(r.body, body, what + ": body")
    check_eq(r.headers.get_all("x-plugin"), ["cpp-example"], what + ": X-Plugin")
    check_eq(r.headers.get("content-type"), content_type, what + ": content-type")
    check_eq(r.headers.get("server"), "ringway-test-backend", what + ": server")
    if r.version == "1.1":
        check_eq(r.headers.get("content-length"), str(len(body)), what + ": content-length")


def check_stamp_calls(p, expected):
    """StampResponse's log lines against |expected| [(path the client asked for, status,
    body bytes)]. The request url a response hook gets may be the client's path or the
    path that went upstream (listen_path stripped, as strip_listen_path does here):
    either is accepted."""
    lines = p.calls("StampResponse")
    check_eq(len(lines), len(expected), "the number of StampResponse calls (%r)" % lines)
    for line, (path, status, size) in zip(lines, expected):
        upstream = "/" + path.split("/", 2)[2]
        accepted = ["StampResponse (Response) GET %s: status %d, %d body bytes" % (u, status, size)
                    for u in (path, upstream)]
        check(line in accepted, "StampResponse call %r, expected one of %r" % (line, accepted))


def test_example_plugin_all_hooks(ctx):
    """The README's API ("demo": pre = AddGreeting, auth_check = CheckToken, response =
    StampResponse, config_data greeting "hi") and a keyless one without config_data,
    over HTTP/1.1 and HTTP/2. CheckToken's accepted sessions carry
    id_extractor_deadline = now + 60, so the gateway (one shard) asks the plugin once
    per Authorization value; refusals are asked every time and are not stamped (response
    hooks run on upstream responses only)."""
    p = example_plugin(ctx, "--listen", "127.0.0.1:0", "--token", "tok-one",
                       "--token", "tok-two")
    b = ctx.backend()
    apis = {
        "demo": {"listen_path": "/demo/", "strip_listen_path": True, "target_url": b.url(),
                 "use_keyless": False, "enable_coprocess_auth": True,
                 "auth_check": "CheckToken", "pre": "AddGreeting",
                 "response": "StampResponse", "config_data": json.dumps({"greeting": "hi"})},
        "open": {"listen_path": "/open/", "strip_listen_path": True, "target_url": b.url(),
                 "pre": "AddGreeting", "response": "StampResponse"},
    }
    g = ctx.gateway(apis, sections=coprocess_section(p, store=ctx.tmp("keys.db")))
    greetings = []   # AddGreeting's log lines expected
    checks = []      # CheckToken's
    stamps = []      # StampResponse's: (path the client asked for, status, body bytes)

    # Refused: no header, an unknown token, a known one without "Bearer".
    for front in FRONTS:
        for header in (None, "Bearer nope", "tok-one", "Basic dG9rLW9uZQ=="):
            args = [] if header is None else ["-H", "Authorization: " + header]
            what = "%s /demo/hello, Authorization %r" % (front, header)
            r = get(g, front, "/demo/hello", *args)
            expect_refused(r, 401, "token rejected", what)
            check_eq(r.headers.get_all("x-plugin"), [], what + ": X-Plugin on a refusal")
            greetings.append("AddGreeting (Pre) GET /demo/hello: X-Greeting: hi")
            checks.append("CheckToken (CustomKeyCheck) GET /demo/hello: rejected")

    # Accepted: the greeting from config_data reaches the upstream, the reply is stamped.
    bearer = ["-H", "Authorization: Bearer tok-one"]
    r = get(g, "h1", "/demo/inspect", *bearer)
    j = inspected(r, "h1 /demo/inspect with tok-one")
    check_eq((j["path"], j["headers"].get("x-greeting")), ("/inspect", "hi"),
             "/demo/inspect: path and X-Greeting upstream")
    check_eq(r.headers.get_all("x-plugin"), ["cpp-example"], "/demo/inspect: X-Plugin")
    greetings.append("AddGreeting (Pre) GET /demo/inspect: X-Greeting: hi")
    checks.append("CheckToken (CustomKeyCheck) GET /demo/inspect: accepted")
    stamps.append(("/demo/inspect", 200, len(r.body)))
    for front in FRONTS:
        r = get(g, front, "/demo/hello", *bearer)
        check_stamped(r, 200, b"hello\n", "text/plain", front + " /demo/hello with tok-one")
        r = get(g, front, "/demo/status?code=201", *bearer)
        check_stamped(r, 201, b"status 201\n", "text/plain", front + " /demo/status?code=201")
        r = get(g, front, "/demo/missing", *bearer)
        check_stamped(r, 404, b"not found\n", "text/plain", front + " /demo/missing")
        greetings += ["AddGreeting (Pre) GET /demo/hello: X-Greeting: hi",
                      "AddGreeting (Pre) GET /demo/status?code=201: X-Greeting: hi",
                      "AddGreeting (Pre) GET /demo/missing: X-Greeting: hi"]
        stamps += [("/demo/hello", 200, 6), ("/demo/status?code=201", 201, 11),
                   ("/demo/missing", 404, 10)]
    # The second token is another key: the plugin is asked once for it too.
    for front in FRONTS:
        r = get(g, front, "/demo/hello", "-H", "Authorization: Bearer tok-two")
        check_stamped(r, 200, b"hello\n", "text/plain", front + " /demo/hello with tok-two")
        greetings.append("AddGreeting (Pre) GET /demo/hello: X-Greeting: hi")
        stamps.append(("/demo/hello", 200, 6))
    checks.append("CheckToken (CustomKeyCheck) GET /demo/hello: accepted")

    # Keyless, no config_data: the default greeting.
    for front in FRONTS:
        r = get(g, front, "/open/inspect")
        j = inspected(r, front + " /open/inspect")
        check_eq(j["headers"].get("x-greeting"), "hello", front + " /open/: X-Greeting upstream")
        check_eq(r.headers.get_all("x-plugin"), ["cpp-example"], front + " /open/: X-Plugin")
        greetings.append("AddGreeting (Pre) GET /open/inspect: X-Greeting: hello")
        stamps.append(("/open/inspect", 200, len(r.body)))

    check_eq(p.calls("AddGreeting"), greetings, "the plugin's AddGreeting calls")
    check_eq(p.calls("CheckToken"), checks, "the plugin's CheckToken calls")
    check_stamp_calls(p, stamps)
    unknown = [l for l in p.log_lines() if "unknown hook" in l]
    check(not unknown, "calls to hooks the plugin does not have: %r" % unknown[:3])
    g.stop()
    p.stop_gracefully()


def test_example_plugin_unix_socket(ctx):
    """--unix PATH and coprocess_grpc_server = unix:///PATH: the pre hook's header
    (config_data's greeting, spaces and all) reaches the upstream."""
    sock = ctx.tmp("example-plugin.sock")
    p = example_plugin(ctx, "--unix", sock)
    check_eq(p.url, "unix://" + sock, "the address the example prints")
    b = ctx.backend()
    apis = {"u": {"listen_path": "/u/", "strip_listen_path": True, "target_url": b.url(),
                  "pre": "AddGreeting",
                  "config_data": json.dumps({"greeting": "over a unix socket", "n": 1})}}
    g = ctx.gateway(apis, sections=coprocess_section(p))
    for front in FRONTS:
        j = inspected(get(g, front, "/u/inspect"), front + " /u/inspect")
        check_eq(j["headers"].get("x-greeting"), "over a unix socket",
                 front + ": X-Greeting upstream")
    check_eq(p.calls("AddGreeting"),
             ["AddGreeting (Pre) GET /u/inspect: X-Greeting: over a unix socket"] * 2,
             "the plugin's calls")
    g.stop()
    p.stop_gracefully()
