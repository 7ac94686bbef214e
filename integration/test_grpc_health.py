"""health_check.type: grpc: grpc.health.v1.Health/Check against real grpcio servers (generic
handlers, integration/grpc_health_origin.py), over h2c and over TLS (ALPN h2): SERVING passes,
NOT_SERVING and an unknown service fail, a server that starts serving comes back up, and a
backend that does not speak gRPC is taken out."""

import re
import time

import pytest

grpc = pytest.importorskip("grpc")

from conftest import LOOPBACK, Origin  # noqa: E402
from obs_util import scrape, scrape_until  # noqa: E402
from test_tls import tls_pki  # noqa: E402,F401 (a fixture)

HERE_SCRIPT = __import__("pathlib").Path(__file__).with_name("grpc_health_origin.py")


@pytest.fixture
def grpc_servers(tmp_path):
    started = []

    def start(name, *args):
        o = Origin(name, tmp_path, extra_args=args, script=HERE_SCRIPT)
        started.append(o)
        return o.wait_ready()

    yield start
    for o in started:
        o.stop()


def grpc_hc(**extra):
    hc = {"type": "grpc", "interval": "200ms", "timeout": "1s", "jitter": "10%",
          "healthy_threshold": 2, "unhealthy_threshold": 3}
    hc.update(extra)
    return hc


def up(m, backend):
    return m.one("switchyard_backend_up", pool="web", backend=backend)


def checks(m, backend, result):
    return m.sum("switchyard_health_checks_total", pool="web", backend=backend, result=result)


def set_status(server, status):
    with grpc.insecure_channel(server.address) as ch:
        ch.unary_unary("/test.Control/Set")(status.encode(), timeout=5)


def test_serving_passes_not_serving_is_taken_out_and_comes_back(grpc_servers, origins,
                                                                  switchyard):
    good = grpc_servers("good", "--status", "SERVING")
    sick = grpc_servers("sick", "--status", "NOT_SERVING")
    (plain,) = origins(1, names=["plain"])  # an HTTP/1.1 origin: no gRPC there
    cfg = switchyard.config([good, sick, plain])
    cfg["pools"][0]["health_check"] = grpc_hc()
    p = switchyard.start(cfg)
    m = scrape_until(p.admin_port, lambda m: up(m, "sick") == 0 and up(m, "plain") == 0
                     and checks(m, "good", "success") >= 3, timeout=10,
                     what="sick and plain down, good passing")
    assert up(m, "good") == 1 and checks(m, "good", "failure") == 0
    assert "pool web: grpc health checks every 200ms" in p.stderr()
    assert re.search(r"backend sick \(127\.0\.0\.1:%d\) DOWN: 3 consecutive failures: "
                     r"NOT_SERVING \[pool web\]" % sick.port, p.stderr()), p.stderr()[-3000:]
    assert re.search(r"backend plain \(127\.0\.0\.1:%d\) DOWN: 3 consecutive failures: "
                     % plain.port, p.stderr())
    # The server starts serving: back up after healthy_threshold passes.
    set_status(sick, "SERVING")
    scrape_until(p.admin_port, lambda m: up(m, "sick") == 1, timeout=10, what="sick back up")
    assert re.search(r"backend sick \(127\.0\.0\.1:%d\) UP: 2 consecutive passes" % sick.port,
                     p.stderr())


def test_service_name_is_sent(grpc_servers, switchyard):
    knows = grpc_servers("knows", "--status", "SERVING", "--service", "pkg.Svc")
    other = grpc_servers("other", "--status", "SERVING", "--service", "pkg.Other")
    cfg = switchyard.config([knows, other])
    cfg["pools"][0]["health_check"] = grpc_hc(service="pkg.Svc")
    p = switchyard.start(cfg)
    m = scrape_until(p.admin_port, lambda m: up(m, "other") == 0
                     and checks(m, "knows", "success") >= 3, timeout=10,
                     what="other down (unknown service), knows passing")
    assert up(m, "knows") == 1 and checks(m, "knows", "failure") == 0
    assert re.search(r"backend other \(.*\) DOWN: 3 consecutive failures: grpc-status 5: "
                     r"unknown service pkg\.Svc", p.stderr()), p.stderr()[-3000:]


def test_grpc_check_over_tls(grpc_servers, switchyard, tls_pki):
    cert, key = str(tls_pki / "backend.crt"), str(tls_pki / "backend.key")
    good = grpc_servers("tgood", "--status", "SERVING", "--tls-cert", cert, "--tls-key", key)
    sick = grpc_servers("tsick", "--status", "NOT_SERVING", "--tls-cert", cert, "--tls-key", key)
    cfg = switchyard.config([good, sick])
    cfg["pools"][0]["health_check"] = grpc_hc()
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    p = switchyard.start(cfg)
    m = scrape_until(p.admin_port, lambda m: up(m, "tsick") == 0
                     and checks(m, "tgood", "success") >= 3, timeout=10,
                     what="tsick down, tgood passing over TLS")
    assert up(m, "tgood") == 1 and checks(m, "tgood", "failure") == 0, p.stderr()[-3000:]
    assert "NOT_SERVING" in p.stderr()


def test_check_times_out_on_a_silent_server(switchyard):
    """A listening socket that never answers: the check fails at its timeout."""
    import socket
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    s.listen(16)
    try:
        cfg = switchyard.config([("mute", s.getsockname()[1])])
        cfg["pools"][0]["health_check"] = grpc_hc(timeout="300ms")
        t0 = time.monotonic()
        p = switchyard.start(cfg)
        scrape_until(p.admin_port, lambda m: up(m, "mute") == 0, timeout=10, what="mute down")
        assert time.monotonic() - t0 >= 0.6  # 3 checks of 300 ms at least
        assert "timed out after 300ms" in p.stderr()
    finally:
        s.close()
