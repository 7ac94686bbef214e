"""Monitoring that travels: switchyard_local_responses_total over real requests, the alert rules
(docker/prometheus/alerts.yml) through `promtool test rules`, and every Grafana panel's query
(docker/grafana/dashboards/switchyard.json) run on a real Prometheus scraping a live
Switchyard."""

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (LOOPBACK, REPO, RawConn, _pdeathsig, dead_port, free_port, request,
                      stop_process, wait_until)
from obs_util import admin_json, promtool, promtool_check, scrape_until

DOCKER = REPO / "docker"
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(promtool() is None, reason="promtool (Debian prometheus) "
                                    "not installed")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) "
                                      "not installed")


def _reasons_config(switchyard, origin):
    """Routes that end in each kind of local answer: /dead (a refused port: connect_failed),
    /off (its only backend disabled: no_backend), /slow (upstream_timeout); anything else has
    no route."""
    cfg = switchyard.config([origin], attempts=0)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["timeouts"]["upstream_response"] = "300ms"
    cfg["pools"] += [
        {"name": "dead", "retries": {"attempts": 0},
         "backends": [{"name": "gone", "address": "%s:%d" % (LOOPBACK, dead_port())}]},
        {"name": "off", "backends": [{"name": "o1", "address": origin.address}]},
    ]
    cfg["listeners"][0]["routes"] = [
        {"match": {"path_prefix": "/dead"}, "pool": "dead"},
        {"match": {"path_prefix": "/off"}, "pool": "off"},
        {"match": {"path_prefix": "/slow"}, "pool": "web"},
        {"match": {"path_prefix": "/bytes"}, "pool": "web"},
    ]
    return cfg


def _local_answers(p):
    """One of each: 404 no route, 503 no backend, 502 connect failure, 504 timeout, 400."""
    assert request(p.port, "/nowhere").status == 404
    assert request(p.port, "/off").status == 503
    assert request(p.port, "/dead").status == 502
    assert request(p.port, "/slow?ms=3000").status == 504
    with RawConn(p.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        assert c.read_response().status == 400


def test_local_responses_are_counted_by_reason_and_code(origins, switchyard):
    (o,) = origins(1)
    p = switchyard.start(_reasons_config(switchyard, o))
    code, _ = admin_json(p.admin_port, "/pools/off/backends/o1/disable", method="POST")
    assert code == 200
    for _ in range(3):
        assert request(p.port, "/bytes?n=10").status == 200  # relayed: not a local answer
    _local_answers(p)
    assert request(p.port, "/nowhere/else").status == 404
    # The HTTP/2 path counts the same way (curl, h2c prior knowledge).
    if shutil.which("curl"):
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                              "-w", "%{http_code} %{http_version}",
                              "http://%s:%d/dead" % (LOOPBACK, p.port)],
                             capture_output=True, text=True, timeout=30).stdout
        assert out == "502 2", out
    dead_502 = 2 if shutil.which("curl") else 1

    name = "switchyard_local_responses_total"
    m = scrape_until(p.admin_port, lambda m: m.sum(name) == 5 + dead_502)
    expected = {("404", "no_route"): 2, ("503", "no_backend"): 1,
                ("502", "connect_failed"): dead_502,
                ("504", "upstream_timeout"): 1, ("400", "bad_request"): 1}
    for (status, reason), n in expected.items():
        assert m.one(name, listener="public", code=status, reason=reason) == n, (status, reason)
    # Every reason has its series from the start (at 0), the future ones included.
    reasons = {labels["reason"] for labels, _ in m.find(name)}
    assert {"overflow", "rate_limited", "bad_response", "payload_too_large", "header_timeout",
            "redirect"} <= reasons
    assert m.one(name, listener="public", code="503", reason="overflow") == 0
    assert m.one(name, listener="public", code="429", reason="rate_limited") == 0
    # The same answers in the request counter, by status class.
    assert m.sum("switchyard_requests_total", code_class="2xx") == 3
    assert m.sum("switchyard_requests_total", code_class="5xx") == 2 + dead_502
    code, out = promtool_check(m.text) if promtool() else (0, "")
    assert code == 0 and out == "", out


