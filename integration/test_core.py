"""Core proxying: balancing, bodies both ways, keep-alive, pipelining, headers, framing."""

import http.client
import json
import subprocess
import time
from collections import Counter


from conftest import RawConn, get_request, pattern_bytes, request, sha256

MiB = 1024 * 1024


# ---- balancing ---------------------------------------------------------------------------------


def test_round_robin_rotates_over_three_backends(origins, switchyard):
    bes = origins(3)
    p = switchyard.start(switchyard.config(bes))
    names = [b.name for b in bes]
    seen = []
    with RawConn(p.port) as c:
        for _ in range(30):
            c.send(get_request("GET", "/"))
            r = c.read_response()
            assert r.status == 200
            name = r.header("X-Backend")
            assert r.body == ("hello from %s\n" % name).encode()
            seen.append(name)
    assert Counter(seen) == {n: 10 for n in names}
    for i in range(len(seen) - 2):
        assert len(set(seen[i:i + 3])) == 3, "not a rotation: %s" % seen


def test_round_robin_over_fresh_connections(origins, switchyard):
    bes = origins(3)
    p = switchyard.start(switchyard.config(bes))
    seen = Counter(request(p.port, "/").header("X-Backend") for _ in range(30))
    assert set(seen) == {b.name for b in bes}
    # Cursors are per worker (2 workers), so fresh connections may be off by one per worker.
    assert all(8 <= n <= 12 for n in seen.values()), seen


def test_weighted_round_robin(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([("b1", b1.port, 1), ("b2", b2.port, 2)])
    p = switchyard.start(cfg)
    seen = []
    with RawConn(p.port) as c:
        for _ in range(30):
            c.send(get_request("GET", "/"))
            r = c.read_response()
            assert r.status == 200
            seen.append(r.header("X-Backend"))
    assert Counter(seen) == {"b1": 10, "b2": 20}


# ---- bodies ------------------------------------------------------------------------------------


def test_post_10mib_echo_is_byte_exact(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(2)))
    body, digest = pattern_bytes(10 * MiB, seed=11)
    r = request(p.port, "/echo", "POST", body, timeout=30)
    assert r.status == 200
    assert r.header("X-Body-Length") == str(10 * MiB)
    assert r.header("X-Body-Sha256") == digest, "origin received different bytes"
    assert len(r.body) == 10 * MiB and sha256(r.body) == digest


def test_get_10mib_is_byte_exact(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(2)))
    r = request(p.port, "/bytes?n=%d" % (10 * MiB), timeout=30)
    assert r.status == 200
    assert len(r.body) == 10 * MiB
    assert sha256(r.body) == r.header("X-Body-Sha256") == pattern_bytes(10 * MiB)[1]


def test_chunked_request_body_http_client(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    body, digest = pattern_bytes(3 * MiB + 17, seed=5)
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
    try:
        pieces = (body[i:i + 50000] for i in range(0, len(body), 50000))
        conn.request("POST", "/echo", body=pieces, headers={"Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        resp = conn.getresponse()
        got = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("X-Body-Sha256") == digest
    assert sha256(got) == digest


def test_chunked_request_body_raw_odd_chunks(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    body, digest = pattern_bytes(70000, seed=9)
    sizes, parts, pos = [1, 2, 3, 4095, 4097, 30000], [], 0
    while pos < len(body):
        for s in sizes:
            chunk = body[pos:pos + s]
            if not chunk:
                break
            parts.append(b"%x;ext=1\r\n" % len(chunk) + chunk + b"\r\n")
            pos += len(chunk)
    msg = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"".join(parts) + b"0\r\n\r\n")
    with RawConn(p.port) as c:
        c.send(msg)
        r = c.read_response()
        assert r.status == 200
        assert r.header("X-Body-Sha256") == digest and r.body == body
        c.send(get_request("GET", "/status/200"))  # still in sync after the chunked body
        assert c.read_response().status == 200


def test_chunked_response(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(2)))
    n = 2 * MiB + 3
    r = request(p.port, "/bytes?n=%d&mode=chunked&seed=4" % n)
    assert r.status == 200
    assert sha256(r.body) == pattern_bytes(n, 4)[1] == r.header("X-Body-Sha256")


def test_read_until_close_response(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(2)))
    n = MiB + 5
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/bytes?n=%d&mode=close&seed=2" % n))
        r = c.read_response()
    assert r.status == 200
    assert len(r.body) == n and sha256(r.body) == pattern_bytes(n, 2)[1]


# ---- keep-alive and pipelining -------------------------------------------------------------------


def test_keepalive_one_client_connection(origins, switchyard):
    bes = origins(2)
    p = switchyard.start(switchyard.config(bes))
    for b in bes:
        b.reset_stats()
    with RawConn(p.port) as c:
        for i in range(200):
            c.send(get_request("GET", "/?i=%d" % i))
            r = c.read_response()
            assert r.status == 200, r
            assert not r.has_token("Connection", "close")
    stats = [b.stats() for b in bes]
    assert sum(s["requests"] for s in stats) == 200
    assert sum(s["connections"] for s in stats) < 20, stats


def test_keepalive_upstream_with_fresh_client_connections(origins, switchyard):
    bes = origins(2)
    p = switchyard.start(switchyard.config(bes))
    for b in bes:
        b.reset_stats()
    for i in range(200):
        with RawConn(p.port) as c:
            c.send(get_request("GET", "/?i=%d" % i))
            assert c.read_response().status == 200
    stats = [b.stats() for b in bes]
    assert sum(s["requests"] for s in stats) == 200
    assert sum(s["connections"] for s in stats) < 20, stats


def test_pipelined_requests_answered_in_order(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(3)))
    reqs = [get_request("GET", "/status/200"),
            get_request("GET", "/bytes?n=10"),
            get_request("POST", "/echo", body=b"pipelined body"),
            get_request("GET", "/status/201"),
            get_request("GET", "/bytes?n=7&mode=chunked")]
    with RawConn(p.port) as c:
        c.send(b"".join(reqs))
        got = [c.read_response() for _ in reqs]
        c.send(get_request("GET", "/status/202"))
        last = c.read_response()
    assert [r.status for r in got] == [200, 200, 200, 201, 200]
    assert got[0].body == b"status 200\n"
    assert got[1].body == pattern_bytes(10)[0]
    assert got[2].body == b"pipelined body"
    assert got[3].body == b"status 201\n"
    assert got[4].body == pattern_bytes(7)[0]
    assert last.status == 202


