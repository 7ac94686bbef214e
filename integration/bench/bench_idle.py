"""The `conns` case of the side-by-side benchmark (bench.py): the memory a proxy holds per idle
keep-alive client connection (idle_conns.py opens them). Standard library only.
"""
import subprocess
import sys
import time
import urllib.request

from bench_procs import HERE, StartError, log, tree_rss_kib


def run_case(bench, targets):
    """BENCH_RUNS rounds over targets (rotating); returns {target: [metrics, ...]}."""
    samples = {t: [] for t in bench.proxies}
    for rnd in range(bench.runs):
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)] if targets else []
        log("case conns (%d idle), round %d/%d: %s"
            % (bench.idle_conns, rnd + 1, bench.runs, ", ".join(order)))
        for t in order:
            m, err = idle_case(bench, t)
            if m:
                samples[t].append(m)
            else:
                log("%s: %s" % (t, err))
                bench.failures.append("%s idle: %s" % (t, err))
    return samples


def idle_case(bench, target):
    p = bench.procs[target]
    p.stop()
    try:
        p.start()
    except StartError as e:
        return None, str(e)
    # a few requests first so lazy start-up allocations are in the baseline
    for _ in range(20):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/" % p.port, timeout=5).read()
        except Exception as e:
            return None, "warm-up request failed: %s" % e
    time.sleep(0.5)
    before = tree_rss_kib(p.pid)
    child = subprocess.Popen([sys.executable, str(HERE / "idle_conns.py"), "127.0.0.1",
                              str(p.port), str(bench.idle_conns), "--timeout", "60"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not line.startswith("READY"):
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        if not line.startswith("READY"):
            return None, "idle_conns.py did not report (status %s)" % child.poll()
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        ok, fail = int(fields["ok"]), int(fields["fail"])
        # Idle means idle: what a proxy still holds once the connections have been quiet
        # for a few seconds (pools that give a burst's memory back do so within ~2 s).
        time.sleep(3.0)
        after = tree_rss_kib(p.pid) if p.alive() else None
    finally:
        try:
            child.stdin.close()
            child.wait(timeout=20)
        except Exception:
            child.kill()
            child.wait()
    if after is None:
        return None, "%s died while holding idle connections:\n%s" % (target, p.log_tail())
    m = {"ok": ok, "fail": fail, "before": before, "after": after,
         "per_conn": (after - before) / ok if ok else float("nan"),
         "first_error": fields.get("first_error")}
    log("  %-14s %d idle (%d failed)  RSS %d -> %d KiB  %.2f KiB/conn"
        % (target, ok, fail, before, after, m["per_conn"]))
    if fail:
        bench.failures.append("%s: %d of %d idle connections failed (%s)" % (
            target, fail, bench.idle_conns, fields.get("first_error")))
    return m, None

