#!/usr/bin/python3
"""HTTP/2 to the backend: h2load through Switchyard, HAProxy and nginx to one h2c backend.

Issue 16's benchmark item. One nghttpd (cleartext HTTP/2, prior knowledge) serves a small file
(bench.py's small body, 41 bytes). In front of it, each with one worker/thread and a cleartext
HTTP/2 listener: Switchyard (`protocols: [h1, h2c]`, a pool with `protocol: h2c`), HAProxy
(`bind ... proto h2`, `server ... proto h2`, `http-reuse always`) and nginx (`listen ... http2`,
`grpc_pass` to an upstream with `keepalive`: nginx has no other HTTP/2 upstream, and its gRPC
proxy carries one stream per upstream connection). h2load (prior knowledge for http://) runs
against each, one warm-up, rounds in rotated order, medians reported: req/s, errors, the proxy's
CPU per request (utime+stime of its process tree from /proc) and its upstream TCP connections
(the most established at once, sampled with `ss` every 0.1 s, and how many it opened: the
run happens in a private network namespace, where Tcp ActiveOpens counts only ours).

    integration/bench/h2_upstream.py        (or: make bench-h2-upstream)

Environment: BENCH_DURATION (5 s per run), BENCH_WARMUP (1 s), BENCH_RUNS (3), BENCH_H2_CONNS
(4), BENCH_H2_STREAMS (32), SWITCHYARD_BIN, BENCH_OUT (integration/bench/results-h2-upstream.md).
Needs nghttpd, h2load, nginx, haproxy, ss. Loopback only; all it starts is stopped on exit.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (Proc, free_ports, cleanup_all, versions, log, tree_cpu_ticks, ...)

PROXIES = ["switchyard", "haproxy", "nginx"]
PEERS = ["haproxy", "nginx"]


def switchyard_yaml(port, backend):
    return f"""workers: 1
admin: {{listen: "127.0.0.1:0"}}
access_log: {{path: "off"}}
timeouts: {{shutdown: 2s}}
listeners:
  - name: bench
    listen: 127.0.0.1:{port}
    protocols: [h1, h2c]
    routes:
      - match: {{path_prefix: /}}
        pool: web
pools:
  - name: web
    protocol: h2c
    backends:
      - {{name: b1, address: 127.0.0.1:{backend}}}
"""


def haproxy_cfg(port, backend):
    return f"""global
    nbthread 1
    maxconn 4000

defaults
    mode http
    timeout connect 3s
    timeout client 60s
    timeout server 30s
    http-reuse always

frontend bench
    bind 127.0.0.1:{port} proto h2
    default_backend web

backend web
    server s1 127.0.0.1:{backend} proto h2
