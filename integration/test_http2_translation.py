"""HTTP/2 requests translated to and from HTTP/1.1 backends: pseudo-headers, cookies, Host and
:authority, hop-by-hop and connection-specific fields (malformed requests reset), and local
errors (404, 502/503, 504, 413) as proper HTTP/2 responses."""

import json
import os
import socket
import threading
import time

from conftest import LOOPBACK, dead_port
from h2_util import H2, MiB


class RawBackend:
    """A tiny HTTP/1.1 backend answering every request with a fixed response."""

    def __init__(self, response):
        self.response = response
        self.srv = socket.create_server((LOOPBACK, 0))
        self.port = self.srv.getsockname()[1]
        self.srv.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                s, _ = self.srv.accept()
            except socket.timeout:
                continue
            with s:
                s.settimeout(5)
                buf = b""
                try:
                    while b"\r\n\r\n" not in buf and len(buf) < 65536:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    s.sendall(self.response)
                except OSError:
                    pass
        self.srv.close()


def test_header_translation(origins, switchyard):
    (b1,) = origins(1)
    raw = RawBackend(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5"
                     b"\r\nX-Hop: secret\r\nProxy-Connection: keep-alive\r\nX-Mixed-Case: Yes\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n\r\n")
    cfg = switchyard.config([b1])
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/raw"}, "pool": "raw"})
    cfg["pools"].append({"name": "raw", "backends": [{"name": "raw", "address": "%s:%d" % (
        LOOPBACK, raw.port)}]})
    p = switchyard.start(cfg)
    c = H2(p.port, validate=False)
    try:
        status, hd, body = c.request("GET", "/headers", headers=[
            ("cookie", "a=1"), ("user-agent", "h2-test"), ("cookie", "b=2"), ("te", "trailers")])
        assert status == 200
        doc = json.loads(body)
        assert doc["version"] == "HTTP/1.1" and doc["target"] == "/headers"
        fields = doc["headers"]
        names = [k.lower() for k, _ in fields]
        assert not [n for n in names if n.startswith(":")], names
        assert names.count("host") == 1 and names.count("cookie") == 1, names
        got = {k.lower(): v for k, v in fields}
        assert got["host"] == "h2.test:%d" % p.port
        assert got["cookie"] == "a=1; b=2"
        assert got["x-forwarded-proto"] == "http" and got["user-agent"] == "h2-test"
        assert "te" not in got and "connection" not in got
        # Hop-by-hop response fields from the backend stay behind; names go out lowercase.
        status, hd, body = c.request("GET", "/raw")
        assert status == 200 and body == b"hello" and hd["x-mixed-case"] == "Yes"
        assert all(k == k.lower() for k in hd), hd
        for hop in ("connection", "keep-alive", "x-hop", "proxy-connection", "transfer-encoding"):
            assert hop not in hd, (hop, hd)
        # Connection-specific request fields make the request malformed (RFC 9113 §8.2.2).
        for bad in (("connection", "keep-alive"), ("te", "gzip"), ("keep-alive", "5"),
                    ("transfer-encoding", "chunked")):
            sid = c.start("GET", "/headers", headers=[bad])
            c.wait(c.finished(sid), what="the refusal of %s" % (bad,))
            assert c.streams[sid]["reset"] == 1, (bad, c.streams[sid])  # PROTOCOL_ERROR
        # :authority wins; a Host naming another authority is refused; without :authority
        # the Host header is the authority.
        assert c.request("GET", "/", headers=[("host", "other.test")])[0] == 400
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/headers"),
                                  ("host", "only-host.test")], end_stream=True)
        c.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        c.flush()
        c.wait(c.finished(sid), what="a request with Host and no :authority")
        got = {k.lower(): v for k, v in json.loads(bytes(c.streams[sid]["data"]))["headers"]}
        assert got["host"] == "only-host.test"
        # The connection survives those stream errors.
        assert c.request("GET", "/")[0] == 200
    finally:
        c.close()
        raw.stop = True
    assert b1.stats()["requests"] == 3  # the refused requests never reached the backend


def test_local_errors_are_proper_http2_responses(origins, switchyard):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["limits"] = {"max_body_bytes": "1MiB"}
    cfg["listeners"][0]["routes"] = [{"match": {"path_prefix": "/slow"}, "pool": "web"},
                                     {"match": {"path_prefix": "/echo"}, "pool": "web"},
                                     {"match": {"path_prefix": "/dead"}, "pool": "dead"}]
    cfg["pools"][0]["timeouts"] = {"upstream_response": "400ms"}
    cfg["pools"].append({"name": "dead", "backends": [
        {"name": "d1", "address": "%s:%d" % (LOOPBACK, dead_port())}]})
    p = switchyard.start(cfg)
    c = H2(p.port)
    try:
        for path, want in (("/nope", (404,)), ("/dead", (502, 503)), ("/slow?ms=3000", (504,))):
            status, hd, body = c.request("GET", path)
            assert status in want, (path, status, body)
            assert hd["content-length"] == str(len(body)) and body, (path, hd, body)
            assert hd["content-type"].startswith("text/plain")
        # A body over limits.max_body_bytes: 413, then the stream is reset (NO_ERROR).
        sid = c.start("POST", "/echo", end=False)
        c.send_body(sid, os.urandom(2 * MiB))
        c.wait(c.finished(sid), what="the 413")
        assert dict(c.streams[sid]["headers"])[":status"] == "413"
        assert c.request("GET", "/slow?ms=1")[0] == 200  # the connection goes on
    finally:
        c.close()
