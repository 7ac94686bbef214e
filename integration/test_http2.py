"""HTTP/2 for clients: h2c prior knowledge and ALPN h2 on TLS listeners, the loader's checks of
listeners[].protocols, many streams (h2load), request and response bodies, flow-control
backpressure, header translation to and from HTTP/1.1 backends, local errors, GOAWAY on
SIGTERM and on idle, the access log and the switchyard_http2_* metrics.

Clients: curl (--http2, --http2-prior-knowledge), h2load (nghttp2-client) and Debian's
python3-h2 over raw sockets (H2 below).
"""

import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

h2_connection = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

from conftest import (LOOPBACK, RawConn, dead_port, free_port, pattern_bytes,  # noqa: E402
                      wait_until)
from obs_util import scrape, scrape_until  # noqa: E402
from test_tls import tls_listener, tls_pki  # noqa: E402,F401 (tls_pki: a fixture)

MiB = 1 << 20


def h2c_proxy(switchyard, backends, protocols=("h1", "h2c"), listener_extra=None, **sections):
    cfg = switchyard.config(backends, **sections)
    if protocols is not None:
        cfg["listeners"][0]["protocols"] = list(protocols)
    cfg["listeners"][0].update(listener_extra or {})
    return switchyard.start(cfg)


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True, timeout=timeout)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class H2:
    """A python3-h2 client on a raw socket. Responses are collected per stream in
    self.streams[id] = {"headers", "data", "ended", "reset"}; ack=False never gives flow-control
    window back (no WINDOW_UPDATE)."""

    def __init__(self, port, ack=True, validate=True, timeout=10.0):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.conn = h2_connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=validate,
            normalize_outbound_headers=validate))
        self.conn.initiate_connection()
        self.ack = ack
        self.streams = {}
        self.terminated = None  # the ConnectionTerminated event (GOAWAY)
        self.closed = False     # the proxy closed the TCP connection
        self.goaways = []       # (last_stream_id, error_code) of each GOAWAY received
        self.buf = b""
        self.port = port
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def start(self, method, path, headers=(), end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"),
                (":authority", "h2.test:%d" % self.port), (":path", path), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=end)
        self.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        self.flush()
        return sid

    def send_body(self, sid, body, timeout=20.0):
        """DATA frames as the flow-control windows allow, then END_STREAM."""
        view, off = memoryview(body), 0
        deadline = time.monotonic() + timeout
        while off < len(body):
            if self.streams[sid]["reset"] is not None:
                return  # refused (413...): the rest of the body is not wanted
            n = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(body) - off)
            if n > 0:
                self.conn.send_data(sid, view[off:off + n].tobytes())
                off += n
                self.flush()
            else:
                assert time.monotonic() < deadline, "request body stuck at %d bytes" % off
                self.pump(0.2)
        self.conn.end_stream(sid)
        self.flush()

    def pump(self, wait):
        """One read (up to `wait` seconds) and its frames. python3-h2 refuses every frame after
        a GOAWAY, so those (the answers of streams the GOAWAY lets finish) are decoded here."""
        if self.closed:
            return
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return
        self.buf += data
        while len(self.buf) >= 9 and len(self.buf) >= 9 + int.from_bytes(self.buf[:3], "big"):
            n = 9 + int.from_bytes(self.buf[:3], "big")
            frame, self.buf = self.buf[:n], self.buf[n:]
            if self.terminated is None:
                for ev in self.conn.receive_data(frame):
                    self._event(ev)
                self.flush()
            else:
                self._frame_after_goaway(frame)

    def _event(self, ev):
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            s["headers"] = ev.headers
        elif isinstance(ev, h2.events.DataReceived):
            s["data"] += ev.data
            if self.ack and ev.flow_controlled_length:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            s["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            s["reset"] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev
            self.goaways.append((ev.last_stream_id, ev.error_code))

    def _frame_after_goaway(self, frame):
        typ, flags = frame[3], frame[4]
        s = self.streams.get(int.from_bytes(frame[5:9], "big") & 0x7fffffff)
        payload = frame[9:]
        if typ in (0, 1) and flags & 0x8:  # PADDED
            payload = payload[1:len(payload) - payload[0]]
        if typ == 1:  # HEADERS (END_HEADERS assumed: the proxy's heads are small)
            fields = self.conn.decoder.decode(payload[5:] if flags & 0x20 else payload)
            if s["headers"] is None:
                s["headers"] = fields
        elif typ == 0:
            s["data"] += payload
        elif typ == 3:
            s["reset"] = int.from_bytes(payload[:4], "big")
        elif typ == 7:
            self.goaways.append((int.from_bytes(payload[:4], "big") & 0x7fffffff,
                                 int.from_bytes(payload[4:8], "big")))
        if typ in (0, 1) and flags & 0x1:
            s["ended"] = True

    def wait(self, cond, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while not cond():
            if self.closed or time.monotonic() >= deadline:
                pytest.fail("%s: %s (terminated=%s streams=%s)" % (
                    "connection closed" if self.closed else "timed out", what, self.terminated,
                    {k: (v["headers"], len(v["data"]), v["ended"], v["reset"])
                     for k, v in self.streams.items()}))
            self.pump(0.1)

    def finished(self, sid):
        return lambda: self.streams[sid]["ended"] or self.streams[sid]["reset"] is not None

    def request(self, method, path, headers=(), body=None, timeout=10.0):
        """-> (status, headers dict, body); fails on a reset."""
        sid = self.start(method, path, headers, end=body is None)
        if body is not None:
            self.send_body(sid, body)
        self.wait(self.finished(sid), timeout, "stream %d %s" % (sid, path))
        s = self.streams[sid]
        assert s["reset"] is None, "stream %d reset with %s" % (sid, s["reset"])
        hd = dict(s["headers"])
        return int(hd[":status"]), hd, bytes(s["data"])


# ---------------------------------------------------------------------------------------------
# protocol selection and the loader


def test_h2c_prior_knowledge_and_http1_on_the_same_port(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    out = curl("--http2-prior-knowledge", "-D", "-", "-w", "\n%{http_version}",
               "http://%s:%d/" % (LOOPBACK, p.port))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("HTTP/2 200") and "x-backend: b1\r\n" in text
    assert text.endswith("hello from b1\n\n2")
    with RawConn(p.port) as r:
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = r.read_response()
    assert resp.status == 200 and resp.header("x-backend") == "b1"
    c = H2(p.port)  # the listener's SETTINGS: the documented defaults
    try:
        assert c.request("GET", "/")[0] == 200
        rs = c.conn.remote_settings
        assert rs.max_concurrent_streams == 100 and rs.initial_window_size == 256 * 1024
        assert rs.enable_push == 0
    finally:
        c.close()


def test_http2_settings_from_config(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], listener_extra={"http2": {
        "max_concurrent_streams": 7, "initial_window_size": "64KiB",
        "max_header_list_bytes": "4KiB"}})
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        rs = c.conn.remote_settings
        assert (rs.max_concurrent_streams, rs.initial_window_size, rs.max_header_list_size) == \
            (7, 64 * 1024, 4096)
        # A head over max_header_list_bytes is refused; the connection goes on.
        sid = c.start("GET", "/headers", headers=[("x-big", "v" * 5000)])
        c.wait(c.finished(sid), what="the refusal of a 5000-byte field")
        s = c.streams[sid]
        assert s["reset"] is not None or dict(s["headers"])[":status"] == "431", s
        assert c.request("GET", "/")[0] == 200
    finally:
        c.close()


def test_prior_knowledge_on_a_default_cleartext_listener_fails(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], protocols=None)
    with RawConn(p.port) as r:  # the preface is parsed as HTTP/1.1: PRI * HTTP/2.0
        r.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        resp = r.read_response()
    assert resp.status == 400
    out = curl("--http2-prior-knowledge", "http://%s:%d/" % (LOOPBACK, p.port))
    # curl reads that HTTP/1.1 answer where it expects SETTINGS: it sends GOAWAY and reports
    # "(52) Empty reply from server" (7.88; other versions say HTTP/2 framing error, 16).
    assert out.returncode in (16, 52), (out.returncode, out.stderr)
    assert out.stdout == b""


def test_tls_alpn_h2_by_default_and_h1_only(origins, switchyard, tls_pki):
    (b1,) = origins(1)
    versions = []
    for protocols in (None, ["h1"]):
        cfg = switchyard.config([b1])
        port = free_port()
        cfg["listeners"] = [tls_listener(tls_pki, port)]
        if protocols:
            cfg["listeners"][0]["protocols"] = protocols
        switchyard.start(cfg, port=port)
        out = curl("--http2", "--cacert", tls_pki / "ca.crt", "--resolve",
                   "site.test:%d:%s" % (port, LOOPBACK), "-w", "\n%{http_version}",
                   "https://site.test:%d/headers" % port)
        assert out.returncode == 0, out.stderr
        body, version = out.stdout.decode().rsplit("\n", 1)
        versions.append(version)
        fields = {k.lower(): v for k, v in json.loads(body)["headers"]}
        assert fields["x-forwarded-proto"] == "https" and fields["host"] == "site.test:%d" % port
    assert versions == ["2", "1.1"]


def test_loader_refuses_h2_on_cleartext_and_unknown_protocols(switchyard, tmp_path):
    def check(protocols):
        cfg = switchyard.config([("b1", 1)])
        cfg["listeners"][0]["protocols"] = protocols
        path = switchyard.write(cfg, "%s.yaml" % "-".join(protocols))
        return switchyard.run_cli("--check", "-c", path)

    good = check(["h1", "h2c"])
    assert good.returncode == 0, good.stderr
    h2 = check(["h2"])
    assert h2.returncode == 1 and "h2c" in h2.stderr and "protocols" in h2.stderr, h2.stderr
    bad = check(["h1", "spdy3"])
    assert bad.returncode == 1 and "unknown protocol 'spdy3'" in bad.stderr, bad.stderr


# ---------------------------------------------------------------------------------------------
# traffic


def test_h2load_many_streams(origins, switchyard):
    b1, b2 = origins(2)
    p = h2c_proxy(switchyard, [b1, b2])
    out = subprocess.run(["h2load", "-n", "2000", "-c", "2", "-m", "50",
                          "http://%s:%d/" % (LOOPBACK, p.port)], capture_output=True, timeout=60)
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()
    assert "2000 succeeded, 0 failed, 0 errored" in text, text
    assert "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx" in text, text
    assert "Application protocol: h2c" in text, text
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total", listener="public",
                                                   code_class="2xx") >= 2000,
                     what="2000 requests counted")
    assert m.sum("switchyard_http2_streams_total", listener="public") >= 2000


