"""The test origin on its own (no proxy): the fixtures the proxy tests stand on."""

import http.client
import json
import time

import pytest

from conftest import RawConn, get_request, pattern_bytes, request, sha256


@pytest.fixture
def origin(origins):
    return origins(1, names=["web1"])[0]


def test_hello_and_backend_header(origin):
    r = request(origin.port, "/anything")
    assert r.status == 200
    assert r.header("X-Backend") == "web1"
    assert r.body == b"hello from web1\n"


def test_bytes_modes_deliver_same_body(origin):
    want, digest = pattern_bytes(300000)
    for mode in ("length", "chunked", "close"):
        with RawConn(origin.port) as c:
            c.send(get_request("GET", "/bytes?n=300000&mode=%s" % mode))
            r = c.read_response()
        assert r.status == 200, mode
        assert r.header("X-Body-Sha256") == digest
        assert r.body == want, mode
        if mode == "chunked":
            assert r.header("Transfer-Encoding") == "chunked"
        if mode == "close":
            assert r.header("Content-Length") is None
            assert r.has_token("Connection", "close")


def test_echo_length_chunked_and_expect(origin):
    body = pattern_bytes(100000, seed=3)[0]
    r = request(origin.port, "/echo", "POST", body)
    assert r.body == body and r.header("X-Body-Sha256") == sha256(body)
    assert r.header("X-Request-Framing") == "length"

    conn = http.client.HTTPConnection("127.0.0.1", origin.port, timeout=10)
    conn.request("POST", "/echo", body=(body[i:i + 7000] for i in range(0, len(body), 7000)),
                 headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.read() == body
    assert resp.getheader("X-Request-Framing") == "chunked"
    conn.close()

    with RawConn(origin.port) as c:
        c.send("POST /echo HTTP/1.1\r\nHost: o\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n")
        interim = c.read_head()
        assert interim.status == 100
        c.send("hello")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello"


def test_pipelining_keepalive_and_stats(origin):
    origin.reset_stats()
    with RawConn(origin.port) as c:
        c.send(get_request("GET", "/status/200") + get_request("HEAD", "/bytes?n=10")
               + get_request("GET", "/status/204") + get_request("POST", "/echo", body=b"xy")
               + get_request("GET", "/status/304") + get_request("GET", "/bytes?n=3"))
        got = [c.read_response(m) for m in ("GET", "HEAD", "GET", "POST", "GET", "GET")]
    assert [r.status for r in got] == [200, 200, 204, 200, 304, 200]
    assert got[1].header("Content-Length") == "10" and got[1].body == b""
    assert got[3].body == b"xy"
    assert got[5].body == pattern_bytes(3)[0]
    st = origin.stats()
    assert st["connections"] == 1 and st["requests"] == 6


def test_headers_endpoint_lists_in_order(origin):
    with RawConn(origin.port) as c:
        c.send("GET /headers?x=1 HTTP/1.1\r\nHost: h\r\nB: 2\r\nA: 1\r\nB: 3\r\n\r\n")
        doc = json.loads(c.read_response().body)
    assert doc["request_line"] == "GET /headers?x=1 HTTP/1.1"
    assert doc["headers"] == [["Host", "h"], ["B", "2"], ["A", "1"], ["B", "3"]]


def test_faults(origin):
    conn = http.client.HTTPConnection("127.0.0.1", origin.port, timeout=10)
    conn.request("GET", "/close-mid")
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()

    with RawConn(origin.port, timeout=0.5) as c:
        c.send(get_request("GET", "/silent"))
        closed, data = c.wait_closed(0.5)
        assert not closed and data == b""

    with RawConn(origin.port) as c:
        c.send("GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        closed, data = c.wait_closed(5)
        assert closed and data == b""


def test_slow_drip_and_health(origin):
    t0 = time.monotonic()
    assert request(origin.port, "/slow?ms=300").status == 200
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    r = request(origin.port, "/drip?n=4&ms=100")
    assert r.body == pattern_bytes(4)[0] and time.monotonic() - t0 >= 0.3
    origin.set_health(503)
    assert request(origin.port, "/healthz").status == 503
    origin.set_health(200)
    assert request(origin.port, "/healthz").status == 200
