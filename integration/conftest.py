"""Fixtures and helpers for Switchyard integration tests.

Everything runs on loopback. Waits poll a condition against a deadline; nothing sleeps blindly.

Fixtures
  switchyard_bin   path of the binary (env SWITCHYARD_BIN, default <repo>/build/switchyard);
                   tests that use it are skipped while it does not exist
  origins          factory: origins(3) -> [Origin b1, b2, b3] (integration/origin.py processes)
  switchyard       ProxyManager: .config(backends, ...) -> dict, .start(cfg) -> Proxy; every proxy
                   is stopped with SIGTERM at teardown and the test errors if one crashed

Helpers (clients.py, re-exported here)
  RawConn          raw socket client with a response parser (pipelining, HEAD, 1xx, close)
  request()        one http.client request on a fresh connection -> Resp
  accepts(port)    the port accepts a TCP connection; serves(port): a request answers 200
  spread()         n requests (optionally concurrent) -> Counter of X-Backend
Helpers (here)
  to_yaml()        small block-style YAML writer for config dicts
Environment
  SWITCHYARD_IO_URING=on|auto|off  adds `io_uring:` to the configs the ProxyManager writes
  free_port(), dead_port(), wait_until()
"""

import ctypes
import faulthandler
import hashlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ORIGIN_PY = HERE / "origin.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TEST_WATCHDOG_S = 120  # a hung test dumps stacks and ends the run instead of blocking CI

sys.path.insert(0, str(HERE))
from origin import pattern_bytes, chunk_sizes  # noqa: E402,F401  (re-exported for tests)
from clients import (LOOPBACK, RawConn, Resp, accepts, get_request, request,  # noqa: E402,F401
                     serves, spread)


# ---------------------------------------------------------------------------------------------
# small utilities


_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).

    Never hands out the same port twice in one run, so a listener, an admin port and a "dead"
    backend port picked one after another cannot collide.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port found")


def dead_port():
    """A loopback port with nothing listening: connecting to it is refused."""
    return free_port()


def wait_until(cond, timeout, interval=0.02, what="condition"):
    """Poll cond() until it returns a truthy value; return it. Fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def stop_process(proc, timeout=5.0):
    """SIGTERM a helper process (origin, dnsmasq, Prometheus) and reap it; SIGKILL if it is stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _pdeathsig():
    """Child-side: die with the test runner, so a killed pytest leaves no processes behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@%+-]*$")


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and not s.endswith(":"):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def _yaml_lines(obj, ind, out):
    pad = " " * ind
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                _yaml_lines(v, ind + 2, out)
            elif isinstance(v, dict):
                out.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = []
                _yaml_lines(item, ind + 2, sub)
                sub[0] = pad + "- " + sub[0][ind + 2:]
                out.extend(sub)
            else:
                out.append("%s- %s" % (pad, _yaml_scalar(item) if not isinstance(item, (dict, list))
                                       else ("{}" if isinstance(item, dict) else "[]")))
    else:
        out.append(pad + _yaml_scalar(obj))


# SWITCHYARD_IO_URING=on|auto|off runs the suite on that data path: configs written through the
# ProxyManager get `io_uring: <value>` unless they set it themselves. With `on` on a machine that
# refuses io_uring every proxy start fails (the binary says why).
IO_URING = os.environ.get("SWITCHYARD_IO_URING", "")


def io_uring_refused():
    """Why this machine cannot run Switchyard's ring, or None: asks the kernel for a ring with the
    flags the worker uses (SINGLE_ISSUER | DEFER_TASKRUN), so seccomp (EPERM), a disabled
    io_uring and kernels before 6.1 (EINVAL) all show here as they would to the binary."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    ctypes.memmove(ctypes.addressof(params) + 8,  # .flags
                   (ctypes.c_uint32 * 1)((1 << 12) | (1 << 13)), 4)
    fd = libc.syscall(425, 4, params)  # io_uring_setup (x86-64 and arm64 alike)
    if fd >= 0:
        os.close(fd)
        return None
    err = ctypes.get_errno()
    return "io_uring_setup with SINGLE_ISSUER|DEFER_TASKRUN fails here: %s" % os.strerror(err)


def pytest_collection_modifyitems(config, items):
    """A run with SWITCHYARD_IO_URING=on on a machine that refuses io_uring is reported as
    skipped, test by test, with the kernel's reason: not as passed, not as 400 failed starts."""
    if IO_URING != "on":
        return
    why = io_uring_refused()
    if why:
        mark = pytest.mark.skip(reason="SWITCHYARD_IO_URING=on: " + why)
        for item in items:
            item.add_marker(mark)


