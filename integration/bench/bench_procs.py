"""Process helpers of the side-by-side benchmark (bench.py): environment settings, logging, the
servers it starts (Proc), their CPU time and memory from /proc, free ports and the versions line.
Standard library only; bench.py re-exports all of it (instructions.py, syscalls.py,
cpu_per_request.py and h2_upstream.py use it as `bench.X`).
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
IO_URING_REFUSED = "io_uring: on, but "  # how the binary starts its exit message when refused

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



def io_uring_refusal(proc, error=""):
    """The reason a Switchyard started with `io_uring: on` gave for exiting, or None when neither
    its log nor error (the StartError text, which holds a failed --check's output) says that the
    kernel or the sandbox refused io_uring."""
    try:
        text = Path(proc.logfile).read_text(errors="replace")
    except OSError:
        text = ""
    for line in (text + "\n" + error).splitlines():
        at = line.find(IO_URING_REFUSED)
        if at >= 0:
            return line[at:].strip()
    return None
