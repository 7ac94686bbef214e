"""Failures: dead backends, timeouts, malformed or oversized requests, routing misses."""

import http.client
import time

import pytest

from conftest import RawConn, dead_port, get_request, request


def _error_response(port, raw, timeout=5, wait_close=True):
    """Send raw bytes and read one response; then (optionally) wait for the proxy to close.

    Returns (response, closed). The response is read before the proxy's close can turn into a
    reset, which could discard it.
    """
    with RawConn(port, timeout=timeout) as c:
        c.send(raw)
        r = c.read_response()
        closed = c.wait_closed(timeout)[0] if wait_close else None
    return r, closed


def test_all_backends_dead_is_502(switchyard):
    p = switchyard.start(switchyard.config([dead_port(), dead_port()]))
    t0 = time.monotonic()
    r = request(p.port, "/")
    assert r.status == 502
    assert r.body and len(r.body) < 1024
    assert time.monotonic() - t0 < 3


def test_one_of_three_dead_is_retried(origins, switchyard):
    b1, b3 = origins(2, names=["b1", "b3"])
    p = switchyard.start(switchyard.config([b1, ("b2", dead_port()), b3]))
    seen = []
    with RawConn(p.port) as c:
        for _ in range(15):
            c.send(get_request("GET", "/"))
            r = c.read_response()
            assert r.status == 200, r
            seen.append(r.header("X-Backend"))
    for _ in range(15):
        r = request(p.port, "/")
        assert r.status == 200, r
        seen.append(r.header("X-Backend"))
    assert set(seen) == {"b1", "b3"}


def test_silent_backend_is_504_after_upstream_response_timeout(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    t0 = time.monotonic()
    r = request(p.port, "/silent", timeout=15)
    elapsed = time.monotonic() - t0
    assert r.status == 504
    assert r.body
    assert 1.5 <= elapsed <= 5.0, elapsed


def test_malformed_header_line_is_400_and_closed(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    r, closed = _error_response(p.port, "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    assert r.status == 400
    assert closed


def test_content_length_with_transfer_encoding_is_400(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    r, closed = _error_response(
        p.port, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert r.status == 400
    assert closed


def test_huge_header_is_431(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    raw = get_request("GET", "/", headers=[("X-Big", "a" * (40 * 1024))])
    r, _ = _error_response(p.port, raw, wait_close=False)
    assert r.status == 431


def test_too_many_headers_is_431(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    raw = get_request("GET", "/", headers=[("X-H%d" % i, "v") for i in range(150)])
    r, _ = _error_response(p.port, raw, wait_close=False)
    assert r.status == 431


def test_body_over_limit_is_413(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    raw = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (30 * 1024 * 1024)
    r, _ = _error_response(p.port, raw, wait_close=False)
    assert r.status == 413


def test_missing_host_is_400(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    r, _ = _error_response(p.port, "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n",
                           wait_close=False)
    assert r.status == 400


def test_no_matching_route_is_404(origins, switchyard):
    b1 = origins(1)[0]
    cfg = switchyard.config([b1])
    cfg["listeners"][0]["routes"] = [{"match": {"host": "only.example"}, "pool": "web"}]
    p = switchyard.start(cfg)
    r = request(p.port, "/", headers={"Host": "other.example"})
    assert r.status == 404
    r = request(p.port, "/", headers={"Host": "only.example"})
    assert r.status == 200 and r.header("X-Backend") == "b1"


def test_upstream_closes_mid_body(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        conn.request("GET", "/close-mid")
        resp = conn.getresponse()
        if resp.status == 200:
            # The head was already relayed: the client must see a truncated body, never a
            # "complete" one.
            with pytest.raises(http.client.IncompleteRead):
                resp.read()
        else:
            assert resp.status == 502
    finally:
        conn.close()


def test_slow_client_header_is_cut_off(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    with RawConn(p.port) as c:
        c.send("GET / HTTP/1.1\r\nHost: a\r\n")
        t0 = time.monotonic()
        closed, data = c.wait_closed(8)
        elapsed = time.monotonic() - t0
    assert closed, "proxy kept a half-sent request head open for 8s"
    assert 1.5 <= elapsed <= 5.0, elapsed
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:100]
