#!/usr/bin/python3
"""CPU per request of Switchyard on epoll vs io_uring, in the same run (issue 22's proof).

Wall-clock requests/s mean little on a shared, loaded machine; CPU time per request does not
depend on what else runs. This starts one nginx backend (three ports, as bench.py does) and two
Switchyard processes with `workers: 1`, one with `io_uring: off` and one with `io_uring: on`,
then alternates h2load runs of a fixed request count against each and reports, per concurrency,
the median of (utime+stime of the proxy from /proc/PID/stat, after - before) / requests done.

    integration/bench/cpu_per_request.py [--bin build/switchyard] [--rounds 5]
        [--conns 64,8,1] [--requests 200000] [--path /]

Needs nginx and h2load (nghttp2-client). Loopback only; everything started is stopped on exit.
"""

import argparse
import atexit
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (Proc, configs, free_ports, proc_table)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12])  # utime, stime


def h2load(port, path, conns, requests):
    argv = ["h2load", "--h1", "-n", str(requests), "-c", str(conns), "-t", "1",
            "http://127.0.0.1:%d%s" % (port, path)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("h2load failed:\n" + r.stdout[-2000:])
    return int(m.group(4)), int(m.group(3)) - int(m.group(4))


def measure(proc, path, conns, requests):
    u0, s0 = cpu_ticks(proc.pid)
    ok, failed = h2load(proc.port, path, conns, requests)
    u1, s1 = cpu_ticks(proc.pid)
    if failed or ok == 0:
        raise RuntimeError("%s: %d requests failed" % (proc.name, failed))
    us = 1e6 / TICK / ok
    return (u1 - u0) * us, (s1 - s0) * us


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.environ.get("SWITCHYARD_BIN", "build/switchyard"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--conns", default="64,8,1")
    ap.add_argument("--requests", type=int, default=200000,
                    help="per run at the highest concurrency; scaled down for low ones")
    ap.add_argument("--path", default="/")
    args = ap.parse_args()
    for tool in ("nginx", "h2load"):
        if not shutil.which(tool):
            sys.exit("%s is not installed" % tool)
    binary = str(Path(args.bin).resolve())

    tmp = Path(tempfile.mkdtemp(prefix="switchyard-cpu-"))
    atexit.register(lambda: shutil.rmtree(tmp, ignore_errors=True))
    atexit.register(bench.cleanup_all)
    ports = bench.free_ports(5)
    backends, p_epoll, p_ring = ports[:3], ports[3], ports[4]
    www = tmp / "www"
    www.mkdir()
    (www / bench.LARGE_PATH.lstrip("/")).write_bytes(os.urandom(bench.LARGE_SIZE))
    d = tmp / "backend"
    d.mkdir()
    (d / "nginx.conf").write_text(bench.backend_nginx_conf(d, backends, www, 4096))
    base = ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c", str(d / "nginx.conf")]
    bench.Proc("backend nginx", base + ["-g", "daemon off;"], backends[0],
               str(d / "log")).start()
    procs = {}
    for mode, port in (("off", p_epoll), ("on", p_ring)):
        cfg = tmp / ("switchyard-%s.yaml" % mode)
        cfg.write_text("io_uring: %s\n" % mode + bench.switchyard_yaml(port, backends, 1))
        procs[mode] = bench.Proc("switchyard io_uring=%s" % mode, [binary, "-c", str(cfg)],
                                 port, str(tmp / ("switchyard-%s.log" % mode)))
        procs[mode].start()
    print("kernel %s, %s, path %s, %d rounds (medians)" % (
        os.uname().release, binary, args.path, args.rounds))
    top = max(int(c) for c in args.conns.split(","))
    rows = []
    for conns in (int(c) for c in args.conns.split(",")):
        n = max(10000, args.requests * conns // top) if conns < top else args.requests
        for mode in ("off", "on"):
            measure(procs[mode], args.path, conns, max(1000, n // 10))  # warm-up
        res = {"off": [], "on": []}
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                res[mode].append(measure(procs[mode], args.path, conns, n))
        med = {m: (statistics.median(u + s for u, s in v), statistics.median(u for u, _ in v),
                   statistics.median(s for _, s in v)) for m, v in res.items()}
        rows.append((conns, n, med))
        print("-c%-3d n=%-7d epoll %6.2f us (user %5.2f sys %5.2f)   io_uring %6.2f us "
              "(user %5.2f sys %5.2f)   epoll/io_uring %.2fx" % (
                  conns, n, *med["off"], *med["on"], med["off"][0] / med["on"][0]), flush=True)
        for mode in ("off", "on"):
            print("      %s runs: %s" % (mode, " ".join("%.2f" % (u + s) for u, s in res[mode])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
