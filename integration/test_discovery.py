"""DNS service discovery against a real DNS server: dnsmasq (Debian's dnsmasq-base) run on a
free loopback port with a hosts file that the tests rewrite (dnsmasq re-reads it on SIGHUP).
Switchyard asks it directly (`discovery.resolver`), so records added and removed are seen
within one `discovery.interval`. Backends are origins on 127.0.0.2-127.0.0.4, all on one port,
as the pods behind a headless Service would be."""

import http.client
import json
import os
import pwd
import random
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (LOOPBACK, ORIGIN_PY, PYTHON, Origin, _pdeathsig, free_port, request,
                      stop_process, to_yaml, wait_until)

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
INTERVAL = "200ms"

pytestmark = pytest.mark.skipif(not os.access(DNSMASQ, os.X_OK),
                                reason="dnsmasq not installed (scripts/install-deps.sh test)")


def dns_query_a(port, name, timeout=1.0):
    """Sorted A records of `name` from the DNS server on 127.0.0.1:port; None if no answer."""
    qid = random.randrange(1 << 16)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, (LOOPBACK, port))
            msg = s.recv(4096)
        except OSError:
            return None
    if len(msg) < 12 or struct.unpack(">H", msg[:2])[0] != qid:
        return None
    answers = struct.unpack(">H", msg[6:8])[0]
    pos = 12 + len(qname) + 4

    def skip_name(p):
        while msg[p] != 0:
            if msg[p] & 0xC0 == 0xC0:
                return p + 2
            p += 1 + msg[p]
        return p + 1

    out = []
    for _ in range(answers):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[pos:pos + 4]))
        pos += rdlen
    return sorted(out)