"""


def nginx_conf(tmp, port, backend):
    return f"""{bench.nginx_head(tmp, 4096)}http {{
{bench.nginx_common(tmp)}
    upstream h2c {{
        server 127.0.0.1:{backend};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{port} http2 backlog=4096;
        location / {{ grpc_pass grpc://h2c; }}
    }}
}}
"""


def h2load(port, argv_tail, timeout):
    argv = ["h2load"] + argv_tail + ["http://127.0.0.1:%d/" % port]
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return None, "h2load did not finish within %ds" % timeout
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    f = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if "Application protocol: h2c" not in out or not (m and f and codes):
        return None, "h2load: %s" % out.strip()[-300:]
    return {"done": int(m.group(3)), "ok": int(codes.group(1)), "rps": float(f.group(1)),
            "errors": int(m.group(5)) + int(codes.group(3)) + int(codes.group(4))}, None


def active_opens():
    """TCP connections this network namespace opened so far (Tcp ActiveOpens)."""
    lines = [l.split() for l in Path("/proc/net/snmp").read_text().splitlines()
             if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")])


def enter_netns():
    """Re-runs this script in a private network namespace (`unshare -n`, `-rn` if not root) so
    that ActiveOpens counts only our connections. False (logged) when that is not possible."""
    if os.environ.get("H2UP_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return True
    flag = "-n" if os.geteuid() == 0 else "-rn"
    if not shutil.which("unshare") or not shutil.which("ip") or subprocess.run(
            ["unshare", flag, "true"], stderr=subprocess.DEVNULL).returncode != 0:
        bench.log("cannot create a network namespace: upstream connections opened not counted")
        return False
    os.environ["H2UP_NETNS"] = "1"
    os.execvp("unshare", ["unshare", flag, "--", sys.executable, os.path.abspath(__file__)])


class ConnWatch(threading.Thread):
    """Samples, every 0.1 s until stopped, how many TCP connections the proxy's processes
    (`pids`) have established to the backend port; keeps the highest count."""

    def __init__(self, backend, pids):
        super().__init__(daemon=True)
        self.backend, self.pids, self.stop_ev, self.max_open = backend, pids, threading.Event(), 0

    def run(self):
        while not self.stop_ev.wait(0.1):
            out = subprocess.run(["ss", "-tnpH", "state", "established",
                                  "( dport = :%d )" % self.backend],
                                 stdout=subprocess.PIPE, text=True, timeout=10).stdout
            n = sum(1 for line in out.splitlines()
                    if {int(x) for x in re.findall(r"pid=(\d+)", line)} & self.pids)
            self.max_open = max(self.max_open, n)

    def finish(self):
        self.stop_ev.set()
        self.join()
        return self.max_open


def measure(proc, backend, seconds, load, netns):
    watch = ConnWatch(backend, set(bench.tree_pids(proc.pid)))
    t0, o0 = bench.tree_cpu_ticks(proc.pid), active_opens()
    watch.start()
    res, err = h2load(proc.port, ["-D", str(seconds)] + load, seconds + 60)
    max_open = watch.finish()
    t1, o1 = bench.tree_cpu_ticks(proc.pid), active_opens()
    if res is None:
        return None, err
    n = res["done"]
    # h2load's own connections (-c) are the only others opened in the namespace meanwhile
    opened = o1 - o0 - int(load[load.index("-c") + 1]) if netns else float("nan")
    res.update(cpu_us=(t1 - t0) * 1e6 / bench.CLK_TCK / n if n else float("nan"),
               max_open=max_open, opened=opened)
    return res, None


def main():
    duration = bench.env_int("BENCH_DURATION", 5, 1)
    warmup = bench.env_int("BENCH_WARMUP", 1, 0)
    runs = bench.env_int("BENCH_RUNS", 3, 1)
    conns = bench.env_int("BENCH_H2_CONNS", 4, 1)
    streams = bench.env_int("BENCH_H2_STREAMS", 32, 1)
    out_path = Path(os.environ.get("BENCH_OUT") or bench.HERE / "results-h2-upstream.md")
    binary = str(Path(os.environ.get("SWITCHYARD_BIN", "build/switchyard")).resolve())
    missing = [t for t in ("nghttpd", "h2load", "nginx", "haproxy", "ss") if not shutil.which(t)]
    if missing:
        bench.die("missing: %s" % ", ".join(missing))
    load = ["-c", str(conns), "-m", str(streams), "-t", "1"]
    netns = enter_netns()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # exit runs the atexit cleanup
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    tmp = Path(tempfile.mkdtemp(prefix="switchyard-h2up-"))
    atexit.register(lambda: shutil.rmtree(tmp, ignore_errors=True))
    atexit.register(bench.cleanup_all)
    backend, *ports = bench.free_ports(4)
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text(bench.SMALL_BODY)
    bench.Proc("nghttpd", ["nghttpd", "--no-tls", "-d", str(www), str(backend)], backend,
               str(tmp / "nghttpd.log")).start()
    procs, notes = {}, []
    for name, port in zip(PROXIES, ports):
        d = tmp / name
        d.mkdir()
        cfg = str(d / "config")
        if name == "switchyard":
            Path(cfg).write_text(switchyard_yaml(port, backend))
            argv, check = [binary, "-c", cfg], [binary, "--check", "-c", cfg]
        elif name == "haproxy":
            Path(cfg).write_text(haproxy_cfg(port, backend))
            argv, check = ["haproxy", "-db", "-f", cfg], ["haproxy", "-c", "-q", "-f", cfg]
        else:
            Path(cfg).write_text(nginx_conf(d, port, backend))
            base = ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c", cfg]
            argv, check = base + ["-g", "daemon off;"], base + ["-t", "-q"]
        p = bench.Proc(name, argv, port, str(d / "log"), check=check)
        try:
            p.start()
        except bench.StartError as e:
            notes.append("%s left out: %s" % (name, str(e).splitlines()[0]))
            continue
        res, err = h2load(port, ["-n", "200", "-c", "1", "-m", "10"], 60)  # sanity check
        if res is None or res["ok"] != 200:
            notes.append("%s left out: a plain GET through it did not get 200 (%s)"
                         % (name, err or "%d of 200 answered 2xx" % res["ok"]))
            p.stop()
            continue
        procs[name] = p
    for n in notes:
        bench.log(n)
    if "switchyard" not in procs:
        bench.die("switchyard could not be measured")

    samples = {n: [] for n in procs}
    for name, p in procs.items():
        if warmup:
            measure(p, backend, warmup, load, netns)
    names = list(procs)
    for rnd in range(runs):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        bench.log("round %d/%d: %s" % (rnd + 1, runs, ", ".join(order)))
        for name in order:
            res, err = measure(procs[name], backend, duration, load, netns)
            if res is None:
                notes.append("%s, round %d: %s" % (name, rnd + 1, err))
                bench.log(notes[-1])
                continue
            samples[name].append(res)
            bench.log("  %-10s %8.0f req/s  errors %d  cpu %.1f us/req  upstream conns: %d open "
                      "at most, %.0f opened" % (name, res["rps"], res["errors"], res["cpu_us"],
                                                res["max_open"], res["opened"]))

    med = {n: bench.medians(s) for n, s in samples.items() if s}
    best_rps = max((med[p]["rps"] for p in PEERS if p in med), default=None)
    best_cpu = min((med[p]["cpu_us"] for p in PEERS if p in med), default=None)
    head = ["proxy → h2c backend", "req/s", "errors", "CPU µs/req", "upstream conns (most open)",
            "upstream conns opened", "req/s ÷ best peer", "CPU/req ÷ best peer"]
    rows = []
    for n in PROXIES:
        if n not in med:
            rows.append([bench.label(n), "not measured"] + [""] * (len(head) - 2))
            continue
        m = med[n]
        rows.append([bench.label(n), "%.0f" % m["rps"], "%d" % sum(s["errors"] for s in samples[n]),
                     "%.1f" % m["cpu_us"], "%.0f" % m["max_open"],
                     "%.0f" % m["opened"] if netns else "–",
                     bench.ratio(m["rps"], best_rps), bench.ratio(m["cpu_us"], best_cpu)])
    cmd = os.environ.get("BENCH_COMMAND") or "integration/bench/h2_upstream.py"
    text = "\n".join([
        "# HTTP/2 to the backend: h2load through each proxy to one h2c backend (nghttpd)", "",
        "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "- Command: `%s` (BENCH_DURATION=%d BENCH_WARMUP=%d BENCH_RUNS=%d)"
        % (cmd, duration, warmup, runs),
        "- Load: `h2load -D %d %s http://127.0.0.1:PORT/` (h2c, prior knowledge), GET of a "
        "%d-byte file; one warm-up run each, %d rounds in rotated order, medians"
        % (duration, " ".join(load), len(bench.SMALL_BODY), runs),
        "- Versions: %s; %s" % (bench.versions(binary).rsplit(";", 1)[0],
                                subprocess.run(["nghttpd", "--version"], stdout=subprocess.PIPE,
                                               text=True).stdout.strip()),
        "- Machine: %d CPUs (%s), load average at start %s; shared with other work, so the "
        "ratios are indicative" % (os.cpu_count(), bench.cpu_model(), loadavg), "",
        *bench.md_table(head, rows), "",
        "Each proxy runs one worker/thread. *CPU µs/req* is the proxy's utime+stime per request. "
        "*Upstream conns*: the most TCP connections the proxy held established to the backend "
        "at once (`ss` every 0.1 s), and how many it opened during the run (Tcp ActiveOpens of "
        "the benchmark's private network namespace minus h2load's own; connections kept alive "
        "from the warm-up are not counted again); medians over rounds. "
        "%d streams are in flight at once (%d connections × %d)."
        % (conns * streams, conns, streams),
        "Switchyard multiplexes streams on one session per backend up to the backend's "
        "SETTINGS_MAX_CONCURRENT_STREAMS (nghttpd: 100); HAProxy multiplexes with "
        "`http-reuse always`; nginx's `grpc_pass` (its only HTTP/2 upstream) carries one "
        "stream per connection (keepalive 64).", "",
        "Goal (issue 16, the same as the HTTP/2 issue's): at least 1.15× the better peer's "
        "req/s at at most 0.80× its CPU per request.", ""]
        + (["Notes:", ""] + ["- " + n for n in notes] + [""] if notes else []))
    out_path.write_text(text)
    print(text)
    bench.log("written to %s" % out_path)
    return 1 if notes else 0


if __name__ == "__main__":
    sys.exit(main())
