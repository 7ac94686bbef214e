"""WebSocket (HTTP/1.1 Upgrade) through the proxy: a real WebSocket server and client
(Debian's python3-websockets, integration/ws_origin.py) and raw sockets for the edges."""

import asyncio
import base64
import json
import os
import socket
import time

import pytest
import websockets

from conftest import HERE, LOOPBACK, Origin, RawConn, get_request, wait_until
from obs_util import scrape_until
from test_tls import client_ctx, start_tls_proxy, tls_pki  # noqa: F401 (tls_pki: a fixture)

WS_ORIGIN_PY = HERE / "ws_origin.py"
MiB = 1024 * 1024


@pytest.fixture
def ws_origin(tmp_path):
    o = Origin("ws", tmp_path, script=WS_ORIGIN_PY).wait_ready()
    yield o
    o.stop()


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_url(p, path):
    return "ws://127.0.0.1:%d%s" % (p.port, path)


def upgrade_request(path, extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    return ("GET %s HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (path, key, extra))


def masked_text_frame(text):
    """One client frame (FIN, text), masked as RFC 6455 requires of clients."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def read_101(c):
    head = c._read_until(b"\r\n\r\n")
    lines = bytes(head).decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


def test_echo_text_and_binary_through_the_proxy(switchyard, ws_origin):
    p = switchyard.start(switchyard.config([ws_origin]))
    big = os.urandom(4 * MiB)  # many reads and writes each way, with backpressure

    async def talk():
        async with websockets.connect(ws_url(p, "/headers"), max_size=8 * MiB,
                                      compression=None) as ws:
            seen = json.loads(await ws.recv())
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(big)
            assert await ws.recv() == big
            return seen, ws.response_headers

    seen, resp_headers = run(talk())
    names = {k.lower(): v for k, v in seen["headers"]}
    # The backend saw a proper upgrade request with the usual forwarding headers.
    assert names["upgrade"] == "websocket"
    assert names["connection"].lower() == "upgrade"
    assert names["x-forwarded-for"] == "127.0.0.1"
    assert "switchyard" in names["via"]
    assert len(names["x-request-id"]) == 32
    assert resp_headers["Upgrade"].lower() == "websocket"
    assert "switchyard" in resp_headers["Via"]


def test_tunnel_metrics_and_access_log(switchyard, ws_origin, tmp_path):
    log = tmp_path / "access.log"
    cfg = switchyard.config([ws_origin], access_log={"path": str(log), "format": "json"})
    p = switchyard.start(cfg)

    async def talk():
        async with websockets.connect(ws_url(p, "/echo")) as ws:
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000
            m = scrape_until(p.admin_port,
                             lambda m: m.one("switchyard_tunnels_active", listener="public") == 1,
                             what="one open tunnel")
            assert m.one("switchyard_upgrades_total", listener="public") == 1

    run(talk())
    m = scrape_until(p.admin_port,
                     lambda m: m.one("switchyard_tunnels_active", listener="public") == 0,
                     what="the tunnel closed")
    assert m.one("switchyard_upgrades_total", listener="public") == 1
    # One access log line for the whole tunnel, written when it ended, with status 101.
    line = wait_until(lambda: log.exists() and log.read_text().strip(), 5, what="access log line")
    rec = json.loads(line.splitlines()[-1])
    assert rec["status"] == 101
    assert rec["path"] == "/echo"
    assert rec["backend"] == "ws"
    assert rec["request_body_bytes"] >= 1000
    assert rec["bytes_sent"] >= 1000


def test_backend_closing_the_websocket_closes_the_client(switchyard, ws_origin):
    p = switchyard.start(switchyard.config([ws_origin]))

    async def talk():
        async with websockets.connect(ws_url(p, "/bye")) as ws:
            assert await ws.recv() == "bye"
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            return ws.close_code

    assert run(talk()) == 1000
    scrape_until(p.admin_port,
                 lambda m: m.one("switchyard_tunnels_active", listener="public") == 0,
                 what="the tunnel closed")


def test_large_push_to_a_slow_reader(switchyard, ws_origin):
    """The backend pushes 16 MiB to a client that reads slowly at first: the proxy's reads from
    the backend pause and resume with the client's pace, and every byte arrives in order."""
    p = switchyard.start(switchyard.config([ws_origin]))
    n, size = 64, 256 * 1024

    async def talk():
        async with websockets.connect(ws_url(p, "/push?n=%d&size=%d" % (n, size)),
                                      max_size=MiB, max_queue=1, compression=None) as ws:
            for k in range(n):
                msg = await ws.recv()
                assert msg == bytes((i + k) % 251 for i in range(size)), "message %d" % k
                if k < 4:
                    await asyncio.sleep(0.2)  # let the proxy's buffers fill up
            assert await ws.recv() == "done"

    run(talk(), timeout=60)


def test_client_frame_sent_with_the_request_and_frame_after_the_101(switchyard, ws_origin):
    """Bytes that follow the request in the same segment, and bytes that follow the 101 in the
    backend's segment, both belong to the tunnel."""
    p = switchyard.start(switchyard.config([ws_origin]))
    with RawConn(p.port) as c:
        c.send(upgrade_request("/headers") + masked_text_frame("early").decode("latin-1"))
        status, headers = read_101(c)
        assert status.startswith("HTTP/1.1 101 "), status
        assert headers["upgrade"].lower() == "websocket"
        assert headers["connection"].lower() == "upgrade"
        assert "content-length" not in headers and "transfer-encoding" not in headers
        # First frame: the /headers JSON (unmasked server text frame); then the echo of "early".
        frames = []
        while len(frames) < 2:
            c._fill() if len(c.buf) < 2 else None
            b0, b1 = c.buf[0], c.buf[1]
            ln, off = b1 & 0x7F, 2
            if ln == 126:
                while len(c.buf) < 4:
                    c._fill()
                ln, off = int.from_bytes(c.buf[2:4], "big"), 4
            while len(c.buf) < off + ln:
                c._fill()
            frames.append((b0, bytes(c.buf[off:off + ln])))
            del c.buf[:off + ln]
        assert frames[0][0] == 0x81 and b'"headers"' in frames[0][1]
        assert frames[1] == (0x81, b"early")


def test_declined_upgrade_keeps_the_connection_http(switchyard, origins):
    """A backend that ignores Upgrade answers normally; the connection goes on as HTTP."""
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    with RawConn(p.port) as c:
        c.send(upgrade_request("/headers"))
        r = c.read_response()
        assert r.status == 200
        seen = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        assert seen["upgrade"] == "websocket"
        for _ in range(3):  # keep-alive requests after the declined upgrade
            c.send(get_request("GET", "/"))
            r = c.read_response()
            assert r.status == 200 and r.body.startswith(b"hello from")
        # A request pipelined right behind the upgrade request is HTTP too (this was answered
        # "400 HPE_PAUSED_UPGRADE" before tunnels existed).
        c.send(upgrade_request("/") + get_request("GET", "/").decode("latin-1"))
        assert c.read_response().status == 200
        r = c.read_response()
        assert r.status == 200 and r.body.startswith(b"hello from")


def test_refused_upgrade_status_reaches_the_client(switchyard, ws_origin):
    p = switchyard.start(switchyard.config([ws_origin]))
    with RawConn(p.port) as c:
        c.send(upgrade_request("/nowhere"))
        r = c.read_response()
        assert r.status == 404
        assert r.body == b"no such websocket\n"


def test_other_upgrades_are_not_passed_on(switchyard, origins):
    """Only websocket is tunnelled: h2c (and anything else) is dropped like any hop-by-hop
    header, and the request is answered as plain HTTP/1.1."""
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    with RawConn(p.port) as c:
        for proto in ("h2c", "foo/1"):
            c.send(get_request("GET", "/headers", headers=[
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", proto),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
            r = c.read_response()
            assert r.status == 200
            names = [k.lower() for k, _ in json.loads(r.body)["headers"]]
            assert "upgrade" not in names and "http2-settings" not in names
            assert dict((k.lower(), v) for k, v in json.loads(r.body)["headers"]).get(
                "connection", "").lower() != "upgrade"


def test_unsolicited_101_is_a_502(switchyard, origins):
    """A backend switching protocols on a request that did not ask for it is broken: 502,
    and its connection is dropped."""
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1], attempts=0))
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/switch"))
        r = c.read_response()
        assert r.status == 502
        c.send(get_request("GET", "/"))  # the client connection itself is still fine
        assert c.read_response().status == 200


def test_raw_tunnel_bytes_both_ways(switchyard, origins):
    """The tunnel relays bytes as they are (no framing is parsed): 1 MiB through a raw echo."""
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    data = os.urandom(MiB)
    with RawConn(p.port) as c:
        c.send(upgrade_request("/switch"))
        status, headers = read_101(c)
        assert status.startswith("HTTP/1.1 101 ") and headers["x-backend"] == "b1"
        c.send(data)
        while len(c.buf) < len(data):
            c._fill()
        assert bytes(c.buf) == data


def test_tunnel_idle_timeout(switchyard, ws_origin):
    cfg = switchyard.config([ws_origin])
    cfg["pools"][0]["timeouts"] = {"tunnel_idle": "300ms"}
    p = switchyard.start(cfg)
    with RawConn(p.port) as c:
        c.send(upgrade_request("/echo"))
        status, _ = read_101(c)
        assert status.startswith("HTTP/1.1 101 ")
        c.send(masked_text_frame("ping"))
        t0 = time.monotonic()
        # The echo comes back, then nothing moves: the proxy closes after tunnel_idle.
        with pytest.raises(EOFError):
            while True:
                c._fill()
        waited = time.monotonic() - t0
        assert bytes(c.buf) == b"\x81\x04ping"
        assert 0.25 < waited < 3.0, waited


def test_client_half_close_is_passed_on(switchyard, origins):
    """A client that half-closes still gets everything the backend sends before it closes too:
    the FIN goes on to the backend after the client's last bytes."""
    b1, = origins(1)
    p = switchyard.start(switchyard.config([b1]))
    data = os.urandom(256 * 1024)
    with RawConn(p.port) as c:
        c.send(upgrade_request("/switch"))
        status, _ = read_101(c)
        assert status.startswith("HTTP/1.1 101 ")
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError):  # the echo origin closes once it reads EOF
            while True:
                c._fill()
        assert bytes(c.buf) == data
    scrape_until(p.admin_port,
                 lambda m: m.one("switchyard_tunnels_active", listener="public") == 0,
                 what="the tunnel closed")


def test_client_disconnect_closes_the_backend_side(switchyard, ws_origin):
    p = switchyard.start(switchyard.config([ws_origin]))
    c = RawConn(p.port)
    c.send(upgrade_request("/echo"))
    status, _ = read_101(c)
    assert status.startswith("HTTP/1.1 101 ")
    c.send(masked_text_frame("hi"))
    while len(c.buf) < 4:
        c._fill()
    assert bytes(c.buf) == b"\x81\x02hi"
    c.close()
    wait_until(lambda: "closed /echo" in ws_origin.log_path.read_text(), 5,
               what="the backend side closed")
    m = scrape_until(p.admin_port,
                     lambda m: m.one("switchyard_tunnels_active", listener="public") == 0,
                     what="the tunnel closed")
    assert m.one("switchyard_upgrades_total", listener="public") == 1


def test_wss_through_a_tls_listener(switchyard, ws_origin, tls_pki):
    p, _ = start_tls_proxy(switchyard, tls_pki, [ws_origin])
    data = os.urandom(2 * MiB)

    async def talk():
        sock = socket.create_connection((LOOPBACK, p.port))
        async with websockets.connect("wss://site.test:%d/echo" % p.port, sock=sock,
                                      ssl=client_ctx(tls_pki), server_hostname="site.test",
                                      max_size=4 * MiB, compression=None) as ws:
            await ws.send("over tls")
            assert await ws.recv() == "over tls"
            await ws.send(data)
            assert await ws.recv() == data

    run(talk())
    m = scrape_until(p.admin_port,
                     lambda m: m.one("switchyard_tunnels_active", listener="secure") == 0,
                     what="the tunnel closed")
    assert m.one("switchyard_upgrades_total", listener="secure") == 1


def test_tunnel_to_a_tls_backend_with_half_close(switchyard, origins, tls_pki):
    """pools[].tls: the tunnel's bytes are encrypted to the backend, and the client's
    half-close reaches it as close_notify + FIN."""
    (b1,) = origins(1, extra_args=("--tls-cert", str(tls_pki / "backend.crt"),
                                   "--tls-key", str(tls_pki / "backend.key")))
    cfg = switchyard.config([b1])
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    p = switchyard.start(cfg)
    data = os.urandom(512 * 1024)
    with RawConn(p.port) as c:
        c.send(upgrade_request("/switch"))
        status, headers = read_101(c)
        assert status.startswith("HTTP/1.1 101 ") and headers["x-backend"] == "b1"
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError):
            while True:
                c._fill()
        assert bytes(c.buf) == data
