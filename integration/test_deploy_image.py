"""The image's files under docker/, checked without a Docker engine (CI has none): the Dockerfile
is two bookworm stages, builds with exactly the commands CI runs and copies only files that exist
and are in the build context; its runtime stage (user, ports, entrypoint, healthcheck, packages
matching what the binary links) and OCI labels; .dockerignore; the image's default config passes
`switchyard --check`; the health probe script."""

import fnmatch
import http.server
import json
import os
import re
import shlex
import subprocess
import threading

import pytest

from conftest import LOOPBACK, REPO, free_port
from deploy_util import CONFIG_PATH, DOCKER, check_config, port_of, run_probe, yaml

# What the build stage may run: the commands `make test` (CI) runs, through the same targets.
CI_BUILD_COMMANDS = {"scripts/install-deps.sh build", "make build", "make unit"}
RUNTIME_PACKAGES = {"libuv1", "libyaml-cpp0.7", "libssl3", "libmaxminddb0", "libnghttp2-14",
                    "libprometheus-cpp-core1.0", "libhiredis0.14", "libc-ares2", "liburing2"}
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:bookworm-slim already


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
