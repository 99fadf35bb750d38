#!/usr/bin/env python3
"""Runs Ringway's integration tests.

    tests/integration/run.py --build DIR [-k SUBSTRING] [--timeout SECONDS] [--list]

Discovers test_*.py modules in this folder and in tests/security, and their test_* functions (in file
order), runs each in its own process session with a time limit, prints one line per
test (`PASS name (1.2s)` or `FAIL name: reason` plus a short traceback) and ends with
the line `N passed, M failed`. Exits 1 if any test failed.

Each test gets a harness.Context (ctx.build, ctx.backend(), ctx.gateway(...),
ctx.curl(...), ...). Processes the test starts are stopped by ctx.cleanup() even when
the test fails; a test that overruns its limit gets SIGALRM (its finally blocks run),
and if it still does not finish, its whole process group is killed.
"""

import argparse
import importlib.util
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
# tests/security holds one test module per attack of the security matrix (README's
# security section); they use this folder's harness and run in the same suite.
SECURITY = os.path.join(os.path.dirname(HERE), "security")
TEST_DIRS = (HERE, SECURITY)
DEFAULT_TIMEOUT_S = 120
GRACE_S = 20  # after the in-process alarm, before the process group is killed


def module_path(name):
    for d in TEST_DIRS:
        path = os.path.join(d, name + ".py")
        if os.path.exists(path):
            return path
    raise SystemExit("no test module %s" % name)


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, module_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover():
    """[(module_name, function_name, timeout_s)] in file order."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    tests = []
    names = [f for d in TEST_DIRS if os.path.isdir(d) for f in sorted(os.listdir(d))]
    for fname in names:
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        mod_name = fname[:-3]
        module = load_module(mod_name)
        funcs = [(f.__code__.co_firstlineno, n, f) for n, f in vars(module).items()
                 if n.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == module.__name__]
        for _, n, f in sorted(funcs):
            tests.append((mod_name, n, getattr(f, "timeout", None)))
    return tests


class TestTimeout(Exception):
    pass


def snapshot_binaries(build):
    """Copies the gateway and the test backend into a private directory, so a rebuild
    running in the same tree cannot swap or remove them halfway through the suite.
    Waits (bounded) for a binary that is being linked to settle."""
    sys.path.insert(0, HERE)
    import harness  # noqa: E402
    d = tempfile.mkdtemp(prefix="rw-it-bin-")
    for candidates, name in ((harness.GATEWAY_CANDIDATES, "ringway"),
                             (harness.BACKEND_CANDIDATES, "ringway-test-backend")):
        deadline = time.monotonic() + 120
        while True:
            src = harness.find_binary(build, candidates)
            if src:
                mtime = os.stat(src).st_mtime
                time.sleep(0.5)
                if os.path.exists(src) and os.stat(src).st_mtime == mtime:
                    break  # not being relinked right now
            if time.monotonic() > deadline:
                if src and os.path.exists(src):
                    break
                shutil.rmtree(d, ignore_errors=True)
                raise SystemExit("none of %s found under %s" % (candidates, build))
            if not src:
                time.sleep(0.5)
        shutil.copy2(src, os.path.join(d, name))
        print("using %s (built %s)" % (src, time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(os.stat(src).st_mtime))))
    return d


def run_child(build, test_id, result_path, timeout_s, bin_dir=None):
    """Runs one test in this process and writes a JSON result."""
    sys.path.insert(0, HERE)
    import harness  # noqa: E402 (needs the path above)

    mod_name, func_name = test_id.split("::")
    result = {"ok": False, "reason": "", "trace": "", "notes": []}

    def on_alarm(signum, frame):
        raise TestTimeout("test exceeded its time limit of %ss" % timeout_s)

    signal.signal(signal.SIGALRM, on_alarm)
    workdir = tempfile.mkdtemp(prefix="rw-it-%s-" % func_name)
    ctx = None
    start = time.monotonic()
    try:
        ctx = harness.Context(build, workdir, bin_dir)
        module = load_module(mod_name)
        func = getattr(module, func_name)
        signal.alarm(int(timeout_s))
        try:
            func(ctx)
        finally:
            signal.alarm(0)
        result["ok"] = True
    except BaseException as e:  # noqa: BLE001 - every failure is reported
        result["reason"] = "%s: %s" % (type(e).__name__, e) if not isinstance(
            e, harness.TestFailure) else str(e)
        tb = traceback.extract_tb(e.__traceback__)
        frames = [f for f in tb if os.path.dirname(os.path.abspath(f.filename)) in TEST_DIRS
                  and not f.filename.endswith("run.py")]
        result["trace"] = "".join(traceback.format_list(frames[-4:]))
    finally:
        if ctx is not None:
            signal.alarm(int(GRACE_S / 2))
            try:
                problems = ctx.cleanup()
            except BaseException as e:  # noqa: BLE001
                problems = ["cleanup failed: %r" % e]
            finally:
                signal.alarm(0)
            if problems:
                if result["ok"]:
                    result["ok"] = False
                    result["reason"] = problems[0]
                    problems = problems[1:]
                if problems:
                    result["trace"] += "\n".join("also: " + p for p in problems)
            result["notes"] = ctx.notes
        result["duration"] = time.monotonic() - start
        # Keep the temporary directory of a failed test for inspection.
        if result["ok"]:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["workdir"] = workdir
        with open(result_path, "w") as f:
            json.dump(result, f)


def indent(text, prefix="    "):
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").split("\n") if line)


def run_parent(args):
    build = os.path.abspath(args.build)
    tests = discover()
    if args.k:
        tests = [t for t in tests if args.k in "%s::%s" % (t[0], t[1])]
    if args.list:
        for m, n, _ in tests:
            print("%s::%s" % (m, n))
        return 0
    bin_dir = None if args.no_snapshot else snapshot_binaries(build)
    try:
        return run_tests(args, build, tests, bin_dir)
    finally:
        if bin_dir:
            shutil.rmtree(bin_dir, ignore_errors=True)


def run_tests(args, build, tests, bin_dir):
    passed = failed = 0
    for mod_name, func_name, t_override in tests:
        name = "%s::%s" % (mod_name, func_name)
        limit = t_override or args.timeout
        fd, result_path = tempfile.mkstemp(prefix="rw-it-result-")
        os.close(fd)
        start = time.monotonic()
        cmd = [sys.executable, os.path.abspath(__file__), "--build", build, "--child", name,
               "--result", result_path, "--timeout", str(limit)]
        if bin_dir:
            cmd += ["--bin-dir", bin_dir]
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        killed = False
        try:
            out, _ = child.communicate(timeout=limit + GRACE_S)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(child.pid, signal.SIGKILL)
            out, _ = child.communicate(timeout=30)
        finally:
            # Anything the test left behind in its session (it should be nothing).
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        elapsed = time.monotonic() - start
        try:
            with open(result_path) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {"ok": False, "notes": [], "trace": "",
                      "reason": "killed after %ss (time limit)" % (limit + GRACE_S) if killed
                      else "test process exited with %s and no result" % child.returncode}
        finally:
            os.unlink(result_path)
        if result["ok"]:
            passed += 1
            print("PASS %s (%.1fs)" % (name, elapsed))
        else:
            failed += 1
            reason = result["reason"].strip().split("\n")
            print("FAIL %s: %s" % (name, reason[0]))
            rest = "\n".join(reason[1:])
            if rest:
                print(indent(rest[:3000]), end="")
            if result.get("trace"):
                print(indent(result["trace"][:3000]), end="")
            if result.get("workdir"):
                print("    files kept in %s" % result["workdir"])
            stray = out.decode(errors="replace").strip()
            if stray:
                print(indent("output: " + stray[-2000:]), end="")
        for note in result.get("notes", []):
            print("    note: %s" % note)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="meson build directory")
    ap.add_argument("-k", help="run only tests whose module::name contains this")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help="per-test time limit in seconds (default %(default)s)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="run the binaries in place instead of private copies")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--bin-dir", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(args.build, args.child, args.result, args.timeout, args.bin_dir)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
