"""What the test_deploy_*.py files share: python3-yaml (the modules are skipped without it),
the docker/ directory, the config path in the image, `switchyard --check` on a config,
address and duration parsing, and docker/healthcheck.sh run against an address."""

import re
import subprocess

import pytest

from conftest import REPO

yaml = pytest.importorskip("yaml",
                           reason="python3-yaml not installed (scripts/install-deps.sh test)")

DOCKER = REPO / "docker"
CONFIG_PATH = "/etc/switchyard/switchyard.yaml"


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


def run_probe(address):
    return subprocess.run(["/bin/bash", str(DOCKER / "healthcheck.sh"), address],
                          capture_output=True, text=True, timeout=10)
