#!/usr/bin/python3
"""WebSocket test backend for Switchyard, built on Debian's python3-websockets (a real,
independent WebSocket implementation).

Usage: ws_origin.py --port 0 [--host 127.0.0.1] [--name NAME]

Prints "ready <port>" on stdout once listening. Paths:
  /echo      every message is sent back as it came (text or binary)
  /headers   sends one text message, JSON {"path", "headers": [[name, value], ...]} of the
             upgrade request as received, then echoes like /echo
  /push?n=N&size=S   sends N binary messages of S bytes each (byte i of message k is
             (i + k) % 251), then a text message "done", then echoes
  /bye       sends "bye" and closes the WebSocket (close code 1000)
  anything else: refused with 404 (no upgrade)
Each connection's end is logged to stderr as "closed <path> <code>".
"""

import argparse
import asyncio
import http
import json
import sys
import urllib.parse

import websockets


def pattern(k, size):
    return bytes((i + k) % 251 for i in range(size))


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


async def handler(ws, path):
    url = urllib.parse.urlsplit(path)
    try:
        if url.path == "/headers":
            await ws.send(json.dumps({"path": path,
                                      "headers": [[k, v] for k, v in ws.request_headers.raw_items()]}))
        elif url.path == "/push":
            q = urllib.parse.parse_qs(url.query)
            n = int(q.get("n", ["1"])[0])
            size = int(q.get("size", ["1024"])[0])
            for k in range(n):
                await ws.send(pattern(k, size))
            await ws.send("done")
        elif url.path == "/bye":
            await ws.send("bye")
            await ws.close(1000, "bye")
            return
        await echo(ws)
    except websockets.ConnectionClosed:
        pass
    finally:
        print("closed %s %s" % (url.path, ws.close_code), file=sys.stderr, flush=True)


async def refuse_unknown(path, headers):
    if urllib.parse.urlsplit(path).path not in ("/echo", "/headers", "/push", "/bye"):
        return http.HTTPStatus.NOT_FOUND, [("X-Backend", "ws")], b"no such websocket\n"
    return None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="ws")
    args = ap.parse_args()
    async with websockets.serve(handler, args.host, args.port, process_request=refuse_unknown,
                                max_size=64 * 1024 * 1024, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("ready %d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