def with_io_uring(cfg):
    if not IO_URING:
        return cfg
    if isinstance(cfg, dict):
        return cfg if "io_uring" in cfg else {"io_uring": IO_URING, **cfg}
    if re.search(r"^io_uring\s*:", cfg, re.M):
        return cfg
    return "io_uring: %s\n%s" % (IO_URING, cfg)


def to_yaml(obj):
    """Block-style YAML for a config made of dicts, lists and scalars (insertion order kept)."""
    out = []
    _yaml_lines(obj, 0, out)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# origins


class Origin:
    """One integration/origin.py process."""

    def __init__(self, name, log_dir, port=0, extra_args=(), script=None):
        self.name = name
        # port: a fixed port, e.g. to restart a killed origin where it was (0 = a free one)
        self.log_path = Path(log_dir) / ("origin-%s%s.stderr" % (name, "-%d" % port if port else ""))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, str(script or ORIGIN_PY), "--port", str(port), "--name", name, "--host", LOOPBACK,
             *extra_args],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig)
        self.port = None

    def wait_ready(self, timeout=10.0):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("origin %s not ready after %.1fs" % (self.name, timeout))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError("origin %s exited: %s" % (
                        self.name, self.log_path.read_text(errors="replace")))
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        m = re.match(r"^ready (\d+)$", line)
        if not m:
            raise RuntimeError("origin %s printed %r" % (self.name, line))
        self.port = int(m.group(1))
        return self

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    def get(self, path):
        """A request straight to the origin (not through the proxy); returns Resp."""
        return request(self.port, path)

    def stats(self):
        return json.loads(self.get("/_stats").body)

    def reset_stats(self):
        return json.loads(self.get("/_stats/reset").body)

    def set_health(self, status):
        self.get("/_control/health?status=%d" % status)

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self._log.close()


@pytest.fixture
def origins(tmp_path):
    """Factory: origins(n, names=None) starts n origins (default names b1..bn) in parallel."""
    started = []

    def start(n=1, names=None, extra_args=()):
        names = names or ["b%d" % (len(started) + i + 1) for i in range(n)]
        batch = [Origin(name, tmp_path, extra_args=extra_args) for name in names]
        started.extend(batch)
        for o in batch:
            o.wait_ready()
        return batch

    yield start
    for o in started:
        o.stop()


# ---------------------------------------------------------------------------------------------
# the proxy


