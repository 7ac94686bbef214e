"""Containers and safe defaults: `workers: auto` follows the CPUs the process may run on; the
admin API refuses an exposed address without a token, takes POSTs only with it and never from a
browser page; /readyz fails while a worker's loop is stuck, /healthz stays cheap."""

import ctypes
import os
import subprocess

import pytest

from conftest import free_port, request, wait_until
from obs_util import admin, status

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000


def test_workers_auto_follows_the_affinity_mask(origins, switchyard, tmp_path):
    if not os.path.exists("/usr/bin/taskset"):
        pytest.skip("taskset (util-linux) not installed")
    (b1,) = origins(1)
    cfg = switchyard.config([b1], workers="auto")
    path = switchyard.write(cfg, "auto.yaml")
    port = int(cfg["listeners"][0]["listen"].rsplit(":", 1)[1])
    admin_port = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
    proc = subprocess.Popen(["/usr/bin/taskset", "-c", "0", str(switchyard.binary), "-c",
                             str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: admin_accepts(admin_port), 10, what="switchyard to listen")
        assert status(admin_port)["workers"] == 1
        assert request(port, "/").status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"(1 workers)" in err
    # Without taskset: every CPU of the mask, unless a cgroup CPU quota allows fewer.
    p = switchyard.start(cfg)
    assert status(p.admin_port)["workers"] == min(len(os.sched_getaffinity(0)), cgroup_cpus())


def cgroup_cpus():
    """The tightest cgroup v2 cpu.max of this process's cgroup and its parents, rounded up."""
    best = 1 << 30
    try:
        with open("/proc/self/cgroup") as f:
            own = [l[3:].strip() for l in f if l.startswith("0::")][0]
    except (OSError, IndexError):
        return best
    parts = own.strip("/").split("/") if own.strip("/") else []
    for i in range(len(parts), -1, -1):
        try:
            with open("/sys/fs/cgroup/%s/cpu.max" % "/".join(parts[:i])) as f:
                quota, period = f.read().split()
        except (OSError, ValueError):
            continue
        if quota != "max":
            best = min(best, -(-int(quota) // int(period)))
    return best


def admin_accepts(port):
    try:
        return admin(port, "/healthz").status == 200
    except OSError:
        return False


def test_exposed_admin_needs_a_token(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    admin_port = free_port()
    cfg["admin"] = {"listen": "0.0.0.0:%d" % admin_port}
    path = switchyard.write(cfg, "exposed.yaml")
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode == 1
    line = [l for l in path.read_text().splitlines() if "0.0.0.0" in l][0]
    where = "%s:%d:%d: admin.listen: 0.0.0.0:%d is reachable from other hosts" % (
        path, path.read_text().splitlines().index(line) + 1, line.index("0.0.0.0") + 1,
        admin_port)
    assert where in r.stderr, r.stderr
    assert "token_file" in r.stderr

    token_file = tmp_path / "token"
    token_file.write_text("tok-123\n")
    cfg["admin"]["token_file"] = str(token_file)
    p = switchyard.start(cfg, admin_port=admin_port)
    assert admin(admin_port, "/status").status == 200           # reads stay open
    assert admin(admin_port, "/reload", method="POST").status == 401
    assert admin(admin_port, "/pools/web/backends/b1/drain", method="POST").status == 401
    assert admin(admin_port, "/upgrade", method="POST").status == 401
    assert admin(admin_port, "/reload", method="POST", token="tok-123").status == 200
    # A browser page cannot drive it, token or not.
    r = request(admin_port, "/reload", method="POST",
                headers={"Origin": "https://example.com", "Authorization": "Bearer tok-123"})
    assert r.status == 403
    assert status(admin_port)["config_version"] == 2
    assert request(p.port, "/").status == 200


def test_loopback_admin_refuses_browser_posts(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    r = request(p.admin_port, "/pools/web/backends/b1/disable", method="POST",
                headers={"Origin": "http://attacker.example"})
    assert r.status == 403 and b"Origin" in r.body
    assert status(p.admin_port)["pools"][0]["backends"][0]["admin_state"] == "enabled"
    assert admin(p.admin_port, "/pools/web/backends/b1/disable", method="POST").status == 200


def worker_threads(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            name = f.read().strip()
        if name.startswith("sy-worker-"):
            out[name] = int(tid)
    return out


def test_readyz_fails_while_a_worker_is_stuck(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(switchyard.config([b1], workers=2))
    assert admin(p.admin_port, "/readyz").status == 200
    threads = worker_threads(p.proc.pid)
    assert set(threads) == {"sy-worker-0", "sy-worker-1"}
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    tid = threads["sy-worker-1"]
    # Stop that one thread (ptrace stops a thread, not its process): its loop makes no progress
    # while the main thread and the other worker carry on.
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        pytest.skip("ptrace not permitted here (errno %d)" % ctypes.get_errno())
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0
        os.waitpid(tid, WALL)
        r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(
            admin(p.admin_port, "/readyz")), 10, what="/readyz to fail")
        assert r.body.startswith(b"worker 1 has not run its event loop for ")
        assert admin(p.admin_port, "/healthz").status == 200  # liveness stays cheap
    finally:
        libc.ptrace(PTRACE_DETACH, tid, None, None)
    wait_until(lambda: admin(p.admin_port, "/readyz").status == 200, 5,
               what="/readyz to recover")
