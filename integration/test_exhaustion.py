"""Resource exhaustion: slowloris, slow readers, the connection limit and fd exhaustion.
Memory and file descriptors stay bounded, timeouts are enforced, other clients keep being
served, and service resumes by itself.

No assert here depends on how fast a loaded machine is: each one waits for a condition against
a generous deadline, and measurements (RSS, CPU time) cover an operation bounded by such a
condition, never a fixed sleep."""

import os
import select
import socket
import threading
import time

from conftest import LOOPBACK, RawConn, get_request, request, serves, wait_until


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


def peer_closed_any(socks):
    """True if the peer already closed (or answered on) any of socks; does not block."""
    readable, _, _ = select.select(socks, [], [], 0)
    return bool(readable)


def wait_all_closed_by_peer(socks, timeout):
    """Waits until the peer has closed every socket (EOF or reset; bytes received meanwhile are
    discarded) or `timeout` passes; returns how many are still open."""
    open_socks = set(socks)
    deadline = time.monotonic() + timeout
    while open_socks:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        readable, _, _ = select.select(list(open_socks), [], [], min(left, 0.5))
        for s in readable:
            try:
                if s.recv(65536):
                    continue
            except OSError:
                pass
            open_socks.discard(s)
    return len(open_socks)


def test_slowloris_is_cut_off_and_others_unaffected(origins, switchyard):
    header_s = 4
    cfg = switchyard.config(origins(1))
    cfg["timeouts"]["client_header"] = "%ds" % header_s
    p = switchyard.start(cfg)
    attackers = []
    for _ in range(40):
        s = socket.create_connection((LOOPBACK, p.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        attackers.append(s)
    stop = threading.Event()

    def trickle():
        # One byte per attacker every 0.1 s, past client_header: trickling must not extend it.
        for _ in range(int((header_s + 10) / 0.1)):
            if stop.wait(0.1):
                return
            for s in attackers:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    t = threading.Thread(target=trickle)
    t.start()
    try:
        # Legitimate requests are answered while every attacker is still held (not yet cut by
        # client_header): a proxy that served them only once the attackers were gone fails.
        for _ in range(40):
            assert request(p.port, "/", timeout=header_s + 5).status == 200
        assert not peer_closed_any(attackers), \
            "legitimate requests were served only after attackers were cut off"
        left = wait_all_closed_by_peer(attackers, header_s + 10)
        assert left == 0, "%d slowloris connections still open after client_header" % left
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
    # RSS is sampled for the whole stall, until the exchange is cut after client_send without
    # progress (the upstream connection closed too): its peak stays bounded.
    peak = base
    deadline = time.monotonic() + 15
    while True:
        peak = max(peak, rss_kib(p.proc.pid))
        if o.stats()["active"] <= 1:
            break
        assert time.monotonic() < deadline, "stalled exchange not closed within 15 s"
        time.sleep(0.05)
    assert peak - base < 8 * 1024, "RSS grew %d KiB for a stalled reader" % (peak - base)
    assert request(p.port, "/").status == 200
    s.close()


def test_max_connections_refuses_extra_and_recovers(origins, switchyard):
    cfg = switchyard.config(origins(1), workers=1, limits={"max_connections": 10})
    # Long enough that the extra connection cannot be closed by a timeout within the wait
    # below: only the limit closes it.
    cfg["timeouts"]["client_idle"] = "60s"
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
        assert closed_by_peer(extra, 10), "11th connection was not closed"
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
    fd_limit = 48
    wrapper.write_text("#!/bin/sh\nulimit -n %d\nexec %s \"$@\"\n" % (fd_limit, switchyard.binary))
    wrapper.chmod(0o755)
    switchyard.binary = wrapper
    cfg = switchyard.config(origins(1), workers=1)
    cfg["timeouts"]["client_idle"] = "3s"
    p = switchyard.start(cfg)
    socks = []
    try:
        c0 = cpu_seconds(p.proc.pid)
        t0 = time.monotonic()
        for _ in range(80):
            try:
                socks.append(socket.create_connection((LOOPBACK, p.port), timeout=2))
            except OSError:
                break
        # Every descriptor in use, give or take the one libuv's EMFILE handling frees for a
        # moment (it closes its reserve fd to accept and drop a connection, then reopens it).
        wait_until(lambda: len(os.listdir("/proc/%d/fd" % p.proc.pid)) >= fd_limit - 1, 10,
                   what="every descriptor in use")
        # Out of descriptors, the proxy has nothing to do until client_idle cuts the idle
        # connections it holds (the ones it could not accept are dropped at once). CPU time is
        # what it consumed over that whole wait: a busy loop on EMFILE burns it all along.
        left = wait_all_closed_by_peer(socks, 20)
        used = cpu_seconds(p.proc.pid) - c0
        elapsed = time.monotonic() - t0
        assert left == 0, "%d idle connections not closed after client_idle" % left
        assert used < 0.5, "proxy burned %.2fs CPU in %.1fs while out of fds" % (used, elapsed)
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: serves(p.port), 5, what="service after EMFILE")
