"""The real client address: listeners[].proxy_protocol (PROXY v1 and v2 from a raw socket, on
plain, TLS and h2c listeners; a missing, garbage or late header closes the connection) and
real_ip (trusted and untrusted peers, chains, several header lines, garbage entries, the
per-listener override). The address must reach the backend's X-Forwarded-For, the access log
and the hash policy."""

import json
import socket
import ssl
import struct

import pytest

from conftest import LOOPBACK, RawConn, free_port, request, wait_until
from test_tls import tls_listener, tls_pki  # noqa: F401 (tls_pki: a fixture)

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="127.0.0.1", sport=40000, dport=80, proto=None):
    proto = proto or ("TCP6" if ":" in src else "TCP4")
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def v2(src=None, dst=None, sport=40000, dport=80, local=False, tlvs=b""):
    if local:
        return SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst or ("::1" if fam == socket.AF_INET6 else "127.0.0.1"))
    body += struct.pack("!HH", sport, dport) + tlvs
    famproto = 0x21 if fam == socket.AF_INET6 else 0x11
    return SIG + bytes([0x21, famproto]) + struct.pack("!H", len(body)) + body


def get_headers(c, path="/headers", extra=""):
    c.send("GET %s HTTP/1.1\r\nHost: t.test\r\n%s\r\n" % (path, extra))
    r = c.read_response()
    assert r.status == 200, r
    hs = json.loads(r.body)["headers"]
    return [v for k, v in hs if k.lower() == "x-forwarded-for"]


def log_entries(path, n):
    def ready():
        try:
            lines = [l for l in path.read_text().splitlines() if l]
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None
    return [json.loads(l) for l in wait_until(ready, 5, what="%d access log lines" % n)]


def proxy_cfg(switchyard, backends, tmp_path, **listener):
    log = tmp_path / "access.log"
    cfg = switchyard.config(backends, access_log={"path": str(log), "format": "json"})
    cfg["listeners"][0].update(listener)
    return cfg, log


def test_proxy_v1_and_v2_set_forwarded_for_and_the_access_log(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    cfg, log = proxy_cfg(switchyard, [b1], tmp_path, proxy_protocol=True)
    p = switchyard.start(cfg)
    with RawConn(p.port) as c:
        c.send(v1("203.0.113.7"))
        assert get_headers(c) == ["203.0.113.7"]
        assert get_headers(c) == ["203.0.113.7"]  # kept for the connection's next requests
    with RawConn(p.port) as c:  # header and request in one segment, TLVs skipped
        c.sock.sendall(v2("2001:db8::9", tlvs=b"\x04\x00\x03abc") +
                       b"GET /headers HTTP/1.1\r\nHost: t.test\r\n\r\n")
        r = c.read_response()
        assert [v for k, v in json.loads(r.body)["headers"] if k.lower() == "x-forwarded-for"] \
            == ["2001:db8::9"]
    with RawConn(p.port) as c:  # a client's own X-Forwarded-For is kept, the address appended
        c.send(v2("198.51.100.20"))
        assert get_headers(c, extra="X-Forwarded-For: 10.9.9.9\r\n") == ["10.9.9.9, 198.51.100.20"]
    with RawConn(p.port) as c:  # LOCAL (a balancer's health check): the peer is the client
        c.send(v2(local=True))
        assert get_headers(c) == ["127.0.0.1"]
    with RawConn(p.port) as c:  # UNKNOWN likewise
        c.send(b"PROXY UNKNOWN\r\n")
        assert get_headers(c) == ["127.0.0.1"]
    entries = log_entries(log, 6)  # workers write their lines independently: compare sorted
    assert sorted(e["client"] for e in entries) == sorted([
        "203.0.113.7", "203.0.113.7", "2001:db8::9", "198.51.100.20", "127.0.0.1", "127.0.0.1"])


@pytest.mark.parametrize("first", [
    b"GET /headers HTTP/1.1\r\nHost: t.test\r\n\r\n",    # no header at all
    b"PROXY TCP4 not-an-ip 127.0.0.1 1 80\r\n",          # garbage v1
    b"PROXY " + b"x" * 120,                               # v1 longer than 107 bytes
    SIG + b"\x21\x11\xff\xff",                             # v2 longer than the cap
    SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,              # v2 with a bad version
])
def test_connection_without_a_valid_header_is_closed(origins, switchyard, tmp_path, first):
    (b1,) = origins(1)
    cfg, _ = proxy_cfg(switchyard, [b1], tmp_path, proxy_protocol=True)
    p = switchyard.start(cfg)
    s = socket.create_connection((LOOPBACK, p.port), timeout=5)
    s.sendall(first)
    s.settimeout(5)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    assert data == b"", data  # closed, nothing answered
    s.close()
    assert b1.stats()["requests"] == 0


def test_silent_connection_is_closed_after_client_header(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    cfg, _ = proxy_cfg(switchyard, [b1], tmp_path, proxy_protocol=True)
    cfg["timeouts"]["client_header"] = "300ms"
    cfg["timeouts"]["client_idle"] = "30s"
    p = switchyard.start(cfg)
    s = socket.create_connection((LOOPBACK, p.port), timeout=5)
    s.sendall(b"PROXY TCP4 1.2.3.4")  # a partial header, then nothing
    s.settimeout(5)
    try:
        assert s.recv(4096) == b""
    except ConnectionResetError:
        pass
    s.close()


def test_proxy_protocol_on_a_tls_listener(origins, switchyard, tls_pki, tmp_path):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    port = free_port()
    cfg["listeners"] = [dict(tls_listener(tls_pki, port), proxy_protocol=True)]
    p = switchyard.start(cfg, port=port)
    ctx = ssl.create_default_context(cafile=str(tls_pki / "ca.crt"))
    for header, want in [(v1("192.0.2.33"), "192.0.2.33"), (v2("2001:db8::44"), "2001:db8::44")]:
        raw = socket.create_connection((LOOPBACK, p.port), timeout=10)
        raw.sendall(header)
        with ctx.wrap_socket(raw, server_hostname="site.test") as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        hs = json.loads(body)["headers"]
        assert [v for k, v in hs if k.lower() == "x-forwarded-for"] == [want]
        assert [v for k, v in hs if k.lower() == "x-forwarded-proto"] == ["https"]
    # A TLS ClientHello without the header first is refused.
    raw = socket.create_connection((LOOPBACK, p.port), timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        ctx.wrap_socket(raw, server_hostname="site.test")
    raw.close()


def test_proxy_protocol_before_the_h2c_preface(origins, switchyard, tmp_path):
    h2c = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events
    (b1,) = origins(1)
    cfg, log = proxy_cfg(switchyard, [b1], tmp_path, proxy_protocol=True, protocols=["h1", "h2c"])
    p = switchyard.start(cfg)
    s = socket.create_connection((LOOPBACK, p.port), timeout=10)
    s.sendall(v1("198.51.100.99"))
    conn = h2c.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "t.test"),
                          (":path", "/headers")], end_stream=True)
    s.sendall(conn.data_to_send())
    body, ended = b"", False
    while not ended:
        data = s.recv(65536)
        assert data, "connection closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
        s.sendall(conn.data_to_send())
    s.close()
    hs = json.loads(body)["headers"]
    assert [v for k, v in hs if k.lower() == "x-forwarded-for"] == ["198.51.100.99"]
    assert log_entries(log, 1)[0]["client"] == "198.51.100.99"


