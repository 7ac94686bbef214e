"""The deployment files under docker/, checked without a Docker engine or a cluster (CI has
neither): the Dockerfile builds with exactly the commands CI runs and copies only files that
exist; the compose, Prometheus, Grafana and Kubernetes files parse and agree with each other;
every Switchyard config they carry passes `switchyard --check`; the dashboard queries only
metrics in docker/grafana/dashboard-metrics.txt, which must exist in a live /metrics scrape;
the systemd unit has the keys it promises."""

import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import threading

import pytest

from conftest import LOOPBACK, REPO, free_port, request

yaml = pytest.importorskip("yaml",
                           reason="python3-yaml not installed (scripts/install-deps.sh test)")

DOCKER = REPO / "docker"
CONFIG_PATH = "/etc/switchyard/switchyard.yaml"
DEFAULT_SHUTDOWN_S = 30  # timeouts.shutdown default (config/README.md)
# What the build stage may run: the commands `make test` (CI) runs, through the same targets.
CI_BUILD_COMMANDS = {"scripts/install-deps.sh build", "make build", "make unit"}
RUNTIME_PACKAGES = {"libuv1", "libyaml-cpp0.7", "libssl3", "libmaxminddb0", "libnghttp2-14",
                    "libprometheus-cpp-core1.0", "libhiredis0.14", "libc-ares2", "liburing2"}
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:bookworm-slim already


# ---------------------------------------------------------------------------------------------
# helpers


def dockerfile():
    """[(stage index, INSTRUCTION, argument text)] with continuation lines joined."""
    out, stage, pending = [], -1, ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stage += 1
        out.append((stage, instr, " ".join(args.split())))
    return out


def json_or_shell(args):
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def dockerignore_patterns():
    pats = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line.strip("/"))
    return pats


def ignored(rel, patterns):
    """Whether `rel` (a path in the build context) or a parent is excluded (Docker rules:
    patterns are relative to the context root, `**` matches any number of directories)."""
    parts = rel.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        path = "/".join(parts[:i])
        for p in patterns:
            if p.startswith("**/"):
                if fnmatch.fnmatch(parts[i - 1], p[3:]) or fnmatch.fnmatch(path, p[3:]):
                    return True
            elif fnmatch.fnmatch(path, p):
                return True
    return False


def check_config(switchyard_bin, path):
    r = subprocess.run([str(switchyard_bin), "--check", "-c", str(path)], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "%s does not pass --check: %s%s" % (path, r.stdout, r.stderr)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(text))
    assert m, "duration %r" % text
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


