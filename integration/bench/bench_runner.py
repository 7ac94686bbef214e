"""The measuring side of the side-by-side benchmark (bench.py): Bench sets up the backends and
the proxies, checks them, drives wrk (and h2load through h2_case.py) with the targets interleaved
and the order rotating every round, and hands the samples to its report (bench_report.py).
"""
import atexit
import datetime
import os
import resource
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import bench_idle
import h2_case
from bench_configs import (LARGE_PATH, LARGE_SIZE, POST_SIZE, PROXIES, SMALL_BODY, TLS_SUFFIX,
                           URING, backend_nginx_conf, haproxy_cfg, proxy_nginx_conf,
                           switchyard_yaml, write_lua)
from bench_procs import (CLK_TCK, HERE, ROOT, Proc, StartError, cleanup_all, die, env_int,
                         free_ports, io_uring_refusal, log, tree_cpu_ticks)
from bench_report import Report
from bench_tables import fmt_lat

LOW_CONCURRENCY = (1, 8)  # wrk -c of the lowconc case


def scheme(target):
    return "https" if target.endswith(TLS_SUFFIX) else "http"


class Bench(Report):
    def __init__(self, cases):
        self.cases = cases
        self.duration = env_int("BENCH_DURATION", 10, 1)
        self.warmup = env_int("BENCH_WARMUP", 2, 0)
        self.runs = env_int("BENCH_RUNS", 3, 1)
        self.conns = env_int("BENCH_CONNS", 64, 1)
        self.threads = env_int("BENCH_THREADS", 1, 1)
        self.idle_conns = env_int("BENCH_IDLE_CONNS", 5000, 1)
        self.out = Path(os.environ.get("BENCH_OUT") or HERE / "results.md")
        self.sy_bin = os.environ.get("SWITCHYARD_BIN") or str(ROOT / "build" / "switchyard")
        uring = os.environ.get("BENCH_IO_URING", "1").strip() or "1"
        if uring not in ("0", "1"):
            die("BENCH_IO_URING must be 0 or 1 (got %r)" % uring)
        # the targets with a row in every table; BENCH_IO_URING=0 leaves io_uring out
        self.proxies = [p for p in PROXIES if uring == "1" or p != URING]
        self.skipped = {}  # target -> why (io_uring refused by the kernel or the sandbox)
        self.failures = []

    # ---- setup
    def preflight(self):
        missing = [t for t in ("nginx", "haproxy", "wrk") + (("h2load",) if "h2" in self.cases
                                                             else ()) if not shutil.which(t)]
        if missing:
            die("missing tools: %s (run `scripts/install-deps.sh bench` or `make bench`)"
                % ", ".join(missing))
        if not os.access(self.sy_bin, os.X_OK):
            die("switchyard binary %s not found or not executable (run `make build`)" % self.sy_bin)
        if self.threads > self.conns:
            die("BENCH_THREADS (%d) must be <= BENCH_CONNS (%d)" % (self.threads, self.conns))
        want = max(65536, self.idle_conns * 3 + 1000)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (ValueError, OSError):
                pass
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.nofile = soft
        # Each process (the idle client, the proxy) needs one fd per idle connection, plus the
        # proxy's upstream connections (at most one per connection of a 500-wide batch).
        if "conns" in self.cases and soft < self.idle_conns + 1000:
            die("open-file limit %d is too low for BENCH_IDLE_CONNS=%d (need %d)"
                % (soft, self.idle_conns, self.idle_conns + 1000))

    def setup(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
        if os.environ.get("BENCH_KEEP_TMP") == "1":
            log("keeping temp dir %s" % self.tmp)
        else:
            atexit.register(lambda: shutil.rmtree(self.tmp, ignore_errors=True))
        atexit.register(cleanup_all)  # registered last: runs first
        names = self.proxies + ["switchyard-w2"] + [p + TLS_SUFFIX for p in self.proxies]
        bports = free_ports(3 + len(names))
        self.backend_ports = bports[:3]
        self.ports = dict(zip(names, bports[3:]), direct=self.backend_ports[0])

        www = self.tmp / "www"
        www.mkdir()
        (www / LARGE_PATH.lstrip("/")).write_bytes(os.urandom(LARGE_SIZE))
        for name, method, size in (("get", "GET", 0), ("post", "POST", POST_SIZE)):
            write_lua(self.tmp / ("%s.lua" % name), method, size)
        write_lua(self.tmp / "close.lua", close=True)
        tls = self.make_cert() if "tls" in self.cases or "h2" in self.cases else None

        # backends
        d = self.tmp / "backend"
        d.mkdir()
        (d / "nginx.conf").write_text(backend_nginx_conf(d, self.backend_ports, www, self.nofile))
        base = ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c", str(d / "nginx.conf")]
        self.backend = Proc("backend nginx", base + ["-g", "daemon off;"], self.backend_ports[0],
                            str(d / "log"), check=base + ["-t", "-q"])

        # proxies (plain, and with a TLS listener for the tls and h2 cases)
        self.procs = {}
        for tls_on in ([False, True] if tls else [False]):
            sfx = TLS_SUFFIX if tls_on else ""
            key = "nginx" + sfx
            d = self.tmp / key
            d.mkdir()
            (d / "nginx.conf").write_text(proxy_nginx_conf(
                d, self.ports[key], self.backend_ports, self.nofile, tls if tls_on else None))
            base = ["nginx", "-p", str(d) + "/", "-e", "stderr", "-c", str(d / "nginx.conf")]
            self.procs[key] = Proc(key, base + ["-g", "daemon off;"], self.ports[key],
                                   str(d / "log"), check=base + ["-t", "-q"])
            key = "haproxy" + sfx
            d = self.tmp / key
            d.mkdir()
            (d / "haproxy.cfg").write_text(haproxy_cfg(
                self.ports[key], self.backend_ports, self.nofile, tls[2] if tls_on else None))
            self.procs[key] = Proc(key, ["haproxy", "-db", "-f", str(d / "haproxy.cfg")],
                                   self.ports[key], str(d / "log"),
                                   check=["haproxy", "-c", "-q", "-f", str(d / "haproxy.cfg")])
        # (target, workers, certificate, io_uring)
        variants = [(p, 1, None, "on" if p == URING else None)
                    for p in self.proxies if p.startswith("switchyard")]
        if "workers" in self.cases:
            variants.append(("switchyard-w2", 2, None, None))
        if tls:
            variants += [(key + TLS_SUFFIX, 1, tls[:2], uring) for key, _, _, uring in variants
                         if key != "switchyard-w2"]
        for key, workers, cert, uring in variants:
            port = self.ports[key]
            d = self.tmp / key
            d.mkdir()
            cfg = d / "switchyard.yaml"
            cfg.write_text(switchyard_yaml(port, self.backend_ports, workers, tls=cert,
                                           io_uring=uring))
            r = subprocess.run([self.sy_bin, "--check", "-c", str(cfg)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
            if r.returncode != 0:
                log("switchyard refused `access_log: {path: off}` (%s); dropping it"
                    % r.stdout.strip())
                cfg.write_text(switchyard_yaml(port, self.backend_ports, workers, False, tls=cert,
                                               io_uring=uring))
            self.procs[key] = Proc(key, [self.sy_bin, "--log-level", "warn", "-c", str(cfg)], port,
                                   str(d / "log"), check=[self.sy_bin, "--check", "-c", str(cfg)])

    def make_cert(self):
        """Self-signed EC P-256 certificate for CN/SAN localhost; returns (cert, key, combined)."""
        d = self.tmp / "tls"
        d.mkdir()
        cert, key, pem = d / "cert.pem", d / "key.pem", d / "combined.pem"
        argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
                "-days", "7", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        if r.returncode != 0:
            die("openssl could not make the test certificate: %s" % r.stdout.strip())
        pem.write_text(cert.read_text() + key.read_text())
        return str(cert), str(key), str(pem)

    # ---- checks
    def sanity(self, target):
        """One GET, one large GET and one POST through target; returns an error string or None."""
        base = "%s://127.0.0.1:%d" % (scheme(target), self.ports[target])
        ctx = None
        if target.endswith(TLS_SUFFIX):  # self-signed test certificate
            import ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        checks = [("GET /", base + "/", None, len(SMALL_BODY)),
                  ("GET " + LARGE_PATH, base + LARGE_PATH, None, LARGE_SIZE),
                  ("POST / (64 KiB)", base + "/", b"x" * POST_SIZE, len(SMALL_BODY))]
        for label, url, data, size in checks:
            try:
                req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
                with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
                    body = r.read()
                    if r.status != 200 or len(body) != size:
                        return "%s: status %d, %d body bytes (want 200, %d)" % (
                            label, r.status, len(body), size)
            except Exception as e:
                return "%s: %s" % (label, e)
        return None

    def ensure_running(self, target):
        p = self.procs.get(target, self.backend if target == "direct" else None)
        if p.alive():
            return True
        msg = "%s is not running (exit status %s); log tail:\n%s" % (
            target, p.popen.returncode if p.popen else "n/a", p.log_tail())
        log(msg)
        p.stop()
        try:
            p.start()
        except StartError as e:
            log("restart failed: %s" % e)
            self.failures.append("%s died and could not be restarted" % target)
            return False
        self.failures.append("%s died during the run and was restarted" % target)
        return True

    # ---- wrk
    def wrk(self, target, path, lua, seconds, conns=None):
        url = "%s://127.0.0.1:%d%s" % (scheme(target), self.ports[target], path)
        conns = conns or self.conns
        argv = ["wrk", "-t%d" % min(self.threads, conns), "-c%d" % conns, "-d%ds" % seconds,
                "--timeout", "5s", "-s", str(lua), url]
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            return None, "wrk did not finish within %ds" % (seconds + 30)
        for line in r.stdout.splitlines():
            if line.startswith("BENCH_RESULT "):
                return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}, None
        return None, "wrk failed (status %d): %s" % (r.returncode, r.stdout.strip()[-500:])

    def measure(self, target, path, lua, conns=None):
        """Warm-up + one measured wrk run (conns: wrk -c, default BENCH_CONNS); returns a
        metrics dict or None."""
        if not self.ensure_running(target):
            return None
        pid = (self.backend if target == "direct" else self.procs[target]).pid
        if self.warmup:
            self.wrk(target, path, lua, self.warmup, conns)
        t0 = tree_cpu_ticks(pid)
        res, err = self.wrk(target, path, lua, self.duration, conns)
        t1 = tree_cpu_ticks(pid)
        if res is None:
            log("%s: %s" % (target, err))
            self.failures.append("%s: %s" % (target, err))
            return None
        secs = res["duration_us"] / 1e6
        n = res["requests"]
        m = {"rps": n / secs if secs else 0.0,
             "mbps": res["bytes"] / secs / 1e6 if secs else 0.0,
             "p50": res["p50"], "p99": res["p99"], "p999": res["p999"],
             "errors": res["status"] + res["connect"] + res["read"] + res["write"] + res["timeout"],
             "cpu_us": (t1 - t0) * 1e6 / CLK_TCK / n if n else float("nan")}
        log("  %-20s %9.0f req/s  p50 %s  p99 %s  p99.9 %s  errors %d  cpu %.1f us/req"
            % (target, m["rps"], fmt_lat(m["p50"]), fmt_lat(m["p99"]), fmt_lat(m["p999"]),
               m["errors"], m["cpu_us"]))
        return m

    def rounds(self, what, targets, measure):
        """BENCH_RUNS rounds of measure(target) over targets, the order rotating every round."""
        for rnd in range(self.runs):
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)] if targets else []
            log("case %s, round %d/%d: %s" % (what, rnd + 1, self.runs, ", ".join(order)))
            self.round = rnd
            for t in order:
                measure(t)

    def collect(self, what, rows, targets, path, lua, conns=None):
        """samples {target: [metrics, ...]}: a row for each of rows, figures for targets."""
        samples = {t: [] for t in rows}

        def one(t):
            m = self.measure(t, path, self.tmp / lua, conns)
            if m:
                m["round"] = self.round  # for the per-round (paired) ratios
                samples[t].append(m)
        self.rounds(what, targets, one)
        return samples

    def throughput_case(self, case, targets):
        path = LARGE_PATH if case == "large" else "/"
        lua = "post.lua" if case == "post" else "get.lua"
        # a proxy left out still gets a row
        rows = targets if case == "workers" else ["direct"] + self.proxies
        return self.collect(case, rows, targets, path, lua)

    def lowconc_case(self, targets):
        """The small GET at wrk -c1 and -c8 (no direct row): {conns: samples}."""
        return {c: self.collect("lowconc -c%d" % c, self.proxies, targets, "/", "get.lua", c)
                for c in LOW_CONCURRENCY}

    def tls_case(self, targets):
        """Per TLS proxy: GET / over kept-alive connections, then with `Connection: close`."""
        samples = {p + TLS_SUFFIX: {"ka": [], "hs": []} for p in self.proxies}

        def both(t):
            for kind, lua in (("ka", "get.lua"), ("hs", "close.lua")):
                m = self.measure(t, "/", self.tmp / lua)
                if m:
                    m["round"] = self.round
                    samples[t][kind].append(m)
        self.rounds("tls", targets, both)
        return samples

    # ---- main
    def start_all(self):
        """Starts and checks every proxy the cases need; returns the set of those left out."""
        names = list(self.proxies) + (["switchyard-w2"] if "workers" in self.cases else [])
        if "tls" in self.cases or "h2" in self.cases:
            names += [p + TLS_SUFFIX for p in self.proxies]
        bad = set()
        for name in names:
            try:
                self.procs[name].start()
            except StartError as e:
                bad.add(name)
                why = io_uring_refusal(self.procs[name], str(e))
                if why:  # the machine refuses io_uring: skipped, not failed
                    log("%s skipped: %s" % (name, why))
                    self.skipped[name[:-len(TLS_SUFFIX)] if name.endswith(TLS_SUFFIX)
                                 else name] = why
                    continue
                log("%s; it is left out" % e)
                self.failures.append("%s did not start: %s" % (name, str(e).splitlines()[0]))
        for name in names:
            if name in bad:
                continue
            err = self.sanity(name)
            if err:
                log("%s failed the sanity check (%s); it is left out of the throughput cases"
                    % (name, err))
                self.failures.append("%s sanity: %s" % (name, err))
                bad.add(name)
        return bad

    def run(self):
        self.preflight()
        self.setup()
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.loadavg = Path("/proc/loadavg").read_text().split()[:3]
        self.backend.start()
        err = self.sanity("direct")
        if err:
            die("backend sanity check failed: %s\n%s" % (err, self.backend.log_tail()))
        bad = self.start_all()
        good = [p for p in self.proxies if p not in bad]
        good_tls = [p for p in self.proxies if p + TLS_SUFFIX not in bad]
        results = {}
        for case in self.cases:
            if case in ("small", "large", "post"):
                results[case] = self.throughput_case(case, ["direct"] + good)
            elif case == "lowconc":
                results[case] = self.lowconc_case(good)
            elif case == "workers":
                ts = [t for t in ("switchyard", "switchyard-w2") if t not in bad]
                results[case] = self.throughput_case("workers", ts)
            elif case == "tls":
                results[case] = self.tls_case([p + TLS_SUFFIX for p in good_tls])
            elif case == "h2":
                self.h2 = (env_int("BENCH_H2_CONNS", 4, 1), env_int("BENCH_H2_STREAMS", 32, 1))
                got = h2_case.run_case(self, good_tls, *self.h2, tree_cpu_ticks, CLK_TCK, log)
                # a row for every proxy, as in the other tables
                results[case] = {p + TLS_SUFFIX: got.get(p + TLS_SUFFIX, [])
                                 for p in self.proxies}
            elif case == "conns":
                results[case] = bench_idle.run_case(
                    self, [p for p in self.proxies if p not in self.skipped])
        self.report(results)
        return 1 if self.failures else 0
