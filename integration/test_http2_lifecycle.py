"""HTTP/2 connection lifecycle, log and metrics: GOAWAY on SIGTERM (the in-flight stream
finishes) and on idle, the access log's protocol, the switchyard_http2_connections_active gauge,
and hedged requests per stream."""

import json
import signal
import time

from conftest import LOOPBACK, RawConn, wait_until
from h2_util import H2, curl, h2c_proxy
from obs_util import scrape, scrape_until


# ---------------------------------------------------------------------------------------------
# connection lifecycle, log and metrics


def test_sigterm_sends_goaway_and_finishes_the_stream(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        idle = H2(p.port)
        assert idle.request("GET", "/")[0] == 200
        sid = c.start("GET", "/slow?ms=800")
        wait_until(lambda: b1.stats()["requests"] >= 3, 5, what="the slow request at the backend")
        p.signal(signal.SIGTERM)
        # An idle connection gets its GOAWAY and is closed without waiting for the slow one.
        idle.wait(lambda: idle.terminated is not None, 5, "a GOAWAY on the idle connection")
        assert idle.terminated.error_code == 0
        deadline = time.monotonic() + 0.5
        while not idle.closed and time.monotonic() < deadline:
            idle.pump(0.05)
        assert idle.closed, "idle connection still open 0.5 s after its GOAWAY"
        idle.close()
        c.wait(lambda: c.terminated is not None, 5, "a GOAWAY after SIGTERM")
        assert c.terminated.error_code == 0 and c.terminated.last_stream_id >= sid
        # The admin listener still answers while the proxy drains.
        goaways = scrape(p.admin_port).sum("switchyard_http2_goaways_sent_total",
                                           listener="public", error="NO_ERROR")
        assert goaways == 2 and c.goaways == [(c.terminated.last_stream_id, 0)]
        c.wait(c.finished(sid), 5, "the in-flight stream")
        status = dict(c.streams[sid]["headers"])[":status"]
        assert status == "200" and bytes(c.streams[sid]["data"]) == b"slow done\n"
    finally:
        c.close()
    assert p.wait_exit(10) == 0


def test_idle_connection_gets_goaway_and_close(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], timeouts={"client_idle": "1s", "upstream_response": "2s",
                                              "client_header": "2s", "shutdown": "5s"})
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        t0 = time.monotonic()
        deadline = t0 + 5
        while not c.closed and time.monotonic() < deadline:
            c.pump(0.1)
        elapsed = time.monotonic() - t0
        assert c.closed, "still open after 5 s idle"
        assert c.terminated is not None and c.terminated.error_code == 0
        assert elapsed >= 0.9, elapsed
    finally:
        c.close()
    scrape_until(p.admin_port, lambda m: m.sum("switchyard_http2_goaways_sent_total",
                                                error="NO_ERROR") == 1, what="the idle GOAWAY")


def test_access_log_protocol(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    log = tmp_path / "access.log"
    p = h2c_proxy(switchyard, [b1], access_log={"path": str(log), "format": "json"})
    out = curl("--http2-prior-knowledge", "-o", "/dev/null", "-H", "X-Request-Id: h2-log-1",
               "http://%s:%d/status/201" % (LOOPBACK, p.port))
    assert out.returncode == 0, out.stderr

    def entry():
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(l) for l in lines if l]
    (e,) = wait_until(entry, 5, what="the access log line")
    assert e["request_id"] == "h2-log-1" and e["protocol"] == "HTTP/2.0"
    assert e["status"] == 201 and e["method"] == "GET" and e["path"] == "/status/201"
    assert e["host"] == "%s:%d" % (LOOPBACK, p.port) and e["backend"] == "b1"


def test_connections_active_gauge(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])

    def active(n):
        return lambda m: m.sum("switchyard_http2_connections_active", listener="public") == n
    scrape_until(p.admin_port, active(0), what="no HTTP/2 connection")
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        scrape_until(p.admin_port, active(1), what="one HTTP/2 connection")
    finally:
        c.close()
    scrape_until(p.admin_port, active(0), what="the HTTP/2 connection closed")
    # An HTTP/1.1 connection on the same listener is not counted.
    with RawConn(p.port) as r:
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.read_response().status == 200
        assert scrape(p.admin_port).sum("switchyard_http2_connections_active") == 0


def test_hedged_streams_answer_from_the_fast_backend(origins, switchyard):
    """retries.hedge works per request, so per HTTP/2 stream: concurrent streams on one
    connection, half of them first sent to a sleeping backend, all answer from the fast one
    well before the sleeper would."""
    b1, b2 = origins(2)
    b1.get("/_control/delay?ms=1000")
    cfg = switchyard.config([b1, b2], workers=1)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["pools"][0]["retries"] = {"attempts": 1, "hedge": {"after": "50ms"}}
    p = switchyard.start(cfg)
    c = H2(p.port)
    try:
        t0 = time.monotonic()
        sids = [c.start("GET", "/") for _ in range(6)]
        c.wait(lambda: all(c.finished(s)() for s in sids), 5, "all streams answered")
        took = time.monotonic() - t0
        for s in sids:
            hd = dict(c.streams[s]["headers"])
            assert hd[":status"] == "200" and hd["x-backend"] == "b2", hd
        assert took < 0.6, took
    finally:
        c.close()
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_hedges_total", result="won") >= 3)
    assert m.sum("switchyard_hedges_total", result="sent") >= 3
