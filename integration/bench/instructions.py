#!/usr/bin/python3
"""Instructions per request: Switchyard, HAProxy and nginx under valgrind's callgrind.

The side-by-side benchmark (bench.py) measures requests/s and CPU time, which need a quiet
machine. This counts the instructions each proxy executes per request, which does not depend on
what else the machine is doing: a change to the data path can be judged on a busy machine too.
It says nothing about kernel time, cache misses or syscalls (strace -c gives those counts).

Each proxy runs under callgrind (one worker/thread, the configs bench.py uses) in front of one
nginx backend (not under valgrind). h2load makes the requests: `h1` is HTTP/1.1 over plain TCP,
`h2` is HTTP/2 over TLS (h2load -m streams). Counters are read for two runs of different sizes
on the same number of connections and the difference is divided by the difference in requests,
so connection setup and TLS handshakes cancel out: the figure is the marginal cost of a request.

  integration/bench/instructions.py [h1] [h2]    (default: both)
Environment: IR_REQUESTS (smaller run, default 4000; the larger one is 3x), IR_CONNS (4),
IR_STREAMS (32, h2 only), IR_TARGETS ("switchyard haproxy nginx"), IR_OUT (results file,
default integration/bench/results-instructions.md).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (config writers, Proc, ports, certificate)

HERE = Path(__file__).resolve().parent


def run_h2load(case, port, n, conns, streams):
    url = "%s://127.0.0.1:%d/" % ("https" if case == "h2" else "http", port)
    argv = ["h2load", "-n", str(n), "-c", str(conns), "-t", "1"]
    argv += ["-m", str(streams)] if case == "h2" else ["--h1"]
    out = subprocess.run(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=600).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    ok = int(m.group(1)) if m else 0
    if ok != n:
        raise RuntimeError("h2load: %d of %d requests succeeded:\n%s" % (ok, n, out[-400:]))


def dump_total(pid, outdir, before):
    """Asks callgrind (pid) to dump its counters; returns the total Ir of the new dump file."""
    subprocess.run(["callgrind_control", "-d", str(pid)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = set(outdir.glob("cg.out.*")) - before
        for f in files:
            text = f.read_text(errors="replace")
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if m:
                return int(m.group(1)), files | before
        time.sleep(0.2)
    raise RuntimeError("callgrind wrote no dump for pid %d" % pid)


def measure(target, case, proc, outdir, n, conns, streams):
    pid = proc.popen.pid
    run_h2load(case, proc.port, 500, conns, streams)  # warm-up: pools, HPACK tables
    seen = set(outdir.glob("cg.out.*"))
    totals = []
    for size in (n, 3 * n):
        subprocess.run(["callgrind_control", "-z", str(pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        run_h2load(case, proc.port, size, conns, streams)
        total, seen = dump_total(pid, outdir, seen)
        totals.append(total)
    return (totals[1] - totals[0]) / (2 * n)


def callgrind(d):
    return ["valgrind", "--tool=callgrind", "--dump-instr=no",
            "--callgrind-out-file=%s/cg.out.%%p" % d]


def start(target, case, tmp, backend_ports, nofile, tls, wrap=callgrind):
    """Starts one proxy (one worker) in front of the backends, its argv prefixed by wrap(dir)."""
    d = tmp / ("%s-%s" % (target, case))
    d.mkdir()
    port = bench.free_ports(1)[0]
    cg = wrap(d)
    cert = tls if case == "h2" else None
    if target == "switchyard":
        cfg = d / "switchyard.yaml"
        cfg.write_text(bench.switchyard_yaml(port, backend_ports, 1,
                                             tls=cert[:2] if cert else None))
        argv = cg + [os.environ.get("SWITCHYARD_BIN") or str(bench.ROOT / "build" / "switchyard"),
                     "--log-level", "warn", "-c", str(cfg)]
    elif target == "haproxy":
        cfg = d / "haproxy.cfg"
        cfg.write_text(bench.haproxy_cfg(port, backend_ports, nofile, cert[2] if cert else None))
        argv = cg + ["haproxy", "-db", "-f", str(cfg)]
    else:
        cfg = d / "nginx.conf"
        cfg.write_text(bench.proxy_nginx_conf(d, port, backend_ports, nofile,
                                              cert[:2] if cert else None))
        argv = cg + ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c", str(cfg),
                     "-g", "daemon off; master_process off;"]
    p = bench.Proc("%s (%s)" % (target, case), argv, port, str(d / "log"))
    p.start(deadline_s=60.0)
    return p, d


def start_backend(tmp, nofile):
    """One nginx (not under valgrind) serving the small body on three ports; returns them."""
    www = tmp / "www"
    www.mkdir()
    backend_ports = bench.free_ports(3)
    d = tmp / "backend"
    d.mkdir()
    (d / "nginx.conf").write_text(bench.backend_nginx_conf(d, backend_ports, www, nofile))
    backend = bench.Proc("backend nginx", ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c",
                                           str(d / "nginx.conf"), "-g", "daemon off;"],
                         backend_ports[0], str(d / "log"))
    backend.start()
    return backend_ports


def make_cert(tmp):
    return bench.Bench.make_cert(type("T", (), {"tmp": tmp})())


def main():
    cases = [c for c in sys.argv[1:] if c in ("h1", "h2")] or ["h1", "h2"]
    n = bench.env_int("IR_REQUESTS", 4000, 100)
    conns = bench.env_int("IR_CONNS", 4, 1)
    streams = bench.env_int("IR_STREAMS", 32, 1)
    targets = os.environ.get("IR_TARGETS", "switchyard haproxy nginx").split()
    for tool in ["valgrind", "callgrind_control", "h2load", "nginx"] + \
            (["haproxy"] if "haproxy" in targets else []):
        if not shutil.which(tool):
            bench.die("%s is missing (scripts/install-deps.sh bench; valgrind: apt-get install "
                      "valgrind)" % tool)
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-ir-"))
    nofile = 4096
    results = {}
    try:
        backend_ports = start_backend(tmp, nofile)
        tls = make_cert(tmp) if "h2" in cases else None
        for case in cases:
            for target in targets:
                proc, outdir = start(target, case, tmp, backend_ports, nofile, tls)
                try:
                    results[(target, case)] = measure(target, case, proc, outdir, n, conns,
                                                      streams)
                finally:
                    proc.stop(grace=20.0)
                bench.log("  %-10s %s  %8.0f instructions/request"
                          % (target, case, results[(target, case)]))
    finally:
        bench.cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for case in cases:
        peers = [results[(t, case)] for t in targets if t != "switchyard" and (t, case) in results]
        best = min(peers) if peers else None
        for t in targets:
            v = results[(t, case)]
            rows.append("| %s | %s | %.0f | %s |" % (
                case, t, v, "%.2f×" % (v / best) if best and t == "switchyard" else ""))
    what = {"h1": "HTTP/1.1, plain, h2load --h1", "h2": "HTTP/2 over TLS, %d streams" % streams}
    text = ["# Instructions per request (callgrind)", "",
            "- Date: %s UTC" % time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "- Command: `integration/bench/instructions.py %s` (IR_REQUESTS=%d, IR_CONNS=%d)"
            % (" ".join(cases), n, conns),
            "- Versions: %s" % bench.versions(os.environ.get("SWITCHYARD_BIN") or
                                             str(bench.ROOT / "build" / "switchyard")),
            "- Cases: " + "; ".join("`%s` %s" % (c, what[c]) for c in cases),
            "- Marginal user-space instructions per proxied GET (small body), connection setup "
            "and handshakes excluded; the last column is Switchyard ÷ the better peer.", "",
            "| case | proxy | instructions/request | ÷ best peer |", "|---|---|---:|---:|"] + rows
    out = Path(os.environ.get("IR_OUT") or HERE / "results-instructions.md")
    out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
