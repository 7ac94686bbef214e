#!/usr/bin/python3
"""Side-by-side benchmark: Switchyard vs nginx vs HAProxy in front of the same backends.

Run it through `make bench` (or integration/bench/run.sh, which installs nginx-light, haproxy
and wrk and builds the proxy first). Standard library only.

    integration/bench/bench.py [CASE ...]

Cases (default: small large post conns):
  small    GET /, small fixed body
  large    GET a 1 MiB file (also reports MB/s)
  post     POST / with a 64 KiB body, small answer
  conns    RSS growth per idle keep-alive client connection (BENCH_IDLE_CONNS of them)
  workers  Switchyard with `workers: 2` vs `workers: 1` on the small case
  tls      TLS termination (same self-signed EC P-256 certificate for every proxy): GET / over
           kept-alive TLS connections, and handshakes/s with `Connection: close` (one new TLS
           connection per request)
  h2       HTTP/2 over TLS: h2load with many streams on few connections (h2_case.py)

Environment:
  BENCH_DURATION    seconds per measured wrk run (default 10)
  BENCH_WARMUP      seconds of warm-up before each measured run (default 2; 0 = none)
  BENCH_RUNS        rounds per case; medians are reported (default 3)
  BENCH_CONNS       wrk connections (default 64)
  BENCH_THREADS     wrk threads (default 1)
  BENCH_IDLE_CONNS  idle connections for the conns case (default 5000)
  BENCH_OUT         markdown output (default integration/bench/results.md)
  BENCH_KEEP_TMP=1  keep the temp dir (configs and logs) for inspection
  SWITCHYARD_BIN    proxy binary (default build/switchyard)

Setup (one CPU-time budget per process, loopback only): one nginx process (worker_processes 1)
serves three identical backends on three ports; each proxy runs one worker/thread with
upstream keep-alive, round robin over the three backends and access logs off. The proxies are
measured interleaved (the order rotates every round), with the same wrk command for all, plus
a direct-to-backend run as the ceiling.
"""
import atexit
import datetime
import os
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import h2_case  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

ALL_CASES = ["small", "large", "post", "conns", "workers", "tls", "h2"]
DEFAULT_CASES = ["small", "large", "post", "conns"]
PROXIES = ["switchyard", "nginx", "haproxy"]
PEERS = ["nginx", "haproxy"]
TLS_SUFFIX = "-tls"  # "switchyard-tls" etc.: the same proxy with a TLS listener
SMALL_BODY = "Hello from the switchyard bench backend.\n"
LARGE_PATH = "/1mib.bin"
LARGE_SIZE = 1 << 20
POST_SIZE = 64 << 10


def env_int(name, default, minimum=0):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        die("%s=%r is not an integer" % (name, raw))
    if value < minimum:
        die("%s must be >= %d (got %d)" % (name, minimum, value))
    return value


