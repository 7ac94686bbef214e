"""Hostile and malformed requests (RFC 9112 §6.3, §11.2): each raw request below gets the
expected status, the connection is closed after a refusal, and no complete request reaches a
backend (for refusals found in the head, no connection at all is made to it)."""

import pytest

from conftest import RawConn

H = "Host: t.local\r\n"
BIG = "X-Big: " + "a" * 40000 + "\r\n"
MANY = "".join("X-H%d: v\r\n" % i for i in range(120))

# (id, raw request, expected status, refused in the head: no backend connection at all)
CASES = [
    # framing: Content-Length / Transfer-Encoding ambiguity
    ("cl-and-te", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("te-and-cl", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, True),
    ("two-cl-differ", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, True),
    ("two-cl-same", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, True),
    ("cl-list", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello", 400, True),
    ("cl-letters", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5a\r\n\r\nhello", 400, True),
    ("cl-negative", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n", 400, True),
    ("cl-plus", "POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello", 400, True),
    ("cl-hex", "POST / HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\nhello", 400, True),
    ("cl-huge", "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999999\r\n\r\n", 400, True),
    ("te-chunked-identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, True),
    ("te-identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\n", 400, True),
    ("te-xchunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400, True),
    ("te-chunkedx", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", 400, True),
    ("te-vtab", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", 400, True),
    ("te-twice", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("te-http10", "POST / HTTP/1.0\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("te-space-before-colon", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, True),
    # chunked body errors (found after the head was forwarded: the backend never gets a
    # complete request and its connection is closed)
    ("chunk-size-letters", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, False),
    ("chunk-size-overflow", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, False),
    ("chunk-size-negative", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400, False),
    ("chunk-bad-extension", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5;a\x01b\r\nhello\r\n0\r\n\r\n", 400, False),
    ("chunk-data-too-long", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, False),
    ("chunk-bare-lf", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 400, False),
    # line endings and header syntax
    ("bare-lf", "GET / HTTP/1.1\nHost: t.local\n\n", 400, True),
    ("bare-lf-in-header", "GET / HTTP/1.1\r\nHost: t.local\nX-A: b\r\n\r\n", 400, True),
    ("bare-cr", "GET / HTTP/1.1\rHost: t.local\r\n\r\n", 400, True),
    ("bare-cr-in-value", "GET / HTTP/1.1\r\n" + H + "X-A: b\rc\r\n\r\n", 400, True),
    ("space-before-colon", "GET / HTTP/1.1\r\nHost : t.local\r\n\r\n", 400, True),
    ("tab-before-colon", "GET / HTTP/1.1\r\n" + H + "X-A\t: b\r\n\r\n", 400, True),
    ("obs-fold", "GET / HTTP/1.1\r\n" + H + "X-A: one\r\n two\r\n\r\n", 400, True),
    ("obs-fold-tab", "GET / HTTP/1.1\r\n" + H + "X-A: one\r\n\ttwo\r\n\r\n", 400, True),
    ("nul-in-value", "GET / HTTP/1.1\r\n" + H + "X-A: b\x00c\r\n\r\n", 400, True),
    ("ctl-in-value", "GET / HTTP/1.1\r\n" + H + "X-A: b\x01c\r\n\r\n", 400, True),
    ("ctl-in-name", "GET / HTTP/1.1\r\n" + H + "X\x01A: b\r\n\r\n", 400, True),
    ("paren-in-name", "GET / HTTP/1.1\r\n" + H + "X(A): b\r\n\r\n", 400, True),
    ("empty-name", "GET / HTTP/1.1\r\n" + H + ": b\r\n\r\n", 400, True),
    ("no-colon", "GET / HTTP/1.1\r\n" + H + "Bad Header\r\n\r\n", 400, True),
    # request line
    ("bad-method", "G@T / HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("lowercase-method", "get / HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("relative-target", "GET foo HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("space-in-target", "GET /a b HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("double-space", "GET  / HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("leading-space", " GET / HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("version-letters", "GET / HTTP/1.x\r\n" + H + "\r\n", 400, True),
    ("version-no-dot", "GET / HTTP/11\r\n" + H + "\r\n", 400, True),
    ("version-lowercase", "GET / http/1.1\r\n" + H + "\r\n", 400, True),
    ("no-version", "GET /\r\n" + H + "\r\n", 400, True),
    ("empty-authority", "GET http:/// HTTP/1.1\r\n" + H + "\r\n", 400, True),
    ("connect", "CONNECT t.local:443 HTTP/1.1\r\n" + H + "\r\n", 405, True),
    # Host
    ("missing-host", "GET / HTTP/1.1\r\n\r\n", 400, True),
    ("duplicate-host", "GET / HTTP/1.1\r\n" + H + H + "\r\n", 400, True),
    ("host-with-space", "GET / HTTP/1.1\r\nHost: t local\r\n\r\n", 400, True),
    ("host-with-at", "GET / HTTP/1.1\r\nHost: user@t.local\r\n\r\n", 400, True),
    ("host-with-slash", "GET / HTTP/1.1\r\nHost: t.local/x\r\n\r\n", 400, True),
    # limits and expectations
    ("header-too-large", "GET / HTTP/1.1\r\n" + H + BIG + "\r\n", 431, True),
    ("too-many-headers", "GET / HTTP/1.1\r\n" + H + MANY + "\r\n", 431, True),
    ("body-over-limit", "POST / HTTP/1.1\r\n" + H + "Content-Length: 999999999\r\n\r\n", 413, True),
    ("unknown-expect", "POST / HTTP/1.1\r\n" + H + "Expect: teapot\r\nContent-Length: 1\r\n\r\nx", 417, True),
]

ACCEPTED = [
    ("plain-get", "GET / HTTP/1.1\r\n" + H + "\r\n"),
    ("te-uppercase", "POST /echo HTTP/1.1\r\n" + H + "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("cl-with-ows", "POST /echo HTTP/1.1\r\n" + H + "Content-Length:   5  \r\n\r\nhello"),
    ("http10-no-host", "GET / HTTP/1.0\r\n\r\n"),
    ("absolute-form", "GET http://t.local/ HTTP/1.1\r\n" + H + "\r\n"),
    ("chunk-extension", "POST /echo HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n"),
]


@pytest.fixture
def proxy_and_origin(origins, switchyard):
    (o,) = origins(1)
    cfg = switchyard.config([o], limits={"max_body_bytes": "1MiB"})
    return switchyard.start(cfg), o


def test_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name,raw,status,in_head", CASES, ids=[c[0] for c in CASES])
def test_refused(proxy_and_origin, name, raw, status, in_head):
    p, o = proxy_and_origin
    o.reset_stats()
    with RawConn(p.port, timeout=5) as c:
        c.send(raw.encode("latin-1"))
        r = c.read_response()
        closed, _ = c.wait_closed(5)
    assert r.status == status, (name, r)
    assert r.has_token("Connection", "close"), (name, r)
    assert closed, name
    st = o.stats()
    assert st["requests"] == 0, (name, st)
    if in_head:
        assert st["connections"] == 0, (name, st)


@pytest.mark.parametrize("name,raw", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted(proxy_and_origin, name, raw):
    p, o = proxy_and_origin
    with RawConn(p.port, timeout=5) as c:
        c.send(raw.encode("latin-1"))
        r = c.read_response()
    assert r.status == 200, (name, r)
