"""Zero heap allocations per proxied request in steady state (the Performance issue's target),
measured with a counting allocator: integration/tools/alloc_count.c, preloaded into the real
binary, counts every malloc/calloc/realloc/memalign and reports the total on SIGWINCH."""

import http.client
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import LOOPBACK, wait_until

SHIM_SRC = Path(__file__).parent / "tools" / "alloc_count.c"


@pytest.fixture
def shim(tmp_path, switchyard_bin):
    linked = subprocess.run(["ldd", str(switchyard_bin)], capture_output=True, text=True).stdout
    if "libasan" in linked:
        pytest.skip("sanitizer build: its allocator cannot be interposed (counted in the plain build)")
    out = tmp_path / "alloc_count.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", str(SHIM_SRC), "-o", str(out)], check=True)
    return out


def allocs(p, seen):
    os.kill(p.proc.pid, signal.SIGWINCH)
    wait_until(lambda: len(re.findall(r"^allocs (\d+)$", p.stderr(), re.M)) > seen, 5,
               what="allocation report")
    return int(re.findall(r"^allocs (\d+)$", p.stderr(), re.M)[-1])


def run(port, n, method, path, body=None):
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    for _ in range(n):
        c.request(method, path, body=body)
        r = c.getresponse()
        r.read()
        assert r.status == 200
    c.close()


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/", None),
    ("POST", "/echo", b"x" * 65536),
    ("GET", "/bytes?n=100000&mode=chunked", None),
    ("GET", "/?user=u1", None),
], ids=["get-small", "post-64k", "get-chunked", "get-rate-limited"])
def test_no_allocations_per_request_in_steady_state(origins, switchyard, shim, method, path, body):
    (o,) = origins(1)
    cfg = switchyard.config([o], workers=1)
    if "user=" in path:  # a local rate limit that never refuses: its decision allocates nothing
        cfg["rate_limits"] = [{"name": "per_user", "key": ["client_ip", "query:user"],
                               "rate": "100000/s", "burst": 1000}]
        cfg["listeners"][0]["routes"][0]["rate_limit"] = ["per_user"]
    p = switchyard.start(cfg, extra_env={"LD_PRELOAD": str(shim)})
    run(p.port, 300, method, path, body)  # warm up pools, buffers, header arrays
    before = allocs(p, 0)
    n = 1000
    run(p.port, n, method, path, body)
    after = allocs(p, 1)
    per_request = (after - before) / n
    # One new client connection costs one allocation (its session); requests cost none.
    assert per_request < 0.01, "%d allocations over %d requests" % (after - before, n)
