"""The command line (src/server/options.cc): -V build information, the forms of --config,
-c without a file, the usage text listing every option, and --dump-config (the effective
configuration with every default, which loads again and covers every key of the reference)."""

import re
import subprocess

import pytest
import yaml

from conftest import REPO, free_port
from reference_keys import key_paths, yaml_paths

VERSION = re.search(r"^\s*version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text(),
                    re.M).group(1)


def run(binary, *args):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def minimal_config(path):
    path.write_text("listeners:\n  - listen: 127.0.0.1:%d\n    routes: [{pool: web}]\n"
                    "pools:\n  - name: web\n    backends: [{address: 127.0.0.1:%d}]\n"
                    % (free_port(), free_port()))
    return path


def test_version(switchyard_bin):
    for flag in ("-v", "--version"):
        r = run(switchyard_bin, flag)
        assert r.returncode == 0 and r.stdout == "switchyard %s\n" % VERSION


def test_build_info(switchyard_bin):
    r = run(switchyard_bin, "-V")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("switchyard %s\n" % VERSION)
    # vcs_tag: `git describe --always --dirty` of the source tree, "unknown" without git.
    assert re.search(r"^git commit: (unknown|\S*[0-9a-f]{7,}(-dirty)?)$", out, re.M), out
    assert re.search(r"^build type: (plain|debug|debugoptimized|release|minsize|custom)$", out,
                     re.M), out
    assert re.search(r"^compiler: (gcc|clang) \d+\.\d+", out, re.M), out
    for pattern in [r"libuv \d+\.\d+\.\d+ \(built with \d+\.\d+\.\d+\)",
                    r"llhttp \d+\.\d+\.\d+",
                    r"OpenSSL 3\.\d+\.\d+",
                    r"yaml-cpp \d+\.\d+",
                    r"nghttp2 \d+\.\d+\.\d+ \(built with \d+\.\d+\.\d+\)",
                    r"libmaxminddb (\d+\.\d+\.\d+|: not built in)"]:
        assert re.search(r"^  " + pattern, out, re.M), (pattern, out)
    if (REPO / ".git").exists():
        described = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=7", "HEAD"],
                                   capture_output=True, text=True, timeout=30)
        if described.returncode == 0:  # the commit printed is a real one of this repository
            commit = re.search(r"^git commit: (\S+)", out, re.M).group(1).removesuffix("-dirty")
            sha = commit.rsplit("-g", 1)[-1]
            if commit != "unknown":
                r = subprocess.run(["git", "-C", str(REPO), "cat-file", "-t", sha],
                                   capture_output=True, text=True, timeout=30)
                assert r.stdout.strip() == "commit", (commit, r.stderr)


@pytest.mark.parametrize("form", ["-c {}", "-c{}", "--config {}", "--config={}"])
def test_config_forms(switchyard_bin, tmp_path, form):
    cfg = minimal_config(tmp_path / "in.yaml")
    args = [a.format(cfg) for a in form.split()]
    r = run(switchyard_bin, "--check", *args)
    assert r.returncode == 0, r.stderr
    assert "configuration %s is valid" % cfg in r.stdout


