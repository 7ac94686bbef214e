"""`meson install` (into a DESTDIR, from the build directory of the binary under test) puts the
binary, the manual pages, the systemd unit, the configuration and the docs where README
"Install" says; the installed configuration passes --check; debian/ agrees with meson.build."""

import json
import re
import subprocess

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def installed(switchyard_bin, tmp_path_factory):
    build = switchyard_bin.parent
    info = build / "meson-info" / "intro-buildoptions.json"
    if not info.exists():
        pytest.skip("%s is not a meson build directory" % build)
    options = {o["name"]: o["value"] for o in json.loads(info.read_text())}
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(build), "--no-rebuild", "--quiet",
                        "--destdir", str(dest)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest, options


def under(dest, options, *parts):
    prefix = options["prefix"].lstrip("/")
    return dest.joinpath(prefix, *parts)


def test_install_layout(installed):
    dest, o = installed
    sbin = under(dest, o, o["sbindir"], "switchyard")
    assert sbin.is_file()
    assert under(dest, o, o["mandir"], "man8", "switchyard.8").is_file()
    page5 = under(dest, o, o["mandir"], "man5", "switchyard.yaml.5").read_text()
    assert ".SS \"\\fBpools[].tls\\fR\"" in page5
    docs = under(dest, o, o["datadir"], "doc", "switchyard")
    for name in ["README.md", "config-reference.md", "examples/switchyard.example.yaml"]:
        assert (docs / name).is_file(), name
    unitdir = o["systemdunitdir"] or "/".join([o["prefix"], "lib", "systemd", "system"])
    unit = (dest / unitdir.lstrip("/") / "switchyard.service").read_text()
    # ExecStart and ExecReload run the installed binary, not the /usr/local/bin of the source.
    binary = "/".join([o["prefix"], o["sbindir"], "switchyard"])
    assert re.search(r"^ExecStart=%s " % re.escape(binary), unit, re.M), unit
    assert "/usr/local/bin/switchyard" not in unit or binary == "/usr/local/bin/switchyard"
    sysconf = o["sysconfdir"]
    etc = dest / (sysconf if sysconf.startswith("/") else o["prefix"] + "/" + sysconf).lstrip("/")
    assert (etc / "switchyard" / "switchyard.yaml").read_text() == \
        (REPO / "config" / "switchyard.installed.yaml").read_text()


def test_installed_config_passes_check(installed):
    dest, o = installed
    sbin = under(dest, o, o["sbindir"], "switchyard")
    r = subprocess.run([str(sbin), "--check", "-c",
                        str(REPO / "config" / "switchyard.installed.yaml")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_debian_matches_meson():
    version = re.search(r"^\s*version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text(),
                        re.M).group(1)
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    assert first.startswith("switchyard (%s) " % version), first
    control = (REPO / "debian" / "control").read_text()
    assert "debhelper-compat (= 13)" in control
    assert re.search(r"^\s*dh \$@ --buildsystem=meson$", (REPO / "debian" / "rules").read_text(),
                     re.M)
    # The logrotate snippet sends what reopens the access log (switchyard(8), SIGNALS).
    assert "--signal=SIGUSR1" in (REPO / "debian" / "switchyard.logrotate").read_text()
