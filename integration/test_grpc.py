"""gRPC calls through the proxy when the proxy itself answers: trailers-only answers with the
gRPC status (no route, backends down, deadline, rate limited) to real grpcio clients over h2c
and over TLS (ALPN h2), the client's grpc-timeout bounding the upstream wait, and HTTP/1.1
clients that send application/grpc.

Clients: Debian's python3-grpcio (generic calls, no generated code) and python3-h2 on a raw
socket where the exact frames matter."""

import http.client
import time

import pytest

grpc = pytest.importorskip("grpc")

from conftest import LOOPBACK, dead_port, free_port  # noqa: E402
from h2_util import H2  # noqa: E402
from obs_util import scrape_until  # noqa: E402
from test_tls import tls_listener, tls_pki  # noqa: E402,F401 (tls_pki: a fixture)

METHOD = "/pkg.Svc/Method"
GRPC_HEADERS = (("content-type", "application/grpc"), ("te", "trailers"))


def grpc_proxy(switchyard, backends, routes_prefix="/", **sections):
    cfg = switchyard.config(backends, attempts=0, **sections)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["listeners"][0]["routes"][0]["match"]["path_prefix"] = routes_prefix
    return cfg


def call(target, creds=None, options=(), timeout=10.0):
    """One unary call with raw bytes; -> the grpc.StatusCode the call ended with (and details)."""
    ch = grpc.secure_channel(target, creds, options) if creds else grpc.insecure_channel(target)
    try:
        fn = ch.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        try:
            fn(b"\x0a\x03abc", timeout=timeout)
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()
    finally:
        ch.close()


def local_count(p, reason):
    return scrape_until(p.admin_port, lambda m: True).sum("switchyard_local_responses_total",
                                                         reason=reason)


def test_no_route_is_unimplemented(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(grpc_proxy(switchyard, [b1], routes_prefix="/other/"))
    code, details = call("%s:%d" % (LOOPBACK, p.port))
    assert code == grpc.StatusCode.UNIMPLEMENTED, (code, details)
    assert details == "no route for this request"
    scrape_until(p.admin_port, lambda m: m.sum("switchyard_local_responses_total",
                                               reason="no_route", code="404") == 1)
    assert b1.stats()["requests"] == 0


def test_backends_down_is_unavailable_and_trailers_only(switchyard):
    p = switchyard.start(grpc_proxy(switchyard, [dead_port(), dead_port()]))
    code, details = call("%s:%d" % (LOOPBACK, p.port))
    assert code == grpc.StatusCode.UNAVAILABLE, (code, details)
    # The frames: one HEADERS with END_STREAM, :status 200, no DATA, no text body.
    c = H2(p.port)
    try:
        sid = c.start("POST", METHOD, GRPC_HEADERS, end=True)
        c.wait(c.finished(sid), 10, "the answer")
        s = c.streams[sid]
        hd = dict(s["headers"])
        assert s["reset"] is None and s["ended"]
        assert hd[":status"] == "200" and hd["content-type"] == "application/grpc", hd
        assert hd["grpc-status"] == "14", hd
        assert "bad gateway" in hd["grpc-message"], hd
        assert "content-length" not in hd and bytes(s["data"]) == b""
        # A plain HTTP/2 request on the same connection still gets the text answer.
        status, hd2, body = c.request("GET", "/x")
        assert status == 502 and body.startswith(b"bad gateway"), (status, hd2, body)
    finally:
        c.close()


def test_grpc_timeout_bounds_the_upstream_wait(origins, switchyard):
    (slow,) = origins(1, names=["slow"], extra_args=("--delay-ms", "20000"))
    cfg = grpc_proxy(switchyard, [slow], timeouts={
        "upstream_response": "10s", "client_header": "2s", "request": "8s"})
    # The client's deadline is not the backend's failure: it must not eject it.
    cfg["pools"][0]["outlier_detection"] = {"consecutive_failures": 1}
    p = switchyard.start(cfg)
    c = H2(p.port)
    try:
        t0 = time.monotonic()
        sid = c.start("POST", METHOD, (*GRPC_HEADERS, ("grpc-timeout", "200m")), end=True)
        c.wait(c.finished(sid), 5, "DEADLINE_EXCEEDED")
        took = time.monotonic() - t0
        hd = dict(c.streams[sid]["headers"])
        assert hd[":status"] == "200" and hd["grpc-status"] == "4", hd
        assert "grpc-timeout" in hd["grpc-message"], hd
        assert 0.19 <= took < 2.0, took  # the 200 ms, not the configured 8 s or 10 s
        # A malformed grpc-timeout is ignored: timeouts.request (8 s) is not waited for here;
        # the stream is still running after well over 200 ms.
        sid2 = c.start("POST", METHOD, (*GRPC_HEADERS, ("grpc-timeout", "200ms")), end=True)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            c.pump(0.1)
        assert not c.finished(sid2)(), c.streams[sid2]
    finally:
        c.close()
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_local_responses_total",
                                                   reason="upstream_timeout") >= 1)
    assert m.one("switchyard_backend_up", pool="web", backend="slow") == 1
    assert "EJECTED" not in p.stderr()


