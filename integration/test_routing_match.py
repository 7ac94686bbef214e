"""Richer routing: match.headers, match.methods and match.query (ANDed with host and path; 404
when no route matches), and weighted splits between pools (`split:`), plain (smooth) and
sticky (`split_key`). Metrics and the access log name the pool chosen; the loader refuses bad
routes with file:line:column."""

import collections
import http.client
import json
import re

import pytest

from conftest import LOOPBACK, RawConn, wait_until
from obs_util import scrape_until
from test_allocations import allocs, shim  # noqa: F401 (shim: a fixture)


def two_pools(switchyard, b1, b2, routes, **sections):
    cfg = switchyard.config([b1], **sections)
    cfg["pools"] = [
        {"name": "stable", "backends": [{"name": b1.name, "address": b1.address}]},
        {"name": "canary", "backends": [{"name": b2.name, "address": b2.address}]},
    ]
    cfg["listeners"][0]["routes"] = routes
    return cfg


def get(c, target, method="GET", headers=""):
    c.send("%s %s HTTP/1.1\r\nHost: app.test\r\n%s%s\r\n" % (
        method, target, headers, "Content-Length: 0\r\n" if method in ("POST", "PUT") else ""))
    return c.read_response(method)


def test_match_headers_methods_and_query(origins, switchyard):
    b1, b2 = origins(2)
    routes = [
        {"match": {"path_prefix": "/api", "headers": {"X-Env": "beta", "X-Token": "*"}},
         "pool": "canary"},
        {"match": {"path_prefix": "/api", "methods": ["POST", "PUT"]}, "pool": "canary"},
        {"match": {"path_prefix": "/api", "query": {"v": "2 beta", "debug": "*"}},
         "pool": "canary"},
        {"match": {"path_prefix": "/api", "methods": ["GET", "HEAD"]}, "pool": "stable"},
        {"match": {"path_prefix": "/only", "query": {"k": "v"}}, "pool": "stable"},
    ]
    p = switchyard.start(two_pools(switchyard, b1, b2, routes))
    with RawConn(p.port) as c:
        def where(*a, **kw):
            r = get(c, *a, **kw)
            return r.header("x-backend") if r.status == 200 else r.status
        assert where("/api/x") == b1.name
        assert where("/api/x", headers="x-env: beta\r\nX-TOKEN: abc\r\n") == b2.name
        assert where("/api/x", headers="X-Env: beta\r\n") == b1.name           # X-Token missing
        assert where("/api/x", headers="X-Env: Beta\r\nX-Token: a\r\n") == b1.name  # exact value
        assert where("/api/x", headers="X-Env: beta\r\nX-Token:\r\n") == b2.name  # present, empty
        assert where("/api/x", method="POST") == b2.name
        assert where("/api/x", method="PUT") == b2.name
        assert where("/api/x", method="HEAD") == b1.name
        assert where("/api/x", method="DELETE") == 404                           # no route
        assert where("/api/x?v=2+beta&debug") == b2.name
        assert where("/api/x?debug=1&v=2%20beta") == b2.name
        assert where("/api/x?v=2%20beta") == b1.name                             # debug missing
        assert where("/api/x?v=2&debug=1") == b1.name
        assert where("/only?a=1&k=v") == b1.name
        assert where("/only?k=vv") == 404
        assert where("/only") == 404
        assert where("/elsewhere") == 404


def test_split_weights_within_three_points(origins, switchyard, tmp_path):
    b1, b2 = origins(2)
    log = tmp_path / "access.log"
    routes = [{"split": [{"pool": "stable", "weight": 95}, {"pool": "canary", "weight": 5}]}]
    cfg = two_pools(switchyard, b1, b2, routes, access_log={"path": str(log), "format": "json"})
    p = switchyard.start(cfg)
    counts = collections.Counter()
    conns = [RawConn(p.port) for _ in range(4)]  # keep-alive; spread over the workers
    try:
        for i in range(2000):
            r = get(conns[i % 4], "/")
            assert r.status == 200
            counts[r.header("x-backend")] += 1
    finally:
        for c in conns:
            c.close()
    share = counts[b2.name] / 2000.0
    assert abs(share - 0.05) <= 0.03, counts
    m = scrape_until(p.admin_port, lambda m: m.sum("switchyard_requests_total") >= 2000,
                     what="2000 requests counted")
    assert m.sum("switchyard_requests_total", pool="canary") == counts[b2.name]
    assert m.sum("switchyard_requests_total", pool="stable") == counts[b1.name]

    def lines():
        try:
            ls = log.read_text().splitlines()
        except FileNotFoundError:
            return None
        return ls if len(ls) >= 2000 else None
    pools = collections.Counter(json.loads(l)["pool"] for l in wait_until(lines, 10))
    assert pools == {"canary": counts[b2.name], "stable": counts[b1.name]}


