"""The Kubernetes manifests and the systemd unit under docker/, checked without a cluster: the
ConfigMap's config passes `switchyard --check` and agrees with the Deployment (ports, probes,
mounts, token Secret, grace period), Service, PodMonitor and PodDisruptionBudget; the unit has
the keys it promises (and passes `systemd-analyze verify` where installed)."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

from deploy_util import CONFIG_PATH, DOCKER, check_config, duration_s, port_of, yaml

DEFAULT_SHUTDOWN_S = 30  # timeouts.shutdown default (config/README.md)


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


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