def test_started_grpc_stream_is_not_cut_by_upstream_response(origins, switchyard):
    """/drip sends its head at once, then a byte every 1.5 s: longer than upstream_response
    (1 s). A plain request is cut; a gRPC call, whose response has started, is only subject to
    tunnel_idle."""
    (b1,) = origins(1)
    p = switchyard.start(grpc_proxy(switchyard, [b1], timeouts={
        "upstream_response": "1s", "client_header": "2s"}))
    c = H2(p.port)
    try:
        plain = c.start("POST", "/drip?n=2&ms=1500", (("content-type", "application/json"),))
        call_ = c.start("POST", "/drip?n=2&ms=1500", GRPC_HEADERS)
        c.wait(lambda: c.finished(plain)() and c.finished(call_)(), 10, "both streams")
        assert c.streams[plain]["reset"] is not None, c.streams[plain]
        s = c.streams[call_]
        assert s["reset"] is None and s["ended"] and len(s["data"]) == 2, s
    finally:
        c.close()


def test_rate_limited_is_resource_exhausted(origins, switchyard):
    (b1,) = origins(1)
    cfg = grpc_proxy(switchyard, [b1])
    cfg["rate_limits"] = [{"name": "per_ip", "key": ["client_ip"], "rate": "1/m", "burst": 1}]
    cfg["listeners"][0]["routes"][0]["rate_limit"] = ["per_ip"]
    p = switchyard.start(cfg)
    codes = [call("%s:%d" % (LOOPBACK, p.port))[0] for _ in range(4)]
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 2, codes
    scrape_until(p.admin_port, lambda m: m.sum("switchyard_local_responses_total",
                                               reason="rate_limited", code="429") >= 2)


def test_tls_h2_listener(switchyard, tls_pki):
    cfg = switchyard.config([dead_port()], attempts=0)
    port = free_port()
    listener = tls_listener(tls_pki, port)
    listener["routes"] = [{"match": {"path_prefix": "/only/"}, "pool": "web"}]
    cfg["listeners"] = [listener]
    p = switchyard.start(cfg, port=port)
    creds = grpc.ssl_channel_credentials(root_certificates=(tls_pki / "ca.crt").read_bytes())
    opts = (("grpc.ssl_target_name_override", "site.test"),)
    code, details = call("%s:%d" % (LOOPBACK, port), creds, opts)
    assert code == grpc.StatusCode.UNIMPLEMENTED, (code, details)
    listener["routes"] = [{"match": {"path_prefix": "/"}, "pool": "web"}]
    p2port = free_port()
    listener["listen"] = "%s:%d" % (LOOPBACK, p2port)
    cfg["admin"] = {"listen": "%s:%d" % (LOOPBACK, free_port())}
    switchyard.start(cfg, port=p2port)
    code, details = call("%s:%d" % (LOOPBACK, p2port), creds, opts)
    assert code == grpc.StatusCode.UNAVAILABLE, (code, details)


def test_http1_client_gets_grpc_status_headers(switchyard):
    p = switchyard.start(grpc_proxy(switchyard, [dead_port()]))
    c = http.client.HTTPConnection(LOOPBACK, p.port, timeout=10)
    try:
        c.request("POST", METHOD, body=b"\0\0\0\0\0",
                  headers={"content-type": "application/grpc+proto", "te": "trailers"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and body == b""
        assert r.getheader("content-type") == "application/grpc"
        assert r.getheader("grpc-status") == "14"
        assert r.getheader("grpc-message").startswith("bad gateway")
        # The connection stays usable; a request that is not gRPC still gets text.
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 502 and r.read().startswith(b"bad gateway")
    finally:
        c.close()
