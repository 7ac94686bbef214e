"""The HTTP/1.1 message layer of the test origin (origin.py): requests read from a socket (heads,
bodies framed by Content-Length or chunked, "Expect: 100-continue" answered) and answers written
to it. Input that is not HTTP/1.x raises Malformed; EOF before a complete message, PeerClosed."""

import http
import socket
import time
import urllib.parse

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 30


class Malformed(Exception):
    """The peer sent something that is not HTTP/1.x; the connection is closed."""


class PeerClosed(Exception):
    """EOF before a complete message."""


class Request:
    __slots__ = ("method", "target", "version", "headers", "path", "query", "body", "framing",
                 "request_line")

    def header(self, name):
        """Last value of a header (case-insensitive), or None."""
        name = name.lower()
        for k, v in reversed(self.headers):
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def wants_close(self):
        tokens = set()
        for v in self.header_all("connection"):
            tokens.update(t.strip().lower() for t in v.split(","))
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens

    def q(self, name, default=None):
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qint(self, name, default):
        try:
            return int(self.q(name, default))
        except (TypeError, ValueError):
            raise Malformed("bad integer parameter %s" % name)


_TCHARS = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(b):
    return bool(b) and all(c in _TCHARS for c in b)


class Wire:
    """Reads requests from self.sock (self.buf holds what was read ahead) and writes answers to
    it. Connection (origin.py) mixes it in; answers carry self.server.name and count in
    self.server.stats."""

    # ---- reading -------------------------------------------------------------------------
    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise PeerClosed()
        self.buf += data

    def read_head(self):
        """Bytes of the next request head (without the final CRLFCRLF), or None on clean EOF."""
        start = 0
        while True:
            # RFC 9112 2.2: ignore empty lines before the request line.
            while self.buf.startswith(b"\r\n"):
                del self.buf[:2]
            idx = self.buf.find(b"\r\n\r\n", max(0, start - 3))
            if idx >= 0:
                head = bytes(self.buf[:idx])
                del self.buf[:idx + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise Malformed("head too large")
            start = len(self.buf)
            try:
                self._fill()
            except PeerClosed:
                if self.buf:
                    raise
                return None

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_line(self, limit=8192):
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[:idx + 2]
                return line
            if len(self.buf) > limit:
                raise Malformed("line too long")
            self._fill()

    def parse_head(self, head):
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not _is_token(parts[0]) or not parts[1]:
            raise Malformed("bad request line")
        if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise Malformed("bad version")
        req = Request()
        req.request_line = lines[0].decode("latin-1")
        req.method = parts[0].decode("ascii")
        req.target = parts[1].decode("latin-1")
        req.version = parts[2].decode("ascii")
        req.headers = []
        for line in lines[1:]:
            if not line or line[:1] in (b" ", b"\t"):
                raise Malformed("obs-fold or empty line")
            name, sep, value = line.partition(b":")
            if not sep or not _is_token(name):
                raise Malformed("bad header line")
            req.headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
        split = urllib.parse.urlsplit(req.target)
        req.path = split.path or "/"
        req.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        return req

    def read_body(self, req):
        te = req.header_all("transfer-encoding")
        cl = req.header_all("content-length")
        chunked = False
        if te:
            codings = [t.strip().lower() for v in te for t in v.split(",")]
            if codings[-1] != "chunked":
                raise Malformed("unsupported transfer-encoding")
            chunked = True
        elif cl:
            if len(set(cl)) != 1 or not cl[0].isdigit():
                raise Malformed("bad content-length")
            length = int(cl[0])
            if length > MAX_BODY:
                raise Malformed("body too large")
        else:
            length = 0
        expect = (req.header("expect") or "").lower()
        if expect == "100-continue" and req.version == "HTTP/1.1" and (chunked or length > 0):
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not chunked:
            req.framing = "length" if cl else "none"
            return self.read_exact(length)
        req.framing = "chunked"
        parts = []
        total = 0
        while True:
            line = self.read_line()
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise Malformed("bad chunk size")
            if size < 0:
                raise Malformed("bad chunk size")
            total += size
            if total > MAX_BODY:
                raise Malformed("body too large")
            if size == 0:
                break
            parts.append(self.read_exact(size))
            if self.read_exact(2) != b"\r\n":
                raise Malformed("bad chunk terminator")
        while self.read_line():  # trailer section
            pass
        return b"".join(parts)

    # ---- writing -------------------------------------------------------------------------
    def answering(self):
        """The request stops counting as in flight once its answer starts (the client may send
        the next one as soon as it has the answer, before this thread ends its bookkeeping)."""
        if getattr(self, "in_flight", False):
            self.in_flight = False
            self.server.stats.add("in_flight", -1)

    def head_bytes(self, status, headers, close):
        self.answering()
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        out = ["HTTP/1.1 %d %s\r\n" % (status, reason), "X-Backend: %s\r\n" % self.server.name]
        for k, v in headers:
            out.append("%s: %s\r\n" % (k, v))
        if close:
            out.append("Connection: close\r\n")
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    def respond(self, req, status, body=b"", headers=(), close=False, length=True):
        headers = list(headers)
        no_body = status in (204, 304) or 100 <= status < 200
        if length and not no_body:
            headers.append(("Content-Length", str(len(body))))
        head = self.head_bytes(status, headers, close)
        if req.method == "HEAD" or no_body:
            self.sock.sendall(head)
        elif len(body) < 65536:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            self.sock.sendall(body)

    def lingering_close(self):
        """FIN, then drain what the peer still sends (so the kernel does not answer with RST)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(2.0)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and self.sock.recv(65536):
                pass
        except OSError:
            pass
