"""io_uring: the data path on a ring, and the fallback where a sandbox refuses io_uring.

The whole suite runs on io_uring with SWITCHYARD_IO_URING=on (conftest.py); this file checks the
choice itself: `on` serves on the ring, and under a seccomp filter that makes io_uring_setup fail
with EPERM (what container runtimes' default profiles do) `auto` serves on epoll and `on` exits
with the reason.
"""

import sys
from pathlib import Path

import pytest

from conftest import (Proxy, RawConn, get_request, io_uring_refused, pattern_bytes, request, sha256,
                      wait_until)

HERE = Path(__file__).resolve().parent
SECCOMP_EXEC = HERE / "seccomp_exec.py"
MiB = 1024 * 1024


def kernel_refuses():
    """Why this machine cannot run the ring (seccomp, io_uring disabled, Linux < 6.1), or None."""
    return io_uring_refused()


def sandboxed(switchyard, tmp_path, cfg):
    """A proxy started through seccomp_exec.py (io_uring_setup -> EPERM)."""
    pytest.importorskip("seccomp", reason="python3-seccomp is not installed")
    wrapper = tmp_path / "switchyard-seccomp"
    wrapper.write_text("#!/bin/sh\nexec %s %s %s \"$@\"\n"
                       % (sys.executable, SECCOMP_EXEC, switchyard.binary))
    wrapper.chmod(0o755)
    path = switchyard.write(cfg)
    port = int(cfg["listeners"][0]["listen"].rsplit(":", 1)[1])
    p = Proxy(wrapper, path, port, None, tmp_path, len(switchyard.proxies) + 1)
    switchyard.proxies.append(p)
    return p


def test_on_serves_on_the_ring(origins, switchyard):
    if why := kernel_refuses():
        pytest.skip(why)
    bes = origins(2)
    cfg = switchyard.config(bes, workers=1)
    cfg["io_uring"] = "on"
    p = switchyard.start(cfg)
    wait_until(lambda: "workers (io_uring)" in p.stderr(), 10.0, what="the start line")
    # Keep-alive and pipelining on one connection, then a body both ways across the buffer
    # ring (a 4 MiB POST echoed: many provided buffers, backpressure on both sides).
    with RawConn(p.port) as c:
        c.send(b"".join(get_request("GET", "/n%d" % i) for i in range(5)))
        for i in range(5):
            r = c.read_response()
            assert r.status == 200
    body, digest = pattern_bytes(4 * MiB, seed=5)
    r = request(p.port, "/echo", "POST", body, timeout=30)
    assert r.status == 200
    assert r.header("X-Body-Sha256") == digest, "origin received different bytes"
    assert sha256(r.body) == digest


def test_auto_falls_back_to_epoll_when_seccomp_refuses(origins, switchyard, tmp_path):
    bes = origins(1)
    cfg = switchyard.config(bes, workers=1)
    cfg["io_uring"] = "auto"
    p = sandboxed(switchyard, tmp_path, cfg)
    p.wait_ready(10.0)
    r = request(p.port, "/")
    assert r.status == 200 and r.header("X-Backend") == bes[0].name
    log = wait_until(lambda: "workers (epoll)" in p.stderr() and p.stderr(), 10.0,
                     what="the start line")
    assert "io_uring: auto: using epoll: io_uring_setup: operation not permitted" in log
    assert len([l for l in log.splitlines() if "io_uring" in l]) == 1
    assert "workers (epoll)" in log


def test_on_refuses_to_start_when_seccomp_refuses(origins, switchyard, tmp_path):
    bes = origins(1)
    cfg = switchyard.config(bes, workers=1)
    cfg["io_uring"] = "on"
    p = sandboxed(switchyard, tmp_path, cfg)
    p.expect_failure = True
    wait_until(lambda: p.proc.poll() is not None, 10.0, what="switchyard exiting")
    assert p.proc.returncode == 1
    assert "io_uring: on, but io_uring_setup: operation not permitted" in p.stderr()
    assert "set io_uring: auto to fall back to epoll" in p.stderr()
    assert not p.accepts()
