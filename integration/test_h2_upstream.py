"""HTTP/2 to backends (pools[].protocol h2c and h2): HTTP/1.1 and HTTP/2 clients through the
proxy to h2c backends (a python3-h2 origin, nghttpd) with bodies of several MiB both ways,
multiplexing (h2load through the proxy: few upstream connections carry many streams, and
pools[].http2.max_concurrent_streams opens more), REFUSED_STREAM and GOAWAY retried, h2 over
TLS (ALPN h2) to nghttpd, health checks over HTTP/2, trailers to HTTP/2 and HTTP/1.1 clients,
gRPC (python3-grpcio) through an h2c pool, and the loader's checks.
"""

import hashlib
import http.client
import re
import shutil
import subprocess

import pytest

pytest.importorskip("h2.connection")

from conftest import LOOPBACK, free_port, pattern_bytes, stop_process, wait_until  # noqa: E402
from h2_origin import H2Origin  # noqa: E402
from obs_util import scrape  # noqa: E402
from test_tls import tls_pki  # noqa: E402,F401 (a fixture)

MiB = 1 << 20


@pytest.fixture
def h2origin():
    made = []

    def make(**kw):
        o = H2Origin(**kw)
        made.append(o)
        return o
    yield make
    for o in made:
        o.release.set()  # a stream held on /hold ends
        o.close()


def h2_proxy(switchyard, origin_addrs, protocol="h2c", workers=1, pool_extra=None, **kw):
    cfg = switchyard.config([{"name": "h2b%d" % (i + 1), "address": a}
                             for i, a in enumerate(origin_addrs)], workers=workers, **kw)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["pools"][0]["protocol"] = protocol
    cfg["pools"][0].update(pool_extra or {})
    return switchyard.start(cfg)


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True, timeout=timeout)


def post(port, path, body):
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    conn.request("POST", path, body=body)
    r = conn.getresponse()
    return r, r.read()


def upstream_connections(proxy):
    return int(scrape(proxy.admin_port).sum("switchyard_upstream_connections_total"))