def die(msg):
    print("bench: error: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def log(msg):
    print("bench: %s" % msg, file=sys.stderr, flush=True)


class StartError(Exception):
    """A server could not be started; the message says why (with its log tail)."""


# --------------------------------------------------------------------------- processes

def proc_table():
    """pid -> (ppid, utime+stime ticks) for every process we can read."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        table[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    return table


def tree_pids(root, table=None):
    table = table if table is not None else proc_table()
    if root not in table:
        return []
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_ticks(root):
    table = proc_table()
    return sum(table[p][1] for p in tree_pids(root, table))


def tree_rss_kib(root):
    total = 0
    for pid in tree_pids(root):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


class Proc:
    """A server we started, in its own session so its whole tree can be stopped."""
    registry = []

    def __init__(self, name, argv, port, logfile, check=None):
        self.name, self.argv, self.port, self.logfile, self.check = name, argv, port, logfile, check
        self.popen = None
        Proc.registry.append(self)

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines=15):
        try:
            text = Path(self.logfile).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + l for l in text[-lines:]) or "    (empty log)"

    def start(self, deadline_s=10.0):
        if self.check:
            r = subprocess.run(self.check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=30)
            if r.returncode != 0:
                raise StartError("%s: configuration check failed (%s):\n%s"
                    % (self.name, " ".join(map(shlex.quote, self.check)), r.stdout.strip()))
        with open(self.logfile, "ab") as out:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          cwd=str(Path(self.logfile).parent))
        deadline = time.monotonic() + deadline_s
        while True:
            if not self.alive():
                raise StartError("%s exited with status %s during startup; log %s:\n%s"
                    % (self.name, self.popen.returncode, self.logfile, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StartError("%s did not accept connections on 127.0.0.1:%d within %.0fs; log %s:\n%s"
                    % (self.name, self.port, deadline_s, self.logfile, self.log_tail()))
            time.sleep(0.05)

    def stop(self, grace=5.0):
        if not self.popen:
            return
        pgid = self.popen.pid  # session leader: pgid == pid
        if self.popen.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log("%s did not exit within %.0fs of SIGTERM; sending SIGKILL" % (self.name, grace))
        try:
            os.killpg(pgid, signal.SIGKILL)  # leftovers of the group (e.g. nginx workers)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.popen = None


def cleanup_all():
    for p in reversed(Proc.registry):
        try:
            p.stop(grace=3.0)
        except Exception as e:  # keep going: every process must be stopped
            log("cleanup of %s failed: %r" % (p.name, e))


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# --------------------------------------------------------------------------- configs

def nginx_common(tmp):
    return f"""
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_max_body_size 2m;
    client_body_buffer_size 128k;
"""


def nginx_head(tmp, nofile):
    """Top of an nginx.conf: one worker, fd limits that fit ours, run as the current user."""
    user = ""
    if os.geteuid() == 0:  # otherwise nginx switches its worker to `nobody`
        import grp
        import pwd
        user = "user %s %s;\n" % (pwd.getpwuid(os.geteuid()).pw_name,
                                   grp.getgrgid(os.getegid()).gr_name)
    return f"""{user}worker_processes 1;
worker_rlimit_nofile {nofile};
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {nofile - 100}; }}
"""


def backend_nginx_conf(tmp, ports, www, nofile):
    listens = "\n".join("        listen 127.0.0.1:%d backlog=4096;" % p for p in ports)
    return f"""# three identical backends served by one nginx worker (2-core machine)
{nginx_head(tmp, nofile)}http {{
{nginx_common(tmp)}
    sendfile on;
    tcp_nopush on;
    server {{
{listens}
        location = {LARGE_PATH} {{
            root {www};
            default_type application/octet-stream;
        }}
        location / {{
            default_type text/plain;
            return 200 "{SMALL_BODY.rstrip()}\\n";
        }}
    }}
}}
"""


def proxy_nginx_conf(tmp, port, backends, nofile, tls=None):
    """tls: (cert, key) paths for an https listener (session cache + tickets, like the others)."""
    listen = "listen 127.0.0.1:%d backlog=4096;" % port
    if tls:
        listen = f"""listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {tls[0]};
        ssl_certificate_key {tls[1]};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;"""
    servers = "\n".join("        server 127.0.0.1:%d;" % p for p in backends)
    return f"""# nginx as the reverse proxy: one worker, upstream keep-alive, round robin
{nginx_head(tmp, nofile)}http {{
{nginx_common(tmp)}
    upstream web {{
{servers}
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        {listen}
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"""


def haproxy_cfg(port, backends, nofile, pem=None):
    """pem: combined cert+key file for an https bind (default session cache and tickets)."""
    ssl = " ssl crt %s ssl-min-ver TLSv1.2 alpn h2,http/1.1" % pem if pem else ""
    # HAProxy refuses to start unless 2 x maxconn fds fit in the limit (so under a 20000-fd
    # limit it holds at most 9900 connections).
    maxconn = (nofile - 200) // 2
    servers = "\n".join("    server b%d 127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(backends))
    return f"""# HAProxy as the reverse proxy: one thread, upstream keep-alive, round robin
global
    nbthread 1
    maxconn {maxconn}

defaults
    mode http
    maxconn {maxconn}
    timeout connect 3s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s
    timeout http-request 10s
    option http-keep-alive
    http-reuse always

frontend bench
    bind 127.0.0.1:{port}{ssl} backlog 4096
    default_backend web

backend web
    balance roundrobin
{servers}
"""


def switchyard_yaml(port, backends, workers, access_log_off=True, tls=None):
    lines = ["workers: %d" % workers,
             "admin: {listen: \"127.0.0.1:0\"}"]
    if access_log_off:
        lines.append("access_log: {path: \"off\"}")
    lines += ["limits: {max_connections: 20000}",
              "timeouts: {shutdown: 2s}",
              "listeners:",
              "  - name: bench",
              "    listen: 127.0.0.1:%d" % port]
    if tls:
        lines.append("    tls: {certificates: [{cert: \"%s\", key: \"%s\"}], min_version: \"1.2\"}"
                     % tls)
    lines += ["    routes:",
              "      - match: {path_prefix: /}",
              "        pool: web",
              "pools:",
              "  - name: web",
              "    policy: round_robin",
              "    backends:"]
    lines += ["      - {name: b%d, address: 127.0.0.1:%d}" % (i + 1, p) for i, p in enumerate(backends)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- wrk

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%.0f duration_us=%.0f bytes=%.0f connect=%.0f read=%.0f " ..
    "write=%.0f status=%.0f timeout=%.0f p50=%.0f p99=%.0f p999=%.0f max=%.0f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def write_lua(path, method="GET", body_size=0, close=False):
    parts = ["-- generated by integration/bench/bench.py", 'wrk.method = "%s"' % method]
    if close:  # one request per connection: every request is a new (TLS) connection
        parts.append('wrk.headers["Connection"] = "close"')
    if body_size:
        parts += ['wrk.body = string.rep("x", %d)' % body_size,
                  'wrk.headers["Content-Type"] = "application/octet-stream"']
    Path(path).write_text("\n".join(parts) + "\n" + LUA_DONE)


class Bench:
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
        self.failures = []
        self.tables = []

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
        bports = free_ports(10)
        self.backend_ports, (p_sy, p_ng, p_ha, p_sy2) = bports[:3], bports[3:7]
        self.ports = {"direct": self.backend_ports[0], "switchyard": p_sy, "nginx": p_ng,
                      "haproxy": p_ha, "switchyard-w2": p_sy2}
        for name, port in zip(PROXIES, bports[7:]):
            self.ports[name + TLS_SUFFIX] = port

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

        # proxies (plain, and with a TLS listener for the tls case)
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
        variants = [("switchyard", p_sy, 1, None)]
        if "workers" in self.cases:
            variants.append(("switchyard-w2", p_sy2, 2, None))
        if tls:
            variants.append(("switchyard" + TLS_SUFFIX, self.ports["switchyard" + TLS_SUFFIX], 1,
                             tls[:2]))
        for key, port, workers, cert in variants:
            d = self.tmp / key
            d.mkdir()
            cfg = d / "switchyard.yaml"
            cfg.write_text(switchyard_yaml(port, self.backend_ports, workers, tls=cert))
            r = subprocess.run([self.sy_bin, "--check", "-c", str(cfg)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
            if r.returncode != 0:
                log("switchyard refused `access_log: {path: off}` (%s); dropping it"
                    % r.stdout.strip())
                cfg.write_text(switchyard_yaml(port, self.backend_ports, workers, False, tls=cert))
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
    def wrk(self, target, path, lua, seconds):
        url = "%s://127.0.0.1:%d%s" % (scheme(target), self.ports[target], path)
        argv = ["wrk", "-t%d" % self.threads, "-c%d" % self.conns, "-d%ds" % seconds,
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

    def measure(self, target, path, lua):
        """Warm-up + one measured wrk run; returns a metrics dict or None."""
        if not self.ensure_running(target):
            return None
        pid = (self.backend if target == "direct" else self.procs[target]).pid
        if self.warmup:
            self.wrk(target, path, lua, self.warmup)
        t0 = tree_cpu_ticks(pid)
        res, err = self.wrk(target, path, lua, self.duration)
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
        log("  %-14s %9.0f req/s  p50 %s  p99 %s  p99.9 %s  errors %d  cpu %.1f us/req"
            % (target, m["rps"], fmt_lat(m["p50"]), fmt_lat(m["p99"]), fmt_lat(m["p999"]),
               m["errors"], m["cpu_us"]))
        return m

    def throughput_case(self, case, targets):
        path = LARGE_PATH if case == "large" else "/"
        lua = self.tmp / ("post.lua" if case == "post" else "get.lua")
        samples = {t: [] for t in targets}
        if case != "workers":  # a proxy left out still gets a row
            samples = {t: [] for t in ["direct"] + PROXIES}
        for rnd in range(self.runs):
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
            log("case %s, round %d/%d: %s" % (case, rnd + 1, self.runs, ", ".join(order)))
            for t in order:
                m = self.measure(t, path, lua)
                if m:
                    samples[t].append(m)
        return samples

    def tls_case(self, targets):
        """Per TLS proxy: GET / over kept-alive connections, then with `Connection: close`."""
        samples = {p + TLS_SUFFIX: {"ka": [], "hs": []} for p in PROXIES}
        for rnd in range(self.runs):
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)] if targets else []
            log("case tls, round %d/%d: %s" % (rnd + 1, self.runs, ", ".join(order)))
            for t in order:
                for kind, lua in (("ka", "get.lua"), ("hs", "close.lua")):
                    m = self.measure(t, "/", self.tmp / lua)
                    if m:
                        samples[t][kind].append(m)
        return samples

    # ---- idle connections
    def idle_case(self, target):
        p = self.procs[target]
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
                                  str(p.port), str(self.idle_conns), "--timeout", "60"],
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
            self.failures.append("%s: %d of %d idle connections failed (%s)" % (
                target, fail, self.idle_conns, fields.get("first_error")))
        return m, None

    # ---- main
    def run(self):
        self.preflight()
        self.setup()
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.loadavg = Path("/proc/loadavg").read_text().split()[:3]
        self.backend.start()
        err = self.sanity("direct")
        if err:
            die("backend sanity check failed: %s\n%s" % (err, self.backend.log_tail()))
        proxies = list(PROXIES) + (["switchyard-w2"] if "workers" in self.cases else [])
        if "tls" in self.cases or "h2" in self.cases:
            proxies += [p + TLS_SUFFIX for p in PROXIES]
        bad = set()
        for name in proxies:
            try:
                self.procs[name].start()
            except StartError as e:
                log("%s; it is left out" % e)
                self.failures.append("%s did not start: %s" % (name, str(e).splitlines()[0]))
                bad.add(name)
        for name in proxies:
            if name in bad:
                continue
            err = self.sanity(name)
            if err:
                log("%s failed the sanity check (%s); it is left out of the throughput cases"
                    % (name, err))
                self.failures.append("%s sanity: %s" % (name, err))
                bad.add(name)
        targets = ["direct"] + [p for p in PROXIES if p not in bad]

        results = {}
        for case in self.cases:
            if case in ("small", "large", "post"):
                results[case] = self.throughput_case(case, targets)
            elif case == "workers":
                ts = [t for t in ("switchyard", "switchyard-w2") if t not in bad]
                results[case] = self.throughput_case("workers", ts)
            elif case == "tls":
                results[case] = self.tls_case([p + TLS_SUFFIX for p in PROXIES
                                               if p + TLS_SUFFIX not in bad])
            elif case == "h2":
                self.h2 = (env_int("BENCH_H2_CONNS", 4, 1), env_int("BENCH_H2_STREAMS", 32, 1))
                results[case] = h2_case.run_case(
                    self, [p for p in PROXIES if p + TLS_SUFFIX not in bad], *self.h2,
                    tree_cpu_ticks, CLK_TCK, log)
            elif case == "conns":
                samples = {t: [] for t in PROXIES}
                for rnd in range(self.runs):
                    order = PROXIES[rnd % 3:] + PROXIES[:rnd % 3]
                    log("case conns (%d idle), round %d/%d: %s"
                        % (self.idle_conns, rnd + 1, self.runs, ", ".join(order)))
                    for t in order:
                        m, err = self.idle_case(t)
                        if m:
                            samples[t].append(m)
                        else:
                            log("%s: %s" % (t, err))
                            self.failures.append("%s idle: %s" % (t, err))
                results[case] = samples
        self.report(results)
        return 1 if self.failures else 0

    # ---- output
    def report(self, results):
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
                  "no access log")
        md.append("")
        for case in self.cases:
            if case in ("small", "large", "post"):
                md += self.table_throughput(case, results[case])
            elif case == "workers":
                md += self.table_workers(results[case])
            elif case == "conns":
                md += self.table_conns(results[case])
            elif case == "tls":
                md += self.table_tls(results[case])
            elif case == "h2":
                md += h2_case.table(results[case], PEERS, *self.h2, medians, ratio, md_table,
                                    label)
        md.append("Legend: latencies are wrk's (client-side) percentiles. *errors* = non-2xx/3xx "
                  "responses + socket errors (connect/read/write/timeout), summed over all runs. "
                  "*CPU/req* = user+sys time of the proxy's process tree during the measured run "
                  "divided by requests (for *direct*: the backend nginx). *÷ best peer* compares "
                  "with the better of nginx and HAProxy for that column: for req/s above 1 is "
                  "better, for latency, CPU and memory below 1 is better.")
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

    def table_throughput(self, case, samples):
        title = {"small": "GET, small body (%d bytes)" % len(SMALL_BODY),
                 "large": "GET, 1 MiB body",
                 "post": "POST, 64 KiB request body, small answer"}[case]
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
                rows.append([label(t), "failed"] + [""] * (len(head) - 2))
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
        return ["## %s\n" % title] + md_table(head, rows) + [""]

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
        return (["## Switchyard, 2 workers vs 1 (GET, small body)\n"] + md_table(head, rows) +
                ["", "With 2 cores shared by wrk, the backend and the proxy, a second worker "
                 "mostly competes with them for CPU.", ""])

    def table_tls(self, samples):
        peers = [p + TLS_SUFFIX for p in PEERS]
        ka = {t: medians(s["ka"]) for t, s in samples.items()}
        hs = {t: medians(s["hs"]) for t, s in samples.items()}
        errs = {t: sum(m["errors"] for m in s["ka"] + s["hs"]) for t, s in samples.items()}

        def best(med, key, fn):
            vals = [med[p][key] for p in peers if med.get(p) and med[p][key] == med[p][key]]
            return fn(vals) if vals else None
        b = {"ka_rps": best(ka, "rps", max), "ka_cpu": best(ka, "cpu_us", min),
             "hs_rps": best(hs, "rps", max), "hs_cpu": best(hs, "cpu_us", min)}
        head = ["proxy (TLS)", "keep-alive req/s", "p99", "CPU µs/req", "handshakes/s",
                "handshake p99", "CPU µs/handshake", "errors", "req/s ÷ best peer",
                "handshakes/s ÷ best peer", "CPU/handshake ÷ best peer"]
        rows = []
        for t in samples:
            k, h = ka.get(t), hs.get(t)
            if k is None and h is None:
                rows.append([label(t[:-len(TLS_SUFFIX)]), "failed"] + [""] * (len(head) - 2))
                continue
            nan = float("nan")
            k = k or {"rps": nan, "p99": nan, "cpu_us": nan}
            h = h or {"rps": nan, "p99": nan, "cpu_us": nan}
            num = lambda x, f: "–" if x != x else f % x
            rows.append([label(t[:-len(TLS_SUFFIX)]), num(k["rps"], "%.0f"), fmt_lat(k["p99"]),
                         num(k["cpu_us"], "%.1f"), num(h["rps"], "%.0f"), fmt_lat(h["p99"]),
                         num(h["cpu_us"], "%.1f"), "%d" % errs[t],
                         ratio(k["rps"], b["ka_rps"]), ratio(h["rps"], b["hs_rps"]),
                         ratio(h["cpu_us"], b["hs_cpu"])])
        return (["## TLS termination (GET, small body; self-signed EC P-256 certificate)\n"] +
                md_table(head, rows) +
                ["", "Same certificate and key for all three; TLS 1.2 and 1.3 allowed (wrk "
                 "negotiates TLS 1.3), plain HTTP to the backends. *keep-alive*: wrk over "
                 "kept-alive https connections. *handshakes*: the same wrk with "
                 "`Connection: close`, so every request is a new TCP + TLS connection; "
                 "*CPU µs/handshake* is the proxy's CPU per such request (handshake, accept, "
                 "proxying and close). wrk reuses the TLS session of its previous connection "
                 "on each reconnect, so these are mostly resumed handshakes (all three proxies "
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
        for t in PROXIES:
            m = med.get(t)
            if m is None:
                rows.append([t, "failed", "", "", "", ""])
                continue
            rows.append([t, "%d / %d" % (m["ok"], self.idle_conns), fmt_kib(m["before"]),
                         fmt_kib(m["after"]), "%.2f" % m["per_conn"],
                         ratio(m["per_conn"], best.get("per_conn"))])
        return (["## Memory per idle keep-alive client connection (%d connections, one request "
                 "each)\n" % self.idle_conns] + md_table(head, rows) +
                ["", "RSS is VmRSS summed over the proxy's processes, 3 s after the last "
                 "connection went idle (each proxy freshly started, 20 requests of warm-up).", ""])


# --------------------------------------------------------------------------- helpers

def scheme(target):
    return "https" if target.endswith(TLS_SUFFIX) else "http"


def medians(samples):
    if not samples:
        return None
    return {k: statistics.median(m[k] for m in samples) for k in samples[0]}


def best_peer(med, how):
    best = {}
    for key, fn in how.items():
        vals = [med[p][key] for p in PEERS if med.get(p) and med[p][key] == med[p][key]]
        if vals:
            best[key] = fn(vals)
    return best


def ratio(x, ref):
    if ref is None or not ref or x != x:
        return "–"
    return "%.2f×" % (x / ref)


def label(t):
    return {"direct": "direct (no proxy)", "switchyard": "**switchyard**"}.get(t, t)


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


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def versions(sy_bin):
    def first(argv):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=10)
            return r.stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    sy = first([sy_bin, "--version"])
    rev = first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = first(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                   "--", "src", "include", "meson.build"])
    if rev != "?":
        sy += " (git %s%s)" % (rev, ", with uncommitted changes" if dirty not in ("", "?") else "")
    ng = first(["nginx", "-v"]).replace("nginx version: ", "")
    ha = " ".join(first(["haproxy", "-v"]).split()[:3])
    wrk = " ".join(first(["wrk", "-v"]).split()[:2])
    return "%s; %s; %s; %s" % (sy, ng, ha, wrk)


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
