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
H2_GOAL_CPU = 0.80  # issue 15: HTTP/2 CPU per request at most 0.80x the better peer
H2_GOAL_RPS = 1.15  # ... and requests/s at least 1.15x


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


def per_round(samples, target, peers, key, pick):
    """target's figure ÷ the better peer's measured in the same round, for every round where
    both have one. A round runs every proxy back to back, so drift of the shared machine from
    one round to the next (its speed changes by a third within minutes) cancels out here, where
    a ratio of medians can pair one proxy's fast round with another's slow one."""
    out = []
    for m in samples.get(target) or []:
        r = m.get("round")
        vals = [x[key] for p in peers for x in samples.get(p) or []
                if x.get("round") == r and x[key] == x[key]]
        if r is not None and vals and pick(vals) and m[key] == m[key]:
            out.append(m[key] / pick(vals))
    return out


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
        self.rows = []   # (what, rps, p99, cpu ratios, per-round rps and cpu ratios' medians)
        self.goals = []  # (what, value, goal, met, per-round values, met by their median)

    def add(self, what, epoll, uring, p99="p99", name="io_uring ÷ epoll", samples=None,
            pair=("switchyard", URING)):
        """epoll, uring: medians dicts (or None); samples (optional): the case's samples, whose
        rounds pair[1]'s figures are compared with pair[0]'s in. Returns the paragraph for under
        the table (a list of markdown lines, empty when one of the two has no figures)."""
        if not epoll or not uring:
            return []
        r = [uring[k] / epoll[k] if k and epoll.get(k) and uring.get(k) == uring.get(k)
             else None for k in ("rps", p99, "cpu_us")]
        rounds = [per_round(samples, pair[1], [pair[0]], k, max) if samples else []
                  for k in ("rps", "cpu_us")]
        pr = [statistics.median(x) if x else None for x in rounds]
        self.rows.append((what, *r, *pr))
        per = ""
        if rounds[0]:
            per = "; per round req/s %s, CPU/req %s" % tuple(
                ", ".join(fmt_ratio(v) for v in x) for x in rounds)
        return ["", "%s: req/s %s, p99 %s, CPU/req %s (%s)%s." % (
            name, fmt_ratio(r[0]), fmt_ratio(r[1]), fmt_ratio(r[2]), verdict(r[0], r[2]), per)]

    def add_goals(self, what, uring, best, samples=None, target=URING, peers=PEERS,
                  goal_cpu=GOAL_CPU, goal_rps=GOAL_RPS, name="io_uring"):
        """A case's goals (issue 22's small GET by default): target against the better peer,
        by the ratio of medians and by the median of per-round ratios (samples given)."""
        if not uring or not best:
            return
        for key, goal, pick, sign, ok in (
                ("cpu_us", goal_cpu, min, "≤", lambda v: v <= goal_cpu),
                ("rps", goal_rps, max, "≥", lambda v: v >= goal_rps)):
            if not best.get(key):
                continue
            v = uring[key] / best[key]
            rounds = per_round(samples, target, peers, key, pick) if samples else []
            self.goals.append(("%s: %s %s ÷ best peer" % (what, name,
                                                         "CPU/req" if key == "cpu_us" else "req/s"),
                               v, "%s %.2f×" % (sign, goal), ok(v), rounds,
                               ok(statistics.median(rounds)) if rounds else None))

    def summary(self, skipped):
        if not self.rows and not self.goals and not skipped:
            return []
        md = ["## Goals (issue 22: io_uring, small GET; issue 15: HTTP/2) and io_uring vs epoll\n"]
        if skipped:
            md += ["io_uring not measured: %s." % skipped, ""]
        if self.goals:
            yes = {True: "yes", False: "**no**", None: "–"}
            md += md_table(["goal", "ratio of medians", "per round (median)", "target",
                            "met (medians)", "met (per round)"],
                           [[w, fmt_ratio(v), "%s (%s)" % (", ".join(fmt_ratio(x) for x in rs),
                                                           fmt_ratio(statistics.median(rs)))
                             if rs else "–", g, yes[ok], yes[okr]]
                            for w, v, g, ok, rs, okr in self.goals]) + [""]
            md += ["*Per round*: in each round every proxy runs once, back to back; each figure "
                   "is the proxy's ÷ the better peer's in that round, so the machine's drift "
                   "between rounds cancels out.", ""]
        if self.rows:
            rows = [[w, fmt_ratio(a), fmt_ratio(b), fmt_ratio(c), verdict(a, c),
                     fmt_ratio(pa), fmt_ratio(pc), verdict(pa, pc)]
                    for w, a, b, c, pa, pc in self.rows]
            md += md_table(["case", "req/s ÷ epoll", "p99 ÷ epoll", "CPU/req ÷ epoll",
                            "io_uring not worse than epoll", "req/s per round",
                            "CPU/req per round", "not worse, per round"], rows)
            worse = [w for w, a, _, c, _, _ in self.rows if verdict(a, c) != "not worse"]
            md += ["", "No case worse than the epoll path: %s." % (
                "yes" if not worse else "**no** (%s)" % ", ".join(worse))]
        md += ["", "*Not worse* means req/s at least %.2f× and CPU per request at most %.2f× "
               "epoll's (a %d %% band for run-to-run noise); p99 is shown, not judged; the "
               "per-round columns pair io_uring with epoll round by round. The goals compare "
               "io_uring with the better of nginx and HAProxy on the small GET at the main "
               "concurrency (issue 22), and both Switchyard paths with it on HTTP/2 (issue "
               "15)." % (1 - NOISE, 1 + NOISE, round(NOISE * 100)), ""]
        return md


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


def verdict(rps, cpu):
    if rps is None and cpu is None:
        return "–"
    if (rps is not None and rps < 1 - NOISE) or (cpu is not None and cpu > 1 + NOISE):
        return "**worse**"
    return "not worse"
