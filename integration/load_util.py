"""Bounded background load for tests that change the proxy under traffic (reloads, binary
upgrades): kept-alive HTTP/1.1 clients, fresh-connection clients, HTTP/2 clients and an admin
/readyz poller, until stop() or a bound in time and count; every failure is recorded."""

import http.client
import threading
import time

from conftest import LOOPBACK, request


class Load:
    """Kept-alive and fresh-connection clients until stop() (or a bound in time and count)."""

    def __init__(self, port, keepalive=3, fresh=2, h2=0, readyz_port=None, max_seconds=60,
                 max_requests=200000):
        self.port = port
        self.readyz_port = readyz_port
        self.readyz_ok = 0
        self.unprocessed = 0  # HTTP/2 streams a GOAWAY said were not processed (retried)
        self.h2_ok = 0
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.stopped = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.keepalive) for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self.fresh) for _ in range(fresh)]
        self.threads += [threading.Thread(target=self.h2) for _ in range(h2)]
        if readyz_port:
            self.threads.append(threading.Thread(target=self.readyz))

    def running(self, n):
        return not self.stopped.is_set() and time.monotonic() < self.deadline and \
            n < self.max_requests

    def record(self, status, err=None):
        with self.lock:
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(err or status)

    def keepalive(self):
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        n = 0
        while self.running(n):
            n += 1
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                self.record(r.status)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                self.record(None, repr(e))
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        conn.close()

    def fresh(self):
        n = 0
        while self.running(n):
            n += 1
            try:
                self.record(request(self.port, "/", timeout=5).status)
            except Exception as e:  # noqa: BLE001 - a refused connection is a failure too
                self.record(None, repr(e))

    def h2(self):
        """HTTP/2 with prior knowledge on kept-alive connections, reconnecting after a GOAWAY.
        A stream above the GOAWAY's last stream id was not processed (RFC 9113 6.8): a client
        retries it, so it is counted apart; every other stream must answer 200."""
        from h2_util import H2
        c, n = None, 0
        while self.running(n):
            n += 1
            try:
                if c is None or c.terminated is not None or c.closed:
                    if c is not None:
                        c.close()
                    c = H2(self.port, timeout=5)
                sid = c.start("GET", "/")
                s = c.streams[sid]
                deadline = time.monotonic() + 5
                while not (s["ended"] or s["reset"] is not None or c.closed) and \
                        time.monotonic() < deadline:
                    c.pump(0.05)
                if s["ended"] and s["reset"] is None and dict(s["headers"])[":status"] == "200":
                    self.record(200)
                    with self.lock:
                        self.h2_ok += 1
                elif c.goaways and sid > c.goaways[-1][0]:
                    with self.lock:
                        self.unprocessed += 1
                else:
                    self.record(None, "h2 stream %d: %r" % (sid, s))
            except BaseException as e:  # noqa: BLE001 - pytest.fail in H2 included
                self.record(None, repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def readyz(self):
        """GET /readyz on the admin port: ready all along (a draining old process no longer
        answers it once the new one is ready)."""
        n = 0
        while self.running(n):
            n += 1
            try:
                r = request(self.readyz_port, "/readyz", timeout=5)
                if r.status == 200:
                    with self.lock:
                        self.readyz_ok += 1
                else:
                    self.record(None, "/readyz %d %r" % (r.status, r.body))
            except Exception as e:  # noqa: BLE001
                self.record(None, "/readyz: %r" % e)
            time.sleep(0.005)

    def count(self):
        with self.lock:
            return self.ok + len(self.failures)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        for t in self.threads:
            t.join()