def test_request_bodies_with_and_without_content_length(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    body = os.urandom(5 * MiB + 123)
    want = hashlib.sha256(body).hexdigest()
    c = H2(p.port)
    try:
        for length, framing in ((True, "length"), (False, "chunked")):
            hdrs = [("content-length", str(len(body)))] if length else []
            status, hd, echoed = c.request("POST", "/echo", headers=hdrs, body=body, timeout=30)
            assert status == 200 and hd["x-request-framing"] == framing
            assert hd["x-body-sha256"] == want and hd["x-body-length"] == str(len(body))
            assert hashlib.sha256(echoed).hexdigest() == want
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_large_response(origins, switchyard, mode):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    n = 20 * MiB
    c = H2(p.port)
    try:
        status, hd, data = c.request("GET", "/bytes?n=%d&mode=%s" % (n, mode), timeout=30)
    finally:
        c.close()
    digest = hashlib.sha256(data).hexdigest()
    assert status == 200 and len(data) == n and digest == pattern_bytes(n)[1]
    assert hd["x-body-sha256"] == digest
    assert hd.get("content-length") == (str(n) if mode == "length" else None)
    assert "transfer-encoding" not in hd


def test_response_tail_reaches_a_client_that_sends_nothing(origins, switchyard):
    """curl --http2 opens a 32 MiB window up front and sends no WINDOW_UPDATE for a while: the
    proxy must send the whole answer without waiting for another frame from the client."""
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    for i in range(30):  # the stall depends on timing: seen in 20-70% of answers
        n = MiB + 123 + 4099 * i
        c = H2(p.port, ack=False)
        try:
            c.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 32 * MiB})
            c.conn.increment_flow_control_window(64 * MiB)
            c.flush()
            sid = c.start("GET", "/bytes?n=%d" % n)
            c.wait(c.finished(sid), 2, "all %d bytes (a stall)" % n)
            assert bytes(c.streams[sid]["data"]) == pattern_bytes(n)[0]
        finally:
            c.close()


