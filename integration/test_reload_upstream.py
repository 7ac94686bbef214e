"""Live reload and the connections to backends. A backend that a reload removes (or whose
address changes, which makes it another backend) gets no new request; the requests in flight
on its connections finish normally, then the connections close: an HTTP/2 session sends
GOAWAY (NO_ERROR) once its last stream ends, at once when it carries none; an HTTP/1.1
keep-alive connection closes instead of going back to the pool. A change of a pool's TLS
settings retires its HTTP/2 sessions the same way; a reload that leaves them alone keeps them.
A change of a pool's protocol or TLS settings closes its HTTP/1.1 connections busy at the
reload once their response ends (not parked: no later request reuses them). Kept HTTP/2
sessions take a new http2.max_concurrent_streams: a lower cap holds back new streams only (the
streams above it finish), a higher one is used at once.
"""

import http.client
import signal
import ssl
import threading

import pytest

pytest.importorskip("h2.connection")

from clients import request  # noqa: E402
from conftest import LOOPBACK, wait_until  # noqa: E402
from obs_util import status  # noqa: E402
from test_reload import backend_of, write_atomically  # noqa: E402
from test_h2_upstream import h2origin  # noqa: E402,F401 (a fixture)
from test_tls import tls_pki  # noqa: E402,F401 (a fixture)


def reload(p, cfg):
    version = status(p.admin_port)["config_version"]
    write_atomically(p.cfg_path, cfg)
    p.signal(signal.SIGHUP)
    wait_until(lambda: status(p.admin_port)["config_version"] == version + 1, 5,
               what="reload applied")


def header_of(port, name, path="/"):
    return request(port, path, timeout=5).header(name)


def add_probe(cfg, probe):
    """A second pool on /probe/: its route tells which config the worker answers with, without
    a request to the pool under test."""
    cfg["pools"].append({"name": "probe", "backends": backends(("probe", probe.address))})
    cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/probe/"},
                                             "pool": "probe"})


def reload_adopted(p, cfg, value):
    """reload(), then wait until the worker answers /probe/ with x-cfg: value."""
    cfg["listeners"][0]["routes"][0]["response_headers"] = {"set": {"x-cfg": value}}
    reload(p, cfg)
    wait_until(lambda: header_of(p.port, "x-cfg", "/probe/") == value, 2,
               what="the worker on the new config")


def backends(*pairs):
    return [{"name": n, "address": a} for n, a in pairs]


def pool_config(switchyard, pairs, protocol="h2c"):
    """One worker, so one HTTP/2 session per backend; a response may take its time."""
    cfg = switchyard.config(backends(*pairs), workers=1)
    if protocol != "http1":
        cfg["pools"][0]["protocol"] = protocol
    cfg["timeouts"]["upstream_response"] = "30s"
    return cfg


