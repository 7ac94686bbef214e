"""The endpoints of the test origin (origin.py's docstring lists them) and the deterministic
bodies they send: pattern_bytes() and chunk_sizes(), which tests import to know what /bytes
sends."""

import functools
import hashlib
import json
import random
import socket
import struct
import time

from origin_wire import MAX_BODY

SILENT_HOLD = 60.0
PATTERN_LEN = 65521  # prime, so the pattern does not line up with power-of-two chunk sizes


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


class Endpoints:
    """dispatch(), the answer to each request, mixed into Connection (origin.py) over Wire
    (origin_wire.py)."""

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