@needs_promtool
def test_alert_rules_pass_their_promtool_unit_tests():
    prom = DOCKER / "prometheus"
    r = subprocess.run([promtool(), "check", "rules", str(prom / "alerts.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=prom,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # Every alert of the file is exercised by a test.
    alerts = set(re.findall(r"^\s*- alert: (\w+)", (prom / "alerts.yml").read_text(), re.M))
    tested = set(re.findall(r"alertname: (\w+)", (prom / "alerts_test.yml").read_text()))
    assert len(alerts) == 7 and alerts == tested


# ---------------------------------------------------------------------------------------------
# The dashboard against a real Prometheus


def _dashboard_targets():
    d = json.loads((DOCKER / "grafana" / "dashboards" / "switchyard.json").read_text())
    return [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]


def _optional_metrics():
    lines = (DOCKER / "grafana" / "dashboard-metrics.txt").read_text().splitlines()
    return {l.split()[0] for l in lines if not l.startswith("#") and l.split()[1:] == ["optional"]}


def _query(port, expr):
    url = "http://%s:%d/api/v1/query?%s" % (LOOPBACK, port, urllib.parse.urlencode({"query": expr}))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:  # 400/422: the expression is refused (JSON error);
        body = e.read()                  # 503 before the server is ready (plain text)
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "http %d" % e.code, "error": body.decode(errors="replace")}


def _regex_value(v):
    """A variable's value in a =~ matcher, as Grafana writes it for Prometheus: regex special
    characters escaped, the backslashes doubled inside the PromQL string."""
    return re.escape(v).replace("\\", "\\\\")


def _substitute(expr, job, instance):
    """Grafana's variables as a dashboard user with one job and instance selected sees them."""
    return (expr.replace("$__rate_interval", "30s").replace("$job", _regex_value(job))
            .replace("$instance", _regex_value(instance)).replace("$pool", ".*"))


@needs_prometheus
def test_every_dashboard_panel_query_runs_on_prometheus_scraping_switchyard(
        origins, switchyard, tmp_path):
    (o,) = origins(1)
    p = switchyard.start(_reasons_config(switchyard, o))
    code, _ = admin_json(p.admin_port, "/pools/off/backends/o1/disable", method="POST")
    assert code == 200
    instance = "%s:%d" % (LOOPBACK, p.admin_port)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: switchyard\n"
        "    static_configs:\n      - targets: ['%s']\n" % instance)
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % (tmp_path / "prometheus.yml"),
         "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
         "--web.listen-address=%s:%d" % (LOOPBACK, prom_port), "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    stop = threading.Event()
    sent = [0]

    def load():  # bounded: stops with the test, at most 2000 requests
        while not stop.is_set() and sent[0] < 2000:
            try:
                request(p.port, "/bytes?n=100" if sent[0] % 5 else "/nowhere")
            except OSError:
                pass
            sent[0] += 1
            time.sleep(0.01)

    t = threading.Thread(target=load, daemon=True)
    try:
        def scraped():
            if prom.poll() is not None:
                pytest.fail("prometheus exited: %s" % (tmp_path / "prometheus.log").read_text())
            try:
                res = _query(prom_port, "up{job='switchyard'}")
            except OSError:
                return None
            return res["status"] == "success" and res["data"]["result"]

        up = wait_until(scraped, 30, interval=0.2, what="prometheus to scrape switchyard")
        assert up[0]["value"][1] == "1"
        t.start()  # traffic after a first scrape: rate() sees the counters move
        _local_answers(p)

        optional = _optional_metrics()
        targets = _dashboard_targets()
        assert len(targets) >= 17
        pending = []
        for title, expr in targets:
            q = _substitute(expr, "switchyard", instance)
            assert "$" not in q, q
            doc = _query(prom_port, q)
            assert doc["status"] == "success", (title, q, doc)
            names = set(re.findall(r"\b((?:switchyard|process)_\w+)\{", q))
            if not names & optional:
                pending.append((title, q))

        # Panels on metrics of this build show data once the traffic has been scraped.
        deadline = time.monotonic() + 30
        while True:
            empty = [title for title, q in pending
                     if not _query(prom_port, q)["data"]["result"]]
            if not empty:
                break
            assert time.monotonic() < deadline, "panels without data: %s" % empty
            time.sleep(0.5)
        # The two that need traffic of a kind: 5xx ratio and local answers by reason.
        q = _substitute('sum by (reason) (increase(switchyard_local_responses_total'
                        '{job=~"$job",instance=~"$instance"}[1m])) > 0', "switchyard", instance)

        def reasons_seen():
            res = _query(prom_port, q)["data"]["result"]
            seen = {r["metric"]["reason"] for r in res}
            return seen >= {"no_route", "no_backend", "connect_failed", "upstream_timeout",
                            "bad_request"} and seen
        wait_until(reasons_seen, 30, interval=0.5, what="local answers by reason in prometheus")
        q = _substitute('sum(rate(switchyard_requests_total{job=~"$job",instance=~"$instance",'
                        'code_class="2xx"}[30s])) > 0', "switchyard", instance)
        wait_until(lambda: _query(prom_port, q)["data"]["result"], 30, interval=0.5,
                   what="a positive request rate in prometheus")
    finally:
        stop.set()
        if t.is_alive():
            t.join(5)
        stop_process(prom, 10)
        log.close()
