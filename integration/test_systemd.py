"""systemd integration: the sd_notify messages a Type=notify unit receives, in order, on a fake
$NOTIFY_SOCKET (path and abstract names), and `switchyard --reload` (the unit's ExecReload),
which fails when the running process refuses the file."""

import os
import signal
import socket

import pytest

from conftest import to_yaml, wait_until
from upgrade_util import alive, read_pid, stop_pid


class FakeSystemd:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.messages = []  # (sender pid, {key: value}) in arrival order
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def next(self, timeout=10.0):
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = int.from_bytes(payload[:4], "little")
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append((pid, fields))
        return pid, fields

    def close(self):
        self.sock.close()


def started(switchyard, cfg, notify_socket, extra_args=()):
    return switchyard.start(cfg, extra_env={"NOTIFY_SOCKET": notify_socket},
                            extra_args=extra_args)


def test_notify_ready_reload_refusal_and_stopping(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    path = str(tmp_path / "notify.sock")
    systemd = FakeSystemd(path)
    cfg = switchyard.config([b1])
    p = started(switchyard, cfg, path)

    pid, m = systemd.next()
    assert pid == p.proc.pid
    assert m["READY"] == "1" and m["STATUS"].startswith("serving")

    # A good reload: RELOADING=1 with the monotonic time, the outcome, READY=1.
    cfg["pools"][0]["policy"] = "least_conn"
    p.cfg_path.write_text(to_yaml(cfg))
    before = int(time_monotonic_usec())
    p.signal(signal.SIGHUP)
    _, m = systemd.next()
    assert m["RELOADING"] == "1"
    assert before <= int(m["MONOTONIC_USEC"]) <= int(time_monotonic_usec())
    _, m = systemd.next()
    assert m == {"STATUS": "reloaded, config version 2"}
    _, m = systemd.next()
    assert m == {"READY": "1"}

    # A refused one says why in STATUS, and the service is READY again (on the old config).
    cfg["pools"][0]["policy"] = "nope"
    p.cfg_path.write_text(to_yaml(cfg))
    p.signal(signal.SIGHUP)
    _, m = systemd.next()
    assert m["RELOADING"] == "1" and "MONOTONIC_USEC" in m
    _, m = systemd.next()
    assert m["STATUS"].startswith("reload refused, keeping config version 2: ")
    assert "%s:" % p.cfg_path in m["STATUS"] and "pools[0].policy" in m["STATUS"]
    _, m = systemd.next()
    assert m == {"READY": "1"}

    p.signal(signal.SIGTERM)
    _, m = systemd.next()
    assert m["STOPPING"] == "1"
    assert p.wait_exit(10) == 0
    systemd.close()


def time_monotonic_usec():
    import time
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_notify_mainpid_after_upgrade_on_abstract_socket(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    name = "@switchyard-test-%d" % os.getpid()
    systemd = FakeSystemd("\0" + name[1:])
    pid_file = tmp_path / "switchyard.pid"
    p = started(switchyard, switchyard.config([b1]), name, ["--pid-file", str(pid_file)])
    try:
        _, m = systemd.next()
        assert m["READY"] == "1"
        p.signal(signal.SIGUSR2)
        sender, m = systemd.next()
        new = int(m["MAINPID"])
        assert new != p.proc.pid and sender == new
        sender, m = systemd.next()
        assert sender == new and m["READY"] == "1"
        assert p.wait_exit(10) == 0
        assert read_pid(pid_file) == new and alive(new)
        # The old process drained without STOPPING=1: systemd must not think the service stops.
        os.kill(new, signal.SIGTERM)
        sender, m = systemd.next()
        assert sender == new and m["STOPPING"] == "1"
        wait_until(lambda: not alive(new), 10, what="the new process to exit")
        assert not pid_file.exists()
    finally:
        stop_pid(read_pid(pid_file))
        systemd.close()


def test_reload_command_reports_the_outcome(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    token_file = tmp_path / "admin.token"
    token_file.write_text("s3cret\n")
    cfg = switchyard.config([b1])
    cfg["admin"]["token_file"] = str(token_file)
    p = switchyard.start(cfg)
    r = switchyard.run_cli("--reload", "-c", p.cfg_path)
    assert r.returncode == 0, r.stderr
    assert '"config_version":2' in r.stdout
    # Refused by the running process: the file is valid, but a new listener's port is taken.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cfg["listeners"].append({"name": "extra", "listen": "127.0.0.1:%d" % busy.getsockname()[1],
                             "routes": [{"pool": "web"}]})
    p.cfg_path.write_text(to_yaml(cfg))
    assert switchyard.run_cli("--check", "-c", p.cfg_path).returncode == 0
    r = switchyard.run_cli("--reload", "-c", p.cfg_path)
    busy.close()
    assert r.returncode == 1
    assert "reload failed: status 400" in r.stderr and "listener extra" in r.stderr, r.stderr
    assert "reload refused" in p.stderr()
    # Unparsable: not sent, and says where.
    p.cfg_path.write_text("workers: [\n")
    r = switchyard.run_cli("--reload", "-c", p.cfg_path)
    assert r.returncode == 1 and "%s:" % p.cfg_path in r.stderr
    # Nothing running there.
    p.signal(signal.SIGTERM)
    assert p.wait_exit(10) == 0
    cfg["listeners"].pop()
    p.cfg_path.write_text(to_yaml(cfg))
    r = switchyard.run_cli("--reload", "-c", p.cfg_path)
    assert r.returncode == 1 and "cannot reach the admin API" in r.stderr