def test_sticky_split_never_flips_a_user(origins, switchyard):
    b1, b2 = origins(2)
    routes = [{"split": [{"pool": "stable", "weight": 1}, {"pool": "canary", "weight": 1}],
               "split_key": "header:X-User"}]
    p = switchyard.start(two_pools(switchyard, b1, b2, routes))
    sides = collections.defaultdict(set)
    conns = [RawConn(p.port) for _ in range(4)]
    try:
        for rnd in range(5):
            for u in range(200):
                r = get(conns[(u + rnd) % 4], "/", headers="X-User: user-%d\r\n" % u)
                assert r.status == 200
                sides[u].add(r.header("x-backend"))
    finally:
        for c in conns:
            c.close()
    assert all(len(s) == 1 for s in sides.values())
    canary = sum(1 for s in sides.values() if s == {b2.name})
    assert 60 <= canary <= 140, canary  # about half of 200 users


@pytest.mark.parametrize("route,message", [
    ({"pool": "stable", "split": [{"pool": "stable", "weight": 1}, {"pool": "canary", "weight": 1}]},
     "either pool or split"),
    ({"split": [{"pool": "stable", "weight": 1}, {"pool": "nope", "weight": 1}]},
     "unknown pool 'nope'"),
    ({"split": [{"pool": "stable", "weight": 0}, {"pool": "canary", "weight": 1}]}, "weight"),
    ({"split": [{"pool": "stable", "weight": 1.5}, {"pool": "canary", "weight": 1}]}, "weight"),
    ({"split": [{"pool": "stable", "weight": 1}]}, "at least two"),
    ({"pool": "stable", "split_key": "header:X-User"}, "only with split"),
    ({"split": [{"pool": "stable", "weight": 1}, {"pool": "canary", "weight": 1}],
      "split_key": "header:"}, "split_key"),
    ({"match": {"methods": ["GTE"]}, "pool": "stable"}, "unknown method 'GTE'"),
    ({"match": {"headers": {"Bad Name": "x"}}, "pool": "stable"}, "header name"),
    ({"match": {"query": ["a"]}, "pool": "stable"}, "must be a map"),
    ({"match": {"path_prefix": "/"}}, "missing required key 'pool'"),
])
def test_loader_refuses_bad_routes(origins, switchyard, route, message):
    b1, b2 = origins(2)
    cfg = two_pools(switchyard, b1, b2, [route])
    check = switchyard.run_cli("--check", "-c", switchyard.write(cfg, "bad.yaml"))
    assert check.returncode == 1, check.stderr
    assert message in check.stderr, check.stderr
    assert re.search(r"bad\.yaml:\d+:\d+: listeners\[0\]\.routes\[0\]", check.stderr), check.stderr


def test_match_conditions_split_and_real_ip_allocate_nothing_per_request(origins, switchyard,
                                                                         shim):
    (o,) = origins(1)
    routes = [
        {"match": {"path_prefix": "/", "headers": {"X-Env": "beta"}, "methods": ["GET"],
                   "query": {"v": "2 b"}},
         "split": [{"pool": "stable", "weight": 3}, {"pool": "canary", "weight": 1}],
         "split_key": "header:X-User"},
        {"split": [{"pool": "stable", "weight": 1}, {"pool": "canary", "weight": 1}]},
    ]
    cfg = two_pools(switchyard, o, o, routes, workers=1, real_ip={"trusted": ["127.0.0.0/8"]})
    p = switchyard.start(cfg, extra_env={"LD_PRELOAD": str(shim)})

    def run(n):
        c = http.client.HTTPConnection(LOOPBACK, p.port, timeout=10)
        for i in range(n):
            path, hdrs = ("/?v=2+b", {"X-Env": "beta", "X-User": "u%d" % (i % 50)}) if i % 2 else \
                ("/other", {})
            hdrs["X-Forwarded-For"] = "198.51.100.%d, 10.0.0.1" % (i % 200)
            c.request("GET", path, headers=hdrs)
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
    run(300)
    before = allocs(p, 0)
    run(1000)
    after = allocs(p, 1)
    assert (after - before) / 1000 < 0.01, "%d allocations over 1000 requests" % (after - before)
