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
import os
import signal
import socket
import sys
import threading
import time

# The message layer is in origin_wire.py, the endpoints in origin_endpoints.py; their names are
# also this module's, so `from origin import pattern_bytes` and the like keep working.
from origin_endpoints import (PATTERN_LEN, SILENT_HOLD, Endpoints, _pattern,  # noqa: F401
                              chunk_sizes, pattern_bytes)
from origin_wire import (MAX_BODY, MAX_HEAD, _TCHARS, Malformed, PeerClosed,  # noqa: F401
                         Request, Wire, _is_token)

IDLE_TIMEOUT = 120.0


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


class Connection(Wire, Endpoints):
    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.buf = bytearray()
        self.counted = False

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
