"""Graceful drain (SECURITY.md §7 row 34): on SIGTERM the gateway stops accepting,
sends HTTP/2 clients GOAWAY naming the last stream it took, lets in-flight requests
finish (HTTP/1.1 replies say connection: close), and exits once they are done or at
drain_timeout_ms, whichever comes first — a slow request or a hung upstream connect
cannot hold the exit up."""

import signal
import socket
import threading
import time

from harness import MiniH2, RawConn, check, check_eq, proxy_setup, wait_for


def _h1_slow(port, path, results, key):
    try:
        with RawConn(port, timeout=15) as c:
            r = c.request("GET", path, timeout=15)
            results[key] = (r.status, r.body, r.headers.get("connection"))
    except Exception as e:  # noqa: BLE001 - the main thread reports it
        results[key] = ("error", repr(e), None)


def _connect_refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    # Accepted by a socket still open: fine only if it is closed without service.
    try:
        s.settimeout(1)
        s.sendall(b"GET /h1/hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = s.recv(100)
        return not data.startswith(b"HTTP/1.1 200")
    except OSError:
        return True
    finally:
        s.close()


def _h2_slow(h2, sids, results):
    """Waits for each stream, then closes the connection, as a client would."""
    try:
        for sid, p in sids:
            st = h2.wait(sid, timeout=10)
            results.append((p, st.data, st.ended, st.reset))
        h2.wait_goaway(2)
    finally:
        h2.close()


def test_graceful_drain_in_flight_requests_finish(ctx):
    """Row 34: SIGTERM with 10 HTTP/1.1 and 10 HTTP/2 requests of 1.5 s in flight
    (drain_timeout_ms = 5000): new connections are refused, every request completes,
    HTTP/1.1 replies carry connection: close, the HTTP/2 connection gets GOAWAY(NO_ERROR)
    whose last-stream-id is the last stream opened, and the exit comes once they are
    done."""
    b, g = proxy_setup(ctx, drain_timeout_ms=5000)
    results = {}
    threads = [threading.Thread(target=_h1_slow, args=(g.port, p + "/slow?ms=1500", results,
                                                       "h1 %s #%d" % (p, i)))
               for i in range(5) for p in ("/h1", "/h2c")]
    for t in threads:
        t.start()
    h2 = MiniH2(g.port, timeout=15)
    sids = [(h2.request("GET", p + "/slow?ms=1500"), p) for _ in range(5)
            for p in ("/h1", "/h2c")]
    h2_results = []
    h2_thread = threading.Thread(target=_h2_slow, args=(h2, sids, h2_results))
    try:
        time.sleep(0.3)
        g.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        h2_thread.start()
        # New connections are refused once the listeners are closed.
        wait_for(lambda: _connect_refused(g.port), 1.0, interval=0.05,
                 what="new connections to be refused after SIGTERM")
        status = g.wait(10)
        exited_after = time.monotonic() - signalled
    finally:
        for t in threads:
            t.join(20)
        if h2_thread.ident:
            h2_thread.join(20)
        h2.close()
    ctx.note("exit %.2fs after SIGTERM with 20 requests of 1.5 s in flight (signal at 0.3 s)"
             % exited_after)
    check_eq(status, 0, "gateway exit status after draining")
    check(exited_after < 5.0, "exit took %.1fs after SIGTERM (drain_timeout_ms = 5000, "
          "requests finish after ~1.2s)" % exited_after)
    for key in sorted(results):
        check_eq(results[key][:2], (200, b"slow\n"), key + " (in flight at SIGTERM)")
        check_eq(results[key][2], "close", key + " connection header while draining")
    check_eq(len(results), 10, "HTTP/1.1 results")
    check_eq(len(h2_results), 10, "HTTP/2 results")
    for p, data, ended, reset in h2_results:
        check_eq((data, ended, reset), (b"slow\n", True, None), "h2 stream to %s" % p)
    check(h2.goaway is not None, "no GOAWAY on the HTTP/2 connection while draining")
    last_sid = max(sid for sid, _ in sids)
    check_eq(h2.goaway, (last_sid, 0), "GOAWAY (last-stream-id, error code)")


def test_graceful_drain_slow_request_cut_at_drain_timeout(ctx):
    """Row 34: a request slower than drain_timeout_ms does not hold the exit up."""
    b, g = proxy_setup(ctx, drain_timeout_ms=500)
    results = {}
    t = threading.Thread(target=_h1_slow, args=(g.port, "/h1/slow?ms=5000", results, "h1"))
    t.start()
    h2 = MiniH2(g.port, timeout=15)
    try:
        sid = h2.request("GET", "/h2c/slow?ms=5000")
        time.sleep(0.3)
        g.send_signal(signal.SIGTERM)
        start = time.monotonic()
        status = g.wait(10)
        elapsed = time.monotonic() - start
        st = h2.wait(sid, timeout=3)
        h2_eof = h2.wait_eof(3)
    finally:
        h2.close()
        t.join(10)
    ctx.note("exit %.2fs after SIGTERM with drain_timeout_ms = 500" % elapsed)
    check_eq(status, 0, "exit status")
    check(0.4 <= elapsed < 3.0, "exit %.2fs after SIGTERM, want about 0.5s" % elapsed)
    check(results.get("h1", ("?",))[0] != 200, "the 5 s request completed: %r" % results)
    check(st.data != b"slow\n", "the 5 s h2 stream completed")
    check(h2_eof or st.reset is not None, "the h2 connection was neither reset nor closed")


def test_graceful_drain_hung_upstream_connects_cut_at_drain_timeout(ctx):
    """Row 34: past drain_timeout_ms, requests still waiting on an upstream connect that hangs
    (h1 and h2c pools) end too: the exit does not wait for upstream_connect_timeout_ms."""
    hole = ctx.blackhole_upstream()
    apis = {"h1": {"listen_path": "/h1/", "target_url": "http://127.0.0.1:%d" % hole.port},
            "h2c": {"listen_path": "/h2c/", "target_url": "h2c://127.0.0.1:%d" % hole.port}}
    g = ctx.gateway(apis, drain_timeout_ms=500, upstream_connect_timeout_ms=30000,
                    upstream_timeout_ms=30000)
    conns = []
    try:
        for path in ("/h1/a", "/h2c/b"):
            c = RawConn(g.port, timeout=15)
            c.send(b"GET %s HTTP/1.1\r\nHost: gw.test\r\n\r\n" % path.encode())
            conns.append(c)
        time.sleep(0.3)
        g.send_signal(signal.SIGTERM)
        start = time.monotonic()
        status = g.wait(10)
        elapsed = time.monotonic() - start
    finally:
        for c in conns:
            c.close()
    ctx.note("exit %.2fs after SIGTERM with two upstream connects hanging" % elapsed)
    check_eq(status, 0, "exit status")
    check(elapsed < 5.0, "exit %.2fs after SIGTERM, want about 0.5s" % elapsed)
