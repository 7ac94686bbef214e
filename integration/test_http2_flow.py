"""HTTP/2 traffic and flow control: 2000 streams (h2load), request bodies with and without
content-length, large responses, a response's tail reaching a client that sends nothing, and
backpressure on a reader that gives no window (the proxy's memory stays bounded)."""

import hashlib
import os
import subprocess
import time

import pytest

from conftest import LOOPBACK, pattern_bytes, wait_until
from h2_util import H2, MiB, h2c_proxy, rss_kib
import h2.settings  # noqa: E402 (h2_util skips this module without python3-h2)
from obs_util import scrape_until


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
