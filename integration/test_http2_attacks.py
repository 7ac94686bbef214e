"""HTTP/2 attacks on an h2c listener, with frames built by hand (hyperframe) and sent raw.

For each attack: the attacked connection ends (GOAWAY with the expected code, then EOF) within
a bounded number of frames; the proxy is alive with its RSS bounded; a normal client on another
connection (HTTP/1.1 and HTTP/2) is served. Every flood is a bounded loop that stops at
GOAWAY/EOF; every wait has a deadline.
"""

import re
import select
import socket
import time

import h2.config
import h2.connection
import h2.events
import hpack
import pytest
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from conftest import LOOPBACK, request
from obs_util import scrape, scrape_until

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
         6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
         11: "ENHANCE_YOUR_CALM"}
MAX_FRAMES = 20000
RSS_GROWTH_KB = 48 * 1024


# ---------------------------------------------------------------------------------------------
# HPACK by hand (no dynamic-table state unless asked for) and a raw-frame client


def hint(value, prefix, first=0):
    """HPACK integer (RFC 7541 §5.1) with an N-bit prefix; first holds the pattern bits."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    return bytes(out + [value])


def hstr(s):
    s = s.encode() if isinstance(s, str) else s
    return hint(len(s), 7) + s


def literal(name, value, first=0x00):
    """Literal field with a literal name: 0x00 without indexing, 0x40 with incremental indexing."""
    return bytes([first]) + hstr(name) + hstr(value)


def block(headers):
    return b"".join(literal(n, v) for n, v in headers)


def req_headers(path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "test.local"), *extra]


def headers_frame(sid, headers, end_stream=True, end_headers=True):
    flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
    raw = headers if isinstance(headers, (bytes, bytearray)) else block(headers)
    return HeadersFrame(sid, raw, flags=flags).serialize()


class RawH2:
    """A raw HTTP/2 client socket: send bytes, parse what comes back into frames."""

    def __init__(self, port, preface=True):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=5)
        self.buf = b""
        self.frames = []
        self.goaway = None  # error name of the first GOAWAY
        self.rst = {}  # stream id -> error name
        self.eof = False
        self.sent = 0  # frames sent by flood()
        self.status = {}  # stream id -> :status of its response
        self.ended = set()  # streams whose response ended
        self.dec = hpack.Decoder()
        if preface:
            self.send(PREFACE + SettingsFrame(0).serialize())

    def close(self):
        self.sock.close()

    def send(self, data):
        """False once the proxy stopped taking bytes (reset, broken pipe or a send stall)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def pump(self, timeout=0.0):
        """Read what is there (waiting up to timeout for the first bytes) and parse it."""
        try:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if r:
                data = self.sock.recv(1 << 20)
                if not data:
                    self.eof = True
                self.buf += data
        except (ConnectionResetError, OSError):
            self.eof = True
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.frames.append(f)
            if "END_STREAM" in f.flags:
                self.ended.add(f.stream_id)
            if isinstance(f, GoAwayFrame) and self.goaway is None:
                self.goaway = CODES.get(f.error_code, f.error_code)
            elif isinstance(f, HeadersFrame):
                self.status[f.stream_id] = dict(self.dec.decode(f.data)).get(":status")
            elif isinstance(f, RstStreamFrame):
                self.rst[f.stream_id] = CODES.get(f.error_code, f.error_code)

    def wait(self, cond, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not cond() and not self.eof and time.monotonic() < deadline:
            self.pump(min(0.05, max(0.0, deadline - time.monotonic())))
        return cond()

    def wait_eof(self, timeout=5.0):
        return self.wait(lambda: self.eof, timeout)

    def flood(self, make, batch=100, limit=MAX_FRAMES, read=True, seconds=20.0, pace=0.002):
        """Send make(i) for i < limit in batches; stop at GOAWAY/EOF (read=True: after each
        batch, wait up to pace for the proxy's answer, so the count of frames sent stays near
        what it had read) or when the proxy stops taking bytes. Returns frames sent."""
        deadline = time.monotonic() + seconds
        while self.sent < limit and time.monotonic() < deadline:
            data = b"".join(make(self.sent + k) for k in range(batch))
            if not self.send(data):
                break
            self.sent += batch
            if read:
                self.pump(pace)
                if self.goaway or self.eof:
                    break
        return self.sent


# ---------------------------------------------------------------------------------------------
# checks shared by the attacks


def rss_kb(proxy):
    """Peak RSS (VmHWM): a transient allocation of a decoded bomb shows too."""
    with open("/proc/%d/status" % proxy.proc.pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def h2_get(port, path="/", timeout=5.0):
    """One request with python3-h2 on a fresh connection: the status."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path),
                            (":authority", "test.local")], end_stream=True)
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(conn.data_to_send())
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    return status
            s.sendall(conn.data_to_send())
        return status


def assert_served(proxy):
    assert proxy.proc.poll() is None, "the proxy died"
    assert request(proxy.port, "/", timeout=5).status == 200
    assert h2_get(proxy.port) == 200


class NotClosed(AssertionError):
    """The proxy sent its GOAWAY but kept the connection open (the known weakness below)."""


def goaway_within(c, expect, max_frames):
    """The connection got a GOAWAY (one of expect) after at most max_frames."""
    c.wait(lambda: c.goaway, 5.0)
    assert c.goaway in expect, "GOAWAY %r (expected %s) after %d frames" % (c.goaway, expect, c.sent)
    assert c.sent <= max_frames, "GOAWAY only after %d frames" % c.sent


def eof_after(c, within=2.0):
    if not c.wait_eof(within):
        c.close()  # so the proxy's shutdown does not wait for it
        raise NotClosed("GOAWAY %s sent, but no EOF within %.1fs" % (c.goaway, within))


def closed(c, expect, max_frames):
    goaway_within(c, expect, max_frames)
    eof_after(c)


@pytest.fixture
def h2proxy(switchyard, origins):
    """start(http2={...}, client_idle="1s", ...) -> a proxy with one h1+h2c listener, 1 worker."""
    def start(http2=None, **timeouts):
        cfg = switchyard.config(origins(1), workers=1)
        cfg["timeouts"].update(dict({"shutdown": "1s"}, **timeouts))
        lst = cfg["listeners"][0]
        lst["protocols"] = ["h1", "h2c"]
        lst["http2"] = dict({"max_header_list_bytes": "16KiB"}, **(http2 or {}))
        p = switchyard.start(cfg)
        assert_served(p)
        p.rss0 = rss_kb(p)
        return p
    return start


def after_attack(p, error=None, c=None):
    """Others are served, RSS is bounded, the GOAWAY was counted; once the attacker (c) is
    gone, no HTTP/2 connection is left."""
    assert_served(p)
    growth = rss_kb(p) - p.rss0
    assert growth < RSS_GROWTH_KB, "peak RSS grew by %d KiB" % growth
    if error:
        assert scrape(p.admin_port).sum("switchyard_http2_goaways_sent_total", error=error) >= 1
    if c is not None:
        c.close()
        scrape_until(p.admin_port, lambda m: m.sum("switchyard_http2_connections_active") == 0,
                     what="no HTTP/2 connection left")


# ---------------------------------------------------------------------------------------------
# 1-3: the CVEs and the HPACK bomb


def test_rapid_reset(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    get = block(req_headers())

    def pair(i):
        sid = 2 * i + 1
        return headers_frame(sid, get) + RstStreamFrame(sid, error_code=8).serialize()

    c.flood(pair, batch=20, limit=MAX_FRAMES // 2)
    assert_served(p)  # while the attacker's connection may still be open
    closed(c, {"ENHANCE_YOUR_CALM", "INTERNAL_ERROR"}, max_frames=1000)
    after_attack(p, c.goaway, c)


@pytest.mark.parametrize("size", [0, 1, 16384])
def test_continuation_flood(h2proxy, size):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers(), end_headers=False))
    # Empty frames, one-byte fields (static index 16) or 16 KiB fields, never END_HEADERS.
    chunk = {0: b"", 1: b"\x90", 16384: literal("x-a", "a" * 16376)}[size]
    assert len(chunk) == size
    c.flood(lambda i: ContinuationFrame(1, chunk).serialize(), batch=4)
    goaway_within(c, {"PROTOCOL_ERROR", "ENHANCE_YOUR_CALM"}, max_frames=200)
    after_attack(p, c.goaway)
    eof_after(c)


def test_hpack_bomb(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    # A 4000-byte field into the dynamic table (index 62), then one-byte references to it:
    # each 16 KiB block decodes to ~64 MB against a 16 KiB header-list limit.
    head = block(req_headers())
    insert = literal("x-bomb", "b" * 4000, first=0x40)
    c.send(headers_frame(1, head + insert + b"\xbe" * (16384 - len(head) - len(insert))))
    assert c.wait(lambda: 1 in c.rst), "bomb not refused: %r" % c.frames
    assert c.goaway is None  # one bomb refuses the stream, not the connection
    bomb = head + b"\xbe" * (16384 - len(head))
    c.flood(lambda i: headers_frame(2 * i + 3, bomb), batch=1, limit=200, pace=0.02)
    goaway_within(c, {"ENHANCE_YOUR_CALM"}, max_frames=40)
    assert not c.status, "a bomb was answered: %r" % c.status
    after_attack(p, "ENHANCE_YOUR_CALM")
    eof_after(c)


# ---------------------------------------------------------------------------------------------
# 4: control-frame floods


def test_settings_flood(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.flood(lambda i: SettingsFrame(0, settings={4: 65535 + i % 2}).serialize(), batch=20)
    # The glitch budget, or nghttp2's limit of 100 unsent ACKs when a read holds more.
    closed(c, {"ENHANCE_YOUR_CALM", "PROTOCOL_ERROR"}, max_frames=1000)
    after_attack(p, c.goaway, c)


def test_ping_flood_without_reading(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.sock.settimeout(2)
    c.flood(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize(), read=False)
    closed(c, {"ENHANCE_YOUR_CALM", "PROTOCOL_ERROR"}, max_frames=MAX_FRAMES)
    acks = sum(1 for f in c.frames if isinstance(f, PingFrame))
    assert acks <= 500, "%d PING ACKs answered before GOAWAY" % acks
    after_attack(p, c.goaway, c)


def test_priority_flood(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.flood(lambda i: PriorityFrame(2 * i + 1, depends_on=0, stream_weight=15).serialize(),
            batch=20)
    closed(c, {"ENHANCE_YOUR_CALM"}, max_frames=1000)
    after_attack(p, "ENHANCE_YOUR_CALM", c)


def test_empty_data_flood(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers("/echo", "POST"), end_stream=False))
    c.flood(lambda i: DataFrame(1, b"").serialize(), batch=20)
    goaway_within(c, {"ENHANCE_YOUR_CALM"}, max_frames=1000)
    after_attack(p, "ENHANCE_YOUR_CALM")
    eof_after(c)


def test_zero_window_update_connection(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(WindowUpdateFrame(0, window_increment=0).serialize())
    closed(c, {"PROTOCOL_ERROR"}, max_frames=1)
    after_attack(p, "PROTOCOL_ERROR", c)


def test_zero_window_update_stream(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers("/echo", "POST"), end_stream=False))
    c.send(WindowUpdateFrame(1, window_increment=0).serialize())
    # A stream error (RFC 9113 §6.9), which an endpoint may raise to a connection error
    # (§5.4): nghttp2 does.
    assert c.wait(lambda: 1 in c.rst or c.goaway), c.frames
    if c.goaway is None:
        assert c.rst[1] == "PROTOCOL_ERROR", c.frames
        c.send(headers_frame(3, req_headers()))  # the connection still serves
        assert c.wait(lambda: 3 in c.ended) and c.status[3] == "200", c.frames
        return after_attack(p, None, c)
    assert c.goaway == "PROTOCOL_ERROR"
    after_attack(p, "PROTOCOL_ERROR")
    eof_after(c)


# ---------------------------------------------------------------------------------------------
# 5: more streams than max_concurrent_streams


def test_streams_over_max_concurrent(h2proxy):
    p = h2proxy({"max_concurrent_streams": 10})
    c = RawH2(p.port)
    ids = [2 * i + 1 for i in range(15)]
    c.send(b"".join(headers_frame(sid, req_headers("/slow?ms=300")) for sid in ids))
    assert c.wait(lambda: set(ids[:10]) <= c.ended and set(ids[10:]) <= set(c.rst)), c.frames
    assert all(c.status[sid] == "200" for sid in ids[:10]), c.status
    assert {c.rst[sid] for sid in ids[10:]} <= {"REFUSED_STREAM", "PROTOCOL_ERROR"}, c.rst
    assert c.goaway is None
    c.send(headers_frame(41, req_headers()))
    assert c.wait(lambda: 41 in c.ended) and c.status[41] == "200"
    after_attack(p, None, c)


# ---------------------------------------------------------------------------------------------
# 6: slow and idle clients


def test_idle_after_preface(h2proxy):
    p = h2proxy(client_idle="1s")
    c = RawH2(p.port)
    t0 = time.monotonic()
    assert c.wait_eof(4.0), "idle HTTP/2 connection still open after 4 s"
    assert 0.8 <= time.monotonic() - t0 <= 2.5
    assert c.goaway == "NO_ERROR"
    after_attack(p, "NO_ERROR", c)


def test_partial_preface_stalls(h2proxy):
    p = h2proxy(client_header="1s", client_idle="1s")
    c = RawH2(p.port, preface=False)
    c.send(PREFACE[:16])
    t0 = time.monotonic()
    assert c.wait_eof(4.0), "a stalled preface kept the connection open"
    assert time.monotonic() - t0 <= 2.5
    after_attack(p, None, c)


class TooSlow(AssertionError):
    pass


def trickle(c, piece, limit_s):
    """Send piece() every 300 ms until GOAWAY/EOF; TooSlow if still open after limit_s."""
    t0 = time.monotonic()
    for _ in range(int(limit_s / 0.3) + 1):
        if c.wait(lambda: c.goaway, 0.3) or c.eof:
            break
        c.send(piece())
    if not c.wait_eof(0.5):
        c.close()
        raise TooSlow("still open %.1fs after the first byte (GOAWAY %s)"
                      % (time.monotonic() - t0, c.goaway))


def test_header_trickle_continuations(h2proxy):
    p = h2proxy(client_header="1s")
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers(), end_headers=False))
    assert_served(p)
    trickle(c, lambda: ContinuationFrame(1, b"\x90").serialize(), limit_s=2.0)


def test_header_trickle_partial_frame(h2proxy):
    p = h2proxy(client_header="1s")
    c = RawH2(p.port)
    frame = iter(headers_frame(1, req_headers(extra=[("x-pad", "p" * 200)])))
    assert_served(p)
    trickle(c, lambda: bytes([next(frame)]), limit_s=2.0)


# ---------------------------------------------------------------------------------------------
# 7: malformed input


def test_bad_preface(h2proxy):
    p = h2proxy()
    c = RawH2(p.port, preface=False)
    c.send(PREFACE[:18] + b"XX\r\n\r\n")
    assert c.wait_eof(3.0), "bad preface: connection neither answered nor closed"
    assert c.buf == b"" or c.buf.startswith(b"HTTP/1.1 4"), c.buf[:100]
    after_attack(p, None, c)


def test_frame_over_max_frame_size(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers(extra=[("x-pad", "p" * 16400)])))
    closed(c, {"FRAME_SIZE_ERROR"}, max_frames=1)
    after_attack(p, "FRAME_SIZE_ERROR", c)


def test_malformed_headers_reset_stream(h2proxy):
    p = h2proxy()
    c = RawH2(p.port)
    c.send(headers_frame(1, req_headers(extra=[("X-Upper", "1")])))
    c.send(headers_frame(3, [(":method", "GET"), ("x-a", "1"), (":scheme", "http"),
                             (":path", "/"), (":authority", "test.local")]))
    assert c.wait(lambda: {1, 3} <= set(c.rst)), c.frames
    assert c.rst[1] == c.rst[3] == "PROTOCOL_ERROR", c.rst
    c.send(headers_frame(5, req_headers()))  # the connection still serves
    assert c.wait(lambda: 5 in c.ended) and c.status[5] == "200", c.frames
    assert c.goaway is None and 1 not in c.status and 3 not in c.status
    after_attack(p, None, c)
