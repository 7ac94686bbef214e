"""HTTP clients and reachability checks shared by the integration tests (conftest.py re-exports
them): Resp, RawConn, request(), get_request(), accepts(), serves(), spread().

Standard library only; everything talks to 127.0.0.1.
"""

import http.client
import re
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

LOOPBACK = "127.0.0.1"


class Resp:
    """A parsed response: status, reason, headers [(name, value)], body bytes, interim [Resp]."""

    def __init__(self, version, status, reason, headers, body=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.interim = []

    def header(self, name, default=None):
        name = name.lower()
        for k, v in reversed(self.headers):
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name, token):
        """True if the comma-separated header `name` contains `token` (case-insensitive)."""
        token = token.lower()
        return any(t.strip().lower() == token for v in self.header_all(name) for t in v.split(","))

    def __repr__(self):
        return "<Resp %s %s %r body=%d bytes>" % (self.status, self.reason, self.headers,
                                                 len(self.body))


class RawConn:
    """A raw TCP client: exact bytes out, a strict HTTP/1.1 response parser in.

    read_response(method) understands Content-Length, chunked, read-until-close, and the no-body
    cases (HEAD, 1xx, 204, 304); interim 1xx responses are collected on the final one. Several
    responses can be read from one buffer, so pipelined requests work.
    """

    def __init__(self, port, host=LOOPBACK, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            raise EOFError("connection closed by peer")
        data = self.sock.recv(262144)
        if not data:
            self.eof = True
            raise EOFError("connection closed by peer")
        self.buf += data

    def _read_until(self, sep, limit=1 << 20):
        while True:
            idx = self.buf.find(sep)
            if idx >= 0:
                out = bytes(self.buf[:idx])
                del self.buf[:idx + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("response head too large")
            self._fill()

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_to_close(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_head(self):
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError("bad header line %r" % line)
            headers.append((name, value.strip()))
        return Resp(m.group(1), int(m.group(2)), m.group(3) or "", headers)

    def read_response(self, method="GET"):
        interim = []
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                interim.append(resp)
                continue
            break
        resp.interim = interim
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        if resp.has_token("transfer-encoding", "chunked"):
            parts = []
            while True:
                line = self._read_until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                parts.append(self._read_exact(size))
                if self._read_exact(2) != b"\r\n":
                    raise ValueError("bad chunk terminator")
            while self._read_until(b"\r\n"):
                pass
            resp.body = b"".join(parts)
        elif resp.header("content-length") is not None:
            resp.body = self._read_exact(int(resp.header("content-length")))
        else:
            resp.body = self._read_to_close()
        return resp

    def wait_closed(self, timeout):
        """Wait until the peer closes (EOF or reset). Returns (closed, bytes received meanwhile)."""
        got = bytearray(self.buf)
        self.buf.clear()
        if self.eof:
            return True, bytes(got)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, bytes(got)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False, bytes(got)
            except (ConnectionResetError, BrokenPipeError):
                return True, bytes(got)
            if not data:
                self.eof = True
                return True, bytes(got)
            got += data


def request(port, path="/", method="GET", body=None, headers=None, timeout=10.0):
    """One request on a fresh http.client connection; returns a Resp with the whole body."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        resp = Resp("HTTP/1.1" if r.version == 11 else "HTTP/1.0", r.status, r.reason,
                    r.getheaders(), body)
        return resp
    finally:
        conn.close()


def get_request(method, path, host="test.local", headers=(), body=b""):
    """Bytes of one HTTP/1.1 request; Content-Length is added when there is a body."""
    lines = ["%s %s HTTP/1.1" % (method, path)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines.extend("%s: %s" % (k, v) for k, v in headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def accepts(port, timeout=0.5):
    """True when a TCP connection to the loopback port is accepted (and closed at once)."""
    try:
        socket.create_connection((LOOPBACK, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def serves(port, path="/", timeout=2):
    """True when one request on a fresh connection answers 200; a refused, reset or timed out
    connection, or another status, counts as not (yet) serving."""
    try:
        return request(port, path, timeout=timeout).status == 200
    except (OSError, EOFError, http.client.HTTPException):
        return False


def spread(port, n, threads=1, path="/", headers=None):
    """n requests, each on a fresh connection, from `threads` concurrent clients; every answer
    must be 200. Returns a Counter of X-Backend values (which backend answered how often)."""
    def one(_):
        r = request(port, path, headers=headers or {})
        assert r.status == 200, r
        return r.header("X-Backend")

    if threads <= 1:
        return Counter(one(i) for i in range(n))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return Counter(pool.map(one, range(n)))