def test_backpressure_on_a_reader_that_gives_no_window(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], workers=1)
    base = rss_kib(p.proc.pid)
    c = H2(p.port, ack=False)
    try:
        sid = c.start("GET", "/bytes?n=%d" % (64 * MiB))
        c.wait(lambda: len(c.streams[sid]["data"]) >= 60000, what="the first window of data")
        # Wait until the proxy stops growing: RSS unchanged (+-256 KiB) over 1 s.
        samples = []

        def settled():
            c.pump(0.05)
            samples.append((time.monotonic(), rss_kib(p.proc.pid)))
            recent = [r for t, r in samples if t >= samples[-1][0] - 1.0]
            return samples[-1][0] - samples[0][0] >= 1.0 and max(recent) - min(recent) < 256
        wait_until(settled, 15, interval=0.05, what="the proxy's RSS to settle")
        grown = max(r for _, r in samples) - base
        assert grown < 32 * 1024, "RSS grew by %d KiB" % grown
        assert len(c.streams[sid]["data"]) <= 65535 and not c.streams[sid]["ended"]
        # Meanwhile another connection is served in full.
        c2 = H2(p.port)
        try:
            status, hd, data = c2.request("GET", "/bytes?n=%d" % MiB)
        finally:
            c2.close()
        assert status == 200 and hashlib.sha256(data).hexdigest() == pattern_bytes(MiB)[1]
        # The client cancels the stalled stream and gives the connection window back: the
        # connection serves the next request.
        c.conn.reset_stream(sid, error_code=8)  # CANCEL
        c.conn.increment_flow_control_window(len(c.streams[sid]["data"]))
        c.ack = True
        c.flush()
        assert c.request("GET", "/")[0] == 200
    finally:
        c.close()


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


