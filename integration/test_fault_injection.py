"""routes[].fault: injected aborts and delays, and trusted header-asked faults (README "Fault
injection"). Real backends count what reaches them."""

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import request, to_yaml, wait_until
from obs_util import scrape_until


def _with_fault(switchyard, backends, fault):
    cfg = switchyard.config(backends, workers=2)
    cfg["listeners"][0]["routes"][0]["fault"] = fault
    return switchyard.start(cfg)


def test_half_of_400_requests_are_aborted_by_the_proxy_and_the_backend_sees_the_rest(
        origins, switchyard):
    b1, = origins(1)
    p = _with_fault(switchyard, [b1], {"abort": {"status": 503, "percent": "50%"}})
    b1.reset_stats()

    def one(_):
        r = request(p.port, "/")
        return r.status, r.header("X-Backend")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(400)))
    aborted = sum(1 for s, be in results if s == 503 and be is None)
    answered = sum(1 for s, be in results if s == 200 and be == "b1")
    assert aborted + answered == 400, results
    assert 140 <= aborted <= 260, aborted  # 50 % of 400, far beyond 5 sigma (10)
    assert b1.stats()["requests"] == answered
    m = scrape_until(p.admin_port, lambda m: m.one("switchyard_faults_injected_total",
                                                   listener="public", kind="abort") == aborted)
    assert m.one("switchyard_faults_injected_total", listener="public", kind="delay") == 0


def test_delay_fault_delays_every_request_by_the_duration(origins, switchyard):
    b1, = origins(1)
    p = _with_fault(switchyard, [b1], {"delay": {"duration": "300ms", "percent": "100%"}})
    for _ in range(3):
        t0 = time.monotonic()
        r = request(p.port, "/")
        took = time.monotonic() - t0
        assert r.status == 200 and r.header("X-Backend") == "b1"
        assert 0.29 <= took < 1.5, took
    scrape_until(p.admin_port, lambda m: m.one("switchyard_faults_injected_total",
                                               listener="public", kind="delay") == 3)


def test_trusted_peers_ask_for_faults_with_headers_that_never_reach_the_backend(
        origins, switchyard):
    b1, = origins(1)
    p = _with_fault(switchyard, [b1], {"trusted": ["127.0.0.0/8"]})
    r = request(p.port, "/", headers={"X-Switchyard-Fault-Abort": "418"})
    assert r.status == 418 and r.header("X-Backend") is None
    t0 = time.monotonic()
    r = request(p.port, "/headers", headers={"X-Switchyard-Fault-Delay": "250ms"})
    assert r.status == 200 and time.monotonic() - t0 >= 0.24
    names = [n.lower() for n, _ in json.loads(r.body)["headers"]]
    assert not any(n.startswith("x-switchyard-fault") for n in names), names


def test_fault_headers_from_untrusted_peers_are_ignored_and_stripped(origins, switchyard):
    b1, = origins(1)
    p = _with_fault(switchyard, [b1], {"trusted": ["10.0.0.0/8"]})
    t0 = time.monotonic()
    r = request(p.port, "/headers", headers={"X-Switchyard-Fault-Abort": "503",
                                             "X-Switchyard-Fault-Delay": "2s"})
    assert r.status == 200 and time.monotonic() - t0 < 1.5
    names = [n.lower() for n, _ in json.loads(r.body)["headers"]]
    assert not any(n.startswith("x-switchyard-fault") for n in names), names


def test_fault_headers_are_stripped_on_routes_without_fault(origins, switchyard):
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    r = request(p.port, "/headers", headers={"X-Switchyard-Fault-Abort": "503"})
    assert r.status == 200
    names = [n.lower() for n, _ in json.loads(r.body)["headers"]]
    assert "x-switchyard-fault-abort" not in names


def test_a_reload_turns_the_fault_off_and_on(origins, switchyard):
    b1, = origins(1)
    cfg = switchyard.config([b1], workers=2)
    cfg["listeners"][0]["routes"][0]["fault"] = {"abort": {"status": 502, "percent": "100%"}}
    p = switchyard.start(cfg)
    assert request(p.port, "/").status == 502
    del cfg["listeners"][0]["routes"][0]["fault"]
    p.cfg_path.write_text(to_yaml(cfg))
    p.signal(signal.SIGHUP)
    wait_until(lambda: all(request(p.port, "/").status == 200 for _ in range(4)), 5,
               what="the fault gone after the reload")
    cfg["listeners"][0]["routes"][0]["fault"] = {"abort": {"status": 504, "percent": "100%"}}
    p.cfg_path.write_text(to_yaml(cfg))
    p.signal(signal.SIGHUP)
    wait_until(lambda: all(request(p.port, "/").status == 504 for _ in range(4)), 5,
               what="the new fault after the reload")
