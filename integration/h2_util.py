"""HTTP/2 test helpers: H2, a python3-h2 client on a raw socket (used by test_http2_*.py,
test_grpc.py, test_websocket_h2.py, test_ratelimit.py and load_util.py), h2c_proxy() (a proxy
whose listener speaks h1 and h2c), curl() and rss_kib()."""

import select
import socket
import subprocess
import time

import pytest

h2_connection = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402

from conftest import LOOPBACK  # noqa: E402

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
