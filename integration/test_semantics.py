"""HTTP semantics the proxy promises (issue 21), checked with raw sockets against the real binary:
obs-fold after an empty first line is refused; routes match the normalised path (dot segments,
percent-encoded dots), which is also what the backend receives; fragments, bad escapes and
invalid Host values are refused; every answer carries Date; transfer codings other than chunked
are refused instead of being relabelled."""

import gzip
import json
import re
import socket
import threading

import pytest

from conftest import LOOPBACK, RawConn, get_request

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug"
                         r"|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


class CannedBackend:
    """A backend that answers every request with the same raw bytes, then closes.

    Reads each request head (no body expected) and keeps it in `heads`, counts connections,
    stamps nothing: the canned response is exactly what the proxy gets.
    """

    def __init__(self, response):
        self.response = response
        self.connections = 0
        self.heads = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                buf = b""
                try:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buf += data
                    if b"\r\n\r\n" in buf:
                        self.heads.append(buf.split(b"\r\n\r\n")[0].decode("latin-1"))
                        conn.sendall(self.response)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


@pytest.fixture
def proxy_and_origin(origins, switchyard):
    (o,) = origins(1)
    return switchyard.start(switchyard.config([o])), o


def refused(port, raw, status):
    """Sends `raw`, expects `status` with Connection: close and a closed connection."""
    with RawConn(port, timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        closed, _ = c.wait_closed(5)
    assert r.status == status, r
    assert r.has_token("Connection", "close"), r
    assert closed
    return r


# ---- 1. framing: obs-fold after an empty first line ----------------------------------------------


@pytest.mark.parametrize("fold,body", [
    ("Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
    ("Transfer-Encoding:   \r\n\tchunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
    ("X-A:\r\n b\r\nContent-Length: 5\r\n", "hello"),
], ids=["te-fold", "te-fold-ows-tab", "other-header"])
def test_fold_after_empty_value_is_400_and_never_forwarded(proxy_and_origin, fold, body):
    p, o = proxy_and_origin
    o.reset_stats()
    refused(p.port, "POST /echo HTTP/1.1\r\nHost: t.local\r\n" + fold + "\r\n" + body, 400)
    st = o.stats()
    assert st["connections"] == 0 and st["requests"] == 0, st


def test_empty_header_value_without_fold_is_accepted(proxy_and_origin):
    p, _ = proxy_and_origin
    with RawConn(p.port) as c:
        c.send("GET /headers HTTP/1.1\r\nHost: t.local\r\nX-Empty:\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert ["X-Empty", ""] in json.loads(r.body)["headers"]


# ---- 2. targets: dot segments, escapes, fragments; Host syntax ----------------------------------


@pytest.fixture
def api_only(origins, switchyard):
    """Routes: /api -> pool "api" (b2), /headers -> pool "web" (b1); nothing else is routed."""
    b1, b2 = origins(2)
    cfg = switchyard.config([b1])
    cfg["pools"].append({"name": "api", "backends": [{"name": b2.name, "address": b2.address}]})
    cfg["listeners"][0]["routes"] = [
        {"match": {"path_prefix": "/api/"}, "pool": "api"},
        {"match": {"path_prefix": "/headers"}, "pool": "web"},
    ]
    return switchyard.start(cfg), b1, b2


@pytest.mark.parametrize("target", ["/api/../admin", "/api/%2e%2e/admin", "/api/%2E./admin",
                                    "/api/..", "/api/%2e%2e", "/api/./../admin?x=1"])
def test_dot_segments_cannot_climb_out_of_a_prefix(api_only, target):
    p, b1, b2 = api_only
    b2.reset_stats()
    with RawConn(p.port) as c:
        c.send(get_request("GET", target))
        r = c.read_response()
    assert r.status == 404, r  # "/admin" and "/" have no route
    assert r.header("X-Backend") is None, r
    assert b2.stats()["requests"] == 0


@pytest.mark.parametrize("target,backend,line", [
    ("/api/../headers", "b1", "GET /headers HTTP/1.1"),
    ("/api/%2e%2e/headers?q=/../%2e", "b1", "GET /headers?q=/../%2e HTTP/1.1"),
    ("/api/x/../../headers", "b1", "GET /headers HTTP/1.1"),
    ("/%68ead%65rs", "b1", "GET /headers HTTP/1.1"),
    ("http://t.local/api/../headers", "b1", "GET /headers HTTP/1.1"),
])
def test_the_normalised_target_is_routed_and_forwarded(api_only, target, backend, line):
    p, _, _ = api_only
    with RawConn(p.port) as c:
        c.send(get_request("GET", target))
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("X-Backend") == backend
    assert json.loads(r.body)["request_line"] == line


@pytest.mark.parametrize("target,line", [
    ("/a%2fb/%7e/./c", "GET /a%2Fb/~/c HTTP/1.1"),     # %2F kept (upper-case), ~ decoded
    ("/a/..%2f..%2fetc", "GET /a/..%2F..%2Fetc HTTP/1.1"),  # one segment, not dot segments
    ("/x/%2e%2e/%C3%a9?q=%2e%2e/%7e", "GET /%C3%A9?q=%2e%2e/%7e HTTP/1.1"),  # query untouched
])
def test_escapes_forwarded_in_normal_form(switchyard, target, line):
    be = CannedBackend(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    try:
        p = switchyard.start(switchyard.config([("canned", be.port)]))
        with RawConn(p.port) as c:
            c.send(get_request("GET", target))
            assert c.read_response().status == 204
        assert be.heads[-1].split("\r\n")[0] == line
    finally:
        be.close()


@pytest.mark.parametrize("target", ["/a%zz", "/a%2", "/%", "/a#frag", "/a?b#c",
                                    "http://t.local/a#b"])
def test_bad_escapes_and_fragments_are_400(proxy_and_origin, target):
    p, o = proxy_and_origin
    o.reset_stats()
    refused(p.port, get_request("GET", target), 400)
    assert o.stats()["connections"] == 0


def test_target_too_long_to_normalise_is_414(origins, switchyard):
    (o,) = origins(1)
    p = switchyard.start(switchyard.config([o], limits={"max_header_bytes": "64KiB"}))
    refused(p.port, get_request("GET", "/" + "a" * 5000 + "/../b"), 414)
    with RawConn(p.port) as c:  # already normal: used in place, whatever its length
        c.send(get_request("GET", "/" + "a" * 5000))
        assert c.read_response().status == 200


@pytest.mark.parametrize("host", ["t.local:abc", "t.local:99999", "t.local:65536", "[::1",
                                  "[::1]x", "t.local:80:80", "t\"local", "t<local>", "a%zz"])
def test_invalid_host_is_400(proxy_and_origin, host):
    p, o = proxy_and_origin
    o.reset_stats()
    refused(p.port, get_request("GET", "/", host=host), 400)
    assert o.stats()["connections"] == 0


@pytest.mark.parametrize("host", ["t.local:8080", "[::1]:8080", "127.0.0.1", "[::1]"])
def test_valid_host_is_accepted(proxy_and_origin, host):
    p, _ = proxy_and_origin
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/", host=host))
        assert c.read_response().status == 200


# ---- 3. Date ---------------------------------------------------------------------------------------


def test_proxy_answers_and_dateless_backend_answers_carry_date(proxy_and_origin):
    p, _ = proxy_and_origin
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/"))  # origin.py sends no Date
        forwarded = c.read_response()
        c.send(get_request("GET", "/a%zz"))  # the proxy's own 400
        local = c.read_response()
    assert forwarded.status == 200 and local.status == 400
    for r in (forwarded, local):
        assert len(r.header_all("Date")) == 1, r
        assert IMF_FIXDATE.match(r.header("Date")), r


def test_backend_date_is_kept(switchyard):
    be = CannedBackend(b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
    try:
        p = switchyard.start(switchyard.config([("canned", be.port)]))
        with RawConn(p.port) as c:
            c.send(get_request("GET", "/"))
            r = c.read_response()
        assert r.status == 200
        assert r.header_all("Date") == ["Sun, 06 Nov 1994 08:49:37 GMT"]
    finally:
        be.close()


# ---- 4. transfer codings ---------------------------------------------------------------------------


def chunked(body):
    return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize("head", [b"Transfer-Encoding: gzip, chunked\r\n",
                                  b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"])
def test_gzip_coded_chunked_response_is_502_not_relabelled(switchyard, head):
    body = gzip.compress(b"hello " * 100)
    be = CannedBackend(b"HTTP/1.1 200 OK\r\n" + head + b"Connection: close\r\n\r\n" + chunked(body))
    try:
        p = switchyard.start(switchyard.config([("canned", be.port)]))
        with RawConn(p.port) as c:
            c.send(get_request("GET", "/"))
            r = c.read_response()
        assert r.status == 502, r
        assert r.body != body
        assert be.connections >= 1
    finally:
        be.close()


def test_gzip_coded_response_read_until_close_is_502(switchyard):
    body = gzip.compress(b"hello " * 100)
    be = CannedBackend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + body)
    try:
        p = switchyard.start(switchyard.config([("canned", be.port)]))
        with RawConn(p.port) as c:
            c.send(get_request("GET", "/"))
            r = c.read_response()
        assert r.status == 502, r
    finally:
        be.close()


def test_plain_chunked_response_still_streams(switchyard):
    be = CannedBackend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                       + chunked(b"plain body"))
    try:
        p = switchyard.start(switchyard.config([("canned", be.port)]))
        with RawConn(p.port) as c:
            c.send(get_request("GET", "/"))
            r = c.read_response()
        assert r.status == 200, r
        assert r.body == b"plain body"
        assert r.header_all("Transfer-Encoding") == ["chunked"]
    finally:
        be.close()


def test_gzip_coded_request_is_501_and_never_forwarded(proxy_and_origin):
    p, o = proxy_and_origin
    o.reset_stats()
    refused(p.port, b"POST /echo HTTP/1.1\r\nHost: t.local\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            + chunked(gzip.compress(b"x")), 501)
    assert o.stats()["connections"] == 0
