"""Health: active checks, outlier ejection, slow start, panic mode, all-down 503, reloads.

Every test drives steady traffic through the proxy with a bounded LoadLoop and reads health
transitions from the proxy's log (one line per transition). Intervals are short (200 ms) so
the tests are fast; every wait polls a condition against a deadline.
"""

import http.client
import re
import signal
import threading
import time

import pytest

from conftest import LOOPBACK, Origin, request, wait_until

INTERVAL = 0.2  # health_check.interval in seconds
TIMEOUT = 0.3  # health_check.timeout
RISE = 2
FALL = 3
JITTER = 0.1


def health_check(**overrides):
    hc = {"type": "http", "path": "/healthz", "interval": "%dms" % (INTERVAL * 1000),
          "timeout": "%dms" % (TIMEOUT * 1000), "jitter": "10%",
          "healthy_threshold": RISE, "unhealthy_threshold": FALL}
    hc.update(overrides)
    return hc


def health_config(switchyard, backends, hc=True, **pool):
    """The standard test config with active checks (unless hc=False) and extra pool keys."""
    cfg = switchyard.config(backends)
    if hc:
        cfg["pools"][0]["health_check"] = health_check(**(hc if isinstance(hc, dict) else {}))
    cfg["pools"][0].update(pool)
    return cfg


class LoadLoop:
    """Steady GET traffic: `clients` threads, each on its own keep-alive connection.

    Bounded: stops at stop(), after max_s seconds, or after max_requests per client. Records
    (start, end, status or None, X-Backend or the error) for every request.
    """

    def __init__(self, port, clients=2, path="/", pause=0.005, max_s=60.0, max_requests=20000,
                 timeout=10.0):
        self.port, self.path, self.pause, self.timeout = port, path, pause, timeout
        self.max_s, self.max_requests = max_s, max_requests
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self):
        conn = None
        deadline = time.monotonic() + self.max_s
        for _ in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() >= deadline:
                break
            if conn is None:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
            t0 = time.monotonic()
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                rec = (t0, time.monotonic(), r.status, r.getheader("X-Backend"))
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                rec = (t0, time.monotonic(), None, repr(e))
                conn.close()
                conn = None
            with self._lock:
                self.results.append(rec)
            self._stop.wait(self.pause)
        if conn is not None:
            conn.close()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
            assert not t.is_alive(), "load thread did not stop"
        return self.results

    def snapshot(self):
        with self._lock:
            return list(self.results)

    def between(self, t0, t1=None):
        """Results of requests that started in [t0, t1)."""
        return [r for r in self.snapshot() if r[0] >= t0 and (t1 is None or r[0] < t1)]

    def wait_count(self, n, timeout=10.0):
        wait_until(lambda: len(self.snapshot()) >= n, timeout, what="%d load requests" % n)

    def wait_after(self, t0, n, timeout=10.0):
        """Wait until at least n requests started at or after t0; return them."""
        return wait_until(lambda: len(self.between(t0)) >= n and self.between(t0), timeout,
                          what="%d load requests" % n)

    def wait_seen(self, names, since=0.0, timeout=10.0):
        names = set(names)
        wait_until(lambda: names <= {r[3] for r in self.between(since) if r[2] == 200},
                   timeout, what="responses from %s" % sorted(names))


def errors(results):
    return [r for r in results if r[2] != 200]


def share(results, name):
    ok = [r for r in results if r[2] == 200]
    return sum(1 for r in ok if r[3] == name) / max(1, len(ok))


def wait_log(proxy, pattern, timeout, since_count=0):
    """Wait until the proxy log has more than since_count lines matching pattern.

    Returns the monotonic time at which it was seen (polled every 10 ms).
    """
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in proxy.stderr().splitlines() if rx.search(l)]
        if len(lines) > since_count:
            return time.monotonic()
        if time.monotonic() >= deadline:
            pytest.fail("no log line matching %r after %.1fs; log tail:\n%s"
                        % (pattern, timeout, proxy.stderr()[-3000:]))
        time.sleep(0.01)


def log_count(proxy, pattern):
    rx = re.compile(pattern)
    return sum(1 for l in proxy.stderr().splitlines() if rx.search(l))


def backend_re(origin, what):
    return r"backend %s \(127\.0\.0\.1:%d\) %s" % (origin.name, origin.port, what)