def test_real_ip_walks_trusted_proxies(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    log = tmp_path / "access.log"
    cfg = switchyard.config([b1], access_log={"path": str(log), "format": "json"},
                            real_ip={"header": "X-Forwarded-For",
                                     "trusted": ["127.0.0.0/8", "10.0.0.0/8", "2001:db8:1::/48"]})
    p = switchyard.start(cfg)
    cases = [
        # (X-Forwarded-For lines the client sends, the client address, what the backend gets)
        (["198.51.100.1"], "198.51.100.1", "198.51.100.1, 127.0.0.1"),
        (["203.0.113.9, 198.51.100.1, 10.0.0.2"], "198.51.100.1",
         "203.0.113.9, 198.51.100.1, 10.0.0.2, 127.0.0.1"),
        (["198.51.100.1", "10.1.1.1, 10.2.2.2"], "198.51.100.1",
         "198.51.100.1, 10.1.1.1, 10.2.2.2, 127.0.0.1"),
        (["198.51.100.1, garbage, 10.0.0.3"], "10.0.0.3", None),
        (["unknown"], "127.0.0.1", None),
        (["10.0.0.5, 10.0.0.6"], "10.0.0.5", None),                  # all trusted: left-most
        (["2001:db8:2::1, [2001:db8:1::5]:443"], "2001:db8:2::1", None),
        (["192.0.2.1:8080"], "192.0.2.1", None),
        ([], "127.0.0.1", "127.0.0.1"),
    ]
    with RawConn(p.port) as c:
        for lines, _, forwarded in cases:
            xff = get_headers(c, extra="".join("X-Forwarded-For: %s\r\n" % l for l in lines))
            if forwarded is not None:
                assert xff == [forwarded]
    entries = log_entries(log, len(cases))  # one connection: one worker, lines in order
    assert [e["client"] for e in entries] == [want for _, want, _ in cases]


def test_real_ip_untrusted_peer_and_listener_override(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    log = tmp_path / "access.log"
    cfg = switchyard.config([b1], access_log={"path": str(log), "format": "json"},
                            real_ip={"trusted": ["10.0.0.0/8"]})
    cfg["listeners"][0]["proxy_protocol"] = True
    second = {"name": "inner", "listen": "%s:%d" % (LOOPBACK, free_port()),
              "real_ip": {"header": "X-Real-IP", "trusted": ["127.0.0.1"]},
              "routes": [{"pool": "web"}]}
    cfg["listeners"].append(second)
    p = switchyard.start(cfg)
    inner = int(second["listen"].rsplit(":", 1)[1])
    with RawConn(p.port) as c:  # the PROXY source is untrusted: the header is ignored
        c.send(v1("192.0.2.50"))
        get_headers(c, extra="X-Forwarded-For: 198.51.100.1\r\n")
    with RawConn(p.port) as c:  # the PROXY source is trusted: the walk starts from it
        c.send(v1("10.3.3.3"))
        get_headers(c, extra="X-Forwarded-For: 198.51.100.2\r\n")
    with RawConn(inner) as c:  # per-listener header and networks
        get_headers(c, extra="X-Forwarded-For: 198.51.100.3\r\nX-Real-IP: 198.51.100.4\r\n")
    entries = log_entries(log, 3)
    assert sorted(e["client"] for e in entries) == ["192.0.2.50", "198.51.100.2", "198.51.100.4"]


def test_hash_policy_uses_the_client_address(origins, switchyard, tmp_path):
    bs = origins(3)
    cfg = switchyard.config(bs, policy="hash", real_ip={"trusted": ["127.0.0.0/8"]})
    p = switchyard.start(cfg)
    seen = {}
    with RawConn(p.port) as c:
        for i in range(30):
            for _ in range(2):
                c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.%d\r\n\r\n" % i)
                r = c.read_response()
                assert r.status == 200
                seen.setdefault(i, set()).add(r.header("x-backend"))
    assert all(len(v) == 1 for v in seen.values())  # one client, one backend
    assert len(set().union(*seen.values())) >= 2     # spread by the client, not the peer
