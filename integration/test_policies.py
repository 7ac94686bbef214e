"""Balancing policies end to end: least_conn, geo_weighted, hash, p2c.

README "Balancing policies" describes what each one promises.
"""

import shutil
import subprocess

import pytest

from conftest import REPO, spread

REGIONS = {
    "eu-west": {"lat": 53.35, "lon": -6.26},
    "us-east": {"lat": 38.95, "lon": -77.45},
}


def _slow_origin(origins):
    """A backend named "slow" (integration/origin.py) that answers every request after 1.5 s."""
    (slow,) = origins(1, names=["slow"], extra_args=["--delay-ms", "1500"])
    return slow


def _backend(origin, **extra):
    d = {"name": origin.name, "address": origin.address}
    d.update(extra)
    return d


# ---- least_conn ------------------------------------------------------------------------------


def test_least_conn_sends_concurrent_requests_away_from_a_slow_backend(origins, switchyard):
    b1, b2 = origins(2)
    slow = _slow_origin(origins)
    cfg = switchyard.config([slow, b1, b2], policy="least_conn")
    p = switchyard.start(cfg)
    seen = spread(p.port, 40, threads=5)
    assert sum(seen.values()) == 40
    # Round robin would send 13 or 14 of the 40 to the slow backend; least_conn sees its
    # requests piling up and sends it only a few (one or two per worker at first).
    assert seen["slow"] <= 8, seen  # margin for a loaded CI machine
    # The rest goes to the fast two; how it splits between them depends on timing (both sit
    # at zero in flight between requests on a loaded machine), so only ask that both serve.
    assert seen["b1"] + seen["b2"] >= 32 and seen["b1"] >= 2 and seen["b2"] >= 2, seen


def test_round_robin_contrast_with_a_slow_backend(origins, switchyard):
    """The same load under round_robin does hit the slow backend in proportion (control)."""
    b1, b2 = origins(2)
    slow = _slow_origin(origins)
    p = switchyard.start(switchyard.config([slow, b1, b2], workers=1, policy="round_robin"))
    seen = spread(p.port, 12, threads=6)
    assert seen["slow"] == 4, seen


# ---- geo_weighted ----------------------------------------------------------------------------


def _geo_config(switchyard, eu1, eu2, us1, ap1, **geo):
    cfg = switchyard.config(
        [_backend(eu1, region="eu-west"), _backend(eu2, region="eu-west"),
         _backend(us1, region="us-east"),
         _backend(ap1, location={"lat": 1.35, "lon": 103.82})],
        policy="geo_weighted", attempts=3)
    cfg["regions"] = REGIONS
    if geo:
        cfg["geo"] = geo
    return cfg


def test_geo_weighted_serves_the_header_region_and_spills_when_it_is_down(origins, switchyard):
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    # 127.0.0.1 is a trusted proxy by default (geo.trusted_proxies: [127.0.0.0/8, ::1]).
    p = switchyard.start(_geo_config(switchyard, eu1, eu2, us1, ap1),
                         extra_args=("--log-level", "debug"))
    eu = {"X-Client-Region": "eu-west"}
    seen = spread(p.port, 12, threads=3, headers=eu)
    assert set(seen) == {"eu1", "eu2"}, seen
    assert spread(p.port, 4, threads=2, headers={"X-Client-Region": "us-east"}) == {"us1": 4}
    assert spread(p.port, 4, threads=2, headers={"X-Client-Region": "1.29,103.85"}) == {"ap1": 4}
    log = p.stderr()
    assert "client at eu-west (from header) -> tier #0" in log, log[-2000:]

    # The eu region goes away: its requests spill to the next-nearest region (us-east, about
    # 5,400 km from Dublin), not to Singapore (about 11,000 km).
    eu1.stop()
    eu2.stop()
    seen = spread(p.port, 6, threads=2, headers=eu)
    assert seen == {"us1": 6}, seen
    assert "tier #1 (drawn tier had no untried candidate" in p.stderr()


def test_geo_weighted_ignores_the_header_from_an_untrusted_peer(origins, switchyard):
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    cfg = _geo_config(switchyard, eu1, eu2, us1, ap1, trusted_proxies=["10.0.0.0/8"],
                      default_region="us-east")
    p = switchyard.start(cfg)
    seen = spread(p.port, 8, threads=2, headers={"X-Client-Region": "eu-west"})
    assert seen == {"us1": 8}, seen  # placed by default_region, not by the header


def test_geo_weighted_unplaced_client_gets_a_plain_weighted_choice(origins, switchyard):
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    cfg = _geo_config(switchyard, eu1, eu2, us1, ap1, trusted_proxies=["10.0.0.0/8"])
    p = switchyard.start(cfg)
    seen = spread(p.port, 16, threads=2, headers={"X-Client-Region": "eu-west"})
    assert set(seen) - {"eu1", "eu2"}, "the untrusted header placed the client: %s" % seen


