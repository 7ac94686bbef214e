"""Live reload and the connections to backends. A backend that a reload removes (or whose
address changes, which makes it another backend) gets no new request; the requests in flight
on its connections finish normally, then the connections close: an HTTP/2 session sends
GOAWAY (NO_ERROR) once its last stream ends, at once when it carries none; an HTTP/1.1
keep-alive connection closes instead of going back to the pool. A change of a pool's TLS
settings retires its HTTP/2 sessions the same way; a reload that leaves them alone keeps them.
"""

import http.client
import signal
import ssl
import threading

import pytest

pytest.importorskip("h2.connection")

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
        self.start()

    def run(self):
        try:
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
            conn.request("GET", self.path)
            r = conn.getresponse()
            self.body = r.read()
            self.status, self.backend = r.status, r.getheader("x-backend")
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