# ---------------------------------------------------------------------------------------------
# connection lifecycle, log and metrics


def test_sigterm_sends_goaway_and_finishes_the_stream(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        idle = H2(p.port)
        assert idle.request("GET", "/")[0] == 200
        sid = c.start("GET", "/slow?ms=800")
        wait_until(lambda: b1.stats()["requests"] >= 3, 5, what="the slow request at the backend")
        p.signal(signal.SIGTERM)
        # An idle connection gets its GOAWAY and is closed without waiting for the slow one.
        idle.wait(lambda: idle.terminated is not None, 5, "a GOAWAY on the idle connection")
        assert idle.terminated.error_code == 0
        deadline = time.monotonic() + 0.5
        while not idle.closed and time.monotonic() < deadline:
            idle.pump(0.05)
        assert idle.closed, "idle connection still open 0.5 s after its GOAWAY"
        idle.close()
        c.wait(lambda: c.terminated is not None, 5, "a GOAWAY after SIGTERM")
        assert c.terminated.error_code == 0 and c.terminated.last_stream_id >= sid
        # The admin listener still answers while the proxy drains.
        goaways = scrape(p.admin_port).sum("switchyard_http2_goaways_sent_total",
                                           listener="public", error="NO_ERROR")
        assert goaways == 2 and c.goaways == [(c.terminated.last_stream_id, 0)]
        c.wait(c.finished(sid), 5, "the in-flight stream")
        status = dict(c.streams[sid]["headers"])[":status"]
        assert status == "200" and bytes(c.streams[sid]["data"]) == b"slow done\n"
    finally:
        c.close()
    assert p.wait_exit(10) == 0


def test_idle_connection_gets_goaway_and_close(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], timeouts={"client_idle": "1s", "upstream_response": "2s",
                                              "client_header": "2s", "shutdown": "5s"})
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        t0 = time.monotonic()
        deadline = t0 + 5
        while not c.closed and time.monotonic() < deadline:
            c.pump(0.1)
        elapsed = time.monotonic() - t0
        assert c.closed, "still open after 5 s idle"
        assert c.terminated is not None and c.terminated.error_code == 0
        assert elapsed >= 0.9, elapsed
    finally:
        c.close()
    scrape_until(p.admin_port, lambda m: m.sum("switchyard_http2_goaways_sent_total",
                                                error="NO_ERROR") == 1, what="the idle GOAWAY")