@pytest.fixture
def respawn(tmp_path):
    """respawn(origin) starts a new origin process with the same name on the same port."""
    started = []

    def start(old):
        o = Origin(old.name, tmp_path, port=old.port)
        started.append(o)
        o.wait_ready()
        assert o.port == old.port
        return o

    yield start
    for o in started:
        o.stop()


# ---------------------------------------------------------------------------------------------


def test_killed_backend_is_marked_down_with_zero_errors_and_comes_back_ramping(
        origins, switchyard, respawn):
    b1, b2, b3 = origins(3)
    slow_start = 2.0
    # A GET in flight on b2 when it is killed sees a reset: retries.on `reset` replays it
    # (idempotent, bodiless), so clients see no error at all.
    p = switchyard.start(health_config(switchyard, [b1, b2, b3], slow_start="2s",
                                       retries={"attempts": 2,
                                                "on": ["connect_failure", "reset"]}))
    assert "backends start healthy until 3 checks in a row fail" in p.stderr()
    load = LoadLoop(p.port, clients=2)
    try:
        load.wait_seen(["b1", "b2", "b3"])

        t_kill = time.monotonic()
        b2.proc.kill()
        b2.proc.wait(5)
        t_down = wait_log(p, backend_re(b2, "DOWN: 3 consecutive failures: connect refused"),
                          timeout=5)
        detect = t_down - t_kill
        # fall x interval (+ jitter), plus the log poll; refused connects fail at once.
        assert detect <= FALL * INTERVAL * (1 + JITTER) + TIMEOUT + 0.3, detect
        print("\nkilled backend marked down after %.0f ms" % (detect * 1000))
        after = load.wait_after(t_down + 0.05, 50)
        assert not [r for r in after if r[3] == "b2"]

        b2 = respawn(b2)
        t_ready = time.monotonic()
        t_up = wait_log(p, backend_re(b2, "UP: 2 consecutive passes"), timeout=5)
        back = t_up - t_ready
        # rise x interval, plus up to one interval until the first check after it listens.
        assert back <= (RISE + 1) * INTERVAL * (1 + JITTER) + 0.3, back
        print("restarted backend back up after %.0f ms" % (back * 1000))

        # Slow start: its share ramps from ~5% of the traffic to a full third.
        wait_until(lambda: time.monotonic() >= t_up + slow_start + 1.2, slow_start + 3,
                   what="slow start window and a full-weight second")
        early = load.between(t_up, t_up + 0.5)
        late = load.between(t_up + slow_start + 0.2, t_up + slow_start + 1.2)
        early_share, late_share = share(early, "b2"), share(late, "b2")
        print("b2 share during the first 0.5 s of slow start %.1f%% (%d requests), after it "
              "%.1f%% (%d requests)" % (early_share * 100, len(early), late_share * 100,
                                         len(late)))
        assert len(early) >= 20 and len(late) >= 40
        assert early_share < 0.2
        assert 0.25 < late_share < 0.42
    finally:
        results = load.stop()
    assert len(results) > 300
    assert errors(results) == [], errors(results)[:5]


def test_failing_healthz_takes_a_backend_out_and_back(origins, switchyard):
    b1, b2, b3 = origins(3)
    p = switchyard.start(health_config(switchyard, [b1, b2, b3]))
    load = LoadLoop(p.port, clients=2)
    try:
        load.wait_seen(["b1", "b2", "b3"])
        t0 = time.monotonic()
        b3.set_health(500)
        t_down = wait_log(p, backend_re(b3, "DOWN: 3 consecutive failures: status 500"), 5)
        assert t_down - t0 <= FALL * INTERVAL * (1 + JITTER) + 0.4
        after = load.wait_after(t_down + 0.05, 50)
        assert {r[3] for r in after} == {"b1", "b2"}

        b3.set_health(200)
        t_up = wait_log(p, backend_re(b3, "UP: 2 consecutive passes"), 5)
        load.wait_seen(["b3"], since=t_up)
    finally:
        results = load.stop()
    # The backend served traffic fine all along: nobody saw an error.
    assert errors(results) == [], errors(results)[:5]
    # Checks are counted on the backend: it saw them.
    assert b3.stats()["requests"] > 0


def test_tcp_check_takes_a_killed_backend_out(origins, switchyard):
    b1, b2 = origins(2)
    p = switchyard.start(health_config(switchyard, [b1, b2], hc={"type": "tcp"}))
    assert "pool web: tcp health checks every 200ms" in p.stderr()
    assert request(p.port, "/").status == 200
    b1.proc.kill()
    b1.proc.wait(5)
    wait_log(p, backend_re(b1, "DOWN: 3 consecutive failures: connect refused"), 5)
    for _ in range(10):
        r = request(p.port, "/")
        assert r.status == 200 and r.header("X-Backend") == "b2"


