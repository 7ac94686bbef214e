"""Live reload: SIGHUP (and `watch`) publish a new config while traffic flows, lose nothing,
and refuse a bad file while the running config keeps serving; every trigger is counted alike;
a request head that spans a reload keeps its listener's routes."""

import os
import signal
import time

from conftest import (LOOPBACK, RawConn, accepts, free_port, get_request, request, to_yaml,
                      wait_until)
from load_util import Load


def write_atomically(path, cfg):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(cfg if isinstance(cfg, str) else to_yaml(cfg))
    os.replace(tmp, path)


def backend_of(port):
    return request(port, "/", timeout=5).header("X-Backend")


def two_configs(switchyard, b1, b2, port, admin):
    a = switchyard.config([b1])
    b = switchyard.config([b2])
    for cfg in (a, b):
        cfg["listeners"][0]["listen"] = "%s:%d" % (LOOPBACK, port)
        cfg["admin"]["listen"] = "%s:%d" % (LOOPBACK, admin)
    b["pools"][0]["name"] = "other"
    b["listeners"][0]["routes"][0]["pool"] = "other"
    return a, b


def test_fifty_reloads_under_load_lose_nothing(origins, switchyard):
    b1, b2 = origins(2)
    port, admin = free_port(), free_port()
    a, b = two_configs(switchyard, b1, b2, port, admin)
    p = switchyard.start(a)
    path = p.cfg_path
    with Load(port, max_seconds=30) as load:
        for i in range(50):
            cfg, want = (b, "b2") if i % 2 == 0 else (a, "b1")
            write_atomically(path, cfg)
            t0 = time.monotonic()
            p.signal(signal.SIGHUP)
            wait_until(lambda: backend_of(port) == want, 1.0, interval=0.01,
                       what="route change %d visible" % i)
            assert time.monotonic() - t0 < 1.0
        wait_until(lambda: load.ok > 200, 10, what="200 requests answered under the reloads")
    assert load.failures == [], load.failures[:5]
    assert p.proc.poll() is None


def test_invalid_file_is_refused_and_traffic_continues(origins, switchyard):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    p = switchyard.start(cfg)
    cfg["pools"][0]["policy"] = "nope"
    write_atomically(p.cfg_path, cfg)
    p.signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in p.stderr(), 5, what="refusal logged")
    err = p.stderr()
    assert "%s:" % p.cfg_path in err and "pools[0].policy" in err
    for _ in range(20):
        assert request(p.port, "/").status == 200


def test_removed_backend_stops_receiving_traffic(origins, switchyard):
    b1, b2 = origins(2)
    cfg = switchyard.config([b1, b2])
    p = switchyard.start(cfg)
    assert {backend_of(p.port) for _ in range(10)} == {"b1", "b2"}
    cfg["pools"][0]["backends"] = cfg["pools"][0]["backends"][:1]
    write_atomically(p.cfg_path, cfg)
    p.signal(signal.SIGHUP)
    wait_until(lambda: all(backend_of(p.port) == "b1" for _ in range(6)), 2, what="b2 removed")
    b2.reset_stats()
    for _ in range(30):
        assert backend_of(p.port) == "b1"
    assert b2.stats()["requests"] == 0


def test_listeners_added_and_removed_without_disturbing_others(origins, switchyard):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    p = switchyard.start(cfg)
    extra_port = free_port()
    extra = {"name": "extra", "listen": "%s:%d" % (LOOPBACK, extra_port),
             "routes": [{"match": {"path_prefix": "/"}, "pool": "web"}]}
    cfg["listeners"].append(extra)
    with Load(p.port, max_seconds=10, keepalive=2, fresh=2) as load:
        write_atomically(p.cfg_path, cfg)
        p.signal(signal.SIGHUP)
        wait_until(lambda: accepts(extra_port), 2, what="new listener accepting")
        assert request(extra_port, "/").status == 200
        cfg["listeners"].pop()
        write_atomically(p.cfg_path, cfg)
        p.signal(signal.SIGHUP)
        wait_until(lambda: not accepts(extra_port), 2, what="removed listener closed")
    assert load.failures == [], load.failures[:5]


def test_watch_reloads_on_file_change(origins, switchyard):
    b1, b2 = origins(2)
    port, admin = free_port(), free_port()
    a, b = two_configs(switchyard, b1, b2, port, admin)
    a["watch"] = True
    b["watch"] = True
    p = switchyard.start(a)
    assert backend_of(port) == "b1"
    write_atomically(p.cfg_path, b)
    wait_until(lambda: backend_of(port) == "b2", 3, what="watched change applied")


def test_health_state_of_kept_backend_survives_reload(origins, switchyard):
    """A backend marked down by active checks stays down across a reload (its state belongs to
    the backend, which the new snapshot keeps), while its checks go on."""
    from obs_util import backend_status

    b1, b2 = origins(2)
    cfg = switchyard.config([b1, b2])
    cfg["pools"][0]["health_check"] = {"type": "http", "path": "/healthz", "interval": "100ms",
                                       "timeout": "500ms", "unhealthy_threshold": 2,
                                       "healthy_threshold": 2}
    p = switchyard.start(cfg)
    b2.set_health(500)
    wait_until(lambda: not backend_status(p.admin_port, "web", "b2")["healthy"], 5,
               what="b2 marked down")
    cfg["listeners"][0]["routes"].insert(0, {"match": {"path_prefix": "/other/"}, "pool": "web"})
    write_atomically(p.cfg_path, cfg)
    p.signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in p.stderr(), 5, what="reload applied")
    assert not backend_status(p.admin_port, "web", "b2")["healthy"]
    for _ in range(20):
        assert backend_of(p.port) == "b1"
    b2.set_health(200)
    wait_until(lambda: backend_status(p.admin_port, "web", "b2")["healthy"], 5,
               what="b2 back up after the reload")


