"""Binary upgrades (SIGUSR2, POST /upgrade): the running process starts the binary now on disk,
hands it every listening socket, and drains only once the new one is ready; a new process that
fails leaves the old one serving. Under load, no request fails and no connection is refused."""

import os
import signal

import pytest

from conftest import LOOPBACK, accepts, free_port, request, to_yaml, wait_until
from obs_util import admin, status
from load_util import Load
from upgrade_util import (alive, copy_binary, read_pid, replace_binary, stop_pid,
                          upgrade_and_wait)


@pytest.fixture
def upgradable(switchyard, switchyard_bin, tmp_path):
    """Starts switchyard from a private copy of the binary with --pid-file; stops whichever
    process holds the pid file at the end."""
    started = {}

    def start(cfg):
        switchyard.binary = copy_binary(switchyard_bin, tmp_path)
        pid_file = tmp_path / "switchyard.pid"
        p = switchyard.start(cfg, extra_args=["--pid-file", str(pid_file)])
        wait_until(lambda: read_pid(pid_file) == p.proc.pid, 5, what="the pid file")
        started.update(proxy=p, pid_file=pid_file)
        return p, pid_file

    yield start
    if started:
        stop_pid(read_pid(started["pid_file"]))


def test_twenty_upgrades_under_load_lose_nothing(origins, switchyard, switchyard_bin, upgradable):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1, b2])
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    p, pid_file = upgradable(cfg)
    pid = p.proc.pid
    pids = [pid]
    with Load(p.port, h2=1, readyz_port=p.admin_port) as load:
        wait_until(lambda: load.count() >= 50, 10, what="load to start")
        for i in range(20):
            if i % 5 == 4:  # a package upgrade: the file is replaced, /proc/<pid>/exe is deleted
                replace_binary(switchyard_bin, switchyard.binary)
            before = load.count()
            pid = upgrade_and_wait(lambda: os.kill(pid, signal.SIGUSR2), pid_file, pid)
            pids.append(pid)
            wait_until(lambda: load.count() >= before + 20, 10,
                       what="requests served after upgrade %d" % (i + 1))
    print("20 upgrades: %d answers (%d over HTTP/2), %d HTTP/2 streams retried after GOAWAY"
          % (load.ok, load.h2_ok, load.unprocessed))
    assert len(set(pids)) == 21
    assert load.failures == [], load.failures[:5]
    assert load.ok > 500 and load.h2_ok > 50 and load.readyz_ok > 50
    assert p.wait_exit(5) == 0  # the first process drained and exited cleanly
    log = p.stderr()
    assert "the new process (pid %d) is ready" % pids[1] in log
    assert status(p.admin_port)["workers"] == 2
    assert request(p.port, "/").status == 200


def test_refused_config_keeps_the_old_process_serving(origins, switchyard, upgradable):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    p, pid_file = upgradable(cfg)
    bad = dict(cfg, bogus_key=1)
    p.cfg_path.write_text(to_yaml(bad))
    p.signal(signal.SIGUSR2)
    wait_until(lambda: "upgrade failed" in p.stderr(), 10, what="the failure to be logged")
    line = [l for l in p.stderr().splitlines() if "upgrade failed" in l][0]
    assert "keeps serving" in line and "refused to start" in line
    assert "%s:" % p.cfg_path in line and "bogus_key: unknown key" in line
    assert read_pid(pid_file) == p.proc.pid
    assert p.proc.poll() is None
    for _ in range(10):
        assert request(p.port, "/").status == 200
    assert admin(p.admin_port, "/readyz").status == 200
    # Fixed, the next upgrade goes through.
    p.cfg_path.write_text(to_yaml(cfg))
    new = upgrade_and_wait(lambda: p.signal(signal.SIGUSR2), pid_file, p.proc.pid)
    assert new != p.proc.pid
    assert request(p.port, "/").status == 200


def test_bad_binary_keeps_the_old_process_serving(origins, switchyard, upgradable):
    (b1,) = origins(1)
    p, pid_file = upgradable(switchyard.config([b1]))
    script = switchyard.binary.with_name("broken")
    script.write_text("#!/bin/sh\necho 'broken build' >&2\nexit 3\n")
    script.chmod(0o755)
    replace_binary(script, switchyard.binary)
    p.signal(signal.SIGUSR2)
    wait_until(lambda: "upgrade failed" in p.stderr(), 10, what="the failure to be logged")
    assert "exited with status 3 before it was ready" in p.stderr()
    switchyard.binary.write_bytes(b"\x7fELF garbage")
    p.signal(signal.SIGUSR2)
    wait_until(lambda: p.stderr().count("upgrade failed") + p.stderr().count(
        "upgrade not started") >= 2, 10, what="the second failure to be logged")
    assert read_pid(pid_file) == p.proc.pid and p.proc.poll() is None
    assert request(p.port, "/").status == 200


def test_post_upgrade_and_changed_listeners(origins, switchyard, upgradable):
    (b1,) = origins(1)
    cfg = switchyard.config([b1], workers=2)
    extra = free_port()
    cfg["listeners"].append({"name": "extra", "listen": "%s:%d" % (LOOPBACK, extra),
                             "routes": [{"pool": "web"}]})
    p, pid_file = upgradable(cfg)
    assert accepts(extra)
    # The new config drops `extra`, adds `third` and runs 3 workers on 2 handed-over sockets.
    third = free_port()
    cfg["listeners"][1] = {"name": "third", "listen": "%s:%d" % (LOOPBACK, third),
                           "routes": [{"pool": "web"}]}
    cfg["workers"] = 3
    p.cfg_path.write_text(to_yaml(cfg))
    r = admin(p.admin_port, "/upgrade", method="POST")
    assert r.status == 202
    new = wait_until(lambda: (lambda x: x if x and x != p.proc.pid else None)(read_pid(pid_file)),
                     10, what="the new pid")
    assert p.wait_exit(10) == 0
    assert alive(new)
    assert status(p.admin_port)["workers"] == 3
    assert request(third, "/").status == 200
    assert not accepts(extra)
    for _ in range(10):
        assert request(p.port, "/").status == 200
    log = p.stderr()
    assert "socket %s:%d is not in the config any more: closed" % (LOOPBACK, extra) in log
    # A POST from a browser page cannot start one.
    r = request(p.admin_port, "/upgrade", method="POST",
                headers={"Origin": "http://evil.example"})
    assert r.status == 403
    assert read_pid(pid_file) == new