def test_h1_and_h2_clients_to_an_h2c_backend_with_large_bodies(switchyard, h2origin):
    o = h2origin()
    proxy = h2_proxy(switchyard, [o.address])
    body, _ = pattern_bytes(3 * MiB, 7)
    # HTTP/1.1 client: request body up, the same back (Content-Length both ways).
    for _ in range(2):
        r, data = post(proxy.port, "/echo", body)
        assert r.status == 200 and r.getheader("x-backend") == "h2b1"
        assert r.getheader("x-method") == "POST"
        assert r.getheader("x-authority").startswith(LOOPBACK)
        assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    # A chunked request body (no length) and a large download.
    conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=30)
    conn.request("POST", "/echo", body=iter([body[:MiB], body[MiB:]]),
                 headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 200 and r.read() == body
    conn.request("GET", "/bytes?n=%d" % (5 * MiB))
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200 and data == pattern_bytes(5 * MiB, 1)[0]
    # HTTP/2 client (curl, prior knowledge): the same both ways.
    src = switchyard.tmp_path / "up.bin"
    src.write_bytes(body)
    out = curl("--http2-prior-knowledge", "--data-binary", "@%s" % src, "-o", "-",
               "http://%s:%d/echo" % (LOOPBACK, proxy.port))
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(out.stdout).digest() == hashlib.sha256(body).digest()
    # One upstream connection carried all of it (kept, multiplexed).
    assert o.connections == 1
    assert upstream_connections(proxy) == 1


def test_h2load_through_the_proxy_uses_few_upstream_connections(switchyard, tmp_path):
    if not shutil.which("nghttpd") or not shutil.which("h2load"):
        pytest.skip("nghttpd/h2load not installed")
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "index.html").write_bytes(b"x" * 1000)
    port = free_port()
    nghttpd = subprocess.Popen(["nghttpd", "--no-tls", "-d", str(docroot), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port), 5, what="nghttpd")
        proxy = h2_proxy(switchyard, ["%s:%d" % (LOOPBACK, port)], workers=1)
        n = 2000
        out = subprocess.run(["h2load", "-n", str(n), "-c", "4", "-m", "20",
                              "http://%s:%d/index.html" % (LOOPBACK, proxy.port)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        m = re.search(r"status codes: (\d+) 2xx", out.stdout)
        assert m and int(m.group(1)) == n, out.stdout
        # 80 streams at once from the clients: one upstream connection (the backend allows 100).
        opened = upstream_connections(proxy)
        assert opened == 1, opened
        # A cap of 5 streams per connection: more connections, each carrying several streams.
        proxy2 = h2_proxy(switchyard, ["%s:%d" % (LOOPBACK, port)], workers=1,
                          pool_extra={"http2": {"max_concurrent_streams": 5}})
        out = subprocess.run(["h2load", "-n", "400", "-c", "2", "-m", "10",
                              "http://%s:%d/index.html" % (LOOPBACK, proxy2.port)],
                             capture_output=True, text=True, timeout=60)
        assert "400 2xx" in out.stdout, out.stdout
        opened2 = upstream_connections(proxy2)
        assert 2 <= opened2 <= 20, opened2
    finally:
        stop_process(nghttpd)


def _accepts(port):
    import socket
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_refused_stream_is_sent_again(switchyard, h2origin):
    o = h2origin(refuse_first=True)
    proxy = h2_proxy(switchyard, [o.address], attempts=0)
    body, _ = pattern_bytes(32 * 1024, 3)  # kept for replay (below retries.max_body_bytes)
    r, data = post(proxy.port, "/echo", body)  # a POST: only safe because it was refused
    assert r.status == 200 and data == body
    assert o.refused == 1 and o.streams == 1


def test_goaway_streams_above_last_id_are_retried(switchyard, h2origin):
    o = h2origin(goaway_first=True)
    proxy = h2_proxy(switchyard, [o.address], attempts=0)
    r, data = post(proxy.port, "/echo", b"abc")
    assert r.status == 200 and data == b"abc"
    assert o.goaways == 1 and o.streams == 1
    wait_until(lambda: o.connections == 2, 5, what="a second upstream connection")
    assert r.getheader("x-conn") == "2"


def test_h2_over_tls_to_nghttpd(switchyard, tmp_path, tls_pki):
    if not shutil.which("nghttpd"):
        pytest.skip("nghttpd not installed")
    docroot = tmp_path / "www"
    docroot.mkdir()
    blob, _ = pattern_bytes(2 * MiB, 5)
    (docroot / "blob").write_bytes(blob)
    port = free_port()
    nghttpd = subprocess.Popen(["nghttpd", "-d", str(docroot), str(port),
                                str(tls_pki / "backend.key"), str(tls_pki / "backend.crt")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port), 5, what="nghttpd")
        hc = {"type": "http", "path": "/blob", "interval": "200ms", "timeout": "500ms",
              "healthy_threshold": 1, "unhealthy_threshold": 1}
        proxy = h2_proxy(switchyard, ["%s:%d" % (LOOPBACK, port)], protocol="h2",
                         pool_extra={"tls": {"ca": str(tls_pki / "ca.crt")}, "health_check": hc})
        # The check speaks HTTP/2 over TLS (ALPN h2) too: the backend stays up.
        checks = lambda: scrape(proxy.admin_port).sum("switchyard_health_checks_total",
                                                    result="success")
        conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=30)
        for _ in range(3):
            conn.request("GET", "/blob")
            r = conn.getresponse()
            assert r.status == 200 and r.read() == blob
        out = curl("--http2-prior-knowledge", "-o", "-",
                   "http://%s:%d/blob" % (LOOPBACK, proxy.port))
        assert out.returncode == 0 and out.stdout == blob
        wait_until(lambda: checks() >= 2, 5, what="two health checks")
        assert scrape(proxy.admin_port).sum("switchyard_backend_up") == 1
    finally:
        stop_process(nghttpd)


def test_health_checks_speak_http2(switchyard, h2origin):
    good, bad = h2origin(name="good"), h2origin(name="bad")
    bad.health_status = 503
    hc = {"type": "http", "path": "/healthz", "interval": "200ms", "timeout": "300ms",
          "healthy_threshold": 1, "unhealthy_threshold": 1}
    proxy = h2_proxy(switchyard, [good.address, bad.address],
                     pool_extra={"health_check": hc})

    def up():
        m = scrape(proxy.admin_port)
        return (m.sum("switchyard_backend_up", backend="h2b1"),
                m.sum("switchyard_backend_up", backend="h2b2"))
    wait_until(lambda: up() == (1, 0), 5, what="h2b1 up and h2b2 down by HTTP/2 checks")
    assert good.health_checks >= 1 and bad.health_checks >= 1
    for _ in range(4):
        r, _ = post(proxy.port, "/echo", b"x")
        assert r.status == 200 and r.getheader("x-backend") == "good"
    bad.health_status = 200
    wait_until(lambda: up() == (1, 1), 5, what="h2b2 back up")


def test_loader_checks_protocol(switchyard, h2origin):
    o = h2origin()
    cfg = switchyard.config([{"name": "b", "address": o.address}])
    cfg["pools"][0]["protocol"] = "h2"
    r = switchyard.run_cli("--check", "-c", switchyard.write(cfg))
    assert r.returncode != 0
    assert re.search(r":\d+:\d+: .*pools\[0\]\.protocol.*needs pools\[\]\.tls", r.stderr), r.stderr
    cfg["pools"][0]["protocol"] = "http3"
    r = switchyard.run_cli("--check", "-c", switchyard.write(cfg))
    assert r.returncode != 0 and "must be one of: http1, h2, h2c" in r.stderr
    cfg["pools"][0]["protocol"] = "h2c"
    cfg["pools"][0]["http2"] = {"max_concurrent_streams": 0}
    r = switchyard.run_cli("--check", "-c", switchyard.write(cfg))
    assert r.returncode != 0 and "max_concurrent_streams" in r.stderr
    cfg["pools"][0]["http2"] = {"max_streams": 5}
    r = switchyard.run_cli("--check", "-c", switchyard.write(cfg))
    assert r.returncode != 0 and "max_streams" in r.stderr
    cfg["pools"][0]["http2"] = {"max_concurrent_streams": 8}
    r = switchyard.run_cli("--check", "-c", switchyard.write(cfg))
    assert r.returncode == 0, r.stderr


def _raw_get(port, path, extra=""):
    import socket
    s = socket.create_connection((LOOPBACK, port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n" % (path, extra)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def test_trailers_reach_http2_and_http1_clients(switchyard, h2origin):
    import h2.config
    import h2.connection
    import h2.events
    o = h2origin()
    proxy = h2_proxy(switchyard, [o.address])
    # HTTP/1.1 client with TE: trailers: a chunked body whose last chunk carries them.
    raw = _raw_get(proxy.port, "/trailers", "TE: trailers\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"x-te: trailers" in head.lower()
    assert body == b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\nx-trailer: yes\r\n\r\n"
    # Without TE: trailers they are dropped.
    raw = _raw_get(proxy.port, "/trailers")
    assert raw.endswith(b"5\r\nhello\r\n0\r\n\r\n") and b"grpc-status" not in raw
    # HTTP/2 client: a trailing HEADERS frame.
    import socket
    s = socket.create_connection((LOOPBACK, proxy.port), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/trailers"),
                       (":authority", "t"), ("te", "trailers")], end_stream=True)
    s.sendall(c.data_to_send())
    got = {"data": b"", "trailers": None, "ended": False}
    while not got["ended"]:
        chunk = s.recv(65536)
        assert chunk, "the proxy closed the connection"
        for ev in c.receive_data(chunk):
            if isinstance(ev, h2.events.DataReceived):
                got["data"] += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                got["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                got["ended"] = True
        s.sendall(c.data_to_send())
    s.close()
    assert got["data"] == b"hello"
    assert got["trailers"] == {b"grpc-status": b"0", b"x-trailer": b"yes"}


def test_grpc_through_an_h2c_pool(switchyard):
    """Unary (3 MiB), server-, client- and bidirectional streaming, and an error status, from
    a python3-grpcio server behind an h2c pool to a grpcio client."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    def unary(req, ctx):
        return req[::-1]

    def server_stream(req, ctx):
        for i in range(3):
            yield req + bytes([i])

    def client_stream(it, ctx):
        return b"".join(it)

    def failing(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def bidi(it, ctx):
        for msg in it:
            yield msg.upper()

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Fail": grpc.unary_unary_rpc_method_handler(failing),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("%s:0" % LOOPBACK)
    server.start()
    try:
        proxy = h2_proxy(switchyard, ["%s:%d" % (LOOPBACK, port)])
        with grpc.insecure_channel("%s:%d" % (LOOPBACK, proxy.port)) as ch:
            assert ch.unary_unary("/test.Echo/Unary")(b"abc", timeout=10) == b"cba"
            big = pattern_bytes(3 * MiB, 9)[0]
            assert ch.unary_unary("/test.Echo/Unary")(big, timeout=20) == big[::-1]
            assert list(ch.unary_stream("/test.Echo/ServerStream")(b"x", timeout=10)) == \
                [b"x\x00", b"x\x01", b"x\x02"]
            parts = [b"a" * 1000, b"b" * 2000, big]
            assert ch.stream_unary("/test.Echo/ClientStream")(iter(parts), timeout=20) == \
                b"".join(parts)
            # Bidirectional, in lockstep: each answer arrives before the next message is sent,
            # so neither side is buffered until the end of the call.
            import queue
            outbox = queue.Queue()

            def requests():
                while (m := outbox.get(timeout=10)) is not None:
                    yield m
            call = ch.stream_stream("/test.Echo/Bidi")(requests(), timeout=20)
            for i in range(5):
                outbox.put(b"ping %d" % i)
                assert next(call) == b"PING %d" % i
            outbox.put(None)
            assert list(call) == []
            with pytest.raises(grpc.RpcError) as e:
                ch.unary_unary("/test.Echo/Fail")(b"", timeout=10)
            # grpc-status and grpc-message came through as trailers.
            assert e.value.code() == grpc.StatusCode.NOT_FOUND
            assert e.value.details() == "no such thing"
    finally:
        server.stop(0)


def test_response_window_follows_the_client(switchyard, h2origin):
    """A client that does not read holds the backend: the proxy acknowledges response bytes
    only as the client takes them, so the backend stalls with most of a large body unsent."""
    import socket
    import time
    o = h2origin()
    proxy = h2_proxy(switchyard, [o.address])
    n = 48 * MiB
    s = socket.create_connection((LOOPBACK, proxy.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % n)
    samples = []

    def stalled():
        samples.append(o.sent)
        return len(samples) >= 5 and samples[-1] == samples[-5] and samples[-1] > 0
    wait_until(stalled, 10, interval=0.1, what="the backend to stall on flow control")
    assert o.sent < 16 * MiB, o.sent  # windows and socket buffers, not the whole body
    got = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    assert len(body) == n and body == pattern_bytes(n, 1)[0]


def test_request_trailers_from_an_http2_client_reach_the_backend(switchyard, h2origin):
    import socket
    import h2.config
    import h2.connection
    import h2.events
    o = h2origin()
    proxy = h2_proxy(switchyard, [o.address])
    s = socket.create_connection((LOOPBACK, proxy.port), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"),
                       (":authority", "t"), ("te", "trailers")])
    c.send_data(1, b"payload")
    c.send_headers(1, [("x-checksum", "abc123")], end_stream=True)
    s.sendall(c.data_to_send())
    data, ended = b"", False
    while not ended:
        chunk = s.recv(65536)
        assert chunk, "the proxy closed the connection"
        for ev in c.receive_data(chunk):
            if isinstance(ev, h2.events.DataReceived):
                data += ev.data
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
    s.close()
    assert data == b"payload"
    assert o.request_trailers == [{b"x-checksum": b"abc123"}]