def test_hung_backend_is_taken_out_and_in_flight_requests_get_504(origins, switchyard):
    b1, b2, b3 = origins(3)
    cfg = health_config(switchyard, [b1, b2, b3], hc={"unhealthy_threshold": 2})
    cfg["timeouts"]["upstream_response"] = "1s"
    p = switchyard.start(cfg)
    load = LoadLoop(p.port, clients=3)
    stopped = False
    try:
        load.wait_seen(["b1", "b2", "b3"])
        t_stop = time.monotonic()
        b1.proc.send_signal(signal.SIGSTOP)  # the kernel still accepts; nothing answers
        stopped = True
        t_down = wait_log(p, backend_re(b1, r"DOWN: 2 consecutive failures: timed out after "
                                            r"300ms"), 5)
        detect = t_down - t_stop
        # Two checks that each time out; the second starts right after the first times out.
        assert detect <= 2 * (INTERVAL * (1 + JITTER) + TIMEOUT) + 0.3, detect
        print("\nhung backend marked down after %.0f ms" % (detect * 1000))
        # Requests caught on it get 504 after upstream_response, then traffic is clean again.
        load.wait_after(t_down + 1.5, 50)
    finally:
        if stopped:
            b1.proc.send_signal(signal.SIGCONT)
        results = load.stop()
    bad = errors(results)
    assert bad, "no request was caught on the hung backend"
    assert {r[2] for r in bad} == {504}, bad[:5]
    for r in bad:
        assert 0.9 <= r[1] - r[0] <= 2.0, r  # upstream_response (1s), not a hang
        assert r[0] < t_down + 0.05, r  # only requests sent before it was taken out
    assert [r for r in results if r[0] > t_down + 0.05 and r[3] == "b1"] == []
    print("%d in-flight requests answered 504" % len(bad))
    # SIGCONT: it answers its checks again and comes back.
    wait_log(p, backend_re(b1, "UP: 2 consecutive passes"), 5)


def test_backend_answering_503_is_ejected_and_readmitted(origins, switchyard):
    b1, b2, b3 = origins(3)
    od = {"consecutive_failures": 3, "base_ejection_time": "1s", "max_ejection_time": "4s",
          "max_ejection_percent": "50%"}
    p = switchyard.start(health_config(switchyard, [b1, b2, b3], hc=False, outlier_detection=od))
    load = LoadLoop(p.port, clients=2)
    try:
        load.wait_seen(["b1", "b2", "b3"])
        t0 = time.monotonic()
        b2.get("/_control/status?status=503")
        t_ej = wait_log(p, backend_re(b2, r"EJECTED for 1s \(ejection multiplier 1\): 3 "
                                          r"consecutive failures, last: 5xx answer"), 5)
        print("\n503 backend ejected after %.0f ms" % ((t_ej - t0) * 1000))
        t_back = wait_log(p, backend_re(b2, "readmitted: ejection time over"), 3)
        assert 0.8 <= t_back - t_ej <= 1.5, t_back - t_ej
        # Still failing: ejected again, for twice as long.
        t_ej2 = wait_log(p, backend_re(b2, r"EJECTED for 2s \(ejection multiplier 2\)"), 3)
        # (t_back is when the line was seen, up to a poll later than the readmission itself)
        during = load.between(t_ej + 0.05, t_back - 0.1)
        assert during and not [r for r in during if r[3] == "b2"]

        b2.get("/_control/status")  # healthy again
        t_back2 = wait_log(p, backend_re(b2, "readmitted: ejection time over"), 4,
                           since_count=1)
        assert 1.8 <= t_back2 - t_ej2 <= 2.5, t_back2 - t_ej2
        load.wait_seen(["b2"], since=t_back2)
        load.wait_after(t_back2 + 0.05, 100)
    finally:
        results = load.stop()
    assert log_count(p, backend_re(b2, "EJECTED")) == 2
    bad = errors(results)
    assert bad and {r[2] for r in bad} == {503} and {r[3] for r in bad} == {"b2"}
    # Each ejection let through about consecutive_failures answers (plus those in flight).
    assert len(bad) <= 2 * (3 + 2), len(bad)
    assert not [r for r in results if r[0] > t_back2 + 0.05 and r[2] != 200]


