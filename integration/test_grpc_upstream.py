"""gRPC calls answered by backends (python3-grpcio servers behind an h2c pool):
switchyard_grpc_responses_total by grpc-status, the access log's grpc_status (backend answers,
the proxy's own answers, null for other requests) and retries.on: unavailable (a trailers-only
grpc-status 14 retried on another backend)."""

import json
from concurrent import futures

import pytest

grpc = pytest.importorskip("grpc")

from conftest import LOOPBACK, request, wait_until  # noqa: E402
from obs_util import scrape, scrape_until  # noqa: E402


def grpc_server(unavailable=False):
    """A grpcio server with /test.Echo/Ok (echoes reversed) and /test.Echo/NotFound (status 5);
    `unavailable`: every method aborts with UNAVAILABLE before sending anything."""
    def ok(req, ctx):
        if unavailable:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        return req[::-1]

    def not_found(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "NotFound": grpc.unary_unary_rpc_method_handler(not_found),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("%s:0" % LOOPBACK)
    server.start()
    return server, port


@pytest.fixture
def servers():
    made = []

    def make(**kw):
        s, port = grpc_server(**kw)
        made.append(s)
        return port
    yield make
    for s in made:
        s.stop(0)


def start(switchyard, backends, retries=None, **sections):
    cfg = switchyard.config([{"name": n, "address": "%s:%d" % (LOOPBACK, p)} for n, p in backends],
                            workers=1, **sections)
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    cfg["listeners"][0]["routes"][0]["match"]["path_prefix"] = "/test.Echo/"
    cfg["pools"][0]["protocol"] = "h2c"
    if retries is not None:
        cfg["pools"][0]["retries"] = retries
    return switchyard.start(cfg)


def call(ch, method, payload=b"abc"):
    try:
        ch.unary_unary(method)(payload, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def grpc_responses(m, **labels):
    return m.sum("switchyard_grpc_responses_total", **labels)


def log_entries(path, n):
    def read():
        try:
            lines = [l for l in path.read_text().splitlines() if l]
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None
    return [json.loads(l) for l in wait_until(read, 5, what="%d access log lines" % n)]


def test_grpc_status_metric_and_access_log(switchyard, servers, tmp_path):
    port = servers()
    log = tmp_path / "access.log"
    p = start(switchyard, [("g1", port)], access_log={"path": str(log), "format": "json"})
    with grpc.insecure_channel("%s:%d" % (LOOPBACK, p.port)) as ch:
        for _ in range(3):
            assert call(ch, "/test.Echo/Ok") == grpc.StatusCode.OK
        for _ in range(2):
            assert call(ch, "/test.Echo/NotFound") == grpc.StatusCode.NOT_FOUND
        assert call(ch, "/other.Svc/Call") == grpc.StatusCode.UNIMPLEMENTED  # no route
    assert request(p.port, "/test.Echo/plain").status >= 200  # not a gRPC call
    m = scrape_until(p.admin_port, lambda m: grpc_responses(m) == 5)
    assert grpc_responses(m, pool="web", backend="g1", grpc_status="0") == 3
    assert grpc_responses(m, pool="web", backend="g1", grpc_status="5") == 2
    # The proxy's own answer is not a backend's: counted in local_responses only.
    assert m.sum("switchyard_local_responses_total", reason="no_route") == 1

    entries = log_entries(log, 7)
    by_path = {}
    for e in entries:
        by_path.setdefault(e["path"], []).append(e)
    assert [e["grpc_status"] for e in by_path["/test.Echo/Ok"]] == [0, 0, 0]
    assert [e["grpc_status"] for e in by_path["/test.Echo/NotFound"]] == [5, 5]
    assert all(e["backend"] == "g1" for e in by_path["/test.Echo/NotFound"])
    (local,) = by_path["/other.Svc/Call"]
    assert local["grpc_status"] == 12 and local["backend"] is None and local["status"] == 200
    (plain,) = by_path["/test.Echo/plain"]
    assert plain["grpc_status"] is None


def test_retries_on_unavailable(switchyard, servers, tmp_path):
    bad, good = servers(unavailable=True), servers()
    log = tmp_path / "access.log"
    n = 10
    p = start(switchyard, [("bad", bad), ("good", good)],
              retries={"attempts": 1, "on": ["unavailable"]},
              access_log={"path": str(log), "format": "json"})
    with grpc.insecure_channel("%s:%d" % (LOOPBACK, p.port)) as ch:
        codes = [call(ch, "/test.Echo/Ok") for _ in range(n)]
    assert codes == [grpc.StatusCode.OK] * n
    m = scrape_until(p.admin_port, lambda m: grpc_responses(m) == n)
    assert grpc_responses(m, backend="good", grpc_status="0") == n
    assert grpc_responses(m, backend="bad") == 0  # the dropped answers reached no client
    retried = [e for e in log_entries(log, n) if e["attempts"] == 2]
    assert retried and all(e["backend"] == "good" and e["grpc_status"] == 0 for e in retried)
    assert m.sum("switchyard_retries_total", pool="web", reason="unavailable") == len(retried)


def test_without_unavailable_the_client_sees_it(switchyard, servers):
    bad, good = servers(unavailable=True), servers()
    n = 10
    p = start(switchyard, [("bad", bad), ("good", good)],
              retries={"attempts": 1, "on": ["connect_failure", "5xx"]})
    with grpc.insecure_channel("%s:%d" % (LOOPBACK, p.port)) as ch:
        codes = [call(ch, "/test.Echo/Ok") for _ in range(n)]
    failed = codes.count(grpc.StatusCode.UNAVAILABLE)
    assert failed >= 1 and failed + codes.count(grpc.StatusCode.OK) == n
    m = scrape_until(p.admin_port, lambda m: grpc_responses(m) == n)
    assert grpc_responses(m, backend="bad", grpc_status="14") == failed
    assert grpc_responses(m, backend="good", grpc_status="0") == n - failed
    assert m.sum("switchyard_retries_total", pool="web", reason="unavailable") == 0
    assert scrape(p.admin_port).sum("switchyard_retries_total", pool="web") == 0
