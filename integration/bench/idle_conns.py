#!/usr/bin/python3
"""Open N keep-alive client connections to HOST:PORT, send one request on each, read the
response and keep every connection open (idle) until stdin is closed.

Used by bench.py to measure a proxy's memory cost per idle keep-alive client connection.
Prints "READY ok=N fail=M" on stdout once all connections are idle, then waits.

Usage: idle_conns.py HOST PORT N [--batch 500] [--timeout 30] [--path /]
Standard library only.
"""
import argparse
import resource
import selectors
import socket
import sys
import time


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    for limit in (max(want, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, limit), limit))
            return
        except (ValueError, OSError):
            continue


def response_complete(buf):
    """True once buf holds one whole HTTP response (Content-Length or chunked)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1").lower().split("\r\n")
    body = buf[end + 4:]
    status = head[0].split()
    if len(status) < 2 or not status[1].startswith("2"):
        raise ValueError("status %s" % head[0])
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return len(body) >= int(value.strip())
        if name.strip() == "transfer-encoding" and "chunked" in value:
            return body.endswith(b"0\r\n\r\n")
    return True  # no body framing: a response without body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--path", default="/")
    args = ap.parse_args()
    raise_nofile(args.n + 100)

    request = ("GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-conns\r\n\r\n" % args.path).encode()
    sel = selectors.DefaultSelector()
    idle = []
    ok = fail = 0
    first_error = None
    deadline = time.monotonic() + args.timeout
    for start in range(0, args.n, args.batch):
        pending = {}
        for _ in range(start, min(args.n, start + args.batch)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((args.host, args.port))
            pending[s] = bytearray()
            sel.register(s, selectors.EVENT_WRITE)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, events in sel.select(timeout=min(left, 1.0)):
                s = key.fileobj
                try:
                    if events & selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, "connect failed")
                        s.sendall(request)  # tiny: fits in the socket buffer
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(65536)
                    if not data:
                        raise OSError("connection closed by peer")
                    pending[s] += data
                    if response_complete(bytes(pending[s])):
                        sel.unregister(s)
                        del pending[s]
                        idle.append(s)
                        ok += 1
                except (OSError, ValueError) as e:
                    first_error = first_error or repr(e)
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    fail += 1
        for s in pending:  # timed out
            sel.unregister(s)
            s.close()
            fail += 1
        if time.monotonic() >= deadline:
            fail += max(0, args.n - ok - fail)
            first_error = first_error or "timeout"
            break
    msg = "READY ok=%d fail=%d" % (ok, fail)
    if first_error:
        msg += " first_error=%s" % first_error.replace(" ", "_")
    print(msg, flush=True)
    try:
        sys.stdin.read()  # the parent closes our stdin when it has measured
    except KeyboardInterrupt:
        pass
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
