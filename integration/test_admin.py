"""The admin API on admin.listen: /healthz, /status, drain/enable/disable, POST /reload, the
bearer token, and robustness against junk."""

import json
import signal
import socket
import threading

from conftest import LOOPBACK, RawConn, get_request, request, spread, wait_until
from obs_util import admin, admin_json, backend_status, scrape, status


def test_healthz_and_status(origins, switchyard):
    b1, b2 = origins(2)
    p = switchyard.start(switchyard.config([b1, b2]))
    r = admin(p.admin_port, "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")
    for _ in range(4):
        request(p.port, "/")
    # (a worker counts a request just after handing the answer to the socket)
    doc = wait_until(lambda: (lambda d: d if sum(b["requests_total"] for b in
                                                 d["pools"][0]["backends"]) == 4 else None)(
        status(p.admin_port)), 5, what="4 requests in /status")
    assert doc["config_version"] == 1
    assert doc["draining"] is False
    assert doc["workers"] == 2
    assert doc["listeners"][0]["name"] == "public"
    pool = doc["pools"][0]
    assert pool["name"] == "web"
    assert pool["policy"] == "round_robin"
    assert pool["backends_available"] == 2
    b = {x["name"]: x for x in pool["backends"]}
    assert set(b) == {"b1", "b2"}
    assert b["b1"]["address"] == b1.address
    assert b["b1"]["healthy"] is True and b["b1"]["ejected"] is False
    assert b["b1"]["admin_state"] == "enabled"
    assert b["b1"]["weight"] == 1 and b["b1"]["weight_effective"] == 1
    assert b["b1"]["in_flight"] == 0
    assert b["b1"]["requests_total"] + b["b2"]["requests_total"] == 4
    assert b["b1"]["responses"]["2xx"] == b["b1"]["requests_total"]


def test_healthz_is_503_while_draining(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", request(p.port, "/slow?ms=1500",
                                                                     timeout=10)))
    t.start()
    wait_until(lambda: scrape(p.admin_port).one("switchyard_backend_in_flight", backend="b1") == 1,
               5, what="the slow request to be in flight")
    p.signal(signal.SIGTERM)
    r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(admin(p.admin_port,
                                                                             "/healthz")),
                   3, what="/healthz to say 503")
    assert r.body == b"draining\n"
    assert status(p.admin_port)["draining"] is True
    t.join(10)
    assert done["r"].status == 200
    assert p.wait_exit(10) == 0


def test_drain_and_enable_move_traffic(origins, switchyard):
    b1, b2, b3 = origins(3)
    p = switchyard.start(switchyard.config([b1, b2, b3]))
    assert set(spread(p.port, 9)) == {"b1", "b2", "b3"}
    code, doc = admin_json(p.admin_port, "/pools/web/backends/b1/drain", method="POST")
    assert code == 200
    assert doc == {"pool": "web", "backend": "b1", "admin_state": "draining"}
    assert backend_status(p.admin_port, "web", "b1")["admin_state"] == "draining"
    assert backend_status(p.admin_port, "web", "b1")["available"] is False
    seen = spread(p.port, 12)
    assert "b1" not in seen and set(seen) == {"b2", "b3"}
    m = scrape(p.admin_port)
    assert m.one("switchyard_backend_admin_state", backend="b1", state="draining") == 1
    assert m.one("switchyard_backend_admin_state", backend="b1", state="enabled") == 0
    code, doc = admin_json(p.admin_port, "/pools/web/backends/b1/enable", method="POST")
    assert code == 200 and doc["admin_state"] == "enabled"
    assert "b1" in spread(p.port, 9)


def test_drain_lets_in_flight_requests_finish(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", request(p.port, "/slow?ms=800",
                                                                     timeout=10)))
    t.start()
    wait_until(lambda: backend_status(p.admin_port, "web", "b1")["in_flight"] == 1, 5,
               what="the slow request to be in flight")
    assert admin(p.admin_port, "/pools/web/backends/b1/drain", method="POST").status == 200
    # New requests find no backend; the one in flight completes normally.
    assert request(p.port, "/").status == 503
    t.join(10)
    assert done["r"].status == 200
    wait_until(lambda: backend_status(p.admin_port, "web", "b1")["in_flight"] == 0, 5,
               what="no request in flight")