# ---- routing ---------------------------------------------------------------------------------------


def test_routes_by_host_and_path_and_rewrite_prefix(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1])
    cfg["pools"].append({"name": "other", "backends": [{"name": b2.name, "address": b2.address}]})
    cfg["listeners"][0]["routes"] = [
        {"match": {"host": "api.test"}, "pool": "other"},
        {"match": {"path_prefix": "/svc"}, "pool": "other", "rewrite_prefix": "/"},
        {"match": {"path_prefix": "/old/"}, "pool": "web", "rewrite_prefix": "/"},
        {"match": {"path_prefix": "/"}, "pool": "web"},
    ]
    p = switchyard.start(cfg)

    def ask(path, host="test.local"):
        with RawConn(p.port) as c:
            c.send(get_request("GET", path, host=host, headers=[("X-Forwarded-Prefix", "/x")]))
            r = c.read_response()
            assert r.status == 200, r
            doc = json.loads(r.body)
            return r.header("X-Backend"), doc["request_line"], dict(
                (k.lower(), v) for k, v in doc["headers"])

    backend, line, headers = ask("/headers", host="api.test")
    assert (backend, line) == ("b2", "GET /headers HTTP/1.1")
    assert headers["x-forwarded-prefix"] == "/x"  # no rewrite: passed through untouched
    backend, line, headers = ask("/svc/headers?a=1")
    assert (backend, line) == ("b2", "GET /headers?a=1 HTTP/1.1")
    assert headers["x-forwarded-prefix"] == "/svc"  # the client's value is replaced
    backend, line, _ = ask("/old/headers")
    assert (backend, line) == ("b1", "GET /headers HTTP/1.1")
    backend, line, _ = ask("/headers")
    assert (backend, line) == ("b1", "GET /headers HTTP/1.1")


def test_route_header_rules(origins, switchyard):
    b1, = origins(1)
    cfg = switchyard.config([b1])
    cfg["listeners"][0]["routes"] = [
        {"match": {"path_prefix": "/headers"}, "pool": "web",
         "request_headers": {"set": {"Host": "api.internal", "X-Env": "prod"},
                             "remove": ["Cookie", "Via"]},
         "response_headers": {"set": {"Strict-Transport-Security": "max-age=31536000"},
                              "remove": ["X-Backend", "Via", "X-Request-Id"]}},
        {"match": {"path_prefix": "/"}, "pool": "web"},
    ]
    p = switchyard.start(cfg)
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/headers", headers=[("Cookie", "s=1"), ("X-Env", "dev")]))
        r = c.read_response()
        assert r.status == 200
        seen = json.loads(r.body)["headers"]
        names = [k.lower() for k, _ in seen]
        values = dict((k.lower(), v) for k, v in seen)
        assert values["host"] == "api.internal" and names.count("host") == 1
        assert values["x-env"] == "prod" and names.count("x-env") == 1
        assert "cookie" not in names and "via" not in names
        assert values["x-forwarded-for"] == "127.0.0.1"  # untouched proxy headers stay
        assert r.header("Strict-Transport-Security") == "max-age=31536000"
        assert r.header("X-Backend") is None and r.header("Via") is None
        assert r.header("X-Request-Id") is None
        # Another route on the same connection: no rules.
        c.send(get_request("GET", "/"))
        r = c.read_response()
        assert r.header("X-Backend") == "b1" and r.header("Via") == "1.1 switchyard"
        assert r.header("Strict-Transport-Security") is None