def test_access_log_protocol(origins, switchyard, tmp_path):
    (b1,) = origins(1)
    log = tmp_path / "access.log"
    p = h2c_proxy(switchyard, [b1], access_log={"path": str(log), "format": "json"})
    out = curl("--http2-prior-knowledge", "-o", "/dev/null", "-H", "X-Request-Id: h2-log-1",
               "http://%s:%d/status/201" % (LOOPBACK, p.port))
    assert out.returncode == 0, out.stderr

    def entry():
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(l) for l in lines if l]
    (e,) = wait_until(entry, 5, what="the access log line")
    assert e["request_id"] == "h2-log-1" and e["protocol"] == "HTTP/2.0"
    assert e["status"] == 201 and e["method"] == "GET" and e["path"] == "/status/201"
    assert e["host"] == "%s:%d" % (LOOPBACK, p.port) and e["backend"] == "b1"


def test_connections_active_gauge(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])

    def active(n):
        return lambda m: m.sum("switchyard_http2_connections_active", listener="public") == n
    scrape_until(p.admin_port, active(0), what="no HTTP/2 connection")
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        scrape_until(p.admin_port, active(1), what="one HTTP/2 connection")
    finally:
        c.close()
    scrape_until(p.admin_port, active(0), what="the HTTP/2 connection closed")
    # An HTTP/1.1 connection on the same listener is not counted.
    with RawConn(p.port) as r:
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.read_response().status == 200
        assert scrape(p.admin_port).sum("switchyard_http2_connections_active") == 0


def test_hedged_streams_answer_from_the_fast_backend(origins, switchyard):
    """retries.hedge works per request, so per HTTP/2 stream: concurrent streams on one
    connection, half of them first sent to a sleeping backend, all answer from the fast one
    well before the sleeper would."""
    b1, b2 = origins(2)
    b1.get("/_control/delay?ms=1000")
    cfg = switchyard.config([b1, b2], workers=1)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["pools"][0]["retries"] = {"attempts": 1, "hedge": {"after": "50ms"}}
    p = switchyard.start(cfg)
    c = H2(p.port)
    try:
        t0 = time.monotonic()
        sids = [c.start("GET", "/") for _ in range(6)]
        c.wait(lambda: all(c.finished(s)() for s in sids), 5, "all streams answered")
        took = time.monotonic() - t0
        for s in sids:
            hd = dict(c.streams[s]["headers"])
            assert hd[":status"] == "200" and hd["x-backend"] == "b2", hd
        assert took < 0.6, took
    finally:
        c.close()
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_hedges_total", result="won") >= 3)
    assert m.sum("switchyard_hedges_total", result="sent") >= 3