class Get(threading.Thread):
    """One GET through the proxy in the background: .status, .body, .backend once joined."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.status = self.body = self.backend = self.error = None
        self.headers = {}
        self.start()

    def run(self):
        try:
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
            conn.request("GET", self.path)
            r = conn.getresponse()
            self.body = r.read()
            self.status, self.backend = r.status, r.getheader("x-backend")
            self.headers = {k.lower(): v for k, v in r.getheaders()}
            conn.close()
        except Exception as e:  # reported by the test
            self.error = e

    def result(self):
        self.join(35)
        assert not self.is_alive() and self.error is None, self.error
        return self.status, self.backend, self.body


def test_h2_session_of_removed_backend_finishes_its_streams_then_goes_away(switchyard,
                                                                             h2origin):
    old, new = h2origin(name="h2b1"), h2origin(name="h2b2")
    cfg = pool_config(switchyard, [("h2b1", old.address)])
    p = switchyard.start(cfg)
    held = [Get(p.port, "/hold") for _ in range(2)]
    wait_until(lambda: old.held == 2, 5, what="two streams held on the old backend")
    assert old.connections == 1  # both on one session

    cfg["pools"][0]["backends"] = backends(("h2b2", new.address))
    reload(p, cfg)
    wait_until(lambda: backend_of(p.port) == "h2b2", 2, what="the worker on the new config")
    for _ in range(10):
        assert backend_of(p.port) == "h2b2"
    # The session still carries the two streams: not closed, and given nothing new.
    assert old.open == 1 and old.held == 2 and old.streams == 0
    assert old.goaways_received == []

    old.release.set()
    for g in held:
        assert g.result() == (200, "h2b1", b"ok\n")
    # Its last stream ended: GOAWAY (NO_ERROR), then the connection closes.
    wait_until(lambda: old.open == 0, 5, what="the old backend's session closed")
    assert old.goaways_received == [0]
    assert old.connections == 1 and old.streams == 2


def test_idle_h2_session_closes_at_once_when_its_backend_moves(switchyard, h2origin):
    old, new = h2origin(name="old"), h2origin(name="new")
    cfg = pool_config(switchyard, [("h2b1", old.address)])
    p = switchyard.start(cfg)
    assert backend_of(p.port) == "old" and old.open == 1
    # Same backend name, another address: another backend. The idle session goes now (the
    # idle timeout is a minute away).
    cfg["pools"][0]["backends"] = backends(("h2b1", new.address))
    reload(p, cfg)
    wait_until(lambda: old.open == 0, 2, what="the idle session of the old address closed")
    assert old.goaways_received == [0]
    assert backend_of(p.port) == "new"
    assert old.connections == 1


def test_pool_tls_change_retires_h2_sessions_and_other_reloads_keep_them(switchyard, h2origin,
                                                                          tls_pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tls_pki / "backend.crt"), str(tls_pki / "backend.key"))
    ctx.set_alpn_protocols(["h2"])
    o = h2origin(name="h2b1", tls=ctx)
    cfg = pool_config(switchyard, [("h2b1", o.address)], protocol="h2")
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    p = switchyard.start(cfg)
    assert backend_of(p.port) == "h2b1" and o.connections == 1

    # A reload that does not touch the pool's TLS settings keeps the session.
    cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/other/"}, "pool": "web"})
    reload(p, cfg)
    for _ in range(5):
        assert backend_of(p.port) == "h2b1"
    assert o.connections == 1 and o.open == 1 and o.goaways_received == []

    # Another server name: new sessions, and the old one (idle) goes away.
    cfg["pools"][0]["tls"]["sni"] = "localhost"
    reload(p, cfg)
    wait_until(lambda: o.goaways_received == [0], 2, what="GOAWAY on the old session")
    assert backend_of(p.port) == "h2b1"
    wait_until(lambda: o.open == 1, 2, what="only the new session open")
    assert o.connections == 2


def test_http1_connection_to_removed_backend_closes_after_its_request(switchyard, origins):
    b1, b2 = origins(2)
    cfg = pool_config(switchyard, [("b1", b1.address)], protocol="http1")
    p = switchyard.start(cfg)
    assert backend_of(p.port) == "b1"  # a kept-alive connection to b1 now
    slow = Get(p.port, "/slow?ms=2500")
    wait_until(lambda: b1.stats()["in_flight"] == 1, 5, what="the slow request on b1")

    cfg["pools"][0]["backends"] = backends(("b2", b2.address))
    reload(p, cfg)
    wait_until(lambda: backend_of(p.port) == "b2", 2, what="the worker on the new config")
    assert b1.stats()["in_flight"] == 1, "the reload came after the slow request ended"

    assert slow.result()[:2] == (200, "b1")
    # Not parked for later: closed (the origin counts the /_stats connection itself).
    wait_until(lambda: b1.stats()["active"] == 1, 5, what="b1's connections closed")


def test_busy_http1_connection_closes_after_its_request_when_the_pool_turns_h2c(switchyard,
                                                                               h2origin):
    o, probe = h2origin(name="dual", http1=True), h2origin(name="probe", http1=True)
    cfg = pool_config(switchyard, [("dual", o.address)], protocol="http1")
    add_probe(cfg, probe)
    p = switchyard.start(cfg)
    assert header_of(p.port, "x-proto") == "h1"  # a kept-alive HTTP/1.1 connection now
    held = Get(p.port, "/hold")
    wait_until(lambda: o.held == 1, 5, what="the request held on the HTTP/1.1 connection")
    assert o.connections == 1 and o.open == 1

    cfg["pools"][0]["protocol"] = "h2c"
    reload_adopted(p, cfg, "2")
    assert o.held == 1 and o.open == 1, "the reload came after the held request ended"
    o.release.set()
    assert held.result() == (200, "dual", b"ok\n") and held.headers["x-proto"] == "h1"
    # Its response ended: closed, not parked until upstream_idle (a minute away).
    wait_until(lambda: o.open == 0, 5, what="the HTTP/1.1 connection closed")
    for _ in range(3):
        r = request(p.port, "/", timeout=5)
        assert r.status == 200 and r.header("x-proto") == "h2" and r.header("x-conn") == "2"
    assert o.connections == 2 and o.open == 1


def test_busy_http1_connection_closes_after_its_request_when_the_pool_tls_changes(
        switchyard, h2origin, tls_pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tls_pki / "backend.crt"), str(tls_pki / "backend.key"))
    o, probe = h2origin(name="b1", tls=ctx, http1=True), h2origin(name="probe", http1=True)
    cfg = pool_config(switchyard, [("b1", o.address)], protocol="http1")
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    add_probe(cfg, probe)
    p = switchyard.start(cfg)
    assert header_of(p.port, "x-proto") == "h1" and o.open == 1
    held = Get(p.port, "/hold")
    wait_until(lambda: o.held == 1, 5, what="the request held on the TLS connection")
    assert o.connections == 1

    cfg["pools"][0]["tls"]["sni"] = "localhost"  # another TLS context
    reload_adopted(p, cfg, "2")
    assert o.held == 1 and o.open == 1, "the reload came after the held request ended"
    o.release.set()
    assert held.result() == (200, "b1", b"ok\n")
    wait_until(lambda: o.open == 0, 5, what="the old TLS connection closed")
    # A new connection with the new settings, kept alive.
    for _ in range(3):
        assert header_of(p.port, "x-conn") == "2"
    assert o.connections == 2 and o.open == 1


def h2_capped_pool(switchyard, h2origin, cap):
    o, probe = h2origin(name="h2b1"), h2origin(name="probe", http1=True)
    cfg = pool_config(switchyard, [("h2b1", o.address)])
    cfg["pools"][0]["http2"] = {"max_concurrent_streams": cap}
    add_probe(cfg, probe)
    return o, cfg, switchyard.start(cfg)


def test_lower_max_concurrent_streams_reaches_the_kept_h2_session(switchyard, h2origin):
    o, cfg, p = h2_capped_pool(switchyard, h2origin, 4)
    held = [Get(p.port, "/hold") for _ in range(3)]
    wait_until(lambda: o.held == 3, 5, what="three streams held on one session")
    assert o.connections == 1

    cfg["pools"][0]["http2"]["max_concurrent_streams"] = 2
    reload_adopted(p, cfg, "2")
    assert o.held == 3 and o.open == 1 and o.goaways_received == []  # kept, streams unbroken
    # The kept session carries 3 (above the new cap): new streams go to new sessions, 2 each.
    held += [Get(p.port, "/hold") for _ in range(3)]
    wait_until(lambda: o.held == 6, 5, what="six streams held")
    assert o.peak_held == {1: 3, 2: 2, 3: 1}
    o.release.set()
    for g in held:
        assert g.result() == (200, "h2b1", b"ok\n")
    assert o.goaways_received == [] and o.streams == 6


def test_higher_max_concurrent_streams_is_used_by_the_kept_h2_session(switchyard, h2origin):
    o, cfg, p = h2_capped_pool(switchyard, h2origin, 1)
    held = [Get(p.port, "/hold")]
    wait_until(lambda: o.held == 1, 5, what="a stream held")

    cfg["pools"][0]["http2"]["max_concurrent_streams"] = 3
    reload_adopted(p, cfg, "2")
    held += [Get(p.port, "/hold") for _ in range(2)]
    wait_until(lambda: o.held == 3, 5, what="three streams held")
    assert o.connections == 1 and o.peak_held == {1: 3}
    o.release.set()
    for g in held:
        assert g.result() == (200, "h2b1", b"ok\n")