# ---- forwarding headers ----------------------------------------------------------------------------


def _forwarded(port, extra_headers, host="shop.example"):
    with RawConn(port) as c:
        c.send(get_request("GET", "/headers", host=host, headers=extra_headers))
        r = c.read_response()
    assert r.status == 200, r
    doc = json.loads(r.body)
    return r, doc, [(k.lower(), v) for k, v in doc["headers"]]


def _values(hdrs, name):
    return [v for k, v in hdrs if k == name]


def test_forwarding_headers_added(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    r, doc, hdrs = _forwarded(p.port, [("X-Forwarded-For", "203.0.113.9"),
                                       ("X-Custom", "kept")])
    xff = [t.strip() for v in _values(hdrs, "x-forwarded-for") for t in v.split(",")]
    assert xff == ["203.0.113.9", "127.0.0.1"]
    assert _values(hdrs, "x-forwarded-proto") == ["http"]
    assert _values(hdrs, "x-forwarded-host") == ["shop.example"]
    via = ", ".join(_values(hdrs, "via"))
    assert "switchyard" in via and "1.1" in via
    assert _values(hdrs, "x-custom") == ["kept"]
    assert doc["method"] == "GET" and doc["target"] == "/headers"
    assert "switchyard" in ", ".join(r.header_all("Via"))
    assert r.header("X-Backend") == "b1"


def test_forwarded_for_without_incoming_header(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    _, _, hdrs = _forwarded(p.port, [])
    assert _values(hdrs, "x-forwarded-for") == ["127.0.0.1"]


def test_hop_by_hop_headers_not_forwarded(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    _, _, hdrs = _forwarded(p.port, [
        ("Connection", "foo, keep-alive"),
        ("Foo", "bar"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Trailer"),
        ("Proxy-Connection", "keep-alive"),
        ("Upgrade", "example/1"),
        ("X-End-To-End", "yes"),
    ])
    names = {k for k, _ in hdrs}
    for hop in ("foo", "keep-alive", "te", "trailer", "proxy-connection", "upgrade"):
        assert hop not in names, "%s was forwarded: %s" % (hop, hdrs)
    for v in _values(hdrs, "connection"):
        assert "foo" not in v.lower()
    assert _values(hdrs, "x-end-to-end") == ["yes"]


# ---- framing without bodies -----------------------------------------------------------------------


def test_head_204_304_framed_and_connection_reusable(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(2)))
    with RawConn(p.port) as c:
        c.send(get_request("HEAD", "/bytes?n=100"))
        r = c.read_response("HEAD")
        assert r.status == 200 and r.body == b""
        cl = r.header("Content-Length")
        assert cl in (None, "100")
        for path, status in (("/status/200", 200), ("/status/204", 204),
                             ("/status/304", 304), ("/", 200)):
            c.send(get_request("GET", path))
            r = c.read_response()
            assert r.status == status, (path, r)
            if status in (204, 304):
                assert r.body == b""
                assert r.header("Transfer-Encoding") is None
            c.send(get_request("HEAD", "/status/200"))
            r = c.read_response("HEAD")
            assert r.status == 200 and r.body == b""
        c.send(get_request("GET", "/bytes?n=5"))
        r = c.read_response()
        assert r.status == 200 and r.body == pattern_bytes(5)[0]
        # Nothing stray is left on the wire after all of that.
        closed, extra = c.wait_closed(0.2)
        assert not closed and extra == b""


def test_expect_100_continue_raw(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    with RawConn(p.port, timeout=5) as c:
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
               "Expect: 100-continue\r\n\r\n")
        interim = c.read_head()
        assert interim.status == 100
        c.send("hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world"


def test_expect_100_continue_curl(origins, switchyard, tmp_path):
    p = switchyard.start(switchyard.config(origins(2)))
    body, digest = pattern_bytes(2 * MiB, seed=8)
    src = tmp_path / "body.bin"
    src.write_bytes(body)
    out, hdrs = tmp_path / "out.bin", tmp_path / "headers.txt"
    t0 = time.monotonic()
    res = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--expect100-timeout", "5",
         "-H", "Expect: 100-continue", "--data-binary", "@%s" % src,
         "-o", str(out), "-D", str(hdrs), "http://127.0.0.1:%d/echo" % p.port],
        capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    head = hdrs.read_text()
    assert " 100" in head.split("\r\n")[0], head
    assert elapsed < 4, "curl waited for its expect100 timeout: %.1fs" % elapsed
    assert "x-body-sha256: %s" % digest in head.lower()
    assert sha256(out.read_bytes()) == digest
