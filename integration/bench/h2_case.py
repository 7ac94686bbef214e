"""The h2 case of the side-by-side benchmark (bench.py): HTTP/2 over TLS with many streams on
few connections, h2load against each proxy's TLS listener (nginx `listen ... ssl http2`,
HAProxy `alpn h2,http/1.1`, Switchyard's default `protocols: [h1, h2]`), the same HTTP/1.1
backends behind all three. Standard library only.

Environment (besides bench.py's):
  BENCH_H2_CONNS    h2load client connections (default 4)
  BENCH_H2_STREAMS  concurrent streams per connection (default 32)
"""
import re
import subprocess

H2_SUFFIX = "-tls"


def h2load(bench, target, seconds, conns, streams):
    url = "https://127.0.0.1:%d/" % bench.ports[target]
    argv = ["h2load", "-D", str(seconds), "-c", str(conns), "-m", str(streams), "-t", "1", url]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        return None, "h2load did not finish within %ds" % (seconds + 60)
    out = r.stdout
    if "Application protocol: h2" not in out:
        return None, "h2load did not negotiate h2: %s" % out.strip()[-300:]
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    f = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    lat = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+"
                    r"([\d.]+)(us|ms|s)", out)
    if not (m and f and codes):
        return None, "cannot read h2load output: %s" % out.strip()[-300:]
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    res = {"done": int(m.group(3)), "ok": int(codes.group(1)),
           "errors": int(m.group(5)) + int(m.group(6)) + int(m.group(7)) + int(codes.group(3)) +
           int(codes.group(4)), "rps": float(f.group(2)),
           "mean_us": float(lat.group(5)) * unit[lat.group(6)] if lat else float("nan"),
           "max_us": float(lat.group(3)) * unit[lat.group(4)] if lat else float("nan")}
    return res, None


def measure(bench, target, conns, streams, tree_cpu_ticks, clk_tck, log):
    if not bench.ensure_running(target):
        return None
    pid = bench.procs[target].pid
    if bench.warmup:
        h2load(bench, target, bench.warmup, conns, streams)
    t0 = tree_cpu_ticks(pid)
    res, err = h2load(bench, target, bench.duration, conns, streams)
    t1 = tree_cpu_ticks(pid)
    if res is None:
        log("%s: %s" % (target, err))
        bench.failures.append("%s (h2): %s" % (target, err))
        return None
    n = res["done"]
    res["cpu_us"] = (t1 - t0) * 1e6 / clk_tck / n if n else float("nan")
    log("  %-18s %9.0f req/s  mean %.0f us  errors %d  cpu %.1f us/req"
        % (target, res["rps"], res["mean_us"], res["errors"], res["cpu_us"]))
    return res


def run_case(bench, proxies, conns, streams, tree_cpu_ticks, clk_tck, log):
    targets = [p + H2_SUFFIX for p in proxies]
    samples = {t: [] for t in targets}
    for rnd in range(bench.runs):
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
        log("case h2 (%d conns x %d streams), round %d/%d: %s"
            % (conns, streams, rnd + 1, bench.runs, ", ".join(order)))
        for t in order:
            m = measure(bench, t, conns, streams, tree_cpu_ticks, clk_tck, log)
            if m:
                m["round"] = rnd  # for the per-round (paired) ratios
                samples[t].append(m)
    return samples


def table(samples, peers, conns, streams, medians, ratio, md_table, label, skipped=(), note=()):
    """skipped: proxies reported as skipped rather than failed; note: lines under the table."""
    med = {t: medians(s) for t, s in samples.items()}
    errs = {t: sum(m["errors"] for m in s) for t, s in samples.items()}
    peer_keys = [p + H2_SUFFIX for p in peers]
    rps = [med[p]["rps"] for p in peer_keys if med.get(p)]
    cpu = [med[p]["cpu_us"] for p in peer_keys if med.get(p)]
    best_rps, best_cpu = (max(rps) if rps else None), (min(cpu) if cpu else None)
    head = ["proxy (HTTP/2 over TLS)", "req/s", "mean latency", "errors", "CPU µs/req",
            "req/s ÷ best peer", "CPU/req ÷ best peer"]
    rows = []
    for t in samples:
        m = med.get(t)
        name = label(t[:-len(H2_SUFFIX)])
        if m is None:
            why = "skipped" if t[:-len(H2_SUFFIX)] in skipped else "failed"
            rows.append([name, why] + [""] * (len(head) - 2))
            continue
        rows.append([name, "%.0f" % m["rps"], "%.0f µs" % m["mean_us"], "%d" % errs[t],
                     "%.1f" % m["cpu_us"], ratio(m["rps"], best_rps), ratio(m["cpu_us"], best_cpu)])
    return (["## HTTP/2 over TLS (h2load, %d connections x %d streams, GET small body)\n"
             % (conns, streams)] + md_table(head, rows) + list(note) +
            ["", "h2load -D <duration> -c %d -m %d -t 1 against each proxy's TLS listener; the "
             "proxies speak HTTP/1.1 with keep-alive to the same backends. *CPU µs/req* is the "
             "proxy's CPU per request; the goal is at least 1.15x the better peer's req/s at "
             "at most 0.80x its CPU per request." % (conns, streams), ""])