def test_outlier_detection_never_ejects_more_than_max_ejection_percent(origins, switchyard):
    b1, b2, b3, b4 = origins(4)
    od = {"consecutive_failures": 2, "base_ejection_time": "30s", "max_ejection_percent": "50%"}
    p = switchyard.start(health_config(switchyard, [b1, b2, b3, b4], hc=False,
                                       outlier_detection=od))
    for o in (b1, b2, b3):
        o.get("/_control/status?status=503")
    load = LoadLoop(p.port, clients=2, max_requests=300)
    try:
        wait_until(lambda: log_count(p, "EJECTED") >= 2, 5, what="two ejections")
        load.wait_count(len(load.snapshot()) + 100)
    finally:
        results = load.stop()
    assert log_count(p, "EJECTED") == 2  # 2 of 4; the third failing backend stays in
    kept = [o.name for o in (b1, b2, b3) if log_count(p, backend_re(o, "EJECTED")) == 0]
    assert len(kept) == 1
    last = results[-60:]
    assert {r[3] for r in last} == {"b4", kept[0]}
    assert {r[2] for r in last if r[3] == kept[0]} == {503}


def test_all_backends_down_is_503_quickly_and_recovers_by_itself(origins, switchyard, respawn):
    b1, b2, b3 = origins(3)
    p = switchyard.start(health_config(switchyard, [b1, b2, b3]))
    assert request(p.port, "/").status == 200
    for o in (b1, b2, b3):
        o.proc.kill()
    for o in (b1, b2, b3):
        o.proc.wait(5)
        wait_log(p, backend_re(o, "DOWN"), 5)
    wait_log(p, r"pool web: 1 of 3 backends available, below panic_threshold 50%: routing to "
                r"all of them \(panic mode\)", 2)
    for _ in range(5):
        t0 = time.monotonic()
        r = request(p.port, "/", timeout=5)
        elapsed = time.monotonic() - t0
        assert r.status == 503, r
        assert 0 < len(r.body) < 200
        assert elapsed < 0.5, elapsed

    # One comes back: panic mode already routes to every backend, so traffic resumes at once.
    load = LoadLoop(p.port, clients=1)
    try:
        t_restart = time.monotonic()
        b2 = respawn(b2)
        load.wait_seen(["b2"], since=t_restart, timeout=5)
        t_first = min(r[1] for r in load.snapshot() if r[2] == 200)
        print("\nfirst 200 %.0f ms after the backend restarted" % ((t_first - t_restart) * 1000))
        t_up = wait_log(p, backend_re(b2, "UP"), 5)
        load.wait_after(t_up, 30)
    finally:
        results = load.stop()
    after = [r for r in results if r[0] > t_up]
    assert after and all(r[2] == 200 and r[3] == "b2" for r in after)
    assert {r[2] for r in results} <= {200, 503}


def test_reload_keeps_kept_backends_state_and_follows_added_and_removed(origins, switchyard):
    b1, b2, b3, b4 = origins(4)
    cfg = health_config(switchyard, [b1, b2, b3])
    p = switchyard.start(cfg)
    b2.set_health(500)
    wait_log(p, backend_re(b2, "DOWN"), 5)

    # Reload: b3 leaves, b4 joins, b2 stays (still failing its checks).
    cfg["pools"][0]["backends"] = [{"name": o.name, "address": o.address} for o in (b1, b2, b4)]
    switchyard.write(cfg, p.cfg_path.name)
    b3.reset_stats()
    p.signal(signal.SIGHUP)
    wait_log(p, "reloaded", 5)
    assert log_count(p, r"backend b4 \(127\.0\.0\.1:%d\) added to pool web: healthy until its "
                        r"checks fail" % b4.port) == 1
    seen = set()
    for _ in range(30):
        r = request(p.port, "/")
        assert r.status == 200
        seen.add(r.header("X-Backend"))
    assert seen == {"b1", "b4"}  # b2 kept its DOWN state across the reload
    assert log_count(p, backend_re(b2, "UP")) == 0

    # b3 is no longer checked: its request count stays put over several intervals.
    count = b3.stats()["requests"]
    b4_before = b4.stats()["requests"]
    wait_until(lambda: b4.stats()["requests"] >= b4_before + 4, 3, what="checks of b4")
    assert b3.stats()["requests"] == count
