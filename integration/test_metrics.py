"""Prometheus /metrics on admin.listen: format (promtool), exact counts, histograms, reloads, and
a real Prometheus server scraping Switchyard."""

import json
import math
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (LOOPBACK, RawConn, dead_port, free_port, get_request, request,
                      stop_process, wait_until, _pdeathsig)
from obs_util import Metrics, promtool, promtool_check, scrape, scrape_until

needs_promtool = pytest.mark.skipif(promtool() is None, reason="promtool (Debian prometheus) "
                                    "not installed")


def _traffic_with_errors(p, n_ok=12):
    """Successes, backend 5xx, a retried connect failure, a malformed request, a 404."""
    for _ in range(n_ok):
        assert request(p.port, "/").status == 200
    assert request(p.port, "/status/503").status == 503
    assert request(p.port, "/status/404").status == 404
    with RawConn(p.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        assert c.read_response().status == 400


@needs_promtool
def test_live_scrape_passes_promtool_after_traffic_and_errors(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1, ("dead", dead_port()), b2])
    cfg["listeners"][0]["routes"] = [{"match": {"path_prefix": "/"}, "pool": "web"}]
    p = switchyard.start(cfg)
    _traffic_with_errors(p)
    text = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total") == 15).text
    code, out = promtool_check(text)
    assert code == 0, out
    assert out == "", out  # no lint findings either
    m = Metrics(text)
    assert m.sum("switchyard_upstream_connect_failures_total", backend="dead") >= 1
    assert m.sum("switchyard_retries_total", pool="web", reason="connect_failure") >= 1
    assert m.sum("switchyard_requests_total", code_class="5xx") >= 1
    assert m.sum("switchyard_requests_total", code_class="4xx", pool="", backend="") == 1


def test_counters_equal_the_requests_sent(origins, switchyard):
    b1, b2 = origins(2)
    p = switchyard.start(switchyard.config([b1, b2]))
    n = 20
    for i in range(n):
        assert request(p.port, "/bytes?n=%d" % (100 + i)).status == 200
    with RawConn(p.port) as c:  # keep-alive: several requests, one connection
        for _ in range(5):
            c.send(get_request("GET", "/"))
            assert c.read_response().status == 200
    total = n + 5

    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total") == total)
    assert m.sum("switchyard_requests_total", code_class="2xx", listener="public") == total
    per_backend = {b: m.sum("switchyard_requests_total", backend=b) for b in ("b1", "b2")}
    assert per_backend["b1"] + per_backend["b2"] == total
    assert per_backend["b1"] == b1.stats()["requests"]
    assert per_backend["b2"] == b2.stats()["requests"]
    for b in ("b1", "b2"):
        count = m.one("switchyard_request_duration_seconds_count", pool="web", backend=b)
        assert count == per_backend[b]
        assert m.one("switchyard_request_duration_seconds_bucket", pool="web", backend=b,
                     le="+Inf") == count
        assert m.one("switchyard_upstream_response_seconds_count", pool="web", backend=b) == count
        assert m.one("switchyard_request_duration_seconds_sum", pool="web", backend=b) > 0
        # Cumulative buckets never decrease.
        buckets = [v for _, v in m.find("switchyard_request_duration_seconds_bucket", backend=b)]
        assert buckets == sorted(buckets)
    # Each fresh connection to a backend is a connect; the rest reused a pooled connection.
    connects = m.sum("switchyard_upstream_connect_seconds_count")
    reuses = m.sum("switchyard_upstream_connection_reuses_total")
    assert connects + reuses == total
    assert connects == b1.stats()["connections"] + b2.stats()["connections"]
    assert m.sum("switchyard_upstream_connections_active") == connects  # all kept alive
    # (plus the connections the fixture opened to see that the listener accepts)
    assert m.one("switchyard_downstream_connections_total", listener="public") >= n + 1
    assert m.one("switchyard_bytes_sent_total", listener="public") > sum(100 + i for i in range(n))
    assert m.one("switchyard_bytes_received_total", listener="public") > 0
    assert m.one("switchyard_backend_up", pool="web", backend="b1") == 1
    assert m.one("switchyard_backend_in_flight", pool="web", backend="b1") == 0
    assert m.one("switchyard_backend_weight_effective", pool="web", backend="b1") == 1
    assert m.one("switchyard_build_info") == 1
    assert m.one("switchyard_config_version") == 1
    assert m.one("process_open_fds") > 0
    assert abs(m.one("process_start_time_seconds") - time.time()) < 120


