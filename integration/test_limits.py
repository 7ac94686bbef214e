"""Pool limits and queueing, backend max_requests, idle connection caps, and round robin shared
across workers (README "Pool limits and queueing", "Balancing policies").

Real slow backends (integration/origin.py /slow?ms=M), real clients, two workers.
"""

import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import LOOPBACK, RawConn, get_request, request, spread, wait_until
from obs_util import scrape, scrape_until


def _concurrent(port, n, path, timeout=15.0):
    """n requests at once, each on its own connection; [(status, headers dict, seconds)]."""
    start = threading.Barrier(n)

    def one(_):
        start.wait(5)
        t0 = time.monotonic()
        r = request(port, path, timeout=timeout)
        return r.status, {k.lower(): v for k, v in r.headers}, time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def _limited(switchyard, backends, limits, workers=2, **pool_extra):
    cfg = switchyard.config(backends, workers=workers, attempts=0)
    cfg["pools"][0]["limits"] = limits
    cfg["pools"][0].update(pool_extra)
    return switchyard.start(cfg), cfg


def test_12_slow_requests_to_4_slots_and_4_queued_give_8_answers_and_4_prompt_503s(
        origins, switchyard):
    b1, = origins(1)
    p, _ = _limited(switchyard, [b1], {"max_requests": 4, "max_pending": 4,
                                       "pending_timeout": "10s"})
    results = _concurrent(p.port, 12, "/slow?ms=700")
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 503]
    assert len(ok) == 8 and len(refused) == 4, results
    for status, headers, seconds in refused:
        assert headers.get("retry-after") == "10", headers
        assert seconds < 0.5, "overflow answers must be prompt, took %.2fs" % seconds
    # The queued four waited for the first four: about two rounds of the backend's 700 ms.
    assert max(s for _, _, s in ok) >= 1.3
    assert b1.stats()["max_in_flight"] <= 4
    m = scrape_until(p.admin_port, lambda m: m.one("switchyard_pool_overflow_total", pool="web")
                     == 4, what="4 overflows")
    assert m.one("switchyard_pool_pending", pool="web") == 0
    assert m.one("switchyard_pending_wait_seconds_count", pool="web") == 4


def test_pending_timeout_expiry_answers_503_with_retry_after(origins, switchyard):
    b1, = origins(1)
    p, _ = _limited(switchyard, [b1], {"max_requests": 1, "max_pending": 10,
                                       "pending_timeout": "300ms"})
    results = _concurrent(p.port, 2, "/slow?ms=1500")
    by_status = sorted(results, key=lambda r: r[0])
    assert [r[0] for r in by_status] == [200, 503], results
    status, headers, seconds = by_status[1]
    assert headers.get("retry-after") == "1"
    assert 0.25 <= seconds < 1.2, "the queued request gives up after pending_timeout (%.2fs)" % seconds
    m = scrape_until(p.admin_port, lambda m: m.one("switchyard_pool_overflow_total", pool="web")
                     == 1)
    assert m.one("switchyard_pool_pending", pool="web") == 0


def test_backend_max_requests_is_respected_and_full_backends_are_skipped(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([{"name": "b1", "address": b1.address, "max_requests": 2},
                             {"name": "b2", "address": b2.address, "max_requests": 3}],
                            workers=2, attempts=0)
    cfg["pools"][0]["limits"] = {"max_pending": 50, "pending_timeout": "10s"}
    p = switchyard.start(cfg)
    results = _concurrent(p.port, 15, "/slow?ms=300")
    assert all(r[0] == 200 for r in results), results
    assert b1.stats()["max_in_flight"] <= 2
    assert b2.stats()["max_in_flight"] <= 3
    # Both were used to their caps at some point: 15 requests, 5 slots.
    assert b1.stats()["max_in_flight"] == 2 and b2.stats()["max_in_flight"] == 3
    m = scrape(p.admin_port)
    assert m.one("switchyard_backend_in_flight", pool="web", backend="b1") == 0


def test_client_gone_while_queued_leaves_the_queue(origins, switchyard):
    b1, = origins(1)
    p, _ = _limited(switchyard, [b1], {"max_requests": 1, "max_pending": 5,
                                       "pending_timeout": "10s"}, workers=1)
    holder = RawConn(p.port)
    holder.send(get_request("GET", "/slow?ms=1500"))
    wait_until(lambda: b1.stats()["in_flight"] == 1, 5, what="the slot taken")
    waiter = socket.create_connection((LOOPBACK, p.port))
    waiter.sendall(get_request("GET", "/"))
    wait_until(lambda: scrape(p.admin_port).one("switchyard_pool_pending", pool="web") == 1, 5,
               what="one request queued")
    # Reset (not a half-close, which still wants its answer).
    waiter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    waiter.close()
    wait_until(lambda: scrape(p.admin_port).one("switchyard_pool_pending", pool="web") == 0, 5,
               what="the queue emptied")
    assert holder.read_response().status == 200
    before = b1.stats()["requests"]
    assert request(p.port, "/").status == 200
    assert b1.stats()["requests"] == before + 1  # the gone request never reached the backend


def test_round_robin_is_smooth_across_two_workers(origins, switchyard):
    backends = origins(3)
    cfg = switchyard.config(backends, workers=2)
    p = switchyard.start(cfg)
    for _ in range(3):  # each round of 9 new connections lands 3/3/3, whatever workers take them
        seen = spread(p.port, 9, threads=3)
        assert sorted(seen.values()) == [3, 3, 3], seen


def _idle_gauge(m, name):
    return m.one("switchyard_upstream_connections", pool="web", backend=name, state="idle")


def test_idle_connections_are_capped_after_a_burst(origins, switchyard):
    backends = origins(3)
    cap = 4
    cfg = switchyard.config(backends, workers=2)
    cfg["pools"][0]["max_idle_per_backend"] = cap
    p = switchyard.start(cfg)
    results = _concurrent(p.port, 60, "/slow?ms=300")
    assert all(r[0] == 200 for r in results)
    # per worker: at most 2 x cap idle per backend in all, once the sweep (within two seconds)
    # has closed the extras the burst parked
    m = scrape_until(p.admin_port, lambda m: all(
        m.one("switchyard_upstream_connections", pool="web", backend=b.name, state="active") == 0
        and _idle_gauge(m, b.name) <= 2 * cap
        for b in backends), what="no active upstream connection, idle ones trimmed to the cap")
    for b in backends:
        idle = _idle_gauge(m, b.name)
        assert 1 <= idle <= 2 * cap, (b.name, idle)
        # The backend's own view: its open connections (minus this /_stats one) match.
        wait_until(lambda: b.stats()["active"] - 1 == idle, 5,
                   what="%s sees %d open connections" % (b.name, idle))


def test_http2_overflow_answer_carries_retry_after(origins, switchyard):
    b1, = origins(1)
    cfg = switchyard.config([b1], workers=1, attempts=0)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["pools"][0]["limits"] = {"max_requests": 1, "max_pending": 0, "pending_timeout": "3s"}
    p = switchyard.start(cfg)
    holder = RawConn(p.port)
    holder.send(get_request("GET", "/slow?ms=1500"))
    wait_until(lambda: b1.stats()["in_flight"] == 1, 5, what="the slot taken")
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-",
                          "http://%s:%d/" % (LOOPBACK, p.port)], capture_output=True, timeout=10)
    text = out.stdout.decode()
    assert text.startswith("HTTP/2 503"), text
    assert "retry-after: 3\r\n" in text
    assert holder.read_response().status == 200