def test_watch_reloads_are_counted_like_sighup(origins, switchyard):
    """A reload started by --watch goes through the same path as SIGHUP and POST /reload: it is
    counted in switchyard_config_reloads_total with the same result labels."""
    from obs_util import scrape, scrape_until

    b1, b2 = origins(2)
    port, admin = free_port(), free_port()
    a, b = two_configs(switchyard, b1, b2, port, admin)
    p = switchyard.start(a, extra_args=["--watch"])
    wait_until(lambda: "watching" in p.stderr(), 5, what="the file watch set up")
    m = scrape(p.admin_port)
    assert m.one("switchyard_config_reloads_total", result="success") == 0
    assert m.one("switchyard_config_reloads_total", result="failure") == 0

    write_atomically(p.cfg_path, b)
    m = scrape_until(p.admin_port,
                     lambda m: m.one("switchyard_config_reloads_total", result="success") == 1,
                     timeout=10, what="the watched reload counted as a success")
    assert m.one("switchyard_config_version") == 2
    assert backend_of(port) == "b2"

    write_atomically(p.cfg_path, "pools: [\n")
    m = scrape_until(p.admin_port,
                     lambda m: m.one("switchyard_config_reloads_total", result="failure") == 1,
                     timeout=10, what="the refused watched reload counted as a failure")
    assert m.one("switchyard_config_reloads_total", result="success") == 1
    assert m.one("switchyard_config_version") == 2
    assert backend_of(port) == "b2"


def test_request_head_spanning_a_reload_is_routed_by_its_own_listener(origins, switchyard):
    """A request whose head is still arriving when a reload removes an earlier listener is
    routed by the routes of the listener it arrived on (issue 21: WorkerListener::routeIndex is
    rewritten for the new snapshot while the request keeps the snapshot it started with, so it
    looked up another listener's route table)."""
    from obs_util import status

    a, b = origins(names=["a", "b"])
    port_a, port_b = free_port(), free_port()
    cfg = switchyard.config([a], workers=1)
    cfg["timeouts"]["client_header"] = "30s"
    cfg["pools"] = [{"name": "pool-a", "backends": [{"name": "a", "address": a.address}]},
                    {"name": "pool-b", "backends": [{"name": "b", "address": b.address}]}]
    cfg["listeners"] = [
        {"name": "A", "listen": "%s:%d" % (LOOPBACK, port_a),
         "routes": [{"match": {"path_prefix": "/"}, "pool": "pool-a"}]},
        {"name": "B", "listen": "%s:%d" % (LOOPBACK, port_b),
         "routes": [{"match": {"path_prefix": "/"}, "pool": "pool-b"}]},
    ]
    p = switchyard.start(cfg)
    assert backend_of(port_a) == "a" and backend_of(port_b) == "b"

    with RawConn(port_b) as c:
        head = get_request("GET", "/")
        c.send(head[:len(head) // 2])
        cfg["listeners"] = cfg["listeners"][1:]  # A removed; B keeps its name and port
        write_atomically(p.cfg_path, cfg)
        p.signal(signal.SIGHUP)
        # Applied on the main thread (version 2) and in the worker: A's socket is closed.
        wait_until(lambda: status(p.admin_port)["config_version"] == 2, 5, what="reload applied")
        wait_until(lambda: not accepts(port_a), 5, what="listener A closed by the worker")
        c.send(head[len(head) // 2:])
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("X-Backend") == "b", "routed with listener A's routes: %r" % r
    assert backend_of(port_b) == "b"


def test_watch_follows_a_configmap_symlink_swap(origins, switchyard, tmp_path):
    """A Kubernetes ConfigMap volume: config.yaml -> ..data/config.yaml, ..data -> a timestamped
    directory; an update writes a new directory and renames a new ..data link over the old one,
    so config.yaml itself is never written. --watch sees it, reloads once, and counts it."""
    from conftest import Proxy
    from obs_util import scrape_until

    b1, b2 = origins(2)
    port, admin = free_port(), free_port()
    a, b = two_configs(switchyard, b1, b2, port, admin)
    vol = tmp_path / "configmap"
    vol.mkdir()
    for n, cfg in ((1, a), (2, b)):
        d = vol / ("..2026_12_07_10_00_0%d.000000%d" % (n, n))
        d.mkdir()
        (d / "config.yaml").write_text(to_yaml(cfg))
    os.symlink("..2026_12_07_10_00_01.0000001", vol / "..data")
    os.symlink("..data/config.yaml", vol / "config.yaml")
    p = Proxy(switchyard.binary, vol / "config.yaml", port, admin, tmp_path, 99,
              ["--watch"])
    switchyard.proxies.append(p)
    p.wait_ready(10)
    assert backend_of(port) == "b1"

    os.symlink("..2026_12_07_10_00_02.0000002", vol / "..data_tmp")
    os.rename(vol / "..data_tmp", vol / "..data")
    m = scrape_until(admin,
                     lambda m: m.one("switchyard_config_reloads_total", result="success") == 1,
                     timeout=5, what="the ConfigMap swap reloaded and counted")
    assert m.one("switchyard_config_version") == 2
    assert backend_of(port) == "b2"
    assert p.stderr().count("watch: reloaded") == 1
