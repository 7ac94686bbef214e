"""Rate limiting (rate_limits:, routes[].rate_limit): GCRA with the local store shared by all
workers, and the redis store shared by several Switchyard processes through a real redis-server
started here (random port, loopback, no persistence)."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import LOOPBACK, free_port, stop_process, wait_until, _pdeathsig
from obs_util import scrape

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
needs_redis = pytest.mark.skipif(not os.path.exists(REDIS),
                                 reason="redis-server (Debian redis-server) not installed")


def get(port, path="/", source=LOOPBACK, headers=None):
    """One GET on a new connection from `source`; (status, headers dict lowercased, body)."""
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def limited_config(switchyard, backends, policies, route_limits, workers=2, **extra):
    cfg = switchyard.config(backends, workers=workers, **extra)
    cfg["rate_limits"] = policies
    cfg["listeners"][0]["routes"][0]["rate_limit"] = route_limits
    return cfg


def decisions(p, policy):
    m = scrape(p.admin_port)
    return {r: m.sum("switchyard_ratelimit_decisions_total", policy=policy, result=r)
            for r in ("allowed", "limited", "dry_run_limited", "store_error")}


def test_burst_gets_burst_plus_one_then_429_with_headers(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(limited_config(switchyard, [b1], [
        {"name": "per_ip", "key": ["client_ip"], "rate": "1/m", "burst": 4}], ["per_ip"]))
    answers = [get(p.port) for _ in range(8)]
    statuses = [s for s, _, _ in answers]
    assert statuses == [200] * 5 + [429] * 3, statuses
    # Allowed answers carry RateLimit with the remaining quota counting down.
    for i, (_, h, _) in enumerate(answers[:5]):
        assert h["ratelimit"].startswith('"per_ip";r=%d;t=' % (4 - i)), h
        assert "retry-after" not in h
    status, h, body = answers[5]
    assert body == b"too many requests\n"
    # 1/m with burst 4: the next request is one interval (60 s) away, rounded up.
    assert h["retry-after"] == "60"
    assert h["ratelimit-policy"] == '"per_ip";q=1;w=60'
    assert h["ratelimit"] == '"per_ip";r=0;t=300'
    d = decisions(p, "per_ip")
    assert d == {"allowed": 5, "limited": 3, "dry_run_limited": 0, "store_error": 0}


def test_http2_clients_get_the_same_fields(origins, switchyard):
    from h2_util import H2
    (b1,) = origins(1)
    cfg = limited_config(switchyard, [b1], [
        {"name": "per_ip", "key": ["client_ip"], "rate": "1/h", "burst": 1}], ["per_ip"])
    cfg["listeners"][0]["protocols"] = ["h1", "h2c"]
    p = switchyard.start(cfg)
    c = H2(p.port)
    try:
        answers = [c.request("GET", "/") for _ in range(3)]
    finally:
        c.close()
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[0][1]["ratelimit"] == '"per_ip";r=1;t=3600'
    assert answers[1][1]["ratelimit"] == '"per_ip";r=0;t=7200'
    h = answers[2][1]
    assert (h["retry-after"], h["ratelimit-policy"], h["ratelimit"]) == (
        "3600", '"per_ip";q=1;w=3600', '"per_ip";r=0;t=7200')


def test_two_addresses_are_limited_separately(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(limited_config(switchyard, [b1], [
        {"name": "per_ip", "key": ["client_ip"], "rate": "1/h", "burst": 2}], ["per_ip"]))
    for source in ("127.0.0.1", "127.0.0.2"):
        statuses = [get(p.port, source=source)[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429], (source, statuses)


def test_header_key_and_unkeyed_requests(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(limited_config(switchyard, [b1], [
        {"name": "per_key", "key": ["header:X-Api-Key"], "rate": "1/h"}], ["per_key"]))
    assert get(p.port, headers={"X-Api-Key": "a"})[0] == 200
    assert get(p.port, headers={"X-Api-Key": "a"})[0] == 429
    assert get(p.port, headers={"X-Api-Key": "b"})[0] == 200
    # No key at all: the policy does not apply (as nginx's limit_req with an empty key).
    status, h, _ = get(p.port)
    assert status == 200 and "ratelimit" not in h


def test_limit_holds_across_two_workers(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(limited_config(switchyard, [b1], [
        {"name": "per_ip", "key": ["client_ip"], "rate": "1/h", "burst": 9}], ["per_ip"],
        workers=2))
    # Every request on a new connection: SO_REUSEPORT spreads them over both workers.
    statuses = [get(p.port)[0] for _ in range(40)]
    assert statuses.count(200) == 10, statuses
    assert statuses[:10] == [200] * 10
    d = decisions(p, "per_ip")
    assert d["allowed"] == 10 and d["limited"] == 30


def test_dry_run_never_refuses_but_counts(origins, switchyard):
    (b1,) = origins(1)
    p = switchyard.start(limited_config(switchyard, [b1], [
        {"name": "shadow", "key": ["client_ip", "host"], "rate": "1/h", "burst": 1,
         "mode": "dry_run"}], ["shadow"]))
    for _ in range(6):
        status, h, _ = get(p.port)
        assert status == 200
        assert "ratelimit" not in h  # dry-run policies are invisible to clients
    assert decisions(p, "shadow") == {"allowed": 2, "limited": 0, "dry_run_limited": 4,
                                      "store_error": 0}


def test_state_survives_a_reload_of_an_unchanged_policy(origins, switchyard):
    (b1,) = origins(1)
    cfg = limited_config(switchyard, [b1], [
        {"name": "per_ip", "key": ["client_ip"], "rate": "1/h"}], ["per_ip"])
    p = switchyard.start(cfg)
    assert get(p.port)[0] == 200
    assert get(p.port)[0] == 429
    cfg["timeouts"]["upstream_response"] = "3s"  # some other change
    switchyard.write(cfg, p.cfg_path.name)
    before = scrape(p.admin_port).sum("switchyard_config_reloads_total", result="success")
    p.signal(signal.SIGHUP)
    wait_until(lambda: scrape(p.admin_port).sum("switchyard_config_reloads_total",
                                                result="success") > before, 5, what="reload")
    assert get(p.port)[0] == 429


def test_unknown_policy_is_refused_with_its_position(switchyard, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "listeners:\n"
        "  - name: web\n"
        "    listen: 127.0.0.1:%d\n"
        "    routes:\n"
        "      - match: {path_prefix: /}\n"
        "        pool: web\n"
        "        rate_limit: [per_ip, nope]\n"
        "pools:\n"
        "  - name: web\n"
        "    backends: [{name: b1, address: 127.0.0.1:9}]\n"
        "rate_limits:\n"
        "  - {name: per_ip, key: [client_ip], rate: 10/s}\n" % free_port())
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode != 0
    assert "bad.yaml:7:" in r.stderr and "unknown rate limit policy 'nope'" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# the redis store


class Redis:
    def __init__(self, tmp_path, port=None):
        self.port = port or free_port()
        self.tmp_path = tmp_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly",
             "no", "--dir", str(self.tmp_path), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig)
        wait_until(self.accepts, 10, what="redis-server on port %d" % self.port)
        return self

    def accepts(self):
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)

    def stop(self):
        if self.proc:
            stop_process(self.proc)


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path).start()
    yield r
    r.stop()


def redis_config(switchyard, backends, redis, burst, rate="1/h"):
    return limited_config(switchyard, backends, [
        {"name": "fleet", "key": ["client_ip"], "rate": rate, "burst": burst, "store": "redis"}],
        ["fleet"], redis={"address": "%s:%d" % (LOOPBACK, redis.port), "timeout": "200ms"})


@needs_redis
def test_two_processes_share_one_limit_through_redis(origins, switchyard, redis):
    (b1,) = origins(1)
    p1 = switchyard.start(redis_config(switchyard, [b1], redis, burst=19))
    p2 = switchyard.start(redis_config(switchyard, [b1], redis, burst=19))
    statuses = [get(p.port)[0] for _ in range(30) for p in (p1, p2)]
    allowed = statuses.count(200)
    # One limit's allowance is burst + 1 = 20 (one interval is an hour: nothing refills).
    assert 18 <= allowed <= 22, statuses
    assert allowed == 20, statuses
    assert statuses.count(429) == 60 - allowed
    _, h, _ = get(p1.port)
    assert h["ratelimit-policy"] == '"fleet";q=1;w=3600'
    total = decisions(p1, "fleet")["allowed"] + decisions(p2, "fleet")["allowed"]
    assert total == allowed


@needs_redis
def test_redis_down_fails_open_and_back_resumes(origins, switchyard, redis):
    (b1,) = origins(1)
    p = switchyard.start(redis_config(switchyard, [b1], redis, burst=2))
    assert [get(p.port)[0] for _ in range(5)] == [200, 200, 200, 429, 429]
    redis.kill()
    # Down: every request passes, counted as store_error.
    statuses = [get(p.port)[0] for _ in range(10)]
    assert statuses == [200] * 10, statuses
    assert decisions(p, "fleet")["store_error"] >= 10
    assert "redis store" in p.stderr()
    # Back on the same port (empty, no persistence): limiting resumes without a restart, once
    # each worker has reconnected (backoff up to 2 s); until then requests pass. 20 refusals in a
    # row on new connections: both workers enforce again (all on one worker: odds 2^-19).
    redis.start()
    limited = decisions(p, "fleet")["limited"]
    deadline = time.monotonic() + 15
    seen = []
    while time.monotonic() < deadline and seen[-20:] != [429] * 20:
        seen.append(get(p.port)[0])
    assert seen[-20:] == [429] * 20, seen
    assert decisions(p, "fleet")["limited"] >= limited + 20


@needs_redis
def test_redis_too_slow_fails_open_after_the_timeout(origins, switchyard, redis):
    (b1,) = origins(1)
    p = switchyard.start(redis_config(switchyard, [b1], redis, burst=0))
    assert [get(p.port)[0] for _ in range(3)] == [200, 429, 429]
    redis.proc.send_signal(signal.SIGSTOP)  # Redis hangs: connected, never answers
    try:
        # Clients that leave while their request waits for Redis: nothing is left behind.
        for _ in range(5):
            with socket.create_connection((LOOPBACK, p.port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        statuses = [get(p.port)[0] for _ in range(4)]
        elapsed = time.monotonic() - started
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    assert statuses == [200] * 4, statuses
    assert elapsed < 4 * 1.5, elapsed  # each waited about redis.timeout (200 ms), not longer
    assert decisions(p, "fleet")["store_error"] >= 4
    # Answering again: enforcement resumes (the state kept in Redis still refuses).
    wait_until(lambda: all(get(p.port)[0] == 429 for _ in range(10)), 15,
               what="limiting after Redis resumed")