def test_disable_moves_traffic_and_closes_pooled_connections(origins, switchyard):
    b1, b2 = origins(2)
    p = switchyard.start(switchyard.config([b1, b2]))
    spread(p.port, 6)
    assert backend_status(p.admin_port, "web", "b1")["connections_active"] >= 1
    assert admin(p.admin_port, "/pools/web/backends/b1/disable", method="POST").status == 200
    assert spread(p.port, 8) == {"b2": 8}
    wait_until(lambda: backend_status(p.admin_port, "web", "b1")["connections_active"] == 0, 5,
               what="b1's pooled connections to close")
    assert scrape(p.admin_port).one("switchyard_backend_admin_state", backend="b1",
                                    state="disabled") == 1
    assert admin(p.admin_port, "/pools/web/backends/b1/enable", method="POST").status == 200
    assert "b1" in spread(p.port, 6)


def test_unknown_pool_backend_or_action_is_404(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))
    assert admin(p.admin_port, "/pools/web/backends/nope/drain", method="POST").status == 404
    assert admin(p.admin_port, "/pools/nope/backends/b1/drain", method="POST").status == 404
    assert admin(p.admin_port, "/pools/web/backends/b1/reboot", method="POST").status == 404
    assert admin(p.admin_port, "/nothing").status == 404
    r = admin(p.admin_port, "/pools/web/backends/b1/drain")  # GET
    assert r.status == 405 and r.header("allow") == "POST"
    assert admin(p.admin_port, "/metrics", method="POST").status == 405
    assert backend_status(p.admin_port, "web", "b1")["admin_state"] == "enabled"


def test_post_reload(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1])
    p = switchyard.start(cfg)
    cfg["pools"][0]["backends"] = [{"name": "b2", "address": b2.address}]
    switchyard.write(cfg, p.cfg_path.name)
    code, doc = admin_json(p.admin_port, "/reload", method="POST")
    assert code == 200 and doc == {"reloaded": True, "config_version": 2}
    assert request(p.port, "/").header("x-backend") == "b2"

    p.cfg_path.write_text(p.cfg_path.read_text().replace("policy:", "polcy:"))
    code, doc = admin_json(p.admin_port, "/reload", method="POST")
    assert code == 400
    assert p.cfg_path.name in doc["error"] and "polcy" in doc["error"]
    assert status(p.admin_port)["config_version"] == 2
    assert request(p.port, "/").header("x-backend") == "b2"  # still serving the last good one


def test_token_protects_posts(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    token_file = tmp_path / "admin.token"
    token_file.write_text("t0ken-xyz\n")  # the trailing newline is not part of the token
    token = "t0ken-xyz"
    cfg = switchyard.config([b1])
    cfg["admin"]["token_file"] = str(token_file)
    p = switchyard.start(cfg)
    path = "/pools/web/backends/b1/drain"
    r = admin(p.admin_port, path, method="POST")
    assert r.status == 401 and r.header("www-authenticate", "").startswith("Bearer")
    assert admin(p.admin_port, path, method="POST", token="wrong").status == 401
    assert admin(p.admin_port, "/reload", method="POST").status == 401
    assert backend_status(p.admin_port, "web", "b1")["admin_state"] == "enabled"
    assert admin(p.admin_port, path, method="POST", token=token).status == 200
    assert backend_status(p.admin_port, "web", "b1")["admin_state"] == "draining"
    assert admin(p.admin_port, "/metrics").status == 200  # reads need no token
    assert admin(p.admin_port, "/reload", method="POST", token=token).status == 200


def test_unreadable_token_file_refuses_to_start(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    cfg = switchyard.config([b1])
    cfg["admin"]["token_file"] = str(tmp_path / "missing.token")
    p = switchyard.start(cfg, wait=False)
    p.expect_failure = True
    assert p.wait_exit(10) == 1
    assert "missing.token" in p.stderr()


def test_admin_port_survives_junk(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))
    junk = [
        b"\x00\xff\x16\x03\x01garbage\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"POST /reload HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    ]
    for raw in junk:
        with RawConn(p.admin_port, timeout=5) as c:
            try:
                c.send(raw)
                r = c.read_response()
                assert 400 <= r.status < 500, (raw[:40], r)
            except (EOFError, ConnectionResetError, BrokenPipeError):
                pass
    # Half a request, then the client goes away.
    s = socket.create_connection((LOOPBACK, p.admin_port))
    s.sendall(b"GET /stat")
    s.close()
    # Keep-alive and pipelining still work afterwards.
    with RawConn(p.admin_port) as c:
        c.send(get_request("GET", "/healthz") + get_request("GET", "/status"))
        assert c.read_response().body == b"ok\n"
        assert json.loads(c.read_response().body)["config_version"] == 1
        c.send(get_request("HEAD", "/metrics"))
        r = c.read_response("HEAD")
        assert r.status == 200 and int(r.header("content-length")) > 1000
    assert request(p.port, "/").status == 200
