#!/usr/bin/python3
"""Side-by-side benchmark: Switchyard (on epoll and with io_uring) vs nginx vs HAProxy in front of
the same backends.

Run it through `make bench` (or integration/bench/run.sh, which installs nginx-light, haproxy
and wrk and builds the proxy first). Standard library only.

    integration/bench/bench.py [CASE ...]

Cases (default: small large post tls h2 lowconc conns; `all` adds workers):
  small    GET /, small fixed body
  large    GET a 1 MiB file (also reports MB/s)
  post     POST / with a 64 KiB body, small answer
  tls      TLS termination (same self-signed EC P-256 certificate for every proxy): GET / over
           kept-alive TLS connections, and handshakes/s with `Connection: close` (one new TLS
           connection per request)
  h2       HTTP/2 over TLS: h2load with many streams on few connections (h2_case.py)
  lowconc  the small GET at low concurrency, wrk -c1 and -c8 (no direct row)
  conns    RSS growth per idle keep-alive client connection (BENCH_IDLE_CONNS of them)
  workers  Switchyard (epoll) with `workers: 2` vs `workers: 1` on the small case

Switchyard runs twice in every case: "switchyard (epoll)" (the default `io_uring: off`) and
"switchyard (io_uring)" (`io_uring: on` at the top of the same config). Where the kernel or the
sandbox refuses io_uring, that target exits saying why and is reported as skipped, not failed.
Every table says io_uring ÷ epoll under it, and a summary at the end holds issue 22's goals.

Environment:
  BENCH_DURATION    seconds per measured wrk run (default 10)
  BENCH_WARMUP      seconds of warm-up before each measured run (default 2; 0 = none)
  BENCH_RUNS        rounds per case; medians are reported (default 3)
  BENCH_CONNS       wrk connections (default 64)
  BENCH_THREADS     wrk threads (default 1)
  BENCH_IDLE_CONNS  idle connections for the conns case (default 5000)
  BENCH_IO_URING=0  leave the io_uring target out (default 1)
  BENCH_OUT         markdown output (default integration/bench/results.md)
  BENCH_KEEP_TMP=1  keep the temp dir (configs and logs) for inspection
  SWITCHYARD_BIN    proxy binary (default build/switchyard)

Setup (one CPU-time budget per process, loopback only): one nginx process (worker_processes 1)
serves three identical backends on three ports; each proxy runs one worker/thread with
upstream keep-alive, round robin over the three backends and access logs off. The proxies are
measured interleaved (the order rotates every round), with the same wrk command for all, plus
a direct-to-backend run as the ceiling.

The code is in bench_procs.py (processes, /proc), bench_configs.py (configs), bench_runner.py
(Bench: setup and measuring), bench_report.py and bench_tables.py (the markdown), bench_idle.py
(conns) and h2_case.py (h2); this module re-exports their names for instructions.py,
syscalls.py, cpu_per_request.py and h2_upstream.py (`import bench`).
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# re-exported: the other bench scripts use them as bench.X
from bench_configs import (LARGE_PATH, LARGE_SIZE, PEERS, POST_SIZE, PROXIES,  # noqa: E402
                           SMALL_BODY, TLS_SUFFIX, URING, backend_nginx_conf, haproxy_cfg,
                           nginx_common, nginx_head, proxy_nginx_conf, switchyard_yaml, write_lua)
from bench_procs import (CLK_TCK, HERE, PAGE_KIB, ROOT, Proc, StartError,  # noqa: E402
                         cleanup_all, cpu_model, die, env_int, free_ports, io_uring_refusal, log,
                         proc_table, tree_cpu_ticks, tree_pids, tree_rss_kib, versions)
from bench_runner import Bench, scheme  # noqa: E402
from bench_tables import (best_peer, fmt_kib, fmt_lat, label, md_table, medians,  # noqa: E402
                          ratio)

__all__ = [
    "LARGE_PATH", "LARGE_SIZE", "PEERS", "POST_SIZE", "PROXIES", "SMALL_BODY", "TLS_SUFFIX", "URING",
    "backend_nginx_conf", "haproxy_cfg", "nginx_common", "nginx_head", "proxy_nginx_conf",
    "switchyard_yaml", "write_lua", "CLK_TCK", "HERE", "PAGE_KIB", "ROOT", "Proc", "StartError",
    "cleanup_all", "cpu_model", "die", "env_int", "free_ports", "io_uring_refusal", "log",
    "proc_table", "tree_cpu_ticks", "tree_pids", "tree_rss_kib", "versions", "Bench", "scheme",
    "best_peer", "fmt_kib", "fmt_lat", "label", "md_table", "medians", "ratio", "main"]

ALL_CASES = ["small", "large", "post", "tls", "h2", "lowconc", "conns", "workers"]
DEFAULT_CASES = ["small", "large", "post", "tls", "h2", "lowconc", "conns"]


def main():
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    if not args:
        env = os.environ.get("CASES", "").split()
        args = env or DEFAULT_CASES
    cases = []
    for a in args:
        for c in a.replace(",", " ").split():
            if c == "all":
                cases += [x for x in ALL_CASES if x not in cases]
            elif c not in ALL_CASES:
                die("unknown case %r (cases: %s, all)" % (c, ", ".join(ALL_CASES)))
            elif c not in cases:
                cases.append(c)

    def on_signal(signum, _frame):
        log("interrupted by signal %d; stopping everything" % signum)
        sys.exit(128 + signum)  # atexit handlers stop the servers

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        return Bench(cases).run()
    except StartError as e:
        die(str(e))


if __name__ == "__main__":
    sys.exit(main())
