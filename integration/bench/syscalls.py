#!/usr/bin/python3
"""System calls per request: Switchyard, HAProxy and nginx under `strace -c -f`.

The companion of instructions.py for the kernel side: the same proxies, configs, backend and
h2load runs, but each proxy's system calls are counted by strace. Counts for two runs of
different sizes on the same connections are subtracted, so connection setup and handshakes
cancel out: the figures are the marginal system calls of one proxied GET, in total and per call.
strace slows the proxies down, so this says nothing about time; counts per request depend a
little on load (how many events one epoll_wait returns), so compare proxies from one run.

  integration/bench/syscalls.py [h1] [h2]    (default: both)
Environment: SC_REQUESTS (smaller run, default 4000; the larger one is 3x), SC_CONNS (4),
SC_STREAMS (32, h2 only), SC_TARGETS ("switchyard haproxy nginx"), SC_OUT (results file,
default integration/bench/results-syscalls.md).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
import instructions  # noqa: E402  (proxy start-up, backend, h2load runs)

HERE = Path(__file__).resolve().parent
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def counted(pid, case, port, n, conns, streams):
    """Runs n requests with strace attached to every thread of pid; returns {syscall: calls}."""
    log = tempfile.NamedTemporaryFile(prefix="sc-", suffix=".txt", delete=False).name
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", log, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # strace says "attached" per thread once it is on
        if tracer.poll() is not None:
            raise RuntimeError("strace exited: %s" % tracer.stderr.read())
        try:
            status = Path("/proc/%d/status" % pid).read_text()
        except OSError:
            break
        if re.search(r"^TracerPid:\s+[1-9]", status, re.M):
            break
        time.sleep(0.05)
    instructions.run_h2load(case, port, n, conns, streams)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=60)
    counts = {}
    for line in Path(log).read_text().splitlines():
        m = ROW.match(line)
        if m and m.group(2) != "total":
            counts[m.group(2)] = int(m.group(1))
    os.unlink(log)
    return counts


def measure(case, proc, n, conns, streams):
    pid = proc.popen.pid
    instructions.run_h2load(case, proc.port, 500, conns, streams)  # warm-up
    small = counted(pid, case, proc.port, n, conns, streams)
    large = counted(pid, case, proc.port, 3 * n, conns, streams)
    return {k: (large.get(k, 0) - small.get(k, 0)) / (2 * n) for k in set(small) | set(large)}


def main():
    cases = [c for c in sys.argv[1:] if c in ("h1", "h2")] or ["h1", "h2"]
    n = bench.env_int("SC_REQUESTS", 4000, 100)
    conns = bench.env_int("SC_CONNS", 4, 1)
    streams = bench.env_int("SC_STREAMS", 32, 1)
    targets = os.environ.get("SC_TARGETS", "switchyard haproxy nginx").split()
    for tool in ["strace", "h2load", "nginx"] + (["haproxy"] if "haproxy" in targets else []):
        if not shutil.which(tool):
            bench.die("%s is missing (scripts/install-deps.sh bench)" % tool)
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-sc-"))
    nofile = 4096
    results = {}
    try:
        backend_ports = instructions.start_backend(tmp, nofile)
        tls = instructions.make_cert(tmp) if "h2" in cases else None
        for case in cases:
            for target in targets:
                proc, _ = instructions.start(target, case, tmp, backend_ports, nofile, tls,
                                             wrap=lambda d: [])
                try:
                    results[(target, case)] = measure(case, proc, n, conns, streams)
                finally:
                    proc.stop(grace=20.0)
                bench.log("  %-10s %s  %6.2f system calls/request"
                          % (target, case, sum(results[(target, case)].values())))
    finally:
        bench.cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for case in cases:
        for t in targets:
            per = results[(t, case)]
            top = sorted(((v, k) for k, v in per.items() if v >= 0.01), reverse=True)
            rows.append("| %s | %s | %.2f | %s |" % (
                case, t, sum(per.values()), ", ".join("%s %.2f" % (k, v) for v, k in top)))
    what = {"h1": "HTTP/1.1, plain, h2load --h1", "h2": "HTTP/2 over TLS, %d streams" % streams}
    text = ["# System calls per request (strace -c)", "",
            "- Date: %s UTC" % time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "- Command: `integration/bench/syscalls.py %s` (SC_REQUESTS=%d, SC_CONNS=%d)"
            % (" ".join(cases), n, conns),
            "- Versions: %s" % bench.versions(os.environ.get("SWITCHYARD_BIN") or
                                             str(bench.ROOT / "build" / "switchyard")),
            "- Cases: " + "; ".join("`%s` %s" % (c, what[c]) for c in cases),
            "- Marginal system calls per proxied GET (small body), one worker, connection setup "
            "and handshakes excluded.", "",
            "| case | proxy | calls/request | by call |", "|---|---|---:|---|"] + rows
    out = Path(os.environ.get("SC_OUT") or HERE / "results-syscalls.md")
    out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
