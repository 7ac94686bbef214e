#!/usr/bin/python3
"""Switchyard test origin: a small HTTP/1.1 backend built on raw sockets so it can inject faults.

Usage: origin.py --port 9001 --name web1 [--host 127.0.0.1] [--tls-cert C --tls-key K]
                 [--delay-ms M] [--idle-timeout-ms I]

Prints "ready <port>" on stdout once listening (--port 0 picks a free port). One thread per
connection; keep-alive and pipelining; request bodies framed by Content-Length or chunked;
"Expect: 100-continue" is answered with "100 Continue" before the body is read. Every response
carries "X-Backend: <name>". Malformed input closes the connection without a response.
--delay-ms M makes a slow backend: every request but /_stats and /_control ones is answered
only after M ms (changed at run time by /_control/delay). --idle-timeout-ms I closes a
kept-alive connection that stays idle for I ms (default 120 s), as many servers do.

Endpoints (any method unless stated; HEAD gets the same head without a body):
  /                      200 "hello from <name>\\n" (also anything unmatched); with
                         "X-Body-Length: N" when the request had a body
  /healthz               200 "ok\\n", or the status set by /_control/health?status=N
  /_control/health?status=N   set the /healthz status (no status: back to 200)
  /_control/status?status=N[&retry_after=V]
                         make "/" (and anything unmatched) answer status N with a short
                         body, e.g. 503 (no status: back to the normal 200 answer), with
                         "Retry-After: V" when given
  /_control/delay?ms=M   answer every later request (but /_stats, /_control) after M ms
  /echo                  request body echoed; X-Body-Sha256, X-Body-Length, X-Request-Framing
  /headers               JSON {"request_line", "method", "target", "version",
                               "headers": [[name, value], ...] in arrival order, "body_length"}
  /bytes?n=N[&seed=S][&mode=length|chunked|close]
                         N deterministic bytes (see pattern_bytes()), X-Body-Sha256;
                         chunked: varied chunk sizes; close: no length, read until close
  /slow?ms=M             waits M ms, then 200
  /drip?n=N&ms=M         head (Content-Length N), then body one byte every M ms
  /status/NNN            that status with a short body (1xx/204/304: no body)
  /silent                reads the request, never answers; holds the socket until the peer
                         closes it or 60 s pass
  /close-mid             head with Content-Length 1000, 100 body bytes, then FIN
  /switch                101 Switching Protocols to websocket (asked for or not), then a raw
                         echo of whatever arrives, until the peer closes
  /garbage               a line that is not HTTP, then close
  /bighead               a ~100 KiB response head
  /ka-close              a normal keep-alive answer, then the origin closes the connection
  /reset                 reads the request, then closes with RST (SO_LINGER 0)
  /_stats                JSON {"connections", "requests", "active", "in_flight",
                         "max_in_flight"}; connections = accepted TCP connections, active = open
                         ones (this one included), requests = requests parsed, in_flight =
                         requests being answered now, max_in_flight = the most at once since
                         start or /_stats/reset; none counts /_stats or
                         /_control requests, nor a connection whose first request is one of them
  /_stats/reset          zero connections and requests
"""

import argparse
import functools
import hashlib
import http
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 30
IDLE_TIMEOUT = 120.0
SILENT_HOLD = 60.0
PATTERN_LEN = 65521  # prime, so the pattern does not line up with power-of-two chunk sizes


class Malformed(Exception):
    """The peer sent something that is not HTTP/1.x; the connection is closed."""


class PeerClosed(Exception):
    """EOF before a complete message."""


@functools.lru_cache(maxsize=16)
def _pattern(seed):
    return random.Random(seed).randbytes(PATTERN_LEN)


@functools.lru_cache(maxsize=8)
def pattern_bytes(n, seed=0):
    """N deterministic bytes: a pseudo-random 65521-byte block derived from seed, repeated.

    Returns (data, sha256 hex). Tests import this to compute what /bytes sends.
    """
    block = _pattern(seed)
    reps = n // PATTERN_LEN + 1
    data = (block * reps)[:n]
    return data, hashlib.sha256(data).hexdigest()


