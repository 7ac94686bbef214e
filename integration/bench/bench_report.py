"""The markdown report of the side-by-side benchmark (bench.py): one table per case, the
io_uring-vs-epoll summary, the problems, written to BENCH_OUT and printed. Mixed into Bench.
"""
import os
import shlex
import statistics
import sys

import h2_case
from bench_configs import PEERS, SMALL_BODY, TLS_SUFFIX, URING
from bench_procs import cpu_model, log, versions
from bench_tables import (H2_GOAL_CPU, H2_GOAL_RPS, UringComparison, best_peer, fmt_kib,
                          fmt_lat, label, md_table, medians, ratio)

TITLES = {"small": "GET, small body (%d bytes)" % len(SMALL_BODY),
          "large": "GET, 1 MiB body",
          "post": "POST, 64 KiB request body, small answer"}


class Report:
    def report(self, results):
        self.uring = UringComparison()
        md = []
        runs = "median of %d runs" % self.runs if self.runs > 1 else "1 run"
        wrk = "wrk -t%d -c%d -d%ds --timeout 5s (after a %ds warm-up)" % (
            self.threads, self.conns, self.duration, self.warmup)
        cmd = os.environ.get("BENCH_COMMAND") or " ".join(
            map(shlex.quote, [sys.argv[0]] + sys.argv[1:]))
        md.append("# Switchyard benchmark results\n")
        md.append("- Date: %s" % self.started.strftime("%Y-%m-%d %H:%M UTC"))
        md.append("- Command: `%s`" % cmd)
        md.append("- Machine: %s, %d cores, Linux %s; load average at start %s"
                  % (cpu_model(), os.cpu_count(), os.uname().release, " ".join(self.loadavg)))
        md.append("- Versions: %s" % versions(self.sy_bin))
        md.append("- Load: %s, %s; everything on loopback on the same machine" % (wrk, runs))
        md.append("- Backends: one nginx process (1 worker) serving three identical ports; "
                  "proxies: one worker/thread each, upstream keep-alive, round robin, "
                  "no access log; " + ("Switchyard twice, on epoll (`io_uring: off`, the "
                                       "default) and with `io_uring: on`" if URING in self.proxies
                                       else "Switchyard on epoll only (BENCH_IO_URING=0)"))
        md.append("")
        for case in self.cases:
            if case in ("small", "large", "post"):
                md += self.table_throughput(case, results[case])
            elif case == "lowconc":
                for conns, samples in results[case].items():
                    md += self.table_throughput(
                        "small", samples, conns=conns,
                        title="GET, small body, low concurrency: wrk -t1 -c%d" % conns)
            elif case == "workers":
                md += self.table_workers(results[case])
            elif case == "conns":
                md += self.table_conns(results[case])
            elif case == "tls":
                md += self.table_tls(results[case])
            elif case == "h2":
                med = {t: medians(s) for t, s in results[case].items()}
                peers = [p + TLS_SUFFIX for p in PEERS]
                best = best_peer(med, {"rps": max, "cpu_us": min}, peers)
                for t, name in (("switchyard", "epoll"), (URING, "io_uring")):
                    self.uring.add_goals("HTTP/2 %d x %d" % self.h2, med.get(t + TLS_SUFFIX), best,
                                         results[case], t + TLS_SUFFIX, peers, H2_GOAL_CPU,
                                         H2_GOAL_RPS, name)
                note = self.uring.add("h2 (%d conns x %d streams)" % self.h2,
                                      med.get("switchyard" + TLS_SUFFIX),
                                      med.get(URING + TLS_SUFFIX), p99=None,
                                      samples=results[case],
                                      pair=("switchyard" + TLS_SUFFIX, URING + TLS_SUFFIX))
                md += h2_case.table(results[case], PEERS, *self.h2, medians, ratio, md_table,
                                    label, self.skipped, note)
        md += self.uring.summary(self.skipped.get(URING))
        md.append("Legend: latencies are wrk's (client-side) percentiles. *errors* = non-2xx/3xx "
                  "responses + socket errors (connect/read/write/timeout), summed over all runs. "
                  "*CPU/req* = user+sys time of the proxy's process tree during the measured run "
                  "divided by requests (for *direct*: the backend nginx). *÷ best peer* compares "
                  "with the better of nginx and HAProxy for that column: for req/s above 1 is "
                  "better, for latency, CPU and memory below 1 is better. *io_uring ÷ epoll* "
                  "compares the two Switchyard rows of the table the same way.")
        if self.skipped:
            md.append("")
            md.append("Skipped in this run:")
            md += ["- %s: %s" % (label(t), why) for t, why in self.skipped.items()]
        if self.failures:
            md.append("")
            md.append("Problems during this run:")
            md += ["- %s" % f.replace("\n", " ") for f in self.failures]
        text = "\n".join(md) + "\n"
        try:
            self.out.write_text(text)
            log("wrote %s" % self.out)
        except OSError as e:
            log("cannot write %s: %s" % (self.out, e))
        print()
        print(text)

    def missing(self, t, width, name=None):
        """The row of a target without figures: skipped (with the reason below) or failed."""
        why = "skipped" if t in self.skipped else "failed"
        return [name or label(t), why] + [""] * (width - 2)

    def table_throughput(self, case, samples, conns=None, title=None):
        large = case == "large"
        med = {t: medians(s) for t, s in samples.items()}
        errs = {t: sum(m["errors"] for m in s) for t, s in samples.items()}
        best = best_peer(med, {"rps": max, "p50": min, "p99": min, "p999": min, "cpu_us": min})
        spread = self.runs > 1
        head = ["target", "req/s"] + (["req/s min–max"] if spread else []) + (
            ["MB/s"] if large else []) + [
            "p50", "p99", "p99.9", "errors", "CPU µs/req", "req/s ÷ best peer",
            "p99 ÷ best peer", "CPU/req ÷ best peer"]
        rows = []
        for t in samples:
            m = med[t]
            if m is None:
                rows.append(self.missing(t, len(head)))
                continue
            lo, hi = (min(x["rps"] for x in samples[t]), max(x["rps"] for x in samples[t]))
            row = [label(t), "%.0f" % m["rps"]] + (["%.0f–%.0f" % (lo, hi)] if spread else []) + (
                ["%.0f" % m["mbps"]] if large else []) + [
                fmt_lat(m["p50"]), fmt_lat(m["p99"]), fmt_lat(m["p999"]), "%d" % errs[t],
                "%.1f" % m["cpu_us"]]
            if t == "direct":
                row += ["(ceiling) %s" % ratio(m["rps"], best.get("rps")), "", ""]
            else:
                row += [ratio(m["rps"], best.get("rps")), ratio(m["p99"], best.get("p99")),
                        ratio(m["cpu_us"], best.get("cpu_us"))]
            rows.append(row)
        what = "%s -c%d" % (case, conns or self.conns)
        if case == "small" and not conns:
            self.uring.add_goals("small GET -c%d" % self.conns, med.get(URING), best, samples)
        return (["## %s\n" % (title or TITLES[case])] + md_table(head, rows) +
                self.uring.add(what, med.get("switchyard"), med.get(URING), samples=samples) +
                [""])

    def table_workers(self, samples):
        med = {t: medians(s) for t, s in samples.items()}
        errs = {t: sum(m["errors"] for m in s) for t, s in samples.items()}
        one = med.get("switchyard")
        head = ["switchyard", "req/s", "p50", "p99", "p99.9", "errors", "CPU µs/req",
                "req/s ÷ 1 worker"]
        rows = []
        for t, name in (("switchyard", "workers: 1"), ("switchyard-w2", "workers: 2")):
            m = med.get(t)
            if m is None:
                rows.append([name, "failed"] + [""] * 6)
                continue
            rows.append([name, "%.0f" % m["rps"], fmt_lat(m["p50"]), fmt_lat(m["p99"]),
                         fmt_lat(m["p999"]), "%d" % errs[t], "%.1f" % m["cpu_us"],
                         ratio(m["rps"], one["rps"] if one else None)])
        return (["## Switchyard on epoll, 2 workers vs 1 (GET, small body)\n"] +
                md_table(head, rows) +
                ["", "With 2 cores shared by wrk, the backend and the proxy, a second worker "
                 "mostly competes with them for CPU.", ""])

    def table_tls(self, samples):
        peers = [p + TLS_SUFFIX for p in PEERS]
        ka = {t: medians(s["ka"]) for t, s in samples.items()}
        hs = {t: medians(s["hs"]) for t, s in samples.items()}
        errs = {t: sum(m["errors"] for m in s["ka"] + s["hs"]) for t, s in samples.items()}
        bka = best_peer(ka, {"rps": max, "cpu_us": min}, peers)
        bhs = best_peer(hs, {"rps": max, "cpu_us": min}, peers)
        head = ["proxy (TLS)", "keep-alive req/s", "p99", "CPU µs/req", "handshakes/s",
                "handshake p99", "CPU µs/handshake", "errors", "req/s ÷ best peer",
                "handshakes/s ÷ best peer", "CPU/handshake ÷ best peer"]
        rows = []
        for t in samples:
            k, h = ka.get(t), hs.get(t)
            if k is None and h is None:
                rows.append(self.missing(t[:-len(TLS_SUFFIX)], len(head)))
                continue
            nan = float("nan")
            k = k or {"rps": nan, "p99": nan, "cpu_us": nan}
            h = h or {"rps": nan, "p99": nan, "cpu_us": nan}
            num = lambda x, f: "–" if x != x else f % x  # noqa: E731
            rows.append([label(t[:-len(TLS_SUFFIX)]), num(k["rps"], "%.0f"), fmt_lat(k["p99"]),
                         num(k["cpu_us"], "%.1f"), num(h["rps"], "%.0f"), fmt_lat(h["p99"]),
                         num(h["cpu_us"], "%.1f"), "%d" % errs[t],
                         ratio(k["rps"], bka.get("rps")), ratio(h["rps"], bhs.get("rps")),
                         ratio(h["cpu_us"], bhs.get("cpu_us"))])
        sy, ur = "switchyard" + TLS_SUFFIX, URING + TLS_SUFFIX
        by = {kind: {t: s[kind] for t, s in samples.items()} for kind in ("ka", "hs")}
        cmp = (self.uring.add("tls keep-alive", ka.get(sy), ka.get(ur),
                              name="io_uring ÷ epoll, keep-alive", samples=by["ka"],
                              pair=(sy, ur)) +
               self.uring.add("tls handshakes", hs.get(sy), hs.get(ur),
                              name="io_uring ÷ epoll, handshakes", samples=by["hs"],
                              pair=(sy, ur)))
        return (["## TLS termination (GET, small body; self-signed EC P-256 certificate)\n"] +
                md_table(head, rows) + cmp + [""] +
                ["Same certificate and key for all; TLS 1.2 and 1.3 allowed (wrk "
                 "negotiates TLS 1.3), plain HTTP to the backends. *keep-alive*: wrk over "
                 "kept-alive https connections. *handshakes*: the same wrk with "
                 "`Connection: close`, so every request is a new TCP + TLS connection; "
                 "*CPU µs/handshake* is the proxy's CPU per such request (handshake, accept, "
                 "proxying and close). wrk reuses the TLS session of its previous connection "
                 "on each reconnect, so these are mostly resumed handshakes (all proxies "
                 "have a session cache and session tickets on).", ""])

    def table_conns(self, samples):
        med = {}
        for t, s in samples.items():
            med[t] = None if not s else {k: statistics.median(m[k] for m in s)
                                         for k in ("ok", "before", "after", "per_conn")}
        best = best_peer(med, {"per_conn": min})
        head = ["proxy", "idle conns open", "RSS before", "RSS after", "KiB per idle conn",
                "÷ best peer"]
        rows = []
        for t in samples:
            m = med.get(t)
            if m is None:
                rows.append(self.missing(t, len(head)))
                continue
            rows.append([label(t), "%d / %d" % (m["ok"], self.idle_conns), fmt_kib(m["before"]),
                         fmt_kib(m["after"]), "%.2f" % m["per_conn"],
                         ratio(m["per_conn"], best.get("per_conn"))])
        return (["## Memory per idle keep-alive client connection (%d connections, one request "
                 "each)\n" % self.idle_conns] + md_table(head, rows) +
                ["", "RSS is VmRSS summed over the proxy's processes, 3 s after the last "
                 "connection went idle (each proxy freshly started, 20 requests of warm-up).", ""])