def test_geo_weighted_networks_table(origins, switchyard):
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    cfg = _geo_config(switchyard, eu1, eu2, us1, ap1, trusted_proxies=[],
                      networks=[{"cidr": "127.0.0.0/8", "region": "us-east"},
                                {"cidr": "127.0.0.1", "region": "eu-west"}])
    p = switchyard.start(cfg)
    assert set(spread(p.port, 6, threads=2)) == {"eu1", "eu2"}  # /32 beats /8


def _make_mmdb(path):
    if shutil.which("perl") is None:
        pytest.skip("perl is not installed: cannot build the test .mmdb")
    r = subprocess.run(["perl", str(REPO / "tests" / "geo" / "make_test_mmdb.pl"), str(path)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        if "Can't locate MaxMind/DB/Writer" in r.stderr:
            pytest.skip("libmaxmind-db-writer-perl is not installed (scripts/install-deps.sh test)")
        pytest.fail("make_test_mmdb.pl failed: %s" % r.stderr)


def test_geo_weighted_maxmind_database(origins, switchyard, tmp_path):
    db = tmp_path / "test.mmdb"
    _make_mmdb(db)  # maps 127.0.0.0/8 to Dublin's coordinates
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    cfg = _geo_config(switchyard, eu1, eu2, us1, ap1, trusted_proxies=[], database=str(db))
    path = switchyard.write(cfg, "mmdb.yaml")
    check = switchyard.run_cli("--check", "-c", path)
    if check.returncode != 0 and "built without MaxMind support" in check.stderr:
        pytest.skip("this switchyard was built without libmaxminddb")
    assert check.returncode == 0, check.stderr
    p = switchyard.start(cfg)
    assert set(spread(p.port, 6, threads=2)) == {"eu1", "eu2"}


def test_missing_maxmind_database_is_a_config_error(origins, switchyard):
    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    cfg = _geo_config(switchyard, eu1, eu2, us1, ap1, database="/nonexistent/GeoLite2-City.mmdb")
    path = switchyard.write(cfg, "missing-db.yaml")
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode == 1
    assert ("geo.database: cannot open MaxMind database '/nonexistent/GeoLite2-City.mmdb'"
            in r.stderr)
    assert str(path) in r.stderr


def test_geo_weighted_backend_without_a_place_is_refused(origins, switchyard):
    (b1,) = origins(1)
    cfg = switchyard.config([b1], policy="geo_weighted")
    path = switchyard.write(cfg, "unplaced.yaml")
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode == 1
    assert "pools[0].backends[0]: pool 'web' uses policy geo_weighted" in r.stderr


# ---- hash ------------------------------------------------------------------------------------


def test_hash_sticks_a_client_to_one_backend(origins, switchyard):
    bes = origins(3)
    p = switchyard.start(switchyard.config(bes, policy="hash"))
    seen = spread(p.port, 15, threads=3)
    assert len(seen) == 1, seen  # every request comes from 127.0.0.1


def test_hash_by_header_keeps_each_user_on_one_backend(origins, switchyard):
    bes = origins(3)
    cfg = switchyard.config(bes, policy="hash")
    cfg["pools"][0]["hash_key"] = "header:X-User"
    p = switchyard.start(cfg)
    owners = {}
    for i in range(20):
        user = "user-%d" % i
        seen = spread(p.port, 3, threads=3, headers={"X-User": user})
        assert len(seen) == 1, (user, seen)
        owners[user] = next(iter(seen))
    assert len(set(owners.values())) >= 2, owners


# ---- every policy serves -----------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["least_conn", "p2c", "hash", "round_robin"])
def test_policy_serves_and_retries_past_a_dead_backend(origins, switchyard, policy):
    from conftest import dead_port
    b1, b2 = origins(2)
    cfg = switchyard.config([dead_port(), b1, b2], policy=policy)
    p = switchyard.start(cfg)
    seen = spread(p.port, 12, threads=3)
    assert sum(seen.values()) == 12
    assert "dead1" not in seen


def test_status_shows_backend_locality(origins, switchyard):
    """/status lists each backend's region, zone and coordinates, so an operator can see which
    tier a client falls in (the debug log shows the tier chosen for each request)."""
    from obs_util import backend_status

    eu1, eu2, us1, ap1 = origins(names=["eu1", "eu2", "us1", "ap1"])
    p = switchyard.start(_geo_config(switchyard, eu1, eu2, us1, ap1))
    assert backend_status(p.admin_port, "web", "eu1")["region"] == "eu-west"
    assert backend_status(p.admin_port, "web", "us1")["region"] == "us-east"
    loc = backend_status(p.admin_port, "web", "ap1")["location"]
    assert abs(loc["lat"] - 1.35) < 1e-9 and abs(loc["lon"] - 103.82) < 1e-9