def chunk_sizes(n, seed=0):
    """The chunk sizes /bytes?mode=chunked uses: deterministic, mixed small and large."""
    rng = random.Random(seed * 7919 + n)
    choices = [1, 2, 7, 100, 1000, 4096, 8191, 16384, 65536, 100000]
    out, left = [], n
    while left > 0:
        size = min(left, rng.choice(choices))
        out.append(size)
        left -= size
    return out


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.active = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def add(self, field, delta=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + delta)
            if field == "in_flight":
                self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def snapshot(self):
        with self.lock:
            return {"connections": self.connections, "requests": self.requests,
                    "active": self.active, "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight}

    def reset(self):
        with self.lock:
            self.connections = 0
            self.requests = 0
            self.max_in_flight = self.in_flight


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


class Connection:
    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.buf = bytearray()
        self.counted = False

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

    # ---- the connection loop -------------------------------------------------------------
    def run(self):
        srv = self.server
        srv.stats.add("active")
        try:
            self.sock.settimeout(srv.idle_timeout_s)
            if srv.tls is not None:  # --tls-cert: the handshake runs on this connection's thread
                self.sock = srv.tls.wrap_socket(self.sock, server_side=True)
            first = True
            while True:
                head = self.read_head()
                if head is None:
                    return
                req = self.parse_head(head)
                control = req.path.startswith("/_stats") or req.path.startswith("/_control")
                if first:
                    first = False
                    if not control:
                        srv.stats.add("connections")
                if not control:
                    srv.stats.add("requests")
                    srv.stats.add("in_flight")
                    self.in_flight = True
                try:
                    req.body = self.read_body(req)
                    if srv.delay_s and not control:
                        time.sleep(srv.delay_s)
                    if not self.dispatch(req):
                        return
                finally:
                    self.answering()
        except (Malformed, PeerClosed, OSError):
            return
        finally:
            srv.stats.add("active", -1)
            try:
                self.sock.close()
            except OSError:
                pass

    def dispatch(self, req):
        """Answer one request. Returns False when the connection must end."""
        srv = self.server
        path = req.path
        close = req.wants_close()
        if path == "/echo":
            h = [("Content-Type", "application/octet-stream"),
                 ("X-Body-Sha256", hashlib.sha256(req.body).hexdigest()),
                 ("X-Body-Length", str(len(req.body))),
                 ("X-Request-Framing", req.framing),
                 ("X-Request-Method", req.method)]
            self.respond(req, 200, req.body, h, close)
        elif path == "/headers":
            doc = {"request_line": req.request_line, "method": req.method,
                   "target": req.target, "version": req.version,
                   "headers": [[k, v] for k, v in req.headers], "body_length": len(req.body)}
            body = json.dumps(doc).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/bytes":
            return self.bytes_endpoint(req, close)
        elif path == "/slow":
            time.sleep(max(0, req.qint("ms", 1000)) / 1000.0)
            self.respond(req, 200, b"slow done\n", [("Content-Type", "text/plain")], close)
        elif path == "/drip":
            n, ms = req.qint("n", 10), req.qint("ms", 100)
            self.sock.sendall(self.head_bytes(200, [("Content-Length", str(n))], close))
            if req.method != "HEAD":
                data, _ = pattern_bytes(n, 0)
                for i in range(n):
                    self.sock.sendall(data[i:i + 1])
                    if i + 1 < n:
                        time.sleep(ms / 1000.0)
        elif path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 0
            if not 200 <= code <= 599:
                self.respond(req, 400, b"bad status\n", [("Content-Type", "text/plain")], close)
            else:
                self.respond(req, code, b"status %d\n" % code, [("Content-Type", "text/plain")],
                             close)
        elif path == "/healthz":
            code = srv.health_status
            body = b"ok\n" if code == 200 else b"unhealthy\n"
            self.respond(req, code, body, [("Content-Type", "text/plain")], close)
        elif path == "/_control/health":
            srv.health_status = req.qint("status", 200)
            body = json.dumps({"health_status": srv.health_status}).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/_control/delay":
            srv.delay_s = max(0, req.qint("ms", 0)) / 1000.0
            body = json.dumps({"delay_ms": int(srv.delay_s * 1000)}).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/_control/status":
            srv.default_status = req.qint("status", 0) or None
            srv.retry_after = req.q("retry_after")
            body = json.dumps({"default_status": srv.default_status}).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/_stats":
            body = json.dumps(srv.stats.snapshot()).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/_stats/reset":
            srv.stats.reset()
            body = json.dumps(srv.stats.snapshot()).encode()
            self.respond(req, 200, body, [("Content-Type", "application/json")], close)
        elif path == "/silent":
            self.sock.settimeout(SILENT_HOLD)
            try:
                while self.sock.recv(65536):
                    pass
            except OSError:
                pass
            return False
        elif path == "/close-mid":
            data, _ = pattern_bytes(100, 0)
            self.sock.sendall(self.head_bytes(200, [("Content-Length", "1000")], False) + data)
            self.lingering_close()
            return False
        elif path == "/switch":
            # 101 Switching Protocols to websocket, asked for or not; then the connection is
            # a raw echo (what arrives is sent back) until the peer closes.
            self.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\nX-Backend: %s\r\n\r\n"
                              % srv.name.encode())
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.sock.sendall(data)
        elif path == "/garbage":
            self.sock.sendall(b"this is not HTTP at all\r\n\r\n")
            self.lingering_close()
            return False
        elif path == "/bighead":
            # A response head larger than any sane proxy limit (~100 KiB).
            h = [("X-Big-%d" % i, "v" * 1000) for i in range(100)]
            self.respond(req, 200, b"big\n", h, close)
        elif path == "/ka-close":
            # Answers as if keeping the connection alive, then closes it: the next request
            # a proxy sends on it finds a connection the backend already closed.
            self.respond(req, 200, ("ka-close from %s\n" % srv.name).encode(),
                         [("Content-Type", "text/plain")], False)
            self.sock.close()
            return False
        elif path == "/reset":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        elif srv.default_status:
            body = b"status %d from %s\n" % (srv.default_status, srv.name.encode())
            h = [("Content-Type", "text/plain")]
            if srv.retry_after:
                h.append(("Retry-After", srv.retry_after))
            self.respond(req, srv.default_status, body, h, close)
        else:
            body = ("hello from %s\n" % srv.name).encode()
            h = [("Content-Type", "text/plain")]
            if req.body:
                h.append(("X-Body-Length", str(len(req.body))))
            self.respond(req, 200, body, h, close)
        if close:
            self.lingering_close()
            return False
        return True

    def bytes_endpoint(self, req, close):
        n = req.qint("n", 1024)
        seed = req.qint("seed", 0)
        mode = req.q("mode", "length")
        if n < 0 or n > MAX_BODY or mode not in ("length", "chunked", "close"):
            self.respond(req, 400, b"bad parameters\n", [("Content-Type", "text/plain")], close)
            return not close
        data, digest = pattern_bytes(n, seed)
        h = [("Content-Type", "application/octet-stream"), ("X-Body-Sha256", digest),
             ("X-Body-Length", str(n))]
        if mode == "length":
            self.respond(req, 200, data, h, close)
        elif mode == "chunked":
            h.append(("Transfer-Encoding", "chunked"))
            self.sock.sendall(self.head_bytes(200, h, close))
            if req.method != "HEAD":
                out, pos = [], 0
                pending = 0
                for size in chunk_sizes(n, seed):
                    out.append(b"%x\r\n" % size)
                    out.append(data[pos:pos + size])
                    out.append(b"\r\n")
                    pos += size
                    pending += size
                    if pending >= 262144:
                        self.sock.sendall(b"".join(out))
                        out, pending = [], 0
                out.append(b"0\r\n\r\n")
                self.sock.sendall(b"".join(out))
        else:  # close: no framing, the end of the body is the end of the connection
            self.sock.sendall(self.head_bytes(200, h, True))
            if req.method != "HEAD":
                self.sock.sendall(data)
            self.lingering_close()
            return False
        if close:
            self.lingering_close()
            return False
        return True


class Server:
    def __init__(self, host, port, name, tls=None, delay_ms=0, idle_timeout_ms=0):
        self.name = name
        self.tls = tls  # ssl.SSLContext or None
        self.delay_s = delay_ms / 1000.0  # --delay-ms: before answering each request
        self.stats = Stats()
        self.health_status = 200
        self.default_status = None  # set by /_control/status
        self.retry_after = None  # its Retry-After value
        self.idle_timeout_s = idle_timeout_ms / 1000.0 if idle_timeout_ms > 0 else IDLE_TIMEOUT
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]

    def serve_forever(self):
        while True:
            try:
                sock, peer = self.lsock.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock, peer)
            threading.Thread(target=conn.run, daemon=True).start()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Switchyard test origin")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--name", default="origin")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="private key for --tls-cert")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="answer every request (but /_stats, /_control) after this many ms")
    ap.add_argument("--idle-timeout-ms", type=int, default=0,
                    help="close a kept-alive connection idle this long (default 120 s)")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        import ssl
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    def on_signal(signum, frame):
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.stack_size(256 * 1024)
    srv = Server(args.host, args.port, args.name, tls, max(0, args.delay_ms),
                 max(0, args.idle_timeout_ms))
    print("ready %d" % srv.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
