"""Resource exhaustion: slowloris, slow readers, the connection limit and fd exhaustion.
Memory and file descriptors stay bounded, timeouts are enforced, other clients keep being
served, and service resumes by itself."""

import os
import socket
import threading
import time

from conftest import LOOPBACK, RawConn, get_request, request, wait_until


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_by_peer(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout; data read is discarded."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def serves(port):
    """One request succeeds (a refused or reset connection counts as not yet)."""
    try:
        return request(port, "/", timeout=2).status == 200
    except (OSError, EOFError, ConnectionError, Exception):
        return False


def test_slowloris_is_cut_off_and_others_unaffected(origins, switchyard):
    cfg = switchyard.config(origins(1))
    cfg["timeouts"]["client_header"] = "1s"
    p = switchyard.start(cfg)
    attackers = []
    for _ in range(40):
        s = socket.create_connection((LOOPBACK, p.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        attackers.append(s)
    stop = threading.Event()

    def trickle():
        for _ in range(30):
            if stop.is_set():
                return
            for s in attackers:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            time.sleep(0.1)

    t = threading.Thread(target=trickle)
    t.start()
    worst = 0.0
    try:
        for _ in range(40):
            t0 = time.monotonic()
            assert request(p.port, "/").status == 200
            worst = max(worst, time.monotonic() - t0)
        assert worst < 0.5, "legitimate request took %.3fs under slowloris" % worst
        assert all(closed_by_peer(s, 4) for s in attackers)
    finally:
        stop.set()
        t.join()
        for s in attackers:
            s.close()


def test_slow_reader_memory_bounded_and_cut(origins, switchyard):
    (o,) = origins(1)
    cfg = switchyard.config([o], workers=1)
    cfg["timeouts"]["client_send"] = "1s"
    p = switchyard.start(cfg)
    assert request(p.port, "/").status == 200
    base = rss_kib(p.proc.pid)
    s = socket.create_connection((LOOPBACK, p.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(get_request("GET", "/bytes?n=%d" % (48 << 20)))
    # The client never reads: the proxy must hold the backend instead of buffering 48 MiB.
    peak = base
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        peak = max(peak, rss_kib(p.proc.pid))
        time.sleep(0.05)
    assert peak - base < 8 * 1024, "RSS grew %d KiB for a stalled reader" % (peak - base)
    # After client_send without progress the exchange is cut (upstream connection closed too).
    wait_until(lambda: o.stats()["active"] <= 1, 6, what="stalled exchange closed")
    assert request(p.port, "/").status == 200
    s.close()


def test_max_connections_refuses_extra_and_recovers(origins, switchyard):
    cfg = switchyard.config(origins(1), workers=1, limits={"max_connections": 10})
    p = switchyard.start(cfg)
    held = []

    def open_working():
        # Connections closed just before (the readiness probe's) are counted until the proxy
        # has seen them close, so a new one may be refused for a moment: retry briefly.
        for _ in range(50):
            c = RawConn(p.port)
            try:
                c.send(get_request("GET", "/"))
                assert c.read_response().status == 200
                return c
            except (EOFError, ConnectionError):
                c.close()
                time.sleep(0.05)
        raise AssertionError("could not open a working connection")

    try:
        for _ in range(10):
            held.append(open_working())
        extra = socket.create_connection((LOOPBACK, p.port))
        t0 = time.monotonic()
        assert closed_by_peer(extra, 2), "11th connection was not closed"
        assert time.monotonic() - t0 < 1.0
        extra.close()
        for c in held:  # existing connections keep working
            c.send(get_request("GET", "/"))
            assert c.read_response().status == 200
        for c in held[:5]:
            c.close()
        wait_until(lambda: serves(p.port), 5, what="service resumed")
    finally:
        for c in held:
            c.close()


def test_fd_exhaustion_survived_without_busy_loop(origins, switchyard, tmp_path):
    wrapper = tmp_path / "limited.sh"
    wrapper.write_text("#!/bin/sh\nulimit -n 48\nexec %s \"$@\"\n" % switchyard.binary)
    wrapper.chmod(0o755)
    switchyard.binary = wrapper
    cfg = switchyard.config(origins(1), workers=1)
    p = switchyard.start(cfg)
    socks = []
    try:
        for _ in range(80):
            try:
                socks.append(socket.create_connection((LOOPBACK, p.port), timeout=2))
            except OSError:
                break
        time.sleep(0.2)
        c0 = cpu_seconds(p.proc.pid)
        time.sleep(1.0)
        used = cpu_seconds(p.proc.pid) - c0
        assert used < 0.5, "proxy burned %.2fs CPU in 1s while out of fds" % used
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: serves(p.port), 5, what="service after EMFILE")
