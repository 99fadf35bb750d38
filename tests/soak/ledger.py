"""What the well-behaved drivers sent and what came back, and the windows in which the
upstream was down (where 502/503 and resets are expected).

Every request a driver sends ends in exactly one of:
  answered  a response with a status (any status: a 502 is an answer),
  error     a reset or connection error the client saw (RST_STREAM, EOF, curl 52/56),
  lost      nothing within the driver's bound (h2load's "timeout", curl exit 28, a gRPC
            DEADLINE_EXCEEDED from the client's own deadline, a client process that had to
            be killed, or requests a client never accounted for).
Answers other than 2xx and errors are "unexpected" unless the request went to the
restarted upstream and its own time span (h2load's per-request log) or else its
round's (one curl invocation, which lasts well under a second) overlapped an
upstream-restart window; "excused" then. A lost request is never excused.
"""

import threading
import time

MAX_PROBLEMS = 40  # descriptions kept (the counts are exact)


class Windows:
    """Time intervals (monotonic) in which the HTTP upstream was down or coming back."""

    def __init__(self):
        self._lock = threading.Lock()
        self._list = []  # [start, end or None]
        self.wall_offset = time.time() - time.monotonic()  # wall clock - monotonic

    def open(self, t):
        with self._lock:
            self._list.append([t, None])
            return len(self._list) - 1

    def close(self, index, t):
        with self._lock:
            self._list[index][1] = t

    def overlaps(self, t0, t1):
        with self._lock:
            return any(s <= t1 and (e is None or e >= t0) for s, e in self._list)

    def all(self):
        with self._lock:
            return [tuple(w) for w in self._list]


class Counts:
    FIELDS = ("sent", "answered", "errors", "lost", "unexpected", "excused", "rounds")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, 0)

    def add(self, other):
        for f in self.FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))


class Ledger:
    def __init__(self, windows, t0):
        self.windows = windows
        self.t0 = t0
        self._lock = threading.Lock()
        self.by_driver = {}
        self.problems = []
        self.problem_count = 0

    def classify(self, t_start, t_end, not_ok, upstream_restarts_apply):
        """(unexpected, excused) for |not_ok| answers seen within [t_start, t_end]."""
        if upstream_restarts_apply and self.windows.overlaps(t_start, t_end):
            return 0, not_ok
        return not_ok, 0

    def record(self, driver, t_start, t_end, sent, answered, errors, lost, unexpected,
               excused, detail=""):
        """One round of |driver|: of its answers and errors, |unexpected| were not 2xx
        (or were errors) outside any restart window, |excused| inside one."""
        c = Counts()
        c.sent, c.answered, c.errors, c.lost, c.rounds = sent, answered, errors, lost, 1
        c.unexpected, c.excused = unexpected, excused
        with self._lock:
            self.by_driver.setdefault(driver, Counts()).add(c)
            if c.unexpected or c.lost:
                self.problem_count += 1
                if len(self.problems) < MAX_PROBLEMS:
                    self.problems.append("[%6.1fs-%6.1fs] %s: %d unexpected, %d lost: %s" % (
                        t_start - self.t0, t_end - self.t0, driver, c.unexpected, c.lost,
                        detail.strip()[:400]))

    def problem(self, driver, text):
        """A failure that is not a count (a corrupt body, a client that crashed)."""
        with self._lock:
            self.problem_count += 1
            self.by_driver.setdefault(driver, Counts()).unexpected += 1
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append("[%6.1fs] %s: %s" % (time.monotonic() - self.t0, driver,
                                                          text.strip()[:400]))

    def totals(self):
        with self._lock:
            t = Counts()
            for c in self.by_driver.values():
                t.add(c)
            return t

    def snapshot(self):
        with self._lock:
            out = {}
            for name, c in self.by_driver.items():
                copy = Counts()
                copy.add(c)
                out[name] = copy
            return out
