"""WebSocket over HTTP/2 (RFC 8441) through the proxy: an extended-CONNECT client written with
Debian's python3-h2 (WebSocket frames inside DATA), to a real WebSocket backend (python3-websockets,
integration/ws_origin.py) that sees an ordinary HTTP/1.1 upgrade."""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time

import pytest

from conftest import HERE, LOOPBACK, Origin, wait_until
from h2_util import H2
from obs_util import scrape_until

WS_ORIGIN_PY = HERE / "ws_origin.py"
MiB = 1 << 20


@pytest.fixture
def ws_origin(tmp_path):
    o = Origin("ws", tmp_path, script=WS_ORIGIN_PY).wait_ready()
    yield o
    o.stop()


def start_proxy(switchyard, backends, raw=None, **kw):
    """h1 + h2c listener; with `raw` (a RawWsEcho), paths under /raw go to it."""
    cfg = switchyard.config(backends, **kw)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    if raw is not None:
        cfg["pools"].append({"name": "raw", "backends": [
            {"name": "raw", "address": "%s:%d" % (LOOPBACK, raw.port)}]})
        cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/raw"}, "pool": "raw"})
    return cfg


class RawWsEcho:
    """A WebSocket handshake done by hand (RFC 6455 accept computed here), then a raw echo of
    whatever arrives until the peer's FIN, then close: shows half-closes end to end (the
    websockets library closes at once on EOF). `eofs` counts the FINs it saw."""

    def __init__(self):
        self.srv = socket.create_server((LOOPBACK, 0))
        self.port = self.srv.getsockname()[1]
        self.srv.settimeout(0.2)
        self.stop = False
        self.eofs = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                s, _ = self.srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()
        self.srv.close()

    def _serve(self, s):
        with s:
            s.settimeout(10)
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, rest = buf.split(b"\r\n\r\n", 1)
                key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                       if l.lower().startswith(b"sec-websocket-key:")][0]
                accept = base64.b64encode(hashlib.sha1(
                    key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                          b"\r\n\r\n" + rest)
                while True:
                    data = s.recv(65536)
                    if not data:
                        self.eofs += 1
                        return
                    s.sendall(data)
            except OSError:
                pass


@pytest.fixture
def raw_echo():
    r = RawWsEcho()
    yield r
    r.stop = True


def ws_frame(opcode, payload):
    """One client frame (FIN set), masked as RFC 6455 requires of clients."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    if n == 0:
        return head + mask
    key = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + body


def parse_frame(buf, off):
    """The server frame (unmasked) at buf[off:] -> ((opcode, payload), next offset), or None."""
    if len(buf) - off < 2:
        return None
    b0, b1 = buf[off], buf[off + 1]
    assert not b1 & 0x80, "server frames are not masked"
    assert b0 & 0x80, "fragmented frames are not expected from the test backend"
    n, h = b1 & 0x7f, 2
    if n == 126:
        if len(buf) - off < 4:
            return None
        n, h = struct.unpack("!H", bytes(buf[off + 2:off + 4]))[0], 4
    elif n == 127:
        if len(buf) - off < 10:
            return None
        n, h = struct.unpack("!Q", bytes(buf[off + 2:off + 10]))[0], 10
    if len(buf) - off < h + n:
        return None
    return (b0 & 0x0f, bytes(buf[off + h:off + h + n])), off + h + n


class WsH2(H2):
    """An RFC 8441 client: waits for SETTINGS_ENABLE_CONNECT_PROTOCOL, then opens tunnels."""

    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.wait(lambda: self.conn.remote_settings.enable_connect_protocol == 1, 5,
                  "SETTINGS_ENABLE_CONNECT_PROTOCOL from the proxy")
        self.used = {}

    def open(self, path, protocol="websocket", extra=()):
        hdrs = [(":protocol", protocol)] if protocol else []
        sid = self.start("CONNECT", path, [*hdrs, ("sec-websocket-version", "13"), *extra],
                         end=False)
        self.used[sid] = 0
        return sid

    def status(self, sid, timeout=10.0):
        self.wait(lambda: self.streams[sid]["headers"] is not None or
                  self.streams[sid]["reset"] is not None, timeout, "answer on stream %d" % sid)
        # A complete answer to a request still open may be followed by RST_STREAM NO_ERROR.
        assert self.streams[sid]["headers"] is not None, "stream %d reset" % sid
        return int(dict(self.streams[sid]["headers"])[":status"])

    def send_raw(self, sid, data, end=False, timeout=20.0):
        view, off = memoryview(data), 0
        deadline = time.monotonic() + timeout
        while off < len(data):
            n = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(data) - off)
            if n > 0:
                self.conn.send_data(sid, view[off:off + n].tobytes())
                off += n
                self.flush()
            else:
                assert time.monotonic() < deadline, "tunnel stuck at %d bytes" % off
                self.pump(0.05)
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def send_msg(self, sid, payload):
        if isinstance(payload, str):
            payload, op = payload.encode(), 1
        else:
            op = 2
        self.send_raw(sid, ws_frame(op, payload))

    def recv_frame(self, sid, timeout=10.0):
        """The next WebSocket frame on the stream, or None when it ended first."""
        s, got = self.streams[sid], []

        def ready():
            r = parse_frame(s["data"], self.used[sid])
            if r:
                got.append(r[0])
                self.used[sid] = r[1]
                return True
            return s["ended"] or s["reset"] is not None

        self.wait(ready, timeout, "a WebSocket frame on stream %d" % sid)
        return got[0] if got else None

    def recv_msg(self, sid, timeout=10.0):
        f = self.recv_frame(sid, timeout)
        assert f is not None, "stream %d ended without a frame" % sid
        op, payload = f
        return payload.decode() if op == 1 else payload


def tunnels_active(p, value, what):
    return scrape_until(p.admin_port,
                        lambda m: m.one("switchyard_tunnels_active", listener="public") == value,
                        what=what)


def test_extended_connect_echo_both_ways(switchyard, ws_origin):
    p = switchyard.start(start_proxy(switchyard, [ws_origin]))
    c = WsH2(p.port)
    sid = c.open("/headers?x=1", extra=[("sec-websocket-protocol", "chat"),
                                       ("sec-websocket-key", "Y2xpZW50LXNlbnQta2V5IQ==")])
    assert c.status(sid) == 200
    hd = dict(c.streams[sid]["headers"])
    assert "sec-websocket-accept" not in hd and "upgrade" not in hd and "connection" not in hd
    seen = json.loads(c.recv_msg(sid))
    names = {k.lower(): v for k, v in seen["headers"]}
    # The backend saw a proper HTTP/1.1 upgrade with a key the proxy made.
    assert seen["path"] == "/headers?x=1"
    assert names["upgrade"] == "websocket" and names["connection"].lower() == "upgrade"
    assert names["sec-websocket-version"] == "13"
    assert names["sec-websocket-protocol"] == "chat"
    assert len(base64.b64decode(names["sec-websocket-key"])) == 16
    assert names["sec-websocket-key"] != "Y2xpZW50LXNlbnQta2V5IQ=="
    assert names["host"].startswith("h2.test") and "x-forwarded-for" in names
    for msg in ("hello", b"\x00\x01binary\xff", "x" * 70000):
        c.send_msg(sid, msg)
        assert c.recv_msg(sid) == msg
    c.close()


def test_bytes_sent_before_the_200_are_held_for_the_tunnel(switchyard, ws_origin, raw_echo):
    """A client may send right behind its CONNECT: the bytes wait for the 101 and go first, and
    an END_STREAM sent with them half-closes the backend once they are through."""
    p = switchyard.start(start_proxy(switchyard, [ws_origin], raw=raw_echo))
    c = WsH2(p.port)
    sid = c.open("/echo")
    c.send_msg(sid, "early")
    c.send_msg(sid, b"\x02" * 3000)
    assert c.status(sid) == 200
    assert c.recv_msg(sid) == "early"
    assert c.recv_msg(sid) == b"\x02" * 3000
    sid2 = c.open("/raw")
    c.send_raw(sid2, b"early and last", end=True)
    assert c.status(sid2) == 200
    c.wait(c.finished(sid2), 5, "stream end after the early half-close")
    assert bytes(c.streams[sid2]["data"]) == b"early and last"
    wait_until(lambda: raw_echo.eofs == 1, 5, what="the backend saw the FIN")
    tunnels_active(p, 1, "the first tunnel still open")
    c.close()


def test_large_message_with_flow_control_both_ways(switchyard, ws_origin):
    """4 MiB each way: more than the stream and connection windows, so the proxy gives the
    client's window back at the backend's pace and holds the backend when the client lags."""
    p = switchyard.start(start_proxy(switchyard, [ws_origin]))
    c = WsH2(p.port)
    sid = c.open("/echo")
    assert c.status(sid) == 200
    big = os.urandom(4 * MiB)
    c.send_msg(sid, big)
    assert c.recv_msg(sid, timeout=30) == big
    # A push larger than the windows to a client that acknowledges as it reads.
    sid2 = c.open("/push?n=3&size=%d" % (2 * MiB))
    assert c.status(sid2) == 200
    for k in range(3):
        assert c.recv_msg(sid2, timeout=30) == bytes((i + k) % 251 for i in range(2 * MiB))
    assert c.recv_msg(sid2) == "done"
    c.close()


def test_client_close_and_half_close(switchyard, ws_origin, raw_echo):
    p = switchyard.start(start_proxy(switchyard, [ws_origin], raw=raw_echo))
    c = WsH2(p.port)
    sid = c.open("/echo")
    assert c.status(sid) == 200
    tunnels_active(p, 1, "one open tunnel")
    c.send_raw(sid, ws_frame(8, struct.pack("!H", 1000) + b"done"))
    op, payload = c.recv_frame(sid)
    assert op == 8 and payload[:2] == struct.pack("!H", 1000)
    # The backend closed its TCP connection after the close handshake: the stream ends.
    c.wait(c.finished(sid), 10, "stream end after the close handshake")
    assert c.streams[sid]["ended"] or c.streams[sid]["reset"] == 0
    tunnels_active(p, 0, "the tunnel closed")
    wait_until(lambda: "closed /echo 1000" in ws_origin.log_path.read_text(), 5,
               what="the backend saw the WebSocket end")
    # END_STREAM: the FIN reaches the backend after the client's last bytes, and what the
    # backend sends before it closes too still reaches the client.
    sid2 = c.open("/raw")
    assert c.status(sid2) == 200
    data = os.urandom(256 * 1024)
    c.send_raw(sid2, data, end=True)
    c.wait(c.finished(sid2), 10, "stream end after the half-close")
    assert c.streams[sid2]["ended"]
    assert bytes(c.streams[sid2]["data"]) == data
    wait_until(lambda: raw_echo.eofs == 1, 5, what="the backend saw the FIN")
    tunnels_active(p, 0, "both tunnels closed")
    c.close()


def test_backend_close_ends_the_stream(switchyard, ws_origin):
    p = switchyard.start(start_proxy(switchyard, [ws_origin]))
    c = WsH2(p.port)
    sid = c.open("/bye")
    assert c.status(sid) == 200
    assert c.recv_msg(sid) == "bye"
    op, payload = c.recv_frame(sid)
    assert op == 8 and payload[:2] == struct.pack("!H", 1000)
    c.send_raw(sid, ws_frame(8, payload[:2]))  # the closing handshake's answer
    t0 = time.monotonic()
    c.wait(c.finished(sid), 5, "stream end after the backend closed")
    assert time.monotonic() - t0 < 3
    assert c.streams[sid]["ended"]
    tunnels_active(p, 0, "the tunnel closed")
    # The connection itself goes on.
    status, _, _ = c.request("GET", "/nope")
    assert status == 404
    c.close()


def test_refusals(switchyard, ws_origin, origins):
    b1, = origins(1)
    cfg = start_proxy(switchyard, [ws_origin])
    cfg["pools"].append({"name": "raw", "backends": [{"name": "b1", "address": b1.address}]})
    cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/switch"}, "pool": "raw"})
    p = switchyard.start(cfg)
    c = WsH2(p.port)
    # A backend that does not switch: its answer is relayed as a normal response.
    sid = c.open("/nowhere")
    assert c.status(sid) == 404
    c.wait(c.finished(sid), 10, "the refusal's body")
    assert bytes(c.streams[sid]["data"]) == b"no such websocket\n"
    assert dict(c.streams[sid]["headers"])["x-backend"] == "ws"
    # A 101 without the right Sec-WebSocket-Accept: 502.
    sid = c.open("/switch")
    assert c.status(sid) == 502
    # Unknown :protocol and plain CONNECT keep today's refusal.
    sid = c.open("/echo", protocol="connect-udp")
    assert c.status(sid) == 405
    raw = WsH2(p.port, validate=False)  # python3-h2 insists on :path even for CONNECT
    sid = raw.conn.get_next_available_stream_id()
    raw.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "h2.test:443")],
                          end_stream=False)
    raw.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
    raw.flush()
    assert raw.status(sid) == 405
    raw.close()
    m = scrape_until(p.admin_port, lambda m: True, what="metrics")
    assert m.one("switchyard_upgrades_total", listener="public") == 0
    c.close()


def test_websocket_to_an_http2_pool_is_refused(switchyard, ws_origin):
    """WebSocket goes to HTTP/1.1 backends only: an h2c pool would answer the GET with a 200
    that an RFC 8441 client takes for an open tunnel, so both kinds of client get 501."""
    cfg = start_proxy(switchyard, [ws_origin])
    cfg["pools"][0]["protocol"] = "h2c"
    p = switchyard.start(cfg)
    c = WsH2(p.port)
    sid = c.open("/echo")
    assert c.status(sid) == 501
    c.wait(c.finished(sid), 10, "the refusal's body")
    assert b"HTTP/1.1 pools only" in bytes(c.streams[sid]["data"])
    c.close()
    with socket.create_connection((LOOPBACK, p.port), timeout=10) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "closed before an answer"
            head += chunk
    assert head.startswith(b"HTTP/1.1 501 ")
    m = scrape_until(p.admin_port, lambda m: True, what="metrics")
    assert m.one("switchyard_upgrades_total", listener="public") == 0


def test_many_tunnels_alongside_normal_streams(switchyard, ws_origin):
    p = switchyard.start(start_proxy(switchyard, [ws_origin]))
    c = WsH2(p.port)
    sids = [c.open("/echo") for _ in range(20)]
    plain = [c.start("GET", "/plain-%d" % i) for i in range(10)]
    for sid in sids:
        assert c.status(sid) == 200
    for i, sid in enumerate(sids):
        c.send_msg(sid, "tunnel %d" % i)
    for i, sid in enumerate(sids):
        assert c.recv_msg(sid) == "tunnel %d" % i
    for sid in plain:
        c.wait(c.finished(sid), 10, "plain stream %d" % sid)
        assert dict(c.streams[sid]["headers"])[":status"] == "404"
    m = tunnels_active(p, 20, "20 open tunnels")
    assert m.one("switchyard_upgrades_total", listener="public") == 20
    for sid in sids[:10]:
        c.conn.reset_stream(sid)  # RST_STREAM: the backend connection closes
    c.flush()
    wait_until(lambda: ws_origin.log_path.read_text().count("closed /echo") == 10, 5,
               what="the backend saw 10 WebSockets end")
    tunnels_active(p, 10, "10 tunnels left")
    for i, sid in enumerate(sids[10:]):  # the others still work
        c.send_msg(sid, "again %d" % i)
        assert c.recv_msg(sid) == "again %d" % i
    c.close()
    tunnels_active(p, 0, "every tunnel closed with the connection")


def test_tunnel_idle_timeout(switchyard, ws_origin):
    cfg = start_proxy(switchyard, [ws_origin])
    cfg["pools"][0]["timeouts"] = {"tunnel_idle": "300ms"}
    p = switchyard.start(cfg)
    c = WsH2(p.port)
    sid = c.open("/echo")
    assert c.status(sid) == 200
    c.send_msg(sid, "ping")
    assert c.recv_msg(sid) == "ping"
    t0 = time.monotonic()
    c.wait(c.finished(sid), 5, "the idle tunnel to end")
    waited = time.monotonic() - t0
    assert 0.25 < waited < 3.0, waited
    wait_until(lambda: "closed /echo" in ws_origin.log_path.read_text(), 5,
               what="the backend connection closed")
    tunnels_active(p, 0, "the tunnel closed")
    status, _, _ = c.request("GET", "/nope")  # the connection is still usable
    assert status == 404
    c.close()


def test_metrics_and_access_log_as_for_http1(switchyard, ws_origin, tmp_path):
    log = tmp_path / "access.log"
    cfg = start_proxy(switchyard, [ws_origin], access_log={"path": str(log), "format": "json"})
    p = switchyard.start(cfg)
    c = WsH2(p.port)
    sid = c.open("/echo")
    assert c.status(sid) == 200
    c.send_msg(sid, "x" * 1000)
    assert c.recv_msg(sid) == "x" * 1000
    m = tunnels_active(p, 1, "one open tunnel")
    assert m.one("switchyard_upgrades_total", listener="public") == 1
    c.send_raw(sid, b"", end=True)
    c.wait(c.finished(sid), 10, "stream end")
    m = tunnels_active(p, 0, "the tunnel closed")
    assert m.one("switchyard_upgrades_total", listener="public") == 1
    line = wait_until(lambda: log.exists() and log.read_text().strip(), 5, what="access log line")
    rec = json.loads(line.splitlines()[-1])
    assert rec["status"] == 101
    assert rec["path"] == "/echo"
    assert rec["backend"] == "ws"
    assert rec["protocol"] == "HTTP/2.0"
    assert rec["request_body_bytes"] >= 1000
    assert rec["bytes_sent"] >= 1000
    c.close()