@pytest.fixture(scope="session")
def switchyard_bin():
    path = Path(os.environ.get("SWITCHYARD_BIN", REPO / "build" / "switchyard"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip("switchyard binary not found at %s (build it or set SWITCHYARD_BIN)" % path)
    return path


class Proxy:
    """One running switchyard process."""

    def __init__(self, binary, cfg_path, port, admin_port, log_dir, index, extra_args=(),
                 extra_env=None):
        self.cfg_path = cfg_path
        self.port = port
        self.admin_port = admin_port
        self.stderr_path = Path(log_dir) / ("switchyard-%d.stderr" % index)
        self.stdout_path = Path(log_dir) / ("switchyard-%d.stdout" % index)
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.killed = False
        self.expect_failure = False  # set by tests that expect a non-zero exit
        env = dict(os.environ, **extra_env) if extra_env else None
        self.proc = subprocess.Popen([str(binary), "-c", str(cfg_path), *extra_args], env=env,
                                     stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)

    def stderr(self):
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def accepts(self, port=None):
        return accepts(port or self.port)

    def wait_ready(self, timeout=10.0, port=None):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail("switchyard exited with %s before listening; stderr:\n%s"
                            % (self.proc.returncode, self.stderr()[-4000:]))
            # The admin listener opens a moment after the proxy's sockets: wait for both.
            if self.accepts(port) and (port or self.admin_port is None
                                       or self.accepts(self.admin_port)):
                return self
            if time.monotonic() >= deadline:
                pytest.fail("switchyard not accepting on port %d after %.1fs; stderr:\n%s"
                            % (port or self.port, timeout, self.stderr()[-4000:]))
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Exit code, or None if still running at the deadline."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10.0):
        """SIGTERM and wait; SIGKILL if stuck. Returns a problem description or None."""
        problem = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(timeout) is None:
                self.killed = True
                self.proc.kill()
                self.proc.wait(10)
                problem = "did not exit within %.0fs of SIGTERM (killed)" % timeout
        rc = self.proc.returncode
        if rc is not None and rc < 0 and not self.killed:
            problem = "crashed: killed by signal %s" % signal.Signals(-rc).name
        elif rc not in (None, 0) and not self.killed and not self.expect_failure:
            problem = "exited with status %d (expected 0 after SIGTERM)" % rc
        self._err.close()
        self._out.close()
        if problem is None:
            text = self.stderr_path.read_text(errors="replace")
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    problem = "sanitizer report in stderr (%s)" % marker
                    break
        return problem


class ProxyManager:
    """Writes configs into tmp_path and runs switchyard processes for one test."""

    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp_path = tmp_path
        self.proxies = []

    def config(self, backends, workers=2, policy="round_robin", attempts=2, **sections):
        """The standard test config (see integration/README.md) with fresh listener/admin ports.

        backends: Origin objects, ints (a port, e.g. dead_port()), (name, port) or
        (name, port, weight) tuples, or backend dicts. Extra keyword arguments replace
        top-level sections (timeouts=..., limits=...).
        """
        bes = []
        for i, b in enumerate(backends):
            if isinstance(b, Origin):
                bes.append({"name": b.name, "address": b.address})
            elif isinstance(b, int):
                bes.append({"name": "dead%d" % (i + 1), "address": "%s:%d" % (LOOPBACK, b)})
            elif isinstance(b, tuple):
                d = {"name": b[0], "address": "%s:%d" % (LOOPBACK, b[1])}
                if len(b) > 2:
                    d["weight"] = b[2]
                bes.append(d)
            else:
                bes.append(dict(b))
        cfg = {
            "workers": workers,
            "admin": {"listen": "%s:%d" % (LOOPBACK, free_port())},
            "access_log": {"path": "off"},
            "timeouts": {"upstream_response": "2s", "client_header": "2s", "shutdown": "5s"},
            "limits": {"max_body_bytes": "20MiB"},
            "listeners": [{
                "name": "public",
                "listen": "%s:%d" % (LOOPBACK, free_port()),
                "routes": [{"match": {"path_prefix": "/"}, "pool": "web"}],
            }],
            "pools": [{
                "name": "web",
                "policy": policy,
                "retries": {"attempts": attempts},
                "backends": bes,
            }],
        }
        cfg.update(sections)
        return cfg

    def write(self, cfg, name=None):
        path = self.tmp_path / (name or "switchyard-%d.yaml" % (len(self.proxies) + 1))
        path.write_text(with_io_uring(cfg) if isinstance(cfg, str) else to_yaml(with_io_uring(cfg)))
        return path

    def start(self, cfg, port=None, admin_port=None, wait=True, extra_args=(), extra_env=None):
        """Start switchyard on cfg (dict or YAML text); wait until the listener accepts.

        For YAML text pass port= (the listener to wait for).
        """
        if isinstance(cfg, dict):
            port = port or int(cfg["listeners"][0]["listen"].rsplit(":", 1)[1])
            if admin_port is None and "admin" in cfg:
                admin_port = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
        path = self.write(cfg)
        p = Proxy(self.binary, path, port, admin_port, self.tmp_path, len(self.proxies) + 1,
                  extra_args, extra_env)
        self.proxies.append(p)
        if wait:
            p.wait_ready(10.0)
        return p

    def run_cli(self, *args, timeout=10.0):
        return subprocess.run([str(self.binary), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def stop_all(self):
        problems = []
        for i, p in enumerate(self.proxies):
            problem = p.stop()
            if problem:
                problems.append("switchyard #%d %s; stderr tail:\n%s"
                                % (i + 1, problem, p.stderr_path.read_text(errors="replace")[-3000:]))
        return problems


@pytest.fixture
def switchyard(switchyard_bin, tmp_path, request):
    mgr = ProxyManager(switchyard_bin, tmp_path)
    yield mgr
    problems = mgr.stop_all()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for i, p in enumerate(mgr.proxies):
            sys.stderr.write("---- switchyard #%d stderr (%s) ----\n%s\n" % (
                i + 1, p.stderr_path, p.stderr_path.read_text(errors="replace")[-4000:]))
    if problems:
        pytest.fail("\n".join(problems))


# ---------------------------------------------------------------------------------------------
# hooks


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(TEST_WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
