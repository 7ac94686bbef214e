"""DNS discovery on c-ares against dnsmasq: SRV records (ports, weights, priorities, as a
Kubernetes headless Service publishes them), record TTLs driving re-resolution, the TCP
fallback for an answer too large for UDP, search domains, /etc/resolv.conf read once for all
names and again when it changes (in a private mount namespace; strace counts the reads), and
failures (counted, last good set kept). dnsmasq and origins as in test_discovery.py."""

import re
import shutil
import signal
import socket
import struct
import subprocess

import pytest

from conftest import LOOPBACK, wait_until
from obs_util import scrape, scrape_until, status
from test_discovery import (DNSMASQ, Dnsmasq, dns_query_a, served_by,  # noqa: F401  (fixtures)
                            dnsmasq, pods)

pytestmark = pytest.mark.skipif(not DNSMASQ, reason="dnsmasq not installed")


def udp_answer_truncated(port, name):
    """(TC flag, answer count) of a plain (no EDNS0) UDP query for the A records of `name`;
    None before the name has records."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 4242, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (LOOPBACK, port))
        msg = s.recv(65535)
    assert len(msg) <= 512
    truncated = bool(struct.unpack(">H", msg[2:4])[0] & 0x0200)
    count = struct.unpack(">H", msg[6:8])[0]
    return (truncated, count) if truncated or count else None


def srv_config(switchyard, name, resolver, interval="200ms"):
    cfg = switchyard.config([], workers=1)
    cfg["pools"][0]["discovery"] = {"srv": name, "interval": interval, "resolver": resolver}
    return cfg


def discovered(proxy, what):
    """The backends of the last 'discovery: WHAT (...) -> ...' log line."""
    lines = re.findall(r"discovery: %s \([^)]*\) -> (.*) \(was " % re.escape(what), proxy.stderr())
    return lines[-1].split(", ") if lines else None


def test_srv_records_give_ports_weights_and_priorities(switchyard, dnsmasq, origins):
    b1, b2, b3 = origins(3)
    dnsmasq.hosts.write_text("127.0.0.1 pod-a.test pod-b.test pod-c.test\n")  # read at start
    dnsmasq.restart(["--srv-host=_http._tcp.web.test,pod-a.test,%d,0,10" % b1.port,
                     "--srv-host=_http._tcp.web.test,pod-b.test,%d,0,30" % b2.port,
                     # a higher priority value: not used while priority 0 answers
                     "--srv-host=_http._tcp.web.test,pod-c.test,%d,1,50" % b3.port])
    proxy = switchyard.start(srv_config(switchyard, "_http._tcp.web.test", dnsmasq.address))
    assert sorted(discovered(proxy, "SRV _http._tcp.web.test")) == sorted(
        ["127.0.0.1:%d weight 10" % b1.port, "127.0.0.1:%d weight 30" % b2.port])
    seen = served_by(proxy.port, 40)
    # Weighted round robin over weights 10 and 30 on one worker: 1 in 4 to b1.
    assert seen.count("b1") == 10 and seen.count("b2") == 30, seen
    dump = switchyard.run_cli("--dump-config", "-c", str(proxy.cfg_path))
    assert "srv: _http._tcp.web.test" in dump.stdout

    # The priority-0 records go away: the next priority takes over, on its port and weight.
    dnsmasq.restart(["--srv-host=_http._tcp.web.test,pod-c.test,%d,1,50" % b3.port])
    wait_until(lambda: discovered(proxy, "SRV _http._tcp.web.test") ==
               ["127.0.0.1:%d weight 50" % b3.port], 10, what="the SRV change")
    wait_until(lambda: set(served_by(proxy.port, 4)) == {"b3"}, 5, what="b3 alone")

    # The DNS server goes away: failures are counted, the last good set stays.
    # (the restart above may have failed a lookup already)
    before = scrape(proxy.admin_port).one("switchyard_discovery_failures_total", pool="web")
    dnsmasq.stop()
    scrape_until(proxy.admin_port,
                 lambda m: m.one("switchyard_discovery_failures_total", pool="web") >= before + 2,
                 timeout=10, what="failed SRV lookups counted")
    assert set(served_by(proxy.port, 4)) == {"b3"}
    assert "keeping the last good answer (127.0.0.1:%d weight 50)" % b3.port in proxy.stderr()


def test_record_ttl_brings_the_next_lookup_forward(switchyard, tmp_path, pods):
    """interval 60s, records with a 1 s TTL: a new record is in use within seconds."""
    dns = Dnsmasq(tmp_path, extra_args=["--local-ttl=1"])
    try:
        dns.start()
        p2, p3 = pods(["127.0.0.2", "127.0.0.3"])
        dns.set("web.test", ["127.0.0.2"])
        cfg = switchyard.config([], workers=1)
        cfg["pools"][0]["discovery"] = {"dns": "web.test:%d" % p2.port, "interval": "60s",
                                        "resolver": dns.address}
        proxy = switchyard.start(cfg)
        assert set(served_by(proxy.port, 4)) == {"pod2"}
        dns.set("web.test", ["127.0.0.2", "127.0.0.3"])
        wait_until(lambda: discovered(proxy, "web.test") == ["127.0.0.2", "127.0.0.3"], 8,
                   what="the new record, after its TTL rather than the 60 s interval")
        assert set(served_by(proxy.port, 8)) == {"pod2", "pod3"}
    finally:
        dns.stop()


def test_large_answer_falls_back_to_tcp(switchyard, dnsmasq, origins):
    """300 A records (4.8 KB of answer) cannot come over UDP, even with EDNS0's 4096 bytes:
    dnsmasq answers UDP truncated and c-ares asks again over TCP."""
    b1, = origins(1)
    addresses = ["127.0.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(300)]
    dnsmasq.hosts.write_text("".join("%s big.test\n" % a for a in addresses))
    dnsmasq.proc.send_signal(signal.SIGHUP)
    # Over UDP (512 bytes without EDNS0) only part of it comes, flagged truncated.
    truncated, count = wait_until(lambda: udp_answer_truncated(dnsmasq.port, "big.test"), 5,
                                  what="dnsmasq to answer big.test")
    assert truncated and count < 40
    cfg = switchyard.config([{"name": "static", "address": b1.address}], workers=1)
    cfg["pools"][0]["discovery"] = {"dns": "big.test:%d" % b1.port, "interval": "10s",
                                    "resolver": dnsmasq.address}
    proxy = switchyard.start(cfg)

    def backends():
        return [b["address"] for p in status(proxy.admin_port)["pools"] for b in p["backends"]]
    got = wait_until(lambda: len(backends()) > 1 and backends(), 5, what="the big answer")
    assert sorted(got) == sorted([b1.address] + ["%s:%d" % (a, b1.port) for a in addresses])
    assert "big.test (resolver %s) -> 300 addresses: 127.0.1.1, 127.0.1.2," % dnsmasq.address \
        in proxy.stderr()


def test_search_domain_and_ndots(switchyard, dnsmasq, pods):
    """A short name is completed with the search list (LOCALDOMAIN and RES_OPTIONS override
    resolv.conf's `search` and `options ndots`, as for glibc)."""
    p2, = pods(["127.0.0.2"])
    dnsmasq.set("web.sub.test", ["127.0.0.2"])
    cfg = switchyard.config([], workers=1)
    # "web.sub" has one dot, fewer than ndots:2: the search list is tried first.
    cfg["pools"][0]["discovery"] = {"dns": "web.sub:%d" % p2.port, "interval": "200ms",
                                    "resolver": dnsmasq.address}
    proxy = switchyard.start(cfg, extra_env={"LOCALDOMAIN": "test", "RES_OPTIONS": "ndots:2"})
    assert discovered(proxy, "web.sub") == ["127.0.0.2"]
    assert set(served_by(proxy.port, 4)) == {"pod2"}


def set_hosts(dns, names):
    """Publish {name: address} (one record each) and wait until dnsmasq answers all of them."""
    dns.hosts.write_text("".join("%s %s\n" % (a, n) for n, a in names.items()))
    dns.proc.send_signal(signal.SIGHUP)
    for n, a in names.items():
        wait_until(lambda: dns_query_a(dns.port, n) == [a], 5, what="dnsmasq to answer " + n)


def private_resolv_conf(tmp_path, binary, text):
    """A wrapper that runs `binary` in a private mount namespace where /etc/resolv.conf is
    the file it returns (bind-mounted: rewrite it in place, its inode must stay), or skips
    when this machine allows no mount namespace (no CAP_SYS_ADMIN, no user namespaces)."""
    unshare = shutil.which("unshare")
    rc = tmp_path / "resolv.conf"
    rc.write_text(text)
    script = "mount --bind %s /etc/resolv.conf && exec \"$@\"" % rc
    for flags in (["--mount"], ["--mount", "--map-root-user"]):
        if unshare and subprocess.run([unshare, *flags, "sh", "-c", script, "sh", "true"],
                                      capture_output=True).returncode == 0:
            wrapper = tmp_path / "in-private-resolv-conf"
            wrapper.write_text("#!/bin/sh\nexec %s %s sh -c '%s' sh %s \"$@\"\n"
                               % (unshare, " ".join(flags), script, binary))
            wrapper.chmod(0o755)
            return wrapper, rc
    pytest.skip("no private mount namespace here (unshare --mount)")


def test_resolv_conf_change_applies_at_the_next_lookup(switchyard, tmp_path, dnsmasq, pods):
    """The search list comes from /etc/resolv.conf, read once for every name and again when
    the file changes (as glibc does): a new search domain applies at the next lookup."""
    from conftest import Proxy
    wrapper, rc = private_resolv_conf(tmp_path, switchyard.binary,
                                      "search one.test\noptions ndots:2\n")
    p2, p3 = pods(["127.0.0.2", "127.0.0.3"])
    set_hosts(dnsmasq, {"web.one.test": "127.0.0.2", "web.two.test": "127.0.0.3"})
    cfg = switchyard.config([], workers=1)
    cfg["pools"][0]["discovery"] = {"dns": "web:%d" % p2.port, "interval": "200ms",
                                    "resolver": dnsmasq.address}
    port = int(cfg["listeners"][0]["listen"].rsplit(":", 1)[1])
    admin = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
    proxy = Proxy(wrapper, switchyard.write(cfg), port, admin, tmp_path,
                  len(switchyard.proxies) + 1)
    switchyard.proxies.append(proxy)
    proxy.wait_ready(10)  # the admin listener opens once the first answers are in
    wait_until(lambda: discovered(proxy, "web") == ["127.0.0.2"], 5, what="web.one.test")
    assert set(served_by(proxy.port, 4)) == {"pod2"}

    with open(rc, "w") as f:  # in place: the bind mount follows the inode
        f.write("search two.test\noptions ndots:2\n")
    wait_until(lambda: discovered(proxy, "web") == ["127.0.0.3"], 5,
               what="the new search domain used")
    assert "/etc/resolv.conf changed: its settings are read again" in proxy.stderr()
    wait_until(lambda: set(served_by(proxy.port, 4)) == {"pod3"}, 5, what="pod3 alone")


def test_names_share_one_read_of_resolv_conf(switchyard, tmp_path, dnsmasq, pods):
    """The system's resolver settings are read once, not once per name: four names a reload
    adds are looked up without opening /etc/resolv.conf (or nsswitch.conf) again; c-ares left
    to itself reads both for every channel, and discovery has one channel per name."""
    from test_reload import write_atomically
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace not installed")
    p2, = pods(["127.0.0.2"])
    names = ["n%d.test" % i for i in range(5)]
    set_hosts(dnsmasq, {n: "127.0.0.2" for n in names})

    def pool(i):
        return {"name": "web" if i == 0 else "p%d" % i,
                "discovery": {"dns": "%s:%d" % (names[i], p2.port), "interval": "200ms",
                              "resolver": dnsmasq.address}}
    cfg = switchyard.config([], workers=1)
    cfg["pools"] = [pool(0)]
    proxy = switchyard.start(cfg)
    assert discovered(proxy, names[0]) == ["127.0.0.2"]

    log, err = tmp_path / "strace.log", tmp_path / "strace.stderr"
    with open(err, "wb") as e:
        tracer = subprocess.Popen([strace, "-f", "-e", "trace=open,openat", "-o", str(log),
                                   "-p", str(proxy.proc.pid)], stderr=e,
                                  stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: "attached" in err.read_text() or tracer.poll() is not None, 5,
                   what="strace attached")
        if tracer.poll() is not None:
            pytest.skip("strace cannot attach here: " + err.read_text()[-300:])
        cfg["pools"] += [pool(i) for i in range(1, 5)]
        write_atomically(proxy.cfg_path, cfg)
        proxy.signal(signal.SIGHUP)
        for n in names[1:]:
            wait_until(lambda: discovered(proxy, n) == ["127.0.0.2"], 5, what=n + " discovered")
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches; the proxy goes on
        tracer.wait(10)
    opened = [line for line in log.read_text().splitlines()
              if "resolv.conf" in line or "nsswitch.conf" in line]
    assert opened == []
    assert proxy.proc.poll() is None
