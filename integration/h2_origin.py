"""A small HTTP/2 backend on python3-h2 for the HTTP/2 upstream tests (h2c, or h2 over TLS
with tls= an ssl.SSLContext; one thread per connection, flow control honoured both ways).

Paths: /echo (the request body back), /bytes?n=N (N pattern bytes), /healthz (answers
health_status, 200 unless changed), /trailers (a body, then trailers grpc-status: 0 and
x-trailer: yes), /hold (answered only once `release` is set; `held` counts the streams
waiting; `peak_held` maps a connection's number to the most streams it held at once). Every
answer carries x-backend, x-conn (the connection's number) and x-proto (h2). With http1=True a
connection that does not start with the HTTP/2 preface speaks HTTP/1.1 instead (keep-alive, GET
without a body: /hold as above, anything else "ok", x-proto h1). Modes:
refuse_first (the first stream of the origin is reset with REFUSED_STREAM), goaway_first
(the first connection answers its first stream with a GOAWAY whose last stream id is below
it). `open` counts the connections open now; `goaways_received`
lists the error codes of the GOAWAY frames the proxy sent (the origin then closes that
connection: python3-h2 sends nothing more after a GOAWAY).
"""

import select
import socket
import threading
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from origin import pattern_bytes

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Origin:
    def __init__(self, name="h2b1", refuse_first=False, goaway_first=False, tls=None,
                 http1=False):
        self.name = name
        self.http1 = http1
        self.tls = tls  # an ssl.SSLContext (server side, ALPN h2): h2 over TLS instead of h2c
        self.refuse_first = refuse_first
        self.goaway_first = goaway_first
        self.lock = threading.Lock()
        self.connections = 0
        self.streams = 0
        self.refused = 0
        self.goaways = 0
        self.request_trailers = []
        self.health_checks = 0
        self.sent = 0  # response body bytes handed to the connection
        self.open = 0
        self.goaways_received = []
        self.held = 0
        self.peak_held = {}
        self.release = threading.Event()
        self.health_status = 200
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open += 1
                n = self.connections
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _serve(self, sock, conn_no):
        if self.tls:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except OSError:
                sock.close()
                with self.lock:
                    self.open -= 1
                return
        first = b""
        if self.http1:
            try:
                while len(first) < len(PREFACE) and PREFACE.startswith(first):
                    data = sock.recv(len(PREFACE) - len(first))
                    if not data:
                        break
                    first += data
                if not first.startswith(PREFACE):
                    return self._serve_http1(sock, first, conn_no)
            except OSError:
                return self._closed(sock, 0)
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        c.initiate_connection()
        sock.sendall(c.data_to_send())
        reqs = {}
        pending = {}  # id -> [body, offset, trailers]
        held = {}  # id -> request, answered once self.release is set
        try:
            while True:
                if held:
                    if self.release.is_set():
                        for sid, req in held.items():
                            pending[sid] = self._answer(c, sid, req, conn_no)
                        with self.lock:
                            self.held -= len(held)
                        held.clear()
                        self._pump(c, pending)
                        sock.sendall(c.data_to_send())
                    elif not select.select([sock], [], [], 0.02)[0]:
                        continue
                data, first = first or sock.recv(65536), b""
                if not data:
                    return
                try:
                    events = c.receive_data(data)
                except h2.exceptions.ProtocolError:
                    sock.sendall(c.data_to_send())  # after our GOAWAY: the peer's late frames
                    continue
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        reqs[ev.stream_id] = {"headers": dict(ev.headers), "body": bytearray()}
                        if self._refuse_or_goaway(c, ev.stream_id, conn_no):
                            reqs.pop(ev.stream_id)
                    elif isinstance(ev, h2.events.DataReceived):
                        if ev.stream_id in reqs:
                            reqs[ev.stream_id]["body"] += ev.data
                            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.TrailersReceived):
                        with self.lock:
                            self.request_trailers.append(dict(ev.headers))
                    elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in reqs:
                        req = reqs.pop(ev.stream_id)
                        if req["headers"].get(b":path") == b"/hold" and not self.release.is_set():
                            held[ev.stream_id] = req
                            with self.lock:
                                self.held += 1
                                self.peak_held[conn_no] = max(len(held),
                                                              self.peak_held.get(conn_no, 0))
                            continue
                        pending[ev.stream_id] = self._answer(c, ev.stream_id, req, conn_no)
                    elif isinstance(ev, h2.events.StreamReset):
                        pending.pop(ev.stream_id, None)
                        reqs.pop(ev.stream_id, None)
                        if held.pop(ev.stream_id, None) is not None:
                            with self.lock:
                                self.held -= 1
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        with self.lock:
                            self.goaways_received.append(int(ev.error_code))
                        sock.sendall(c.data_to_send())
                        return
                self._pump(c, pending)
                sock.sendall(c.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            self._closed(sock, len(held))

    def _closed(self, sock, held):
        sock.close()
        with self.lock:
            self.open -= 1
            self.held -= held

    def _serve_http1(self, sock, buf, conn_no):
        held = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                if head.split(b" ")[1] == b"/hold" and not self.release.is_set():
                    with self.lock:
                        self.held += 1
                    held = 1
                    self.release.wait(60)
                    with self.lock:
                        self.held -= 1
                    held = 0
                with self.lock:
                    self.streams += 1
                sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-backend: %s\r\n"
                             b"x-conn: %d\r\nx-proto: h1\r\n\r\nok\n"
                             % (self.name.encode(), conn_no))
        except (OSError, IndexError):
            return
        finally:
            self._closed(sock, held)

    def _refuse_or_goaway(self, c, sid, conn_no):
        with self.lock:
            if self.refuse_first and self.refused == 0:
                self.refused += 1
                c.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                return True
            if self.goaway_first and self.goaways == 0:
                self.goaways += 1
                c.close_connection(error_code=0, last_stream_id=sid - 2 if sid > 2 else 0)
                return True
        return False

    def _answer(self, c, sid, req, conn_no):
        with self.lock:
            self.streams += 1
        hdr = {k.decode(): v.decode() for k, v in req["headers"].items()}
        url = urlsplit(hdr[":path"])
        q = parse_qs(url.query)
        trailers = None
        status = 200
        if url.path == "/echo":
            body = bytes(req["body"])
        elif url.path == "/bytes":
            body, _ = pattern_bytes(int(q["n"][0]), 1)
        elif url.path == "/healthz":
            with self.lock:
                self.health_checks += 1
            body = b"ok\n"
            status = self.health_status
        elif url.path == "/trailers":
            body = b"hello"
            trailers = [("grpc-status", "0"), ("x-trailer", "yes")]
        else:
            body = b"ok\n"
        headers = [(":status", str(status)), ("x-backend", self.name), ("x-conn", str(conn_no)),
                   ("x-method", hdr[":method"]), ("x-authority", hdr.get(":authority", "")),
                   ("x-te", hdr.get("te", "")), ("x-proto", "h2")]
        if trailers is None:
            headers.append(("content-length", str(len(body))))
        c.send_headers(sid, headers)
        return [body, 0, trailers]

    def _pump(self, c, pending):
        for sid in list(pending):
            body, off, trailers = pending[sid]
            while off < len(body):
                n = min(c.local_flow_control_window(sid), c.max_outbound_frame_size, len(body) - off)
                if n <= 0:
                    break
                c.send_data(sid, body[off:off + n])
                off += n
                self.sent += n
            pending[sid][1] = off
            if off == len(body):
                if trailers:
                    c.send_headers(sid, trailers, end_stream=True)
                else:
                    c.end_stream(sid)
                del pending[sid]
