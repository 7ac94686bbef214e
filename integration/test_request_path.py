"""Regressions for the reshaped request path (decac70): 1xx answers relayed to HTTP/1.1 clients,
and a reused connection's silent close replaying only idempotent requests.

Both need a backend origin.py cannot be: one that sends a 103 and holds its final answer until
the test says so, and one that closes a kept-alive connection after reading a request on it.
RawBackend below is that backend: a raw loopback socket, one thread per connection, and a
handler per test that writes the answer bytes itself. Every final answer it gives carries
"X-Backend: <name>"; it logs every request it reads with its connection number.
"""

import socket
import threading

import pytest

from conftest import LOOPBACK, RawConn, get_request, request

IO_TIMEOUT = 10.0  # every socket read in this file is bounded by this


class BackendConn:
    """One accepted connection of a RawBackend."""

    def __init__(self, sock, number):
        self.sock = sock
        self.number = number  # 1 for the backend's first accepted connection
        self.served = 0  # requests read on this connection so far (this one included)
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_head(self):
        """(method, target, version, {lowercase name: value}) or None at a clean EOF."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("request head too large")
            try:
                self._fill()
            except EOFError:
                if self.buf:
                    raise
                return None
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, version, headers

    def read_body(self, headers):
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return body

    def send(self, data):
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)


def final_answer(name, body=b"ok\n", status="200 OK"):
    return ("HTTP/1.1 %s\r\nContent-Length: %d\r\nX-Backend: %s\r\n\r\n"
            % (status, len(body), name)).encode("latin-1") + body


class RawBackend:
    """A loopback HTTP/1.1 backend whose answers a test scripts.

    handler(backend, conn, method, target, headers) runs after each request head is read; it
    reads the body if it wants it (conn.read_body) and writes the answer (conn.send). It
    returns False to close the connection, True to keep it alive.
    """

    def __init__(self, name, handler):
        self.name = name
        self.handler = handler
        self.lock = threading.Lock()
        self.log = []  # (connection number, method, target) of every request head read
        self.connections = 0
        self.errors = []  # what went wrong in a connection thread (a test asserts it is empty)
        self._socks = []
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.bind((LOOPBACK, 0))
        self._lsock.listen(64)
        self._lsock.settimeout(0.05)  # the accept loop polls the stop flag
        self.port = self._lsock.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    def requests(self, method=None, target=None):
        with self.lock:
            return [e for e in self.log
                    if (method is None or e[1] == method) and (target is None or e[2] == target)]

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
                self._socks.append(sock)
            t = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock, number):
        sock.settimeout(IO_TIMEOUT)
        conn = BackendConn(sock, number)
        try:
            while not self._stop.is_set():
                head = conn.read_head()
                if head is None:
                    return
                method, target, _version, headers = head
                conn.served += 1
                with self.lock:
                    self.log.append((number, method, target))
                if not self.handler(self, conn, method, target, headers):
                    return
        except Exception as e:  # noqa: BLE001  (reported through self.errors)
            if not self._stop.is_set():
                with self.lock:
                    self.errors.append("connection %d: %r" % (number, e))
        finally:
            sock.close()

    def stop(self):
        self._stop.set()
        self._lsock.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:  # wakes threads blocked reading a connection the proxy still holds
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(IO_TIMEOUT + 1)


@pytest.fixture
def raw_backend():
    started = []

    def start(handler, name="raw"):
        b = RawBackend(name, handler)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def one_backend_config(switchyard, backend, **pool_extra):
    """One worker and one backend: a kept-alive upstream connection is the one the next
    request gets, whichever client connection it comes on."""
    cfg = switchyard.config([{"name": backend.name, "address": backend.address}], workers=1)
    cfg["pools"][0].update(pool_extra)
    return cfg


# ---- 1xx relay -----------------------------------------------------------------------------------

EARLY_HINTS = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
HOLD_LIMIT_S = 5.0  # the backend holds its 200 at most this long for the client to see the 103


def hints_handler(release):
    """/hold: 103, then the 200 once `release` is set (or HOLD_LIMIT_S passed).
    /now: 103 and the 200 at once. /cont: an unprompted 100 Continue, then the body, then 200
    echoing it. Anything else: 200."""

    def handle(backend, conn, method, target, headers):
        if target == "/hold":
            conn.send(EARLY_HINTS)
            release.wait(HOLD_LIMIT_S)
            conn.send(final_answer(backend.name, b"after hints\n"))
        elif target == "/now":
            conn.send(EARLY_HINTS)
            conn.send(final_answer(backend.name, b"after hints\n"))
        elif target == "/cont":
            if "expect" in headers:
                raise ValueError("Expect was passed on; the proxy answers it itself")
            conn.send("HTTP/1.1 100 Continue\r\n\r\n")
            body = conn.read_body(headers)
            conn.send(final_answer(backend.name, body))
        else:
            conn.read_body(headers)
            conn.send(final_answer(backend.name))
        return True

    return handle


def test_103_is_relayed_to_an_http11_client_before_the_final_answer(switchyard, raw_backend):
    release = threading.Event()
    be = raw_backend(hints_handler(release))
    p = switchyard.start(one_backend_config(switchyard, be))
    try:
        with RawConn(p.port, timeout=IO_TIMEOUT) as c:
            c.send(get_request("GET", "/hold"))
            # The backend holds its 200 until we have seen the 103: the hint must arrive on its
            # own, not just ahead of the final answer in the same read.
            first = c.read_head()
            assert first.status == 103, "expected the 103 before the final answer, got %r" % first
            assert first.reason == "Early Hints"
            assert first.header_all("Link") == ["</a.css>; rel=preload"]
            assert first.header("Content-Length") is None
            release.set()
            final = c.read_response()
            assert final.status == 200
            assert final.interim == []  # relayed once
            assert final.body == b"after hints\n"
            assert final.header("X-Backend") == "raw"
            # The connection is still in step: another request on it works.
            c.send(get_request("GET", "/plain"))
            again = c.read_response()
            assert again.status == 200 and again.interim == []
    finally:
        release.set()
    assert be.errors == []


def test_103_is_not_sent_to_an_http10_client(switchyard, raw_backend):
    be = raw_backend(hints_handler(threading.Event()))
    p = switchyard.start(one_backend_config(switchyard, be))
    with RawConn(p.port, timeout=IO_TIMEOUT) as c:
        c.send("GET /now HTTP/1.0\r\nHost: test.local\r\n\r\n")
        closed, data = c.wait_closed(IO_TIMEOUT)  # 1.0 without keep-alive: closed after the answer
    assert closed
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert b"103" not in data.split(b"\r\n", 1)[0]
    assert b"Early Hints" not in data and b"Link:" not in data
    assert data.endswith(b"after hints\n")
    assert be.requests(target="/now") == [(1, "GET", "/now")]


def test_backend_100_continue_is_not_relayed_after_the_proxys_own(switchyard, raw_backend):
    be = raw_backend(hints_handler(threading.Event()))
    p = switchyard.start(one_backend_config(switchyard, be))
    with RawConn(p.port, timeout=IO_TIMEOUT) as c:
        c.send("POST /cont HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n")
        cont = c.read_head()  # the proxy's own, before any body byte is sent
        assert cont.status == 100
        c.send(b"hello")
        final = c.read_response("POST")
        assert final.status == 200
        assert final.interim == [], "a second 100 Continue reached the client"
        assert final.body == b"hello"
        # Nothing else is pending on the connection: the next answer is the next request's.
        c.send(get_request("GET", "/plain"))
        again = c.read_response()
        assert again.status == 200 and again.interim == []
    assert be.requests(target="/cont") == [(1, "POST", "/cont")]
    assert be.errors == []


# ---- replay after a silent close of a reused connection -----------------------------------------


def close_on_reuse_handler(backend, conn, method, target, headers):
    """The first request on a connection is answered (kept alive); a later one is read whole
    and the connection closed without a byte of answer."""
    conn.read_body(headers)
    if conn.served == 1:
        conn.send(final_answer(backend.name, ("%s %s\n" % (method, target)).encode()))
        return True
    return False


def keep_one_connection(p, be):
    """A GET answered on a fresh upstream connection, which the proxy then keeps."""
    r = request(p.port, "/warm")
    assert r.status == 200 and r.header("X-Backend") == be.name
    assert be.requests() == [(1, "GET", "/warm")]


@pytest.mark.parametrize("retries", [{"attempts": 0},
                                     {"attempts": 2, "on": ["connect_failure", "reset"]}],
                         ids=["no-retries", "retry-on-reset"])
def test_post_is_not_replayed_after_a_reused_connection_closes(switchyard, raw_backend, retries):
    be = raw_backend(close_on_reuse_handler)
    p = switchyard.start(one_backend_config(switchyard, be, retries=retries))
    keep_one_connection(p, be)
    r = request(p.port, "/order", method="POST", body=b"")  # bodiless: Content-Length: 0
    assert r.status == 502, "a POST the backend may have processed was answered %d" % r.status
    # A replay would have been read before any answer reached the client.
    assert be.requests(method="POST") == [(1, "POST", "/order")]
    assert be.connections == 1
    assert be.errors == []


def test_get_is_replayed_on_a_new_connection_after_a_reused_one_closes(switchyard, raw_backend):
    be = raw_backend(close_on_reuse_handler)
    p = switchyard.start(one_backend_config(switchyard, be, retries={"attempts": 0}))
    keep_one_connection(p, be)
    r = request(p.port, "/page")
    assert r.status == 200
    assert r.header("X-Backend") == be.name
    assert r.body == b"GET /page\n"
    assert be.requests(target="/page") == [(1, "GET", "/page"), (2, "GET", "/page")]
    assert be.connections == 2
    assert be.errors == []
