#!/usr/bin/python3
"""A gRPC backend implementing grpc.health.v1.Health/Check with a generic handler (no generated
code: the tiny protobuf messages are encoded by hand), for the health-check tests.

Usage: grpc_health_origin.py --port 0 --status SERVING|NOT_SERVING [--service NAME ...]
                             [--tls-cert C --tls-key K]
Prints "ready <port>" once serving. Check("") answers the --status; Check(NAME) answers it for
a NAME given with --service and NOT_FOUND for any other. /test.Control/Set with the request
body "SERVING" or "NOT_SERVING" changes the status at run time; /test.Control/Checks answers
the number of Check calls so far (as ASCII)."""

import argparse
import sys
import threading
from concurrent import futures

import grpc

STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def parse_service(req):
    """HealthCheckRequest { string service = 1; } -> the service name."""
    i, name = 0, b""
    while i < len(req):
        key = req[i]
        i += 1
        if key == 0x0A:
            n, shift = 0, 0
            while True:
                b = req[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            name = req[i:i + n]
            i += n
        else:
            raise ValueError("unexpected field %#x" % key)
    return name.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="grpc")
    ap.add_argument("--status", default="SERVING", choices=sorted(STATUS))
    ap.add_argument("--service", action="append", default=[])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    state = {"status": STATUS[args.status], "checks": 0}
    lock = threading.Lock()

    def check(request, context):
        with lock:
            state["checks"] += 1
            status = state["status"]
        service = parse_service(request)
        if service and service not in args.service:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service %s" % service)
        return bytes([0x08, status])

    def set_status(request, context):
        with lock:
            state["status"] = STATUS[request.decode()]
        return b""

    def checks(request, context):
        with lock:
            return str(state["checks"]).encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(check)}),
        grpc.method_handlers_generic_handler("test.Control", {
            "Set": grpc.unary_unary_rpc_method_handler(set_status),
            "Checks": grpc.unary_unary_rpc_method_handler(checks)}),
    ))
    addr = "%s:%d" % (args.host, args.port)
    if args.tls_cert:
        creds = grpc.ssl_server_credentials(
            [(open(args.tls_key, "rb").read(), open(args.tls_cert, "rb").read())])
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    server.start()
    sys.stdout.write("ready %d\n" % port)
    sys.stdout.flush()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
