"""The compose stack under docker/, checked without a Docker engine: the services and their
mounts, the Switchyard config it carries (passes `switchyard --check`, admin token from a
secret), Prometheus scraping the admin port with the alert rules, the Grafana provisioning and
dashboard (its queries parse; its metrics are those of docker/grafana/dashboard-metrics.txt and
exist in a live /metrics scrape), and the health probe against a live Switchyard."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import LOOPBACK, REPO, request
from deploy_util import (CONFIG_PATH, DOCKER, check_config, duration_s, port_of, run_probe,
                         yaml)


def admin_get(port, path):
    """(status, body) of GET path on the admin port, or None when nothing listens."""
    try:
        r = request(port, path, timeout=5)
    except OSError:
        return None
    return r.status, r.body.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# compose, Prometheus, Grafana


def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_stack(switchyard_bin):
    services = compose()["services"]
    assert set(services) == {"switchyard", "web", "prometheus", "grafana"}
    sy = services["switchyard"]
    context = (DOCKER / sy["build"]["context"]).resolve()
    assert context == REPO.resolve()
    assert (context / sy["build"]["dockerfile"]).resolve() == (DOCKER / "Dockerfile").resolve()
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            src, dst = volume.split(":")[:2]
            assert (DOCKER / src).exists(), "%s mounts %s, which does not exist" % (name, src)
    mounts = {v.split(":")[1]: v.split(":")[0] for v in sy["volumes"]}
    config_path = DOCKER / mounts[CONFIG_PATH]
    check_config(switchyard_bin, config_path)
    cfg = yaml.safe_load(config_path.read_text())
    assert cfg["admin"]["listen"] == "0.0.0.0:9901"
    # The admin API takes POSTs only with the token, which comes from a compose secret.
    (secret,) = sy["secrets"]
    assert cfg["admin"]["token_file"] == "/run/secrets/%s" % secret
    token = (DOCKER / compose()["secrets"][secret]["file"]).read_text()
    assert len(token.strip().splitlines()) == 1 and " " not in token.strip()
    assert "127.0.0.1:9901:9901" in sy["ports"]  # not published beyond the host
    published = {int(p.split(":")[-1]) for p in sy["ports"]}
    assert published == {port_of(cfg["listeners"][0]["listen"]), 9901}
    shutdown = duration_s(cfg.get("timeouts", {}).get("shutdown", "30s"))
    assert duration_s(sy["stop_grace_period"]) > shutdown
    # The backends are discovered by the compose service's DNS name, on nginx's port.
    dns_host, dns_port = cfg["pools"][0]["discovery"]["dns"].rsplit(":", 1)
    assert dns_host in services and services[dns_host]["image"].startswith("nginx:")
    assert services[dns_host]["deploy"]["replicas"] == 3
    nginx = (DOCKER / "nginx" / "default.conf").read_text()
    assert re.search(r"^\s*listen %s;" % dns_port, nginx, re.M)


def test_prometheus_scrapes_switchyard_admin():
    prom = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]
    assert targets == ["switchyard:9901"]
    assert prom["scrape_configs"][0].get("metrics_path", "/metrics") == "/metrics"
    # The alerting rules are loaded, from where compose mounts them next to the config.
    assert prom["rule_files"] == ["alerts.yml"]
    volumes = compose()["services"]["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in volumes
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "config",
                            str(DOCKER / "prometheus" / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


def dashboard():
    return json.loads((DOCKER / "grafana" / "dashboards" / "switchyard.json").read_text())


def dashboard_exprs():
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def dashboard_metric_entries():
    """[(name, optional)] from dashboard-metrics.txt ("name" or "name optional")."""
    lines = (DOCKER / "grafana" / "dashboard-metrics.txt").read_text().splitlines()
    out = []
    for line in lines:
        words = line.split()
        if not words or line.startswith("#"):
            continue
        assert len(words) == 1 or words[1:] == ["optional"], line
        out.append((words[0], len(words) == 2))
    return sorted(out)


def dashboard_metric_list():
    return [name for name, _ in dashboard_metric_entries()]


def test_grafana_provisioning_and_dashboard(tmp_path):
    services = compose()["services"]
    grafana = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    prov = DOCKER / grafana["/etc/grafana/provisioning"]
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text())["datasources"][0]
    assert ds["url"] == "http://prometheus:9090" and "prometheus" in services
    providers = yaml.safe_load((prov / "dashboards" / "switchyard.yaml").read_text())["providers"]
    assert DOCKER / grafana[providers[0]["options"]["path"]] == DOCKER / "grafana" / "dashboards"

    d = dashboard()
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"] for p in d["panels"])
    for wanted in ["Requests/s by backend", "p50 / p99", "up / down", "Ejections",
                   "connections"]:
        assert wanted in titles
    # Imports into any Grafana: the data source is a variable (no uid of this stack's), and
    # job/instance variables select the Switchyard.
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ["job", "instance", "pool"]:
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    def uids(node):
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "uid"] + \
                [u for v in node.values() for u in uids(v)]
        return [u for v in node for u in uids(v)] if isinstance(node, list) else []
    assert set(uids({k: v for k, v in d.items() if k != "uid"})) == {"${datasource}"}
    for p in d["panels"]:
        assert p["datasource"]["uid"] == "${datasource}"
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            assert 'job=~"$job"' in t["expr"] and 'instance=~"$instance"' in t["expr"], t["expr"]

    # Metric names queried == the list kept in sync with src/metrics.
    queried = sorted({m for e in dashboard_exprs() for m in re.findall(r"\b(switchyard_\w+)", e)})
    assert queried == dashboard_metric_list()
    quantiles = [e for e in dashboard_exprs() if "histogram_quantile" in e]
    assert any(e.startswith("histogram_quantile(0.50") for e in quantiles)
    assert any(e.startswith("histogram_quantile(0.99") for e in quantiles)

    # Every expression is valid PromQL (Grafana's variables replaced): promtool parses them
    # as recording rules.
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus)")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr%d" % i,
         "expr": e.replace("$__rate_interval", "1m").replace("$pool", ".*")
                  .replace("$job", ".*").replace("$instance", ".*")}
        for i, e in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    r = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_metrics_exist_in_a_live_scrape(switchyard, origins):
    b1, b2 = origins(2)
    proxy = switchyard.start(switchyard.config([b1, b2]))
    for _ in range(4):
        assert request(proxy.port, "/").status == 200
    scrape = admin_get(proxy.admin_port, "/metrics")
    if scrape is None or scrape[0] == 404:
        pytest.skip("GET /metrics on admin.listen %s: observability (src/metrics, src/admin) is "
                    "not in this build, so the dashboard's metrics cannot be checked live"
                    % ("refused" if scrape is None else "answers 404"))
    status, text = scrape
    assert status == 200
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, 1)[0])
    missing = [m for m, optional in dashboard_metric_entries() if not optional and m not in names]
    assert not missing, "the dashboard queries metrics /metrics does not export: %s" % missing


def test_healthcheck_probe_against_switchyard(switchyard, origins):
    (b1,) = origins(1)
    proxy = switchyard.start(switchyard.config([b1]))
    answer = admin_get(proxy.admin_port, "/healthz")
    if answer is None or answer[0] == 404:
        pytest.skip("GET /healthz on admin.listen %s: the admin listener (src/admin) is not in "
                    "this build" % ("refused" if answer is None else "answers 404"))
    r = run_probe("%s:%d" % (LOOPBACK, proxy.admin_port))
    assert r.returncode == 0, r.stderr