class Healthz(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = Healthz.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def run_probe(address):
    return subprocess.run(["/bin/bash", str(DOCKER / "healthcheck.sh"), address],
                          capture_output=True, text=True, timeout=10)


def admin_get(port, path):
    """(status, body) of GET path on the admin port, or None when nothing listens."""
    try:
        r = request(port, path, timeout=5)
    except OSError:
        return None
    return r.status, r.body.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Dockerfile


def test_dockerfile_is_two_bookworm_stages():
    froms = [(s, a) for s, i, a in dockerfile() if i == "FROM"]
    assert len(froms) == 2
    assert re.fullmatch(r"debian:bookworm(-slim)? AS build", froms[0][1], re.I)
    assert re.fullmatch(r"debian:bookworm(-slim)?", froms[1][1])


def test_dockerfile_copies_only_files_that_exist_and_are_in_the_context():
    patterns = dockerignore_patterns()
    copies = [(s, a) for s, i, a in dockerfile() if i in ("COPY", "ADD")]
    assert copies
    for stage, args in copies:
        words = args.split()
        if words[0].startswith("--from="):
            continue
        for src in words[:-1]:
            if src.startswith("--"):
                continue
            assert (REPO / src).exists(), "COPY source %s does not exist" % src
            if src != ".":
                assert not ignored(src, patterns), "COPY source %s is in .dockerignore" % src


def test_dockerfile_build_stage_runs_what_ci_runs(tmp_path):
    runs = [a for s, i, a in dockerfile() if i == "RUN" and s == 0]
    commands = [c.strip() for r in runs for c in r.split("&&")]
    assert commands and set(commands) <= CI_BUILD_COMMANDS, commands
    # CI runs `make test`; the make targets used here run a subset of what it runs.
    assert re.search(r"^\s*make test\s*$", (REPO / ".ci" / "run").read_text(), re.M)

    def dry_run(target):
        r = subprocess.run(["make", "-n", "-C", str(REPO), target, "BUILD=%s" % (tmp_path / "b")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return [line.strip() for line in r.stdout.splitlines()
                if line.strip() and not line.startswith("make")]

    ci = dry_run("test")
    for target in [c.split()[1] for c in commands if c.startswith("make ")]:
        for line in dry_run(target):
            if line.endswith("/tests/unit_tests --no-intro"):  # run by scripts/run-tests.sh
                assert '"$build/tests/unit_tests" --no-intro' in \
                    (REPO / "scripts" / "run-tests.sh").read_text()
            else:
                assert line in ci, "`make %s` runs %r, which `make test` does not" % (target, line)
    # The binary the runtime stage copies is where `make build` puts it.
    workdir = [a for s, i, a in dockerfile() if i == "WORKDIR" and s == 0][-1]
    build_dir = re.search(r"^BUILD \?= (\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert "executable('switchyard'" in (REPO / "meson.build").read_text()
    copied = [a.split() for s, i, a in dockerfile() if i == "COPY" and a.startswith("--from=build")]
    assert [w[1] for w in copied] == ["%s/%s/switchyard" % (workdir, build_dir)]


def test_dockerfile_runtime_stage(switchyard_bin):
    runtime = [(i, a) for s, i, a in dockerfile() if s == 1]
    user = [a for i, a in runtime if i == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    exposed = {int(p.split("/")[0]) for i, a in runtime if i == "EXPOSE" for p in a.split()}
    default = yaml.safe_load((DOCKER / "switchyard.yaml").read_text())
    assert exposed == {port_of(default["listeners"][0]["listen"]),
                       port_of(default["admin"]["listen"])}
    entry = [json_or_shell(a) for i, a in runtime if i == "ENTRYPOINT"][-1]
    cmd = [json_or_shell(a) for i, a in runtime if i == "CMD"][-1]
    assert entry + cmd == ["switchyard", "-c", CONFIG_PATH]
    copies = {a.split()[-1]: a.split()[-2] for i, a in runtime if i == "COPY"}
    assert copies[CONFIG_PATH] == "docker/switchyard.yaml"
    assert copies["/usr/local/bin/switchyard"] == "/src/build/switchyard"
    health = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert len(health) == 1 and "--timeout=" in health[0]
    probe = json_or_shell(health[0].split(" CMD ", 1)[1])
    assert copies["/usr/local/bin/" + probe[0]] == "docker/healthcheck.sh"
    assert os.access(DOCKER / "healthcheck.sh", os.X_OK)
    assert [a for i, a in runtime if i == "STOPSIGNAL"] == ["SIGTERM"]

    # Runtime packages: exactly the libraries the binary links, beyond the base image's.
    installs = [a for i, a in runtime if i == "RUN" and "apt-get install" in a]
    assert len(installs) == 1
    words = installs[0].split("apt-get install", 1)[1].split("&&")[0].split()
    # ... plus the trust store that pools[].tls uses without `ca:`.
    assert {w for w in words if not w.startswith("-")} == RUNTIME_PACKAGES | {"ca-certificates"}
    ldd = subprocess.run(["ldd", str(switchyard_bin)], capture_output=True, text=True, timeout=30)
    libs = re.findall(r"=> (/\S+)", ldd.stdout)
    assert libs, ldd.stdout
    owners = set()
    for lib in libs:
        r = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
        if r.returncode != 0:  # merged /usr: dpkg may know the /lib spelling only
            r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        assert r.returncode == 0, "no package owns %s" % lib
        owners.add(r.stdout.split(":", 1)[0])
    if "asan" in str(switchyard_bin) or any("libasan" in lib for lib in libs):
        pytest.skip("sanitizer build links extra runtime libraries")
    assert owners <= RUNTIME_PACKAGES | BASE_IMAGE_PACKAGES, owners


def test_dockerfile_oci_labels():
    runtime = [(i, a) for s, i, a in dockerfile() if s == 1]
    labels = {}
    for args in [a for i, a in runtime if i == "LABEL"]:
        for word in shlex.split(args):
            k, _, v = word.partition("=")
            labels[k] = v
    args = {}
    for a in [a for i, a in runtime if i == "ARG"]:
        k, _, v = a.partition("=")
        args[k] = v
    expand = lambda v: re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), "?"), v)
    version = re.search(r"^\s*version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text(),
                        re.M).group(1)
    want = {"title": "switchyard", "version": version, "licenses": "Apache-2.0"}
    for key, value in want.items():
        assert expand(labels["org.opencontainers.image." + key]) == value, key
    for key in ("description", "source"):
        assert "org.opencontainers.image." + key in labels, key
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_dockerignore_keeps_build_outputs_out():
    patterns = dockerignore_patterns()
    for path in ["build", "build/switchyard", "build-asan/tests/unit_tests", ".git/HEAD",
                 "integration/__pycache__/conftest.cpython-311.pyc",
                 "integration/.pytest_cache/v"]:
        assert ignored(path, patterns), path
    for path in ["src/main.cc", "meson.build", "scripts/install-deps.sh", "docker/healthcheck.sh",
                 "config/switchyard.yaml", "tests/main.cc"]:
        assert not ignored(path, patterns), path


def test_image_default_config_passes_check(switchyard_bin):
    check_config(switchyard_bin, DOCKER / "switchyard.yaml")


def test_healthcheck_probe(tmp_path):
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = "%s:%d" % (LOOPBACK, server.server_address[1])
    try:
        Healthz.status = 200
        r = run_probe(address)
        assert r.returncode == 0, r.stderr
        Healthz.status = 503
        r = run_probe(address)
        assert r.returncode == 1
        assert "503" in r.stderr
    finally:
        server.shutdown()
        server.server_close()
    r = run_probe("%s:%d" % (LOOPBACK, free_port()))
    assert r.returncode == 1
    assert "cannot connect" in r.stderr


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


# ---------------------------------------------------------------------------------------------
# Kubernetes


def kube_objects():
    objs = {}
    kdir = DOCKER / "kubernetes"
    kustomization = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    files = sorted(p.name for p in kdir.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    for name in files:
        for doc in load_yaml_docs(kdir / name):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def test_kubernetes_manifests(switchyard_bin, tmp_path):
    objs = kube_objects()
    cm = objs[("ConfigMap", "switchyard")]
    path = tmp_path / "switchyard.yaml"
    path.write_text(cm["data"]["switchyard.yaml"])
    check_config(switchyard_bin, path)
    cfg = yaml.safe_load(path.read_text())
    admin_port = port_of(cfg["admin"]["listen"])
    assert cfg["admin"]["listen"].startswith("0.0.0.0:")
    http_port = port_of(cfg["listeners"][0]["listen"])
    shutdown = duration_s(cfg["timeouts"]["shutdown"])

    dep = objs[("Deployment", "switchyard")]
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    spec = pod["spec"]
    (c,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": http_port, "admin": admin_port}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path and ports.get(get["port"], get["port"]) == admin_port
    assert c["args"] == ["-c", CONFIG_PATH]
    mount = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    (vol,) = [n for n, m in mount.items() if m == os.path.dirname(CONFIG_PATH)]
    assert volumes[vol]["configMap"]["name"] == "switchyard"
    # admin.token_file is a key of a Secret mounted as a file, readable by the pod's group.
    token_dir, token_key = os.path.split(cfg["admin"]["token_file"])
    (tvol,) = [n for n, m in mount.items() if m == token_dir]
    secret = objs[("Secret", volumes[tvol]["secret"]["secretName"])]
    assert token_key in secret["stringData"]
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0].endswith("sleep")
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > shutdown + int(pre_stop[1]), "grace %ss < preStop + timeouts.shutdown" % grace
    uid = re.search(r"--uid (\d+)", (DOCKER / "Dockerfile").read_text()).group(1)
    assert spec["securityContext"]["runAsUser"] == int(uid)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False

    svc = objs[("Service", "switchyard")]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports)
    pm = objs[("PodMonitor", "switchyard")]
    assert pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["port"] == "admin" and ep["path"] == "/metrics"
    pdb = objs[("PodDisruptionBudget", "switchyard")]
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]

    # The example backends: the headless Service the ConfigMap discovers, on the right port.
    dns_host, dns_port = cfg["pools"][0]["discovery"]["dns"].rsplit(":", 1)
    headless = objs[("Service", dns_host)]
    assert headless["spec"]["clusterIP"] == "None"
    assert int(dns_port) in {p["port"] for p in headless["spec"]["ports"]}


# ---------------------------------------------------------------------------------------------
# systemd


def unit_entries():
    """[(section, key, value)] of docker/switchyard.service, repeated keys kept in order."""
    out, section = [], None
    for line in (DOCKER / "switchyard.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def test_systemd_unit(switchyard_bin, tmp_path):
    entries = unit_entries()
    service = {}
    for section, key, value in entries:
        if section == "Service":
            service.setdefault(key, []).append(value)

    def one(key):
        assert len(service.get(key, [])) == 1, key
        return service[key][0]

    start = shlex.split(one("ExecStart"))
    assert start[1:3] == ["-c", CONFIG_PATH]
    assert start[3] == "--pid-file" and start[4].startswith("/run/%s/" % one("RuntimeDirectory"))
    assert shlex.split(one("ExecStartPre")) == [start[0], "--check", "-c", CONFIG_PATH]
    # A refused reload makes `systemctl reload` fail: the command waits for the outcome.
    assert shlex.split(one("ExecReload")) == [start[0], "--reload", "-c", CONFIG_PATH]
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "all"  # the new process of a binary upgrade sends MAINPID=
    assert one("KillSignal") == "SIGTERM"
    assert duration_s(one("TimeoutStopSec")) > DEFAULT_SHUTDOWN_S
    assert one("User") not in ("root", "0")
    required = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
    }
    for key, value in required.items():
        assert one(key) == value, key
    assert ("Install", "WantedBy", "multi-user.target") in entries

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed: the unit's syntax is not verified")
    unit = tmp_path / "switchyard.service"
    unit.write_text((DOCKER / "switchyard.service").read_text()
                    .replace("/usr/local/bin/switchyard", str(switchyard_bin)))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
