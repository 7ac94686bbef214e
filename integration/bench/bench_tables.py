"""Formatting helpers of the side-by-side benchmark (bench.py): medians, ratios, labels, markdown
tables, and the io_uring-vs-epoll comparison that issue 22's goals are read from. Standard
library only; bench.py re-exports these names.
"""
import statistics

from bench_configs import PEERS, URING

# io_uring counts as "not worse" than epoll in a case when its req/s is at least (1 - NOISE)x and
# its CPU per request at most (1 + NOISE)x epoll's: run-to-run noise on a shared 2-core machine.
NOISE = 0.03
GOAL_CPU = 0.70  # issue 22: io_uring CPU per small request at most 0.70x the better peer
GOAL_RPS = 1.25  # ... and requests/s at least 1.25x


def medians(samples):
    if not samples:
        return None
    return {k: statistics.median(m[k] for m in samples) for k in samples[0]}


def best_peer(med, how, peers=PEERS):
    best = {}
    for key, fn in how.items():
        vals = [med[p][key] for p in peers if med.get(p) and med[p][key] == med[p][key]]
        if vals:
            best[key] = fn(vals)
    return best


def ratio(x, ref):
    if ref is None or not ref or x is None or x != x:
        return "–"
    return "%.2f×" % (x / ref)


def label(t):
    return {"direct": "direct (no proxy)", "switchyard": "**switchyard (epoll)**",
            URING: "**switchyard (io_uring)**"}.get(t, t)


def fmt_lat(us):
    if us != us:
        return "–"
    ms = us / 1000.0
    if ms < 10:
        return "%.2f ms" % ms
    if ms < 100:
        return "%.1f ms" % ms
    return "%.0f ms" % ms


def fmt_kib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


class UringComparison:
    """Collects, table by table, io_uring's figures over epoll's (and, for the small GET, over the
    better peer's) and renders them as one line under each table and a summary at the end."""

    def __init__(self):
        self.rows = []   # (what, rps ratio, p99 ratio, cpu ratio)
        self.goals = []  # (what, value, goal, met)

    def add(self, what, epoll, uring, p99="p99", name="io_uring ÷ epoll"):
        """epoll, uring: medians dicts (or None). Returns the paragraph for under the table (a
        list of markdown lines, empty when one of the two has no figures)."""
        if not epoll or not uring:
            return []
        r = [uring[k] / epoll[k] if k and epoll.get(k) and uring.get(k) == uring.get(k)
             else None for k in ("rps", p99, "cpu_us")]
        self.rows.append((what, *r))
        return ["", "%s: req/s %s, p99 %s, CPU/req %s (%s)." % (
            name, fmt_ratio(r[0]), fmt_ratio(r[1]), fmt_ratio(r[2]), verdict(r[0], r[2]))]

    def add_goals(self, what, uring, best):
        """The small-GET goals of issue 22: io_uring against the better peer."""
        if not uring or not best:
            return
        if best.get("cpu_us"):
            v = uring["cpu_us"] / best["cpu_us"]
            self.goals.append(("%s: io_uring CPU/req ÷ best peer" % what, v,
                               "≤ %.2f×" % GOAL_CPU, v <= GOAL_CPU))
        if best.get("rps"):
            v = uring["rps"] / best["rps"]
            self.goals.append(("%s: io_uring req/s ÷ best peer" % what, v,
                               "≥ %.2f×" % GOAL_RPS, v >= GOAL_RPS))

    def summary(self, skipped):
        if skipped:
            return ["## io_uring vs epoll\n", "Not measured: %s." % skipped, ""]
        if not self.rows and not self.goals:
            return []
        md = ["## io_uring vs epoll (issue 22 goals)\n"]
        if self.goals:
            md += md_table(["goal", "measured", "target", "met"],
                           [[w, fmt_ratio(v), g, "yes" if ok else "**no**"]
                            for w, v, g, ok in self.goals]) + [""]
        if self.rows:
            rows = [[w, fmt_ratio(a), fmt_ratio(b), fmt_ratio(c), verdict(a, c)]
                    for w, a, b, c in self.rows]
            md += md_table(["case", "req/s ÷ epoll", "p99 ÷ epoll", "CPU/req ÷ epoll",
                            "io_uring not worse than epoll"], rows)
            worse = [w for w, a, _, c in self.rows if verdict(a, c) != "not worse"]
            md += ["", "No case worse than the epoll path: %s." % (
                "yes" if not worse else "**no** (%s)" % ", ".join(worse))]
        md += ["", "*Not worse* means req/s at least %.2f× and CPU per request at most %.2f× "
               "epoll's (a %d %% band for run-to-run noise); p99 is shown, not judged. The "
               "goals compare io_uring with the better of nginx and HAProxy on the small GET "
               "at the main concurrency." % (1 - NOISE, 1 + NOISE, round(NOISE * 100)), ""]
        return md


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


def verdict(rps, cpu):
    if rps is None and cpu is None:
        return "–"
    if (rps is not None and rps < 1 - NOISE) or (cpu is not None and cpu > 1 + NOISE):
        return "**worse**"
    return "not worse"