def udp_and_tcp_free_port():
    """A loopback port free for both TCP and UDP a moment ago (dnsmasq binds both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both TCP and UDP")


class Dnsmasq:
    """dnsmasq answering for *.test from a hosts file only (--local=/test/: names it does not
    know are NXDOMAIN and a name without AAAA is NODATA, never forwarded anywhere)."""

    def __init__(self, tmp_path, extra_args=()):
        self.hosts = tmp_path / "dns-hosts"
        self.hosts.write_text("")
        self.log_path = tmp_path / "dnsmasq.log"
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None

    def start(self, wanted=None):
        """Starts on port `wanted` (a restart), or on a free one."""
        user = pwd.getpwuid(os.getuid()).pw_name
        for _ in range(10):
            port = wanted or udp_and_tcp_free_port()
            log = open(self.log_path, "ab")
            proc = subprocess.Popen(
                [DNSMASQ, "--no-daemon", "--port=%d" % port, "--listen-address=127.0.0.1",
                 "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/test/",
                 "--addn-hosts=%s" % self.hosts, "--conf-file=/dev/null", "--pid-file=",
                 "--user=%s" % user, "--log-facility=-", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_pdeathsig)
            log.close()
            deadline = time.monotonic() + 5
            while proc.poll() is None and time.monotonic() < deadline:
                if dns_query_a(port, "probe.test", timeout=0.2) is not None:
                    self.proc, self.port = proc, port
                    return self
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)  # most likely the port was taken meanwhile: try another
            if wanted:
                break  # a restart must keep its port
        pytest.fail("dnsmasq did not start; log:\n" + self.log_path.read_text(errors="replace"))

    def set(self, name, addresses):
        """Publish exactly `addresses` for `name` and wait until dnsmasq answers with them."""
        self.hosts.write_text("".join("%s %s\n" % (a, name) for a in addresses))
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: dns_query_a(self.port, name) == sorted(addresses), 5,
                   what="dnsmasq to answer %s -> %s" % (name, addresses))

    def stop(self):
        if self.proc:
            stop_process(self.proc)

    def restart(self, extra_args):
        """The same hosts file and port with other options (SRV records are options, which
        SIGHUP does not re-read)."""
        self.stop()
        self.extra_args = list(extra_args)
        self.start(self.port)

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)


@pytest.fixture
def dnsmasq(tmp_path):
    d = Dnsmasq(tmp_path)
    yield d.start()
    d.stop()


class HostOrigin(Origin):
    """An origin on a given loopback address and port (pods behind one name share a port)."""

    def __init__(self, name, host, port, log_dir):  # pylint: disable=super-init-not-called
        self.name = name
        self.host = host
        self.log_path = log_dir / ("origin-%s.stderr" % name)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, str(ORIGIN_PY), "--port", str(port), "--name", name, "--host", host],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig)
        self.port = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def active(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", "/_stats")
            return json.loads(conn.getresponse().read())["active"]
        finally:
            conn.close()


@pytest.fixture
def pods(tmp_path):
    """pods(hosts) -> origins named after the last byte of their address, all on one port."""
    started = []

    def start(hosts):
        for _ in range(10):
            port = free_port()
            batch = [HostOrigin("pod%s" % h.rsplit(".", 1)[1], h, port, tmp_path) for h in hosts]
            started.extend(batch)
            try:
                for o in batch:
                    o.wait_ready()
                return batch
            except RuntimeError:  # the port is taken on one of the addresses: another one
                for o in batch:
                    o.stop()
                    started.remove(o)
        pytest.fail("could not start origins on %s" % hosts)

    yield start
    for o in started:
        o.stop()


def served_by(port, n):
    """X-Backend of n requests on fresh connections; every one must succeed."""
    out = []
    for _ in range(n):
        r = request(port, "/", timeout=5)
        assert r.status == 200, r
        out.append(r.header("X-Backend"))
    return out


def discovery_config(switchyard, name, port, resolver, workers=2):
    cfg = switchyard.config([], workers=workers)
    cfg["pools"][0]["discovery"] = {"dns": "%s:%d" % (name, port), "interval": INTERVAL,
                                    "resolver": resolver}
    return cfg


def test_records_added_join_and_removed_drain(switchyard, dnsmasq, pods):
    p2, p3, p4 = pods(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    dnsmasq.set("web.test", ["127.0.0.2", "127.0.0.3"])
    cfg = discovery_config(switchyard, "web.test", p2.port, dnsmasq.address, workers=1)
    path = switchyard.write(cfg, "discovery.yaml")
    check = switchyard.run_cli("--check", "-c", path)
    assert check.returncode == 0, check.stderr
    proxy = switchyard.start(cfg)

    # The proxy waited for the first answer: the very first requests already spread.
    assert set(served_by(proxy.port, 6)) == {"pod2", "pod3"}

    # A record appears: the new backend gets traffic.
    dnsmasq.set("web.test", ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    wait_until(lambda: "pod4" in served_by(proxy.port, 3), 5, what="pod4 to get traffic")
    assert set(served_by(proxy.port, 9)) == {"pod2", "pod3", "pod4"}

    # A record vanishes while requests run on it: they finish, and it gets no new ones.
    results = []

    def slow():
        r = request(proxy.port, "/slow?ms=1500", timeout=10)
        results.append((r.status, r.header("X-Backend")))

    threads = [threading.Thread(target=slow) for _ in range(3)]  # round robin: one per pod
    for t in threads:
        t.start()
    wait_until(lambda: p2.active() >= 1, 5, what="a slow request in flight on pod2")
    dnsmasq.set("web.test", ["127.0.0.3", "127.0.0.4"])
    wait_until(lambda: "pod2" not in served_by(proxy.port, 4), 5, what="pod2 to leave")
    assert set(served_by(proxy.port, 20)) == {"pod3", "pod4"}
    for t in threads:
        t.join(10)
    assert sorted(results) == [(200, "pod2"), (200, "pod3"), (200, "pod4")]

    err = proxy.stderr()
    resolver = "resolver %s" % dnsmasq.address
    assert "discovery: web.test (%s) -> 127.0.0.2, 127.0.0.3, 127.0.0.4" % resolver in err
    assert "discovery: web.test (%s) -> 127.0.0.3, 127.0.0.4" % resolver in err


def test_dns_failure_keeps_the_last_good_set(switchyard, dnsmasq, pods):
    p2, p3 = pods(["127.0.0.2", "127.0.0.3"])
    dnsmasq.set("web.test", ["127.0.0.2", "127.0.0.3"])
    proxy = switchyard.start(discovery_config(switchyard, "web.test", p2.port, dnsmasq.address))
    assert set(served_by(proxy.port, 8)) == {"pod2", "pod3"}
    from obs_util import scrape
    assert scrape(proxy.admin_port).one("switchyard_discovery_failures_total", pool="web") == 0

    # The name disappears (NXDOMAIN), then the resolver itself goes away.
    dnsmasq.set("other.test", ["127.0.0.9"])
    wait_until(lambda: "no such name (NXDOMAIN)" in proxy.stderr(), 5, what="the NXDOMAIN log")
    assert set(served_by(proxy.port, 8)) == {"pod2", "pod3"}
    dnsmasq.stop()
    wait_until(lambda: "connection refused" in proxy.stderr(), 5, what="the resolver-down log")
    assert set(served_by(proxy.port, 8)) == {"pod2", "pod3"}
    err = proxy.stderr()
    assert ("lookup of web.test (resolver %s) failed" % dnsmasq.address) in err
    assert "keeping the last good answer (127.0.0.2, 127.0.0.3)" in err
    # A failure is logged when it starts or changes, not at every interval.
    assert err.count("keeping the last good answer") <= 3
    # ... and every failed lookup is counted for the pool that asked.
    from obs_util import scrape_until
    scrape_until(proxy.admin_port,
                 lambda m: m.one("switchyard_discovery_failures_total", pool="web") >= 2,
                 timeout=5, what="the failed lookups counted")


def test_resolve_backend_survives_reload_under_load(switchyard, origins):
    """`resolve: true` through the system resolver (a numeric name keeps it hermetic), next to
    a listed backend; a reload keeps the discovered backend without a gap."""
    b1, b2 = origins(2)
    cfg = switchyard.config([{"name": "app", "address": b1.address, "resolve": True},
                             {"name": "fixed", "address": b2.address}])
    cfg["pools"][0]["discovery"] = {"interval": "1s"}
    proxy = switchyard.start(cfg)
    assert set(served_by(proxy.port, 4)) == {"b1", "b2"}
    assert "discovery: 127.0.0.1 (system resolver) -> 127.0.0.1" in proxy.stderr()

    failures = []
    seen = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                r = request(proxy.port, "/", timeout=5)
                if r.status != 200:
                    failures.append(r.status)
                seen.append(r.header("X-Backend"))
            except OSError as e:
                failures.append(repr(e))

    t = threading.Thread(target=load)
    t.start()
    try:
        for i in range(5):
            cfg["timeouts"]["upstream_response"] = "%ds" % (2 + i)
            proxy.cfg_path.write_text(to_yaml(cfg))
            proxy.signal(signal.SIGHUP)
            wait_until(lambda: proxy.stderr().count("reloaded ") >= i + 1, 5, what="reload")
            mark = len(seen)
            wait_until(lambda: {"b1", "b2"} <= set(seen[mark:]), 5,
                       what="both backends after reload %d" % (i + 1))
    finally:
        stop.set()
        t.join(10)
    assert failures == []


def test_check_accepts_names_that_do_not_resolve_here(switchyard, tmp_path):
    """Names for discovery are resolved by the running proxy, so --check (CI, a container
    build, a ConfigMap) does not need them to resolve where it runs."""
    cfg = switchyard.config([{"name": "app", "address": "app.invalid:8080", "resolve": True}])
    cfg["pools"].append({"name": "api", "discovery": {"dns": "api.default.svc.cluster.local:80",
                                                      "interval": "10s"}})
    ok = switchyard.run_cli("--check", "-c", switchyard.write(cfg, "ok.yaml"))
    assert ok.returncode == 0, ok.stderr
    cfg["pools"][1]["discovery"]["interval"] = "10ms"
    bad = switchyard.run_cli("--check", "-c", switchyard.write(cfg, "bad.yaml"))
    assert bad.returncode == 1
    assert "pools[1].discovery.interval: must be at least 100ms" in bad.stderr