def test_downstream_connections_active_follows_open_clients(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))
    conns = [RawConn(p.port) for _ in range(3)]
    try:
        for c in conns:
            c.send(get_request("GET", "/"))
            c.read_response()
        wait_until(lambda: scrape(p.admin_port).one("switchyard_downstream_connections_active",
                                                    listener="public") == 3, 5,
                   what="3 active client connections")
    finally:
        for c in conns:
            c.close()
    wait_until(lambda: scrape(p.admin_port).one("switchyard_downstream_connections_active",
                                                listener="public") == 0, 5,
               what="no active client connections")


def test_counters_survive_a_reload_and_reloads_are_counted(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1])
    p = switchyard.start(cfg)
    for _ in range(4):
        request(p.port, "/")
    before = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total") == 4)
    assert before.one("switchyard_config_reloads_total", result="success") == 0
    t0 = before.one("switchyard_config_last_reload_success_timestamp_seconds")
    assert abs(t0 - time.time()) < 60

    cfg["pools"][0]["backends"].append({"name": "b2", "address": b2.address})
    switchyard.write(cfg, p.cfg_path.name)
    p.signal(signal.SIGHUP)
    wait_until(lambda: scrape(p.admin_port).one("switchyard_config_version") == 2, 5,
               what="config version 2")
    m = scrape(p.admin_port)
    assert m.one("switchyard_config_reloads_total", result="success") == 1
    assert m.one("switchyard_config_last_reload_success_timestamp_seconds") >= t0
    # b1 is the same backend after the reload: its counter went on; b2 is new.
    assert m.sum("switchyard_requests_total", backend="b1") == 4
    assert m.sum("switchyard_requests_total", backend="b2") == 0

    p.cfg_path.write_text("pools: [\n")
    p.signal(signal.SIGHUP)
    wait_until(lambda: scrape(p.admin_port).one("switchyard_config_reloads_total",
                                                result="failure") == 1, 5,
               what="a failed reload to be counted")
    assert scrape(p.admin_port).one("switchyard_config_version") == 2


def test_no_backend_available_is_counted_for_the_pool(switchyard):
    cfg = switchyard.config([("b1", dead_port())], attempts=0)
    p = switchyard.start(cfg)
    assert request(p.port, "/").status == 502  # the backend was tried and failed
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total") == 1)
    assert m.one("switchyard_requests_total", backend="b1", code_class="5xx") == 1
    assert m.one("switchyard_upstream_connect_failures_total", backend="b1") == 1
    assert m.one("switchyard_upstream_connect_seconds_count", backend="b1") == 0


# ---------------------------------------------------------------------------------------------
# A real Prometheus server


PROMETHEUS = shutil.which("prometheus")


def _prom_query(port, query):
    url = "http://%s:%d/api/v1/query?%s" % (LOOPBACK, port, urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) not installed")
def test_prometheus_server_scrapes_switchyard(origins, switchyard, tmp_path):
    b1, b2 = origins(2)
    p = switchyard.start(switchyard.config([b1, b2]))
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: switchyard\n"
        "    static_configs:\n"
        "      - targets: ['%s:%d']\n" % (LOOPBACK, p.admin_port))
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % (tmp_path / "prometheus.yml"),
         "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
         "--web.listen-address=%s:%d" % (LOOPBACK, prom_port), "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                request(p.port, "/slow?ms=2")
            except OSError:
                pass
            time.sleep(0.02)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        def ready():
            if prom.poll() is not None:
                pytest.fail("prometheus exited: %s" % (tmp_path / "prometheus.log").read_text())
            try:
                return _prom_query(prom_port, "up{job='switchyard'}")
            except OSError:
                return None

        up = wait_until(ready, 60, interval=0.5, what="prometheus to scrape switchyard")
        assert up[0]["value"][1] == "1"

        def positive_rate():
            res = _prom_query(prom_port, "sum(rate(switchyard_requests_total[30s]))")
            return res and float(res[0]["value"][1]) > 0 and res

        rate = wait_until(positive_rate, 60, interval=0.5, what="a positive request rate")
        assert float(rate[0]["value"][1]) > 0
        q = ("histogram_quantile(0.99, sum by (le) "
             "(rate(switchyard_request_duration_seconds_bucket[30s])))")

        def finite_p99():
            res = _prom_query(prom_port, q)
            return res and math.isfinite(float(res[0]["value"][1])) and res

        p99 = float(wait_until(finite_p99, 30, interval=0.5, what="a finite p99")[0]["value"][1])
        assert 0 < p99 < 10
        # Scrapes are clean: no samples rejected by the server.
        res = _prom_query(prom_port, "scrape_samples_post_metric_relabeling{job='switchyard'}")
        assert float(res[0]["value"][1]) > 50
    finally:
        stop.set()
        t.join(5)
        stop_process(prom, 10)
        log.close()