@pytest.mark.parametrize("args", [["-c"], ["--config"], ["--config="], ["--check", "-c"]])
def test_config_without_file(switchyard_bin, args):
    r = run(switchyard_bin, *args)
    assert r.returncode == 2
    first = r.stderr.splitlines()[0]
    assert "needs a file name" in first and "unknown argument" not in first, r.stderr
    assert "Usage: switchyard" in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown argument '--bogus'"),
    (["-x"], "unknown argument '-x'"),
    (["stray"], "unknown argument 'stray'"),
    (["--check=yes"], "option '--check' takes no value"),
    (["--log-level", "loud"], "unknown log level 'loud'"),
    (["--log-level"], "--log-level needs a level"),
])
def test_bad_arguments(switchyard_bin, args, message):
    r = run(switchyard_bin, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_usage_lists_every_option(switchyard_bin):
    r = run(switchyard_bin, "--help")
    assert r.returncode == 0
    usage, _, body = r.stdout.partition("\n\n")
    described = set()
    for line in body.splitlines():
        m = re.match(r"^  (-\w)?(?:, )?\s*(--[\w-]+)?\s", line + " ")
        if m and (m.group(1) or m.group(2)):
            described |= {o for o in m.groups() if o}
    assert {"-c", "--config", "-t", "--check", "--dump-config", "-w", "--watch", "--log-level",
            "-v", "--version", "-V", "-h", "--help"} <= described, described
    for option in described:
        assert re.search(r"[\[(|\s]%s[\s\]|)=]" % re.escape(option), usage), \
            "usage line lacks %s:\n%s" % (option, usage)
    # ... and the manual page describes each of them.
    page = (REPO / "man" / "switchyard.8").read_text().replace("\\-", "-")
    for option in described:
        assert re.search(r"^\.(?:B|BI|BR|TP)\b.*%s\b" % re.escape(option), page, re.M), \
            "man/switchyard.8 does not describe %s" % option


def dump(binary, path):
    r = run(binary, "--dump-config", "-c", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# effective configuration of %s" % path)
    return r.stdout


def test_dump_config_fills_defaults_and_round_trips(switchyard_bin, tmp_path):
    cfg = minimal_config(tmp_path / "in.yaml")
    first = dump(switchyard_bin, cfg)
    doc = yaml.load(first, Loader=yaml.BaseLoader)  # YAML 1.1 would read the key `on` as True
    # Defaults the input left out, at their documented values.
    assert doc["timeouts"]["upstream_connect"] == "3s"
    assert doc["timeouts"]["shutdown"] == "30s"
    assert doc["listeners"][0]["timeouts"]["client_header"] == "10s"
    assert doc["pools"][0]["timeouts"]["upstream_response"] == "30s"
    assert doc["limits"]["max_header_bytes"] == "32768"
    assert doc["admin"]["listen"] == "127.0.0.1:9901"
    assert doc["pools"][0]["retries"] == {
        "attempts": "2", "on": ["connect_failure"], "per_try_timeout": "0s",
        "methods": "idempotent", "max_body_bytes": "65536",
        "backoff": {"base": "25ms", "max": "250ms"}}  # no budget, no hedge: both off
    assert doc["pools"][0]["limits"] == {"max_pending": "1024", "pending_timeout": "5s"}
    assert doc["pools"][0]["max_idle_per_backend"] == "32"
    assert doc["pools"][0]["protocol"] == "http1"
    assert doc["pools"][0]["http2"] == {"max_concurrent_streams": "100"}
    assert doc["timeouts"]["request"] == "0s"
    # The dump is a valid config, and dumping it again gives the same text.
    out = tmp_path / "dump.yaml"
    out.write_text(first)
    r = run(switchyard_bin, "--check", "-c", out)
    assert r.returncode == 0, r.stderr + first
    again = dump(switchyard_bin, out)
    assert again.split("\n", 1)[1] == first.split("\n", 1)[1]


def test_dump_config_of_invalid_file_fails(switchyard_bin, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("listeners: []\npools: []\nbogus: 1\n")
    r = run(switchyard_bin, "--dump-config", "-c", bad)
    assert r.returncode == 1 and r.stdout == "" and "bad.yaml:" in r.stderr


def tls_files(tmp_path):
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-days", "2", "-keyout", key, "-out", cert], check=True,
                   capture_output=True, timeout=30)
    return cert, key


def test_dump_config_covers_every_reference_key(switchyard_bin, tmp_path):
    """Every key of config/README.md comes out of --dump-config: the annotated example plus
    the optional sections it leaves out (TLS, HTTP/2, redirect, discovery, backend TLS, redis)."""
    cert, key = tls_files(tmp_path)
    password = tmp_path / "redis.pass"
    password.write_text("secret\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("""listeners:
  - listen: 127.0.0.1:%d
    tls: {certificates: [{cert: %s, key: %s}], min_version: "1.3"}
    http2: {max_concurrent_streams: 10}
    routes: [{pool: web}]
  - listen: 127.0.0.1:%d
    redirect_https: 443
    routes: [{pool: web, rate_limit: [fleet]}]
pools:
  - name: web
    tls: {ca: %s, sni: localhost, cert: %s, key: %s}
    discovery: {dns: "web.invalid:80", srv: _http._tcp.web.invalid, resolver: "127.0.0.1:53"}
    health_check: {type: grpc, service: pkg.Svc}
    backends: [{address: 127.0.0.1:%d}]
rate_limits:
  - {name: fleet, key: [host, "header:X-User"], rate: 5/m, store: redis}
redis: {address: 127.0.0.1:%d, password_file: %s}
""" % (free_port(), cert, key, free_port(), cert, cert, key, free_port(), free_port(), password))
    paths = set()
    for cfg in (REPO / "config" / "switchyard.example.yaml", extra):
        text = dump(switchyard_bin, cfg)
        out = tmp_path / ("dump-" + cfg.name)
        out.write_text(text)
        assert run(switchyard_bin, "--check", "-c", out).returncode == 0, text
        paths |= yaml_paths(yaml.load(text, Loader=yaml.BaseLoader))
    missing = sorted(key_paths() - paths)
    assert not missing, ("documented in config/README.md but not printed by --dump-config: %s "
                         "(add them to src/config/dump.cc, and to this test's extra config when "
                         "config/switchyard.example.yaml does not use them)" % missing)
