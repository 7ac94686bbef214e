"""A backend that answers before the request body is all sent (nginx's `return 200` on a POST,
an early 413 or 401): the client's keep-alive connection must survive a short rest of the body.

The answer reaches the client without `Connection: close`, so a client may send its next
request on that connection at once; closing it afterwards made those requests fail (wrk counted
them as read errors in `make bench`'s POST case on io_uring). The proxy now reads and drops the
rest of a body of up to 64 KiB, as it does after its own early answers, and keeps the connection;
a longer rest still closes it, within a bounded time.
"""

import time

from clients import RawConn, get_request
from test_request_path import final_answer, one_backend_config, raw_backend  # noqa: F401

# The proxy holds a body back until 64 KiB are pending or it is complete, so the first part is
# over 64 KiB (the backend sees the request) and the rest under it.
BODY_LENGTH = 160000
FIRST_PART = 100000


def early_handler(backend, conn, method, target, headers):
    """/early: the answer goes out as soon as the head is read; the connection is then read to
    the end of the body if the proxy still sends it (it gives the connection up instead).
    Anything else: an ordinary answer naming the target."""
    if target == "/early":
        conn.send(final_answer(backend.name, b"early\n"))
        try:
            conn.read_body(headers)
        except (EOFError, OSError):
            return False
        return True
    conn.read_body(headers)
    conn.send(final_answer(backend.name, ("%s %s\n" % (method, target)).encode()))
    return True


def post_head(length):
    return ("POST /early HTTP/1.1\r\nHost: test.local\r\nContent-Type: application/octet-stream"
            "\r\nContent-Length: %d\r\n\r\n" % length)


def test_keep_alive_survives_an_answer_that_comes_before_a_short_body_ends(switchyard,
                                                                           raw_backend):
    be = raw_backend(early_handler)
    p = switchyard.start(one_backend_config(switchyard, be))
    with RawConn(p.port) as c:
        c.send(post_head(BODY_LENGTH) + "x" * FIRST_PART)
        r = c.read_response("POST")
        assert r.status == 200 and r.body == b"early\n"
        assert not r.has_token("connection", "close"), \
            "the early answer said close, so nothing is checked here"
        c.send("y" * (BODY_LENGTH - FIRST_PART))  # the rest, dropped by the proxy
        c.send(get_request("GET", "/after"))
        after = c.read_response("GET")
        assert after.status == 200, after
        assert after.body == b"GET /after\n"
    # The rest of the body was not passed on as a request of its own.
    assert [e[2] for e in be.requests()] == ["/early", "/after"]


def test_a_long_rest_of_the_body_closes_the_connection_after_the_answer(switchyard,
                                                                         raw_backend):
    be = raw_backend(early_handler)
    p = switchyard.start(one_backend_config(switchyard, be))
    with RawConn(p.port) as c:
        c.send(post_head(1 << 20) + "x" * FIRST_PART)  # 1 MiB announced
        r = c.read_response("POST")
        assert r.status == 200 and r.body == b"early\n"
        t0 = time.monotonic()
        closed, _ = c.wait_closed(10.0)
        assert closed, "the proxy kept waiting for a megabyte it would only drop"
        assert time.monotonic() - t0 < 10.0
    assert [e[2] for e in be.requests()] == ["/early"]
